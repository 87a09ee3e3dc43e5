"""Constants and bounds of Theorem 1, Corollary 2 (and its several shrinks), Lemma 5 and Theorem 3 (Chapters 2 and 3).

Notation follows Section 3 of the paper: ``eta`` is the step size, ``c`` the one-point
strong convexity constant of Assumption 1, ``L`` the smoothness of ``f`` and ``r`` the
largest norm of the gradient noise. From them

    lambda = 2 eta c - eta^2 L^2,        b = eta^2 r^2 (1 + eta L)^2,

and the proof's constants for a window of ``T2`` steps

    zeta = 9 T2 / 4,   mu = max{8, 42 sqrt(log zeta)},   delta = mu sqrt(b / lambda),
    M = 3.5 eta^2 r^2 + 7 eta r delta.

:class:`Theorem1Setting` checks the theorem's conditions and raises a ``ValueError`` that
names the violated condition and its numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sgd_escape import checks

#: Markov's step: E||y_T1 - x*||^2 <= 2b/lambda gives ||y_T1 - x*||^2 <= 20 b/lambda w.p. 0.9.
MARKOV_FACTOR = 20.0
#: Markov's step fails with probability at most 2 / MARKOV_FACTOR = 0.1 at the end of a stage.
MARKOV_SUCCESS = 1 - 2 / MARKOV_FACTOR


def _require_condition(holds: bool, message: str) -> None:
    if not holds:
        raise ValueError(message)


@dataclass(frozen=True)
class Theorem1Setting:
    """The parameters of Theorem 1 (Chapter 2); the constructor checks its conditions.

    Conditions: ``c > 0``, ``r > 0``, ``L > 0`` and ``eta < min{1/(2L), c/L^2, 1/(2c)}``.
    """

    eta: float
    c: float
    L: float
    r: float

    def __post_init__(self):
        for name in ("eta", "c", "L", "r"):
            object.__setattr__(self, name, checks.require_positive(name, getattr(self, name)))
        eta, c, L = self.eta, self.c, self.L
        _require_condition(eta < 1 / (2 * L), f"condition eta < 1/(2L) fails: eta = {eta:.6g} "
                           f">= 1/(2L) = {1 / (2 * L):.6g} (L = {L:.6g})")
        _require_condition(eta < c / L**2, f"condition eta < c/L^2 fails: eta = {eta:.6g} "
                           f">= c/L^2 = {c / L**2:.6g} (c = {c:.6g}, L = {L:.6g})")
        _require_condition(eta < 1 / (2 * c), f"condition eta < 1/(2c) fails: eta = {eta:.6g} "
                           f">= 1/(2c) = {1 / (2 * c):.6g} (c = {c:.6g})")

    @property
    def lam(self) -> float:
        """lambda = 2 eta c - eta^2 L^2, the contraction rate of Step 1."""
        return 2 * self.eta * self.c - self.eta**2 * self.L**2

    @property
    def b(self) -> float:
        """b = eta^2 r^2 (1 + eta L)^2, the noise term of Step 1."""
        return self.eta**2 * self.r**2 * (1 + self.eta * self.L) ** 2

    @property
    def floor(self) -> float:
        """b / lambda: the level that E||y_t - x*||^2 approaches."""
        return self.b / self.lam

    @property
    def markov_radius_sq(self) -> float:
        """20 b / lambda: the squared radius of Theorem 1 at time T1."""
        return MARKOV_FACTOR * self.floor

    def t1_lower_bound(self, initial_sq_distance: float) -> float:
        """T1 >= log(lambda ||y0 - x*||^2 / b) / lambda (0 when y0 already lies within b/lambda)."""
        d0 = checks.require_positive("initial_sq_distance", initial_sq_distance)
        return max(0.0, math.log(self.lam * d0 / self.b) / self.lam)

    def envelope(self, initial_sq_distance: float, steps) -> np.ndarray:
        """Step 2's expectation bound b/lambda + (1 - lambda)^t ||y0 - x*||^2 at times ``steps``."""
        d0 = checks.require_nonnegative("initial_sq_distance", initial_sq_distance)
        t = checks.require_finite_array("steps", steps)
        if np.any(t < 0):
            raise ValueError(f"steps must be >= 0 (times since y0), got {steps!r}")
        return self.floor + (1 - self.lam) ** t * d0

    def tail(self, T2: int) -> "TailConstants":
        """The constants of Steps 3 and 4 for a window of ``T2`` steps."""
        return TailConstants.of(self, checks.require_int_at_least("T2", T2, 1))


