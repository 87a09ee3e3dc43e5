"""How the level where SGD hovers scales with the step size and with the window (Chapter 2).

The paper reads two scaling laws off Theorem 1 (the remark after it): y_t hovers at a squared
distance of order b / lambda ~ eta r^2 / (2c) from x*, linear in eta at fixed c and r, and the
largest squared distance over a window of T2 steps is O(log(T2) b / lambda). This module measures
both on the spiky quadratics of :mod:`sgd_escape.spiky_quadratic`.

In that family c depends on eta only through the window s = k eta r (the phase of the spikes
that the step-scaled noise eta omega spans). A sweep over eta at fixed c therefore keeps s and
lets either the spike frequency k (``adjust="k"``: k = s / (eta r), same noise) or the noise
radius r (``adjust="r"``: r = s / (k eta), same function) absorb the change. All members of a
sweep, and all their trials, advance together as one array of shape (members, trials, d).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sgd_escape import checks
from sgd_escape.bounded_noise import BoundedNoise
from sgd_escape.escape_stats import LineFit, fit_line
from sgd_escape.spiky_quadratic import SpikyQuadratic
from sgd_escape.theorem_experiments import ONE_DIM, Experiment
from sgd_escape.theory import Theorem1Setting
from sgd_escape.ysequence import starting_points

#: What may absorb a change of eta at a fixed window k eta r: the spike frequency or the noise radius.
ADJUSTABLE = ("k", "r")
#: Noise is drawn this many steps at a time (one array of shape (CHUNK, members, trials, d)).
CHUNK = 1000


def family_member(eta: float, base: Experiment = ONE_DIM, adjust: str = "k") -> Experiment:
    """``base`` with step size ``eta`` and the same window s = k eta r, hence the same one-point
    constant c and smoothness L (Chapter 2). ``adjust="k"`` sets k = s / (eta r) and keeps the noise;
    ``adjust="r"`` sets r = s / (k eta) and keeps the function. The start is ``base``'s."""
    eta = checks.require_positive("eta", eta)
    checks.require_choice("adjust", adjust, ADJUSTABLE)
    f, noise = base.f, base.noise
    window = f.k * base.eta * noise.r
    if adjust == "k":
        f = SpikyQuadratic(f.a, f.beta, window / (eta * noise.r))
    else:
        noise = BoundedNoise(noise.kind, window / (f.k * eta), noise.d)
    return Experiment(f, noise, eta, base.initial_sq_distance)


def _settings(experiments) -> list[Theorem1Setting]:
    """Each member's Theorem 1 setting; a failed condition is reported against ``etas``."""
    settings = []
    for experiment in experiments:
        try:
            settings.append(experiment.setting)
        except ValueError as error:
            raise ValueError(f"etas must keep Theorem 1's conditions at every step size: at eta = "
                             f"{experiment.eta:.6g}, {error}") from error
    return settings


def _advance(experiments, y: np.ndarray, steps: int, rng: np.random.Generator):
    """Equation (1) for every member and trial at once: yields y_t for t = 0, ..., ``steps``.

    ``y`` has shape (members, trials, d); members share a, beta and the kind of noise and differ
    in eta, k and r. The noise is drawn ``CHUNK`` steps at a time."""
    first = experiments[0]
    a, beta = first.f.a, first.f.beta
    column = (len(experiments), 1, 1)
    eta = np.reshape([e.eta for e in experiments], column)
    k = np.reshape([e.f.k for e in experiments], column)
    r = np.reshape([e.noise.r for e in experiments], column)
    spikes = beta / k
    unit = BoundedNoise(first.noise.kind, 1.0, first.noise.d)
    yield y
    for start in range(0, steps, CHUNK):
        omegas = r * unit.sample((min(CHUNK, steps - start), *y.shape[:2]), rng)
        for omega in omegas:
            x = y - eta * omega                               # x_{t+1}
            y = x - eta * (a * x + spikes * np.sin(k * x))    # y_{t+1} = x_{t+1} - eta grad f
            yield y


@dataclass(frozen=True)
class HoverSweep:
    """The level where SGD hovers, measured at several step sizes with c, L fixed (Chapter 2).

    ``level[j]`` is the mean of ||y_t - x*||^2 over the ``window`` steps after ``burn_in`` steps and
    over the trials, for ``experiments[j]``; ``stderr[j]`` its standard error over the trials."""

    experiments: tuple[Experiment, ...]
    level: np.ndarray
    stderr: np.ndarray
    burn_in: int
    window: int
    trials: int

    @property
    def etas(self) -> np.ndarray:
        """The step sizes of the sweep."""
        return np.array([e.eta for e in self.experiments])

    @property
    def settings(self) -> list[Theorem1Setting]:
        """Theorem 1's setting of each member (the constructor has checked its conditions)."""
        return [e.setting for e in self.experiments]

    @property
    def floors(self) -> np.ndarray:
        """b / lambda of each member: the theorem's bound on the hover level."""
        return np.array([s.floor for s in self.settings])

    @property
    def approx(self) -> np.ndarray:
        """eta r^2 / (2c) of each member: the paper's reading of b / lambda for small eta."""
        return np.array([s.eta * s.r**2 / (2 * s.c) for s in self.settings])

    @property
    def quadratic_level(self) -> np.ndarray:
        """The stationary E||y - x*||^2 of equation (1) on the quadratic a||x||^2 / 2 alone, the
        spikes left out: (1 - eta a)^2 eta E||omega||^2 / (a (2 - eta a)) for each member."""
        return np.array([(1 - e.eta * e.f.a) ** 2 * e.eta * e.noise.mean_sq_norm
                         / (e.f.a * (2 - e.eta * e.f.a)) for e in self.experiments])

    def slope(self) -> LineFit:
        """Least-squares line of log ``level`` against log eta, weighted by the standard errors: its
        slope is the power of eta with which the hover level scales (needs 3 step sizes or more)."""
        if len(self.experiments) < 3:
            raise ValueError(f"etas must hold at least 3 step sizes for a slope with an error, "
                             f"got {len(self.experiments)}")
        return fit_line(np.log(self.etas), np.log(self.level), self.stderr / self.level)


