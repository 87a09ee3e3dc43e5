"""Does Theorem 1 apply to the network? Its step-size conditions and its radius with the constants
that ``conditions-resnet-cifar10`` estimates along the restarts of Section 5.4 (Chapter 6,
:ref:`ch6-theorem1-conditions`).

Every estimate is one-sided, and the verdicts use only the side it gives:

- ``c`` (one-point convexity): the smallest ``<-grad f(x_t), x_T - x_t> / ||x_T - x_t||^2`` over the
  restart's probed epochs, with ``f`` for the smoothed ``g`` and the restart's end ``x_T`` for
  ``x*`` (Section 5's own reading). Assumption 1 at these points, so read, needs ``c`` at most
  this: an *upper* bound (for ``g``, or another ``x*``, it bounds nothing);
- ``L`` (smoothness): the largest ``|Rayleigh quotient|`` of the Hessian seen, a *lower* bound on
  any global ``L``;
- ``r`` (noise bound): the largest minibatch noise norm seen, a *lower* bound on ``r``.

Hence ``eta >= 1/(2 L_low)`` or ``eta >= c_up / L_low^2`` certifies that the condition fails for the
true constants too, while ``eta`` below them settles nothing; ``eta < 1/(2 c_up)`` certifies that
the third condition holds. ``lambda = 2 eta c - eta^2 L^2`` computed from ``c_up`` and ``L_low`` is
at least the true one, and ``b = eta^2 r^2 (1 + eta L)^2`` at most the true one, so the radius
``sqrt(20 b / lambda)`` computed from them is a lower bound on the theorem's (``inf`` where the
estimate of ``lambda`` is not positive: then the true one is not either).
"""
from __future__ import annotations

import itertools

import numpy as np

from ..book import bound_text
from ..theory import MARKOV_FACTOR
from .experiments import CONDITIONS, estimates_conditions

#: The columns of :func:`table_rows`.
COLUMNS = ["restart from epoch", "c: upper bound", "at epoch", "L: lower bound", "r: lower bound",
           "η / (1/(2L)): lower bound", "η / (c/L²): lower bound", "√(20b/λ): lower bound",
           "distance travelled"]


def require_conditions(result) -> None:
    """Raise a ValueError unless ``result`` is a spectrum result that estimated Theorem 1's
    constants (``conditions-resnet-cifar10``; Chapter 6)."""
    if result is None or not estimates_conditions(result.config):
        raise ValueError("result must be a spectrum result that estimated Theorem 1's constants "
                         "(conditions-resnet-cifar10)")


def contraction_rate(eta, c, L) -> np.ndarray:
    """``lambda = 2 eta c - eta^2 L^2`` of Theorem 1, elementwise and unchecked: the formula of
    :attr:`~sgd_escape.theory.Theorem1Setting.lam` where the conditions may fail (Chapter 6)."""
    eta, c, L = (np.asarray(a, dtype=float) for a in (eta, c, L))
    return 2 * eta * c - eta**2 * L**2


def noise_term(eta, L, r) -> np.ndarray:
    """``b = eta^2 r^2 (1 + eta L)^2`` of Theorem 1, elementwise and unchecked: the formula of
    :attr:`~sgd_escape.theory.Theorem1Setting.b` (Chapter 6)."""
    eta, L, r = (np.asarray(a, dtype=float) for a in (eta, L, r))
    return eta**2 * r**2 * (1 + eta * L) ** 2


