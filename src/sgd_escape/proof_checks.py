"""Both sides of every inequality in the proof of Theorem 1, on simulated data (Chapter 3).

Step 1 bounds E[||y_{t+1} - x*||^2 | F_t] through a chain of expressions. Here each one is
computed at given points y_t from antithetic noise draws (so that sample means of omega are
exactly zero and the proof's identities hold on the sample):

    next     E||y_{t+1} - x*||^2
    drop     E||y - eta gamma - x*||^2 + eta^2 r^2 - 2 E<eta omega, -eta gamma + eta grad f(y)>
    smooth   ||y - x*||^2 + eta^2 E||gamma||^2 - 2 eta E<-gamma, x* - y> + eta^2 r^2 + 2 eta^3 r^2 L
    assume   (1 - 2 eta c)||y - x*||^2 + eta^2 r^2 + 2 eta^3 r^2 L + eta^2 L^2 E||x* - y + eta omega||^2
    final    (1 - lambda)||y - x*||^2 + b

with gamma = grad f(y - eta omega), the gradient at the kicked point. The proof claims next <= drop <= smooth <= assume <= final.

With antithetic draws most links hold by construction: drop - next = eta^2 (r^2 - mean ||omega||^2) and
final - assume = eta^4 L^2 (r^2 - mean ||omega||^2) are identities, and drop <= smooth holds draw by draw
for an L-Lipschitz gradient. Only smooth <= assume involves the one-point constant c; it mixes the
assumption proper with the bound ||grad f(z)|| <= L ||z - x*||, which :func:`step1_chain` reports
separately, and :func:`c_multiplier_to_fail` says how far c could be overstated before that link fails.
"""
from __future__ import annotations

import numpy as np

from sgd_escape import checks
from sgd_escape.bounded_noise import BoundedNoise
from sgd_escape.theory import Theorem1Setting

#: The expressions of Step 1, in the order of the proof.
STEP1_CHAIN = ("next", "drop", "smooth", "assume", "final")


def _sq(v):
    return np.sum(v**2, axis=-1)


def _dot(u, v):
    return np.sum(u * v, axis=-1)


def _check_chain_inputs(setting: Theorem1Setting, noise: BoundedNoise, draws) -> None:
    draws = checks.require_int_at_least("draws", draws, 2)
    if draws % 2:
        raise ValueError(f"draws must be even (antithetic pairs of omega and -omega), got {draws}")
    if not np.isclose(noise.r, setting.r, rtol=1e-12, atol=0.0):
        raise ValueError(f"the noise radius noise.r = {noise.r:.6g} must equal setting.r = {setting.r:.6g}, "
                         "the r in Theorem 1's constants")


def step1_chain(grad, y, setting: Theorem1Setting, noise: BoundedNoise, rng: np.random.Generator,
                draws: int = 2000, x_star=0.0) -> dict:
    """Every expression of Step 1 at each row of ``y`` (shape (p, d)), plus Step 3's deviations (Chapter 3).

    Also returns ``deviation``: max over draws of | ||y_{t+1} - x*||^2 - E[...] |, and
    ``deviation_bound``: 3.5 eta^2 r^2 + 7 eta r ||y - x*||, the bound of Step 3 before
    ||y - x*|| is replaced by delta. The link smooth <= assume is split into its two parts,
    ``assume - smooth = part_assumption + part_lipschitz``: ``part_assumption`` =
    2 eta (<E gamma, y - x*> - c ||y - x*||^2), the slack of Assumption 1 itself, and
    ``part_lipschitz`` = eta^2 (L^2 E||y - x* - eta omega||^2 - E||gamma||^2), the slack of
    ||grad f(z)|| <= L ||z - x*||. ``dist_sq`` is ||y - x*||^2 and ``offset`` is y - x*. ``noise`` must have the radius r
    of ``setting`` and ``draws`` must be even (antithetic pairs).
    """
    _check_chain_inputs(setting, noise, draws)
    eta, r, L, c = setting.eta, noise.r, setting.L, setting.c
    y = checks.require_finite_array("y", y)
    if y.ndim != 2 or y.shape[0] == 0 or y.shape[1] != noise.d:    # else rows or noise broadcast wrongly
        raise ValueError(f"y must have shape (p, {noise.d}) with p >= 1, got {y.shape}")
    checks.require_point("x_star", x_star, noise.d)
    omega = noise.sample((draws, y.shape[0]), rng, antithetic=True)
    gamma = grad(y - eta * omega)
    e = y - x_star
    dist_sq = _sq(e)
    nxt = _sq(e - eta * omega - eta * gamma)
    out = {"next": nxt.mean(0)}
    out["drop"] = (_sq(e - eta * gamma) + eta**2 * r**2
                   - 2 * _dot(eta * omega, -eta * gamma + eta * grad(y))).mean(0)
    out["smooth"] = (dist_sq + (eta**2 * _sq(gamma) - 2 * eta * _dot(-gamma, -e)).mean(0)
                     + eta**2 * r**2 + 2 * eta**3 * r**2 * L)
    out["assume"] = ((1 - 2 * eta * c) * dist_sq + eta**2 * r**2 + 2 * eta**3 * r**2 * L
                     + eta**2 * L**2 * _sq(-e + eta * omega).mean(0))
    out["final"] = (1 - setting.lam) * dist_sq + setting.b
    out["part_assumption"] = 2 * eta * (_dot(gamma.mean(0), e) - c * dist_sq)
    out["part_lipschitz"] = eta**2 * (L**2 * _sq(e - eta * omega).mean(0) - _sq(gamma).mean(0))
    out["dist_sq"], out["offset"] = dist_sq, e
    out["deviation"] = np.abs(nxt - out["next"]).max(0)
    out["deviation_bound"] = 3.5 * eta**2 * r**2 + 7 * eta * r * np.sqrt(dist_sq)
    return out