@dataclass(frozen=True)
class TailConstants:
    """zeta, mu, delta and M of Steps 3-4, and both sides of Lemma 5 (Chapters 2-3: Chapter 2
    quotes them for Theorem 1's window bound, Chapter 3's proof uses them).

    Built by :meth:`Theorem1Setting.tail`.
    """

    zeta: float
    mu: float
    delta: float
    M: float
    lemma5_lhs: float

    @classmethod
    def of(cls, s: Theorem1Setting, T2: int) -> "TailConstants":
        """The constants of setting ``s`` for a window of ``T2`` steps (:meth:`Theorem1Setting.tail`
        checks ``T2`` first)."""
        T2 = checks.require_int_at_least("T2", T2, 1)       # log(zeta) < 0 below 1
        zeta = 9 * T2 / 4
        mu = max(8.0, 42 * math.sqrt(math.log(zeta)))
        delta = mu * math.sqrt(s.floor)
        M = 3.5 * s.eta**2 * s.r**2 + 7 * s.eta * s.r * delta
        lhs = math.sqrt(2) * M / math.sqrt(s.eta * s.c) * math.sqrt(math.log(zeta)) + 21 * s.floor
        return cls(zeta=zeta, mu=mu, delta=delta, M=M, lemma5_lhs=lhs)

    @property
    def radius_sq(self) -> float:
        """delta^2 = mu^2 b / lambda: the O(log(T2) b / lambda) bound on [T1, T1 + T2]."""
        return self.delta**2

    @property
    def lemma5_ratio(self) -> float:
        """Left side over right side of Lemma 5 (the lemma says it is at most 1)."""
        return self.lemma5_lhs / self.radius_sq


def lemma5_ratio(eta, c, L, r, T2, mu_constant: float = 42.0) -> np.ndarray:
    """Lemma 5's left side over ``delta^2`` on arrays of parameters (Chapter 3's grid).

    ``mu = max{8, mu_constant sqrt(log zeta)}`` (the paper: 42). The caller keeps only
    parameters that satisfy Theorem 1's conditions (:func:`conditions_hold`); with the
    paper's constant the ratio is at most 1 there.
    """
    return sum(lemma5_terms(eta, c, L, r, T2, mu_constant).values())


def _lemma5_inputs(eta, c, L, r, T2) -> list:
    """The five parameters as broadcast float arrays; NaN results would otherwise hide bad ones."""
    arrays = {name: checks.require_finite_array(name, value)
              for name, value in zip(("eta", "c", "L", "r", "T2"), (eta, c, L, r, T2))}
    for name in ("eta", "c", "L", "r"):
        if np.any(arrays[name] <= 0):
            raise ValueError(f"{name} must be > 0 everywhere, got {arrays[name]!r}")
    if np.any(arrays["T2"] < 1) or np.any(arrays["T2"] != np.round(arrays["T2"])):
        raise ValueError(f"T2 must hold integers >= 1, got {arrays['T2']!r}")
    return np.broadcast_arrays(*arrays.values())