def hover_sweep(etas, trials: int, burn_in: float = 3.0, window: float = 6.0, seed: int = 0,
                base: Experiment = ONE_DIM, adjust: str = "k") -> HoverSweep:
    """Measure where SGD hovers at each step size of ``etas``, at ``base``'s window k eta r
    (:func:`family_member`), from x* itself (Chapter 2).

    ``burn_in`` and ``window`` are counted in units of 1 / lambda at the smallest lambda of the
    sweep (lambda = 2 eta c - eta^2 L^2, the contraction rate of the proof's Step 1) and rounded up
    to whole steps. Every step size must keep Theorem 1's conditions."""
    etas = checks.require_finite_array("etas", etas)
    if etas.ndim != 1 or etas.size == 0 or np.any(etas <= 0):
        raise ValueError(f"etas must be a non-empty 1-D array of step sizes > 0, got {etas!r}")
    trials = checks.require_int_at_least("trials", trials, 2)
    burn_in = checks.require_nonnegative("burn_in", burn_in)
    window = checks.require_positive("window", window)
    rng = np.random.default_rng(checks.require_int_at_least("seed", seed, 0))
    experiments = tuple(family_member(float(eta), base, adjust) for eta in etas)
    slowest = min(s.lam for s in _settings(experiments))
    burn_steps, window_steps = math.ceil(burn_in / slowest), math.ceil(window / slowest)
    y0 = np.zeros((len(experiments), trials, base.noise.d))
    total = np.zeros((len(experiments), trials))
    for t, y in enumerate(_advance(experiments, y0, burn_steps + window_steps, rng)):
        if t > burn_steps:
            total += np.sum(y * y, axis=-1)
    per_trial = total / window_steps
    return HoverSweep(experiments, per_trial.mean(axis=1),
                      per_trial.std(axis=1, ddof=1) / math.sqrt(trials), burn_steps, window_steps, trials)


@dataclass(frozen=True)
class WindowMaxima:
    """The largest ||y_t - x*||^2 over windows [T1, T1 + T2] of growing length (Chapter 2).

    ``maxima[i, j]`` is that maximum for ``T2s[i]`` and trial j; ``level`` the mean of
    ||y_t - x*||^2 over the longest window and all trials."""

    experiment: Experiment
    T2s: np.ndarray
    maxima: np.ndarray
    level: float

    @property
    def median(self) -> np.ndarray:
        """The median over trials of each window's maximum: Theorem 1 bounds it by delta^2, since
        it promises the bound for each trial with probability at least 1/2."""
        return np.median(self.maxima, axis=1)

    @property
    def bounds(self) -> np.ndarray:
        """delta^2 = mu^2 b / lambda for each window length."""
        return np.array([self.experiment.setting.tail(int(T2)).radius_sq for T2 in self.T2s])

    def growth(self, values) -> LineFit:
        """Least-squares line of ``values`` (one per window length) against log T2: its slope is
        the growth per factor e of T2 (needs 3 window lengths or more)."""
        values = checks.require_finite_array("values", values)
        if values.shape != self.T2s.shape:
            raise ValueError(f"values must hold one number per window length, shape {self.T2s.shape}, "
                             f"got shape {values.shape}")
        if self.T2s.size < 3:
            raise ValueError(f"T2s must hold at least 3 window lengths for a slope with an error, "
                             f"got {self.T2s.size}")
        return fit_line(np.log(self.T2s), values)


def window_maxima(T2s, trials: int, seed: int = 0, experiment: Experiment = ONE_DIM) -> WindowMaxima:
    """Run ``trials`` trials of ``experiment`` for T1 + max(``T2s``) steps and record, for every
    T2 of ``T2s`` (strictly increasing integers >= 1), each trial's largest ||y_t - x*||^2 over
    [T1, T1 + T2] (Chapter 2). Keeps running maxima, not the path: memory does not grow with T2."""
    T2s = np.asarray(T2s)
    if (T2s.ndim != 1 or T2s.size == 0 or not np.issubdtype(T2s.dtype, np.integer)
            or T2s[0] < 1 or np.any(np.diff(T2s) <= 0)):
        raise ValueError(f"T2s must be a non-empty 1-D array of strictly increasing integers >= 1, "
                         f"got {T2s!r}")
    trials = checks.require_int_at_least("trials", trials, 1)
    rng = np.random.default_rng(checks.require_int_at_least("seed", seed, 0))
    T1, ends = experiment.T1, experiment.T1 + T2s
    recorded = {int(end): i for i, end in enumerate(ends)}
    y0 = starting_points(trials, experiment.noise.d, experiment.initial_sq_distance, rng)[None]
    running, total = np.zeros(trials), np.zeros(trials)
    maxima = np.empty((T2s.size, trials))
    for t, y in enumerate(_advance((experiment,), y0, int(ends[-1]), rng)):
        if t >= T1:
            sq = np.sum(y[0] * y[0], axis=-1)
            np.maximum(running, sq, out=running)
            total += sq
            if t in recorded:
                maxima[recorded[t]] = running
    return WindowMaxima(experiment, T2s, maxima, float(total.mean() / (ends[-1] - T1 + 1)))