def chain_slack(chain: dict) -> dict:
    """For each link 'a <= b' of Step 1, the smallest b - a over the points, >= 0 when it holds (Chapter 3)."""
    names = STEP1_CHAIN
    return {f"{a} <= {b}": float(np.min(chain[b] - chain[a])) for a, b in zip(names[:-1], names[1:])}


def gap_shares(chain: dict) -> dict:
    """Median shares of the total gap final - next taken by each part of Step 1 (Chapter 3).

    ``assumption`` and ``lipschitz`` split the link smooth <= assume (see :func:`step1_chain`);
    ``other`` is the rest of the chain."""
    total = chain["final"] - chain["next"]
    shares = {"assumption": chain["part_assumption"] / total, "lipschitz": chain["part_lipschitz"] / total}
    shares["other"] = 1 - shares["assumption"] - shares["lipschitz"]
    return {name: float(np.median(v)) for name, v in shares.items()}


def c_multiplier_to_fail(chain: dict, setting: Theorem1Setting, mean_gradient=None) -> float:
    """The factor m such that the link smooth <= assume, recomputed with c replaced by m c, fails
    at some point of ``chain`` for every m above it (Chapter 3).

    Only *assume* depends on c, through -2 eta c ||y - x*||^2, so the link fails first where
    (assume - smooth) / (2 eta c ||y - x*||^2) is smallest. A result near 1 means the check would
    catch a c overstated by a little; a large one means it could not. ``mean_gradient``, if given,
    is E gamma = grad g at the points, exactly, in place of the sample mean of the draws in
    ``part_assumption``: the factor without that sampling error."""
    slack = chain["assume"] - chain["smooth"]
    if mean_gradient is not None:
        exact = 2 * setting.eta * (_dot(np.asarray(mean_gradient, dtype=float), chain["offset"])
                                   - setting.c * chain["dist_sq"])
        slack = slack - chain["part_assumption"] + exact
    return float(1 + np.min(slack / (2 * setting.eta * setting.c * chain["dist_sq"])))


#: Largest natural log of a result kept: float64 overflows a little above e^709.
_LARGEST_LOG = 700.0


def _require_representable(name: str, log_values) -> None:
    log_values = np.asarray(log_values, dtype=float)
    largest = float(np.max(log_values, initial=-np.inf, where=np.isfinite(log_values)))
    if largest > _LARGEST_LOG:
        raise ValueError(f"{name} reaches too far for float64: the result would be about e^{largest:.0f}, "
                         f"above e^{_LARGEST_LOG:.0f}; use fewer steps")


def _log_expm1(z):
    """log(e^z - 1) for z > 0, without overflow for large z."""
    z = np.asarray(z, dtype=float)
    with np.errstate(over="ignore"):
        return np.where(z > 30, z + np.log1p(-np.exp(-z)), np.log(np.expm1(np.minimum(z, 30))))