def lemma5_terms(eta, c, L, r, T2, mu_constant: float = 42.0) -> dict:
    """The three summands of Lemma 5's left side, each over ``delta^2`` (Chapter 3, Appendix B):
    ``noise`` (the 3.5 eta^2 r^2 part of M), ``delta`` (the 7 eta r delta part of M) and ``start``
    (21 b / lambda). Appendix B shows each is at most 1/3 under Theorem 1's conditions."""
    checks.require_positive("mu_constant", mu_constant)
    eta, c, L, r, T2 = _lemma5_inputs(eta, c, L, r, T2)
    lam = 2 * eta * c - eta**2 * L**2
    floor = eta**2 * r**2 * (1 + eta * L) ** 2 / lam
    log_zeta = np.log(9 * T2 / 4)
    mu = np.maximum(8.0, mu_constant * np.sqrt(log_zeta))
    delta_sq = mu**2 * floor
    azuma = np.sqrt(2) / np.sqrt(eta * c) * np.sqrt(log_zeta) / delta_sq   # sqrt(2 log zeta / (eta c))
    return {"noise": azuma * 3.5 * eta**2 * r**2, "delta": azuma * 7 * eta * r * np.sqrt(delta_sq),
            "start": 21 * floor / delta_sq}


def conditions_hold(eta, c, L) -> np.ndarray:
    """Elementwise: eta > 0, c > 0, L > 0 and eta < min{1/(2L), c/L^2, 1/(2c)}, the conditions
    :class:`Theorem1Setting` checks (Theorem 1, Chapter 2; r > 0 is left to the caller)."""
    eta, c, L = (np.asarray(a, dtype=float) for a in (eta, c, L))
    with np.errstate(divide="ignore"):
        below = eta < np.minimum(np.minimum(1 / (2 * L), c / L**2), 1 / (2 * c))
        return (c > 0) & (L > 0) & (eta > 0) & below


def _require_shrink(before: Theorem1Setting, after: Theorem1Setting, where: str) -> None:
    _require_condition(after.eta < before.eta, f"{where} needs eta' < eta: eta' = {after.eta:.6g} >= eta = {before.eta:.6g}")
    _require_condition(after.c > before.c, f"{where} needs c' > c: c' = {after.c:.6g} <= c = {before.c:.6g}")
    _require_condition(after.L == before.L and after.r == before.r,
                       f"{where} keeps L and r: got L = {before.L:.6g}, {after.L:.6g} and r = {before.r:.6g}, {after.r:.6g}")


@dataclass(frozen=True)
class ShrinkingSchedule:
    """Corollary 2 with the step size shrunk several times (Chapter 2): stage k runs SGD with step
    ``stages[k].eta``; each stage has a smaller step and a larger c than the one before, and the
    same L and r."""

    stages: tuple[Theorem1Setting, ...]

    def __post_init__(self):
        object.__setattr__(self, "stages", tuple(self.stages))
        if len(self.stages) < 2:
            raise ValueError(f"stages must hold at least 2 settings (one shrink), got {len(self.stages)}")
        for k in range(1, len(self.stages)):
            _require_shrink(self.stages[k - 1], self.stages[k], f"stage {k + 1} of the schedule")

    def stage_lengths(self, initial_sq_distance: float) -> tuple[float, ...]:
        """Each stage's Step-2 bound on its length: log(lambda_1 D0 / b_1) / lambda_1 for the first,
        then log(lambda_k (20 b_(k-1) / lambda_(k-1)) / b_k) / lambda_k, from the radius the stage
        before leaves (D0 = ``initial_sq_distance`` = ||y0 - x*||^2)."""
        starts = (initial_sq_distance, *(s.markov_radius_sq for s in self.stages[:-1]))
        return tuple(s.t1_lower_bound(start) for s, start in zip(self.stages, starts))

    @property
    def radii_sq(self) -> tuple[float, ...]:
        """20 b_k / lambda_k, the squared radius each stage ends within (with some probability)."""
        return tuple(s.markov_radius_sq for s in self.stages)

    @property
    def markov_lower_bound(self) -> float:
        """0.9^K for K stages: a lower bound on the probability that every stage ends within its
        radius, from Markov's step at the end of each stage, each conditioned on the stage starting
        within the radius the one before left (Chapter 3, note 1's argument). Like the corollary,
        it needs each stage's assumption wherever that stage's iterates go (Chapter 3, note 9)."""
        return MARKOV_SUCCESS ** len(self.stages)