def per_restart(result) -> dict:
    """Theorem 1's constants and conditions per restart of a ``conditions`` result (Chapter 6).

    Returns ``{name: array [R]}``: ``start`` (the epoch of the run at 0.1 it starts from), ``eta``
    (its rate), ``c_up`` and ``c_epoch`` (the smallest ``inner_raw / inner_distance^2`` over the
    restart's probed epochs, and where), ``L_low`` and ``L_epoch`` (the largest absolute sharpness
    over its probed epochs, and where), ``r_low`` (the largest noise norm), ``noise_mean`` (the
    mean noise norm, averaged over the probed epochs), ``half_L_factor`` (``eta / (1/(2 L_low))``),
    ``c_L2_factor`` (``eta / (c_up / L_low^2)``, ``inf`` where ``c_up <= 0``), ``third_factor``
    (``eta / (1/(2 c_up))``), ``lam`` and ``b`` (from the estimates), ``radius`` (``sqrt(20 b /
    lam)``, ``inf`` where ``lam <= 0``), ``travel`` (``||x_T - x_s||``, the restart's start to its
    end) and ``last_change`` (the largest relative change of a sharpness in its last power
    iteration, over the probed epochs; NaN with one iteration).
    """
    require_conditions(result)
    curves, config = result.curves, result.config
    allowed = curves["inner_raw"] / curves["inner_distance"] ** 2          # [L, R]
    sharp = np.abs(curves["cond_sharpness"])                                # [E, R]
    probed = np.asarray(curves["cond_epochs"])
    eta = np.full(allowed.shape[1], float(config["restart_lr"]))
    c_up, L_low = allowed.min(0), sharp.max(0)
    r_low = curves["cond_noise_max"].max(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c_l2 = np.where(c_up > 0, eta * L_low**2 / c_up, np.inf)
        lam, b = contraction_rate(eta, c_up, L_low), noise_term(eta, L_low, r_low)
        radius = np.where(lam > 0, np.sqrt(MARKOV_FACTOR * b / lam), np.inf)
    trace = np.abs(curves["cond_sharpness_trace"])                          # [E, I, R]
    change = (np.abs(trace[:, -1] - trace[:, -2]) / trace[:, -1]).max(0) if trace.shape[1] > 1 \
        else np.full(eta.shape, np.nan)
    return {"start": np.asarray(curves["restart_epochs"]), "eta": eta, "c_up": c_up,
            "c_epoch": allowed.argmin(0), "L_low": L_low, "L_epoch": probed[sharp.argmax(0)],
            "r_low": r_low, "noise_mean": curves["cond_noise_mean"].mean(0),
            "half_L_factor": 2 * eta * L_low, "c_L2_factor": c_l2, "third_factor": 2 * eta * c_up,
            "lam": lam, "b": b, "radius": radius, "travel": curves["inner_distance"][0],
            "last_change": change}


def table_rows(measured: dict) -> list[list]:
    """One row per restart of :func:`per_restart`'s numbers, in the order of :data:`COLUMNS`
    (Chapter 6)."""
    def number(value, spec, infinite):
        return infinite if np.isinf(value) else f"{value:{spec}}"

    return [[int(measured["start"][k]), f"{measured['c_up'][k]:.3g}", int(measured["c_epoch"][k]),
             f"{measured['L_low'][k]:.3g}", f"{measured['r_low'][k]:.3g}",
             f"{measured['half_L_factor'][k]:.2g}", number(measured["c_L2_factor"][k], ".3g", "∞ (c ≤ 0)"),
             number(measured["radius"][k], ".3g", "∞ (λ ≤ 0)"), f"{measured['travel'][k]:.3g}"]
            for k in range(len(measured["start"]))]


def condition_verdict(factors) -> str:
    """What the factors ``eta / bound`` of one condition of Theorem 1, each computed with bounds that
    make the bound too large, say about it over the restarts (Chapter 6): ``"fails for every
    restart"``, ``"fails for some restarts"`` or ``"is not ruled out for any restart"``."""
    fails = np.asarray(factors) >= 1
    if fails.all():
        return "fails for every restart"
    return "fails for some restarts" if fails.any() else "is not ruled out for any restart"


def repetition_gap(plain, measured) -> float:
    """The largest difference between any curve of the plain run ``plain``
    (``spectrum-resnet-cifar10``) and the same curve of ``measured`` (``conditions-resnet-cifar10``,
    at the same preset): 0 when the two trainings agree to the last bit (Chapter 6). Raises a
    ValueError unless the configs differ only in the estimates' settings."""
    require_conditions(measured)
    rest = {k: v for k, v in measured.config.items() if k not in ("conditions", *CONDITIONS["cpu"])}
    if {**rest, "experiment": plain.config["experiment"]} != plain.config:
        raise ValueError("measured must have the config of plain apart from the estimates' settings")
    gaps = [np.abs(np.asarray(value, dtype=float) - np.asarray(measured.curves[key], dtype=float)).max()
            for key, value in plain.curves.items()]
    return float(max(gaps))


def bound_reading(factors) -> str:
    """How to read the factors ``eta / bound`` of the condition ``eta < 1/(2L)`` or ``eta < c/L^2``
    over the restarts, each bound computed from estimates that make it too large (Chapter 6 glues
    it after the factors). Returns a clause."""
    fails = np.asarray(factors) >= 1
    if fails.all():
        return ("at least 1 for every restart, so the condition fails for the true constants as "
                "well, whose bound can only be smaller")
    if not fails.any():
        return ("below 1 for every restart, which settles nothing: the true constants may make the "
                "bound smaller than the estimated one")
    return ("at least 1 for some restarts, where the condition fails for the true constants as well, "
            "and below 1 for the others, which settles nothing there")


def third_reading(factors) -> str:
    """How to read ``eta / (1/(2 c_up)) = 2 eta c_up``, the third condition ``eta < 1/(2c)`` with an
    upper bound on ``c``, which errs the safe way here (Chapter 6). Returns a clause."""
    factors = np.asarray(factors)
    if np.all((factors < 1) & (factors > 0)):
        return ("holds for every restart: an upper bound on c can only make 1/(2c) smaller than "
                "the true one, so this estimate errs on the safe side")
    return "is not settled for every restart by these estimates"


def radius_reading(measured: dict) -> str:
    """What Theorem 1's radius ``sqrt(20 b / lambda)``, computed from the estimates of
    :func:`per_restart`, says against the distance each restart travels (Chapter 6). Returns a
    sentence."""
    lam, ratio = measured["lam"], measured["radius"] / measured["travel"]
    if np.all(lam <= 0):
        return ("With the estimates, λ = 2ηc − η²L² is not positive for any restart, and since they err "
                "towards a larger λ, neither is the true one: the contraction that the proof's first "
                "step needs is absent, and the radius 20b/λ bounds nothing")
    if np.any(lam <= 0):
        return ("With the estimates, λ = 2ηc − η²L² is not positive for some restarts (for them the "
                "theorem bounds nothing) and positive for others, where the radius is at least "
                f"{bound_text(float(ratio[lam > 0].min()), 'lower')} times the distance the restart travels")
    low = float(ratio.min())
    return (f"The radius is at least {bound_text(low, 'lower')} times the distance the restart travels"
            + (": a ball that holds the whole restart, so the bound would add nothing to what the "
               "trajectory shows" if low >= 1 else ""))


def conclusion(measured: dict) -> str:
    """The verdict on Section 5.4's "Theorem 1 applies at 0.01", from the condition ``eta < c/L^2``
    over the restarts of :func:`per_restart`, one-sided as :func:`bound_reading` reads it
    (Chapter 6). Returns a sentence."""
    fails = np.asarray(measured["c_L2_factor"]) >= 1
    if fails.all():
        return ("So the constants measured on these runs do not let Theorem 1 apply at this rate: the "
                "condition η < c/L² fails for every restart, whichever way the true constants differ "
                "from the estimates (c read as Section 5 reads it, at the trajectory's points)")
    if fails.any():
        return ("So for some restarts the condition η < c/L² fails whichever way the true constants "
                "differ from the estimates, and Theorem 1 does not apply to them; for the others the "
                "estimates settle nothing")
    return ("So the estimates do not rule out Theorem 1's step-size conditions, but, one-sided as they "
            "are, they cannot confirm them either: a larger L than the sharpness seen, or a smaller c, "
            "could still break them")


def end_sharpness(result) -> dict:
    """Exercise 6.4 (Chapter 6): the sharpness where each restart ends, against how far that end
    lies from ``x_0``.

    Returns ``{name: value}``: ``epoch`` (the last probed restart epoch), ``start`` ``[R]``,
    ``distance`` ``[R]`` (``restart_distance_from_init``), ``sharpness`` ``[R]`` (the last Rayleigh
    quotient there, in size: a lower bound on the sharpness), ``last_change`` ``[R]`` (its relative
    change in the power iteration's last step; NaN with one iteration), ``rank_correlation``
    (Spearman's, of sharpness against distance) and its ``p_value`` (:func:`rank_correlation_test`;
    both NaN for fewer than 3 restarts), and ``steps`` ``[R - 1]``, the signs of the
    sharpness's changes from each end to the next farther one.
    """
    require_conditions(result)
    curves = result.curves
    trace = np.abs(curves["cond_sharpness_trace"][-1])                     # [I, R]
    sharp, distance = np.abs(curves["cond_sharpness"][-1]), np.asarray(curves["restart_distance_from_init"])
    change = np.abs(trace[-1] - trace[-2]) / trace[-1] if trace.shape[0] > 1 else np.full(sharp.shape, np.nan)
    order = np.argsort(distance)
    rho, p_value = rank_correlation_test(sharp, distance) if len(sharp) >= 3 else (np.nan, np.nan)
    return {"epoch": int(curves["cond_epochs"][-1]), "start": np.asarray(curves["restart_epochs"]),
            "distance": distance, "sharpness": sharp, "last_change": change,
            "rank_correlation": rho, "p_value": p_value, "steps": np.sign(np.diff(sharp[order]))}


def rank_correlation_test(x, y) -> tuple[float, float]:
    """Spearman's rank correlation of ``x`` and ``y`` (no ties) and its two-sided p-value: the
    share of orderings of ``y`` whose correlation with ``x`` is at least as large in size
    (Chapter 6, for Exercise 6.4). Every ordering for up to 8 points; beyond, 100,000 seeded random
    ones."""
    x, y = np.asarray(x), np.asarray(y)
    if len(x) < 3 or len(y) != len(x):
        raise ValueError(f"x must hold at least 3 values, as many as y, got {len(x)} and {len(y)}")
    rank_x, rank_y = (np.argsort(np.argsort(v)) for v in (x, y))
    if len(x) <= 8:
        orderings = np.array(list(itertools.permutations(range(len(x)))))
    else:
        orderings = np.random.default_rng(0).permuted(np.tile(np.arange(len(x)), (100_000, 1)), axis=1)
    centred = rank_x - rank_x.mean()
    every = (orderings - orderings.mean(1, keepdims=True)) @ centred / (centred @ centred)
    rho = float(np.corrcoef(rank_x, rank_y)[0, 1])
    return rho, float(np.mean(np.abs(every) >= abs(rho) - 1e-12))


def flatness_trend(steps) -> str:
    """How the sharpness moves from one restart's end to the next farther one, from the signs of
    :func:`end_sharpness` (Chapter 6): a clause."""
    steps = np.asarray(steps)
    if (steps < 0).all():
        return "falls at every step outwards: the farther ends are flatter"
    if (steps > 0).all():
        return "rises at every step outwards: the farther ends are sharper"
    return "does not move one way: it rises at some steps outwards and falls at others"