def supermartingale(sq_dist, setting: Theorem1Setting) -> np.ndarray:
    """G_t = (1 - lambda)^(-t) (||y_t - x*||^2 - b / lambda), shape (steps + 1, trials) (Chapter 3, Step 2).

    Raises ``ValueError`` naming ``sq_dist`` where some G_t would overflow float64 (lambda t near 700,
    less for large distances)."""
    sq_dist = np.asarray(sq_dist, dtype=float)
    t = np.arange(sq_dist.shape[0])[:, None]
    centred, log_rate = sq_dist - setting.floor, -np.log1p(-setting.lam)
    with np.errstate(divide="ignore"):
        _require_representable("sq_dist", np.log(np.abs(centred)) + log_rate * t)
    return centred * np.exp(log_rate * t)


def normalised_supermartingale_mean(G) -> np.ndarray:
    """The mean of G_t over trials divided by |mean G_0|, so that -1 is the start when G_0 < 0 (Chapter 3)."""
    mean = np.asarray(G, dtype=float).mean(axis=1)
    if not mean[0]:
        raise ValueError("G must have a non-zero mean over trials at t = 0 (the scale), got 0")
    return mean / abs(mean[0])


def azuma_deviation(setting: Theorem1Setting, T2: int, steps) -> np.ndarray:
    """sqrt(2) r_t sqrt(log zeta) with r_t = M sqrt(sum_{tau=1}^t (1 - lambda)^(-2 tau)) (Chapter 3, Step 3).

    The geometric sum is q (q^t - 1) / (q - 1) with q = (1 - lambda)^(-2), computed in logarithms
    (with ``expm1``) so that it stays accurate for tiny lambda and finite for long horizons. Raises
    ``ValueError`` naming ``steps`` where the result itself would overflow float64 (lambda t near 700)."""
    tail = setting.tail(T2)
    t = _step_counts(steps)
    log_q = -2 * np.log1p(-setting.lam)
    log_sums = log_q + _log_expm1(log_q * t) - _log_expm1(log_q)
    log_result = np.log(np.sqrt(2) * tail.M * np.sqrt(np.log(tail.zeta))) + log_sums / 2
    _require_representable("steps", log_result)
    return np.exp(log_result)


def step4_factor(setting: Theorem1Setting, T2: int) -> float:
    """The largest ``(1 - lambda)^t r_t sqrt(eta c) / M`` over the window ``t = 1..T2`` (Chapter 3,
    Step 4), with ``r_t`` the Azuma scale of :func:`azuma_deviation`. Step 4 uses that it is at most 1:
    the geometric sum is below ``1 / lambda`` and ``lambda >= eta c``."""
    steps = np.arange(1, checks.require_int_at_least("T2", T2, 1) + 1)
    tail = setting.tail(T2)
    r_t = azuma_deviation(setting, T2, steps) / (np.sqrt(2) * np.sqrt(np.log(tail.zeta)))
    decay = np.exp(steps * np.log1p(-setting.lam))
    return float(np.max(decay * r_t) * np.sqrt(setting.eta * setting.c) / tail.M)


def _step_counts(steps) -> np.ndarray:
    """``steps`` as a 1-D int array, refusing what ``dtype=int`` would truncate or negative counts."""
    t = checks.require_finite_array("steps", steps)
    if t.ndim != 1 or np.any(t < 0) or np.any(t != np.round(t)):
        raise ValueError(f"steps must be integers >= 0 in a 1-D array, got {steps!r}")
    return t.astype(int)


def _require_grid_axes(eta_fractions, c_values, L_values, r_values, T2_values) -> None:
    for name, values in (("eta_fractions", eta_fractions), ("c_values", c_values), ("L_values", L_values),
                         ("r_values", r_values), ("T2_values", T2_values)):
        values = checks.require_finite_array(name, values)
        if values.size == 0 or np.any(values <= 0):
            raise ValueError(f"{name} must be non-empty and > 0 everywhere, got {values!r}")
    T2 = np.asarray(T2_values, dtype=float)
    if np.any(T2 < 1) or np.any(T2 != np.round(T2)):
        raise ValueError(f"T2_values must be integers >= 1, got {T2!r}")