@dataclass(frozen=True)
class Corollary2Setting:
    """Two stages of SGD, step ``eta`` then ``eta2 < eta`` with ``c2 > c`` (Corollary 2, Chapter 2)."""

    first: Theorem1Setting
    second: Theorem1Setting

    def __post_init__(self):
        _require_shrink(self.first, self.second, "Corollary 2")

    @property
    def schedule(self) -> ShrinkingSchedule:
        """The same two stages as a :class:`ShrinkingSchedule`."""
        return ShrinkingSchedule((self.first, self.second))

    def stage_lengths(self, initial_sq_distance: float) -> tuple[float, float]:
        """(T1, T2): log(lambda D0 / b) / lambda, then log(lambda' (20 b/lambda) / b') / lambda'.

        D0 = ``initial_sq_distance`` = ||y0 - x*||^2 (the paper writes d).
        """
        return self.schedule.stage_lengths(initial_sq_distance)

    @property
    def final_radius_sq(self) -> float:
        """20 b' / lambda', which the corollary says is below 20 b / lambda."""
        return self.second.markov_radius_sq


def large_step_threshold(grad, x, x_star, c_upper: float) -> np.ndarray:
    """Theorem 3's step size 2 c' ||x - x*||^2 / ||grad f(x)||^2, rowwise (Chapter 2).

    ``grad`` and ``x`` have shape (n, d); above this step size one GD step does not move closer.
    """
    c_upper = checks.require_positive("c_upper", c_upper)
    grad, diff = _threshold_inputs(grad, x, x_star)
    return 2 * c_upper * np.sum(diff**2, axis=-1) / np.sum(grad ** 2, axis=-1)


def exact_large_step_threshold(grad, x, x_star) -> np.ndarray:
    """The exact step size 2 <grad f(x), x - x*> / ||grad f(x)||^2 above which GD moves away (Chapter 2, Theorem 3).

    ``grad`` and ``x`` have shape (n, d); returns shape (n,), one step size per row (a 0-d
    array for a single point of shape (d,)). It is :func:`noisy_large_step_threshold` without noise.
    """
    return noisy_large_step_threshold(grad, x, x_star, 0.0)


def noisy_large_step_threshold(grad, x, x_star, noise_sq_norm: float) -> np.ndarray:
    """2 <grad f(x), x - x*> / (||grad f(x)||^2 + E||omega||^2) (Chapter 2, Theorem 3 with noise).

    For mean-zero noise omega, E||x - eta (grad f(x) + omega) - x*||^2 equals
    ||x - x*||^2 - 2 eta <grad f(x), x - x*> + eta^2 (||grad f(x)||^2 + E||omega||^2), so one SGD
    step moves away from x* *in expectation* exactly above this step size. With
    ``noise_sq_norm`` = 0 it is GD's exact threshold. ``grad`` and ``x`` have shape (..., d).
    """
    noise_sq_norm = checks.require_nonnegative("noise_sq_norm", noise_sq_norm)
    grad, diff = _threshold_inputs(grad, x, x_star)
    return 2 * np.sum(grad * diff, axis=-1) / (np.sum(grad**2, axis=-1) + noise_sq_norm)


def _threshold_inputs(grad, x, x_star) -> tuple[np.ndarray, np.ndarray]:
    """``grad`` and ``x - x_star`` as float arrays, after the checks that broadcasting would skip."""
    grad, x = checks.require_finite_array("grad", grad), checks.require_finite_array("x", x)
    checks.require_same_shape("grad", grad, "x", x)
    if x.ndim == 0:
        raise ValueError("x must have shape (d,) or (n, d), got a scalar")
    x_star = checks.require_finite_array("x_star", x_star)
    if x_star.shape not in ((), x.shape[-1:], x.shape):
        raise ValueError(f"x_star must be a scalar or have shape {x.shape[-1:]} or {x.shape}, "
                         f"got shape {x_star.shape}")
    return grad, x - x_star