def lemma5_grid(eta_fractions, c_values, L_values, r_values, T2_values, mu_constant: float = 42.0) -> dict:
    """Lemma 5's ratio (left side / delta^2) over a grid (Chapter 3).

    The step size is ``fraction * min{1/(2L), c/L^2, 1/(2c)}``; ``valid`` marks the points that
    meet Theorem 1's conditions (all of them for fractions in (0, 1)). Points with c > L are kept:
    the conditions allow them, and with noise whose law depends on x they can occur (Chapter 3,
    Notes on the paper). Returns the ratios, their three summands (``terms``, see
    :func:`~sgd_escape.theory.lemma5_terms`), ``valid``, the parameter arrays (``params``) and the
    parameters of the tightest case.
    """
    from sgd_escape.theory import conditions_hold, lemma5_terms

    _require_grid_axes(eta_fractions, c_values, L_values, r_values, T2_values)
    frac, c, L, r, T2 = np.meshgrid(eta_fractions, c_values, L_values, r_values, T2_values, indexing="ij")
    eta = frac * np.minimum(np.minimum(1 / (2 * L), c / L**2), 1 / (2 * c))
    valid = conditions_hold(eta, c, L)
    if not valid.any():         # else nanargmax below fails without naming the cause
        raise ValueError("eta_fractions must give some grid point that meets Theorem 1's conditions "
                         "(fractions in (0, 1) do), got none")
    terms = {name: np.where(valid, term, np.nan)
             for name, term in lemma5_terms(eta, c, L, r, T2, mu_constant).items()}
    ratio = sum(terms.values())
    worst = np.unravel_index(np.nanargmax(ratio), ratio.shape)
    params = {"eta": eta, "c": c, "L": L, "r": r, "T2": T2}
    tightest = {name: float(v[worst]) for name, v in (*params.items(), ("ratio", ratio))}
    return {"ratio": ratio, "terms": terms, "valid": valid, "tightest": tightest, "params": params}


def _log_zeta_one() -> float:
    return float(np.log(9 / 4))          # zeta = 9 T2 / 4 at T2 = 1, the smallest window


def lemma5_supremum(mu_constant: float = 42.0) -> float:
    """The supremum of Lemma 5's ratio over *all* parameters allowed by Theorem 1 (Chapter 3, note 6).

    The ratio does not depend on r (every term scales as r^2). Its three terms are each largest when
    eta c -> 1/2, eta L -> 0 (so lambda -> 2 eta c = 1 and (1 + eta L)^2 -> 1) and T2 = 1 (the smallest
    log zeta), which the open conditions approach but never reach. There, with l = log(9/4) and
    mu = K sqrt(l) (valid while K sqrt(l) >= 8), the ratio is 14/K + (7 sqrt(l) + 21)/(K^2 l)."""
    K = checks.require_positive("mu_constant", mu_constant)
    l = _log_zeta_one()
    mu = max(8.0, K * np.sqrt(l))
    return 14 * np.sqrt(l) / mu + (7 * np.sqrt(l) + 21) / mu**2


def smallest_mu_constant_all() -> float:
    """The smallest constant K in place of 42 with which Lemma 5 holds for all parameters: the root
    of 14/K + (7 sqrt(l) + 21)/(K^2 l) = 1, l = log(9/4) (Chapter 3, note 6)."""
    l = _log_zeta_one()
    K = 7 + np.sqrt(49 + (7 * np.sqrt(l) + 21) / l)
    if K * np.sqrt(l) < 8:               # mu = 8 would bind instead; it does not for these constants
        raise AssertionError("mu >= 8 binds")
    return float(K)


def smallest_mu_constant(grid_axes: dict, low: float = 1.0, high: float = 42.0, bisections: int = 30):
    """The smallest constant ``K`` in place of Step 4's 42 with which Lemma 5 still holds on the
    grid of :func:`lemma5_grid` (Chapter 3, Notes on the paper), by bisection on ``[low, high]``.
    Returns ``(K, largest ratio with K)``; ``high`` must itself satisfy the lemma on the grid."""
    def largest_ratio(K):
        return float(np.nanmax(lemma5_grid(**grid_axes, mu_constant=K)["ratio"]))

    if not 0 < low < high:
        raise ValueError(f"low and high must satisfy 0 < low < high, got low={low}, high={high}")
    if largest_ratio(high) > 1:
        raise ValueError(f"high must satisfy Lemma 5 on the grid (a ratio <= 1), got high={high}")
    for _ in range(checks.require_int_at_least("bisections", bisections, 1)):
        middle = (low + high) / 2
        low, high = (low, middle) if largest_ratio(middle) <= 1 else (middle, high)
    return high, largest_ratio(high)


def state_dependent_noise_example(eta: float, c: float, L: float, r: float, points: int = 4000) -> dict:
    """The example of Chapter 3's note 7: with noise whose law depends on ``x``, Assumption 1
    holds with a one-point constant ``c`` far above ``L``, so ``eta < 1/(2c)`` is not implied
    by ``eta < 1/(2L)``.

    ``f'(z) = L|z| - L eta r / 2`` (``L``-Lipschitz, ``x* = 0``); the noise is ``+-r`` where
    ``y > 0`` and zero elsewhere. Returns the points ``y`` of the neighbourhood
    ``0 < |y| <= L eta r / (2(L + c))`` (its half-width is ``reach``), ``c(y) = E f'(y - eta omega) / y``
    there, and ``c_outside``: c(y) just beyond the neighbourhood, at ``y = +-(reach + eta r)``, where
    one noise kick of size ``eta r`` can carry a point. With ``c > L`` the domain D of Theorem 1 must
    be this bounded neighbourhood (on all of R^d, c <= L; Chapter 3, note 7).
    """
    Theorem1Setting(eta, c, L, r)   # the theorem's conditions hold, c > L included
    points = checks.require_int_at_least("points", points, 2)
    grad = lambda z: L * np.abs(z) - L * eta * r / 2
    reach = L * eta * r / (2 * (L + c))
    positive = reach * np.arange(1, points // 2 + 1) / (points // 2)   # x* = 0 itself excluded
    y = np.concatenate([-positive[::-1], positive])
    def c_of(y):
        return np.where(y > 0, (grad(y - eta * r) + grad(y + eta * r)) / 2, grad(y)) / y

    outside = np.array([-(reach + eta * r), reach + eta * r])
    return {"y": y, "c_of_y": c_of(y), "reach": reach, "c_outside": c_of(outside)}


def segment_slopes(convolved_grad, starts, t) -> np.ndarray:
    """Appendix A's quantity on the segments from each start ``x`` to ``x* = 0`` (Chapter 3).

    With ``z_t = (1 - t) x`` and ``h(t) = g(z_t)``, returns ``h'(t) / ((1 - t) ||x - x*||^2)``
    = ``<grad g(z_t), x* - x> / ((1 - t) ||x||^2)``, of shape ``(len(t), len(starts))``, where
    ``convolved_grad`` is ``grad g`` (vectorised over a last axis of size d). Appendix A's
    argument needs it to stay at or below ``-c`` for every ``t`` in ``[0, 1)``. Since
    ``x* - z_t = (1 - t)(x* - x)``, it is minus the assumption's ratio at ``z_t``: the chain rule
    link of the argument, not its conclusion (see :func:`segment_drops`).
    """
    starts, t = _segment_inputs(starts, t)
    z = (1 - t)[:, None, None] * starts                            # (len(t), segments, d)
    inner = np.sum(convolved_grad(z) * -starts, axis=-1)
    return inner / ((1 - t)[:, None] * np.sum(starts ** 2, axis=1))


def segment_drops(convolved_value, starts, t) -> np.ndarray:
    """Appendix A's conclusion on the segments from each start ``x`` to ``x* = 0``, from the values
    of ``g`` alone (Chapter 3).

    With ``h(t) = g((1 - t) x)``, returns ``(h(t) - h(1)) / ((1 - t)^2 ||x||^2)``, of shape
    ``(len(t), len(starts))``, where ``convolved_value`` is ``g`` (over a last axis of size d).
    Integrating Assumption 1 along the segment bounds it below by ``c / 2``: ``g`` falls all
    the way to ``x*``, by at least that much.
    """
    starts, t = _segment_inputs(starts, t)
    z = (1 - t)[:, None, None] * starts
    drop = convolved_value(z) - convolved_value(np.zeros(starts.shape[1]))
    return drop / ((1 - t)[:, None] ** 2 * np.sum(starts ** 2, axis=1))


def _segment_inputs(starts, t):
    starts = np.asarray(starts, dtype=float)
    t = np.asarray(t, dtype=float)
    if starts.ndim != 2:
        raise ValueError(f"starts must have shape (segments, d), got {starts.shape}")
    if t.ndim != 1 or np.any(t < 0) or np.any(t >= 1):
        raise ValueError(f"t must be a 1-D array of values in [0, 1), got {t!r}")
    return starts, t
