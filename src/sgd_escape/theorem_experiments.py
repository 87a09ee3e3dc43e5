"""The simulations of Chapter 2: Theorem 1 in d = 1 and d = 100, Corollary 2 in two and three stages.

Each experiment fixes a spiky quadratic (``spiky_quadratic``), bounded noise and a step size,
computes Theorem 1's constants with the *exact* one-point constant c of the convolved
function, runs many trials of equation (1) together and measures what the theorem promises.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sgd_escape import checks
from sgd_escape.bounded_noise import BoundedNoise
from sgd_escape.spiky_quadratic import SpikyQuadratic
from sgd_escape.theory import Corollary2Setting, ShrinkingSchedule, Theorem1Setting
from sgd_escape.ysequence import YRun, simulate_y, starting_points, y_of_x


@dataclass(frozen=True)
class Experiment:
    """A function, a noise, a step size and a start: one setting of Theorem 1 (Chapter 2)."""

    f: SpikyQuadratic
    noise: BoundedNoise
    eta: float
    initial_sq_distance: float

    @property
    def setting(self) -> Theorem1Setting:
        """Theorem 1's setting, with the exact one-point constant c of the convolved f (the
        constructor checks the theorem's conditions)."""
        return Theorem1Setting(self.eta, self.f.one_point_constant(self.noise, self.eta), self.f.L, self.noise.r)

    @property
    def T1(self) -> int:
        """Steps to time T1: Theorem 1's lower bound on T1 from ``initial_sq_distance``, rounded up."""
        return math.ceil(self.setting.t1_lower_bound(self.initial_sq_distance))


#: Chapter 2's one-dimensional setting: noise uniform on [-r, r]; k eta r = 7.72, where the
#: surviving fraction of the spikes, phi = sin(k eta r) / (k eta r), has a local maximum.
ONE_DIM = Experiment(SpikyQuadratic(a=1.0, beta=8.0, k=10.0), BoundedNoise("ball", 96.5, 1), 0.008, 1e4)
#: Chapter 2's high-dimensional setting: d = 100, noise uniform on the sphere of radius r.
HIGH_DIM = Experiment(SpikyQuadratic(a=1.0, beta=5.0, k=20.0), BoundedNoise("sphere", 60.0, 100), 0.02, 1e4)
#: Corollary 2's second stage for ONE_DIM: a smaller step, the same noise and L, a larger c.
#: (k eta' r = 6.5, where phi is smaller than at k eta r = 7.72, so c' > c).
SECOND_STAGE_ETA = 0.0067
#: A third stage for the several-shrinks form: k eta'' r = 3.09, just below pi, where phi is near
#: zero again, so c'' > c'.
THIRD_STAGE_ETA = 0.0032


@dataclass
class Theorem1Result:
    """What Theorem 1 promises and what the trials did (Chapter 2)."""

    experiment: Experiment
    T2: int
    run: YRun

    @property
    def within_markov_radius(self) -> float:
        """Fraction of trials with ||y_T1 - x*||^2 <= 20 b / lambda (promised: >= 1/2; Markov: 0.9)."""
        return float(np.mean(self.run.sq_dist[self.experiment.T1] <= self.experiment.setting.markov_radius_sq))

    @property
    def window_max(self) -> np.ndarray:
        """max over [T1, T1 + T2] of ||y_t - x*||^2, per trial."""
        T1 = self.experiment.T1
        return self.run.window_max(T1, T1 + self.T2)

    @property
    def window_mean(self) -> float:
        """Mean of ||y_t - x*||^2 over the window [T1, T1 + T2] and all trials: where SGD hovers."""
        T1 = self.experiment.T1
        return float(self.run.sq_dist[T1:T1 + self.T2 + 1].mean())

    @property
    def tail_looseness(self) -> float:
        """delta^2 (the O(log(T2) b / lambda) bound) over the largest value any trial reached."""
        return self.experiment.setting.tail(self.T2).radius_sq / float(self.window_max.max())

    @property
    def markov_looseness(self) -> float:
        """20 b / lambda over the median ||y_T1 - x*||^2."""
        return self.experiment.setting.markov_radius_sq / float(np.median(self.run.sq_dist[self.experiment.T1]))


def run_theorem1(experiment: Experiment, T2: int, trials: int, seed: int = 0) -> Theorem1Result:
    """Run ``trials`` trials of equation (1) for T1 + T2 steps from ``experiment``'s start (Chapter 2)."""
    T2 = checks.require_int_at_least("T2", T2, 1)
    rng = np.random.default_rng(checks.require_int_at_least("seed", seed, 0))
    y0 = starting_points(trials, experiment.noise.d, experiment.initial_sq_distance, rng)
    run = simulate_y(experiment.f.grad, y0, experiment.eta, experiment.noise, experiment.T1 + T2, rng)
    return Theorem1Result(experiment, T2, run)


def setting_numbers(experiment: Experiment) -> dict:
    """Every number of a setting that Chapter 2's prose quotes, by name (Chapter 2): the
    function's ``a``, ``beta``, ``k`` and its local ``minima`` per coordinate (``spurious`` of them
    spurious), the noise's ``r`` and dimension ``d``, ``eta``, the constants ``c``, ``L``, ``lam``
    and ``floor`` = b / lambda, the start ``d0`` = ||y_0 - x*||^2, ``T1``, and the averaging
    ``window`` k eta r of the spikes."""
    s, f = experiment.setting, experiment.f
    minima = f.local_minima_per_coordinate()
    return {"a": f.a, "beta": f.beta, "k": f.k, "minima": minima, "spurious": minima - 1,
            "r": experiment.noise.r, "d": experiment.noise.d, "eta": s.eta, "c": s.c, "L": s.L,
            "lam": s.lam, "floor": s.floor, "d0": experiment.initial_sq_distance, "T1": experiment.T1,
            "window": f.k * experiment.eta * experiment.noise.r}


def theorem1_numbers(result: Theorem1Result, early: int) -> dict:
    """What Chapter 2 reports of a Theorem 1 run, by name (Chapter 2): ``within``, the percentage
    of trials within 20 b / lambda at T1; ``markov_loose`` and ``tail_loose``
    (:attr:`Theorem1Result.markov_looseness`, :attr:`~Theorem1Result.tail_looseness`); ``delta_sq``
    and ``mu_sq``, the window bound and its factor mu^2; ``window_max``, ``window_mean`` and
    ``window_in_floor`` (the maximum in units of b / lambda); and ``envelope_ratio``, the median
    over steps 1..``early`` of the expectation envelope over the trials' mean squared distance."""
    early = checks.require_int_at_least("early", early, 1)
    if early >= len(result.run.sq_dist):
        raise ValueError(f"early must be <= the run's last step {len(result.run.sq_dist) - 1}, got {early}")
    setting, tail = result.experiment.setting, result.experiment.setting.tail(result.T2)
    steps = np.arange(1, early + 1)
    envelope = setting.envelope(result.experiment.initial_sq_distance, steps)
    return {"within": 100 * result.within_markov_radius, "markov_loose": result.markov_looseness,
            "tail_loose": result.tail_looseness, "delta_sq": tail.radius_sq, "mu_sq": tail.mu ** 2,
            "window_max": float(result.window_max.max()), "window_mean": result.window_mean,
            "window_in_floor": float(result.window_max.max()) / setting.floor,
            "envelope_ratio": float(np.median(envelope / result.run.sq_dist[steps].mean(axis=1)))}


def trajectory_points(experiment: Experiment, trials: int, times, seed: int = 0) -> np.ndarray:
    """The points y_t of ``trials`` runs of equation (1) from ``experiment``'s start, at each of
    ``times``, stacked time by time: shape ``(len(times) * trials, d)`` (Chapter 3 checks the
    proof's steps at them)."""
    times = [checks.require_int_at_least("times", t, 0) for t in times]
    if not times:
        raise ValueError("times must name at least one step, got none")
    rng = np.random.default_rng(checks.require_int_at_least("seed", seed, 0))
    y0 = starting_points(trials, experiment.noise.d, experiment.initial_sq_distance, rng)
    run = simulate_y(experiment.f.grad, y0, experiment.eta, experiment.noise, max(max(times), 1), rng,
                     snapshot_times=times)
    return np.concatenate([run.snapshots[t] for t in times])


def shrinking_schedule(experiment: Experiment = ONE_DIM,
                       later_etas=(SECOND_STAGE_ETA, THIRD_STAGE_ETA)) -> ShrinkingSchedule:
    """``experiment``'s setting, then one stage per step size of ``later_etas``, each with the exact
    one-point constant at that step size (Chapter 2; the constructor checks every shrink)."""
    f, noise = experiment.f, experiment.noise
    later = [Theorem1Setting(eta, f.one_point_constant(noise, eta), f.L, noise.r) for eta in later_etas]
    return ShrinkingSchedule((experiment.setting, *later))


class ShrinkingRun(NamedTuple):
    """A run of :func:`run_shrinking` (Chapter 2): the ``schedule``; ``sq``, the squared distances
    ||y_t - x*||^2 of shape (sum of lengths + 1, trials); the stage ``lengths``; and ``restart_sq``,
    shape (stages - 1, trials), the squared distance of the point y' where each later stage starts."""

    schedule: ShrinkingSchedule
    sq: np.ndarray
    lengths: tuple[int, ...]
    restart_sq: np.ndarray


def run_shrinking(trials: int, seed: int = 0, experiment: Experiment = ONE_DIM,
                  later_etas=(SECOND_STAGE_ETA, THIRD_STAGE_ETA)) -> ShrinkingRun:
    """SGD through every stage of :func:`shrinking_schedule`, each for its Step-2 length (at least
    one step) (Chapter 2).

    As SGD that changes its step size, each stage after the first starts from
    y' = x_T - eta' grad f(x_T), the point of equation (1) for the new step size, not from the
    previous stage's y_T; ``restart_sq`` records where."""
    schedule = shrinking_schedule(experiment, later_etas)
    lengths = tuple(max(1, math.ceil(t)) for t in schedule.stage_lengths(experiment.initial_sq_distance))
    rng = np.random.default_rng(checks.require_int_at_least("seed", seed, 0))
    y = starting_points(trials, experiment.noise.d, experiment.initial_sq_distance, rng)
    pieces, restarts = [], []
    for k, (stage, steps) in enumerate(zip(schedule.stages, lengths)):
        if k:
            y = y_of_x(experiment.f.grad, run.final_x, stage.eta)
        run = simulate_y(experiment.f.grad, y, stage.eta, experiment.noise, steps, rng)
        if k:
            restarts.append(run.sq_dist[0])
        pieces.append(run.sq_dist[1:] if k else run.sq_dist)     # row 0 of a later stage is y'
    return ShrinkingRun(schedule, np.concatenate(pieces), lengths, np.stack(restarts))


def shrinking_numbers(run: ShrinkingRun) -> dict:
    """What a several-shrinks run shows, by name (Chapter 2): ``within``, for each stage the
    percentage of trials within its 20 b / lambda at the stage's last step; ``within_all``, the
    percentage within every stage's radius at its end; ``end_means``, the mean squared distance
    over the trials at each stage's last step; ``restart_outside``, for each later stage the
    percentage of trials whose starting point y' lies outside the radius of the stage before, and
    ``restart_reach``, the largest ||y' - x*||^2 over that radius."""
    ends, radii = np.cumsum(run.lengths), run.schedule.radii_sq
    inside = np.stack([run.sq[end] <= radius for end, radius in zip(ends, radii)])
    return {"within": [100 * float(row.mean()) for row in inside],
            "within_all": 100 * float(inside.all(axis=0).mean()),
            "end_means": [float(run.sq[end].mean()) for end in ends],
            "restart_outside": [100 * float(np.mean(sq > r)) for sq, r in zip(run.restart_sq, radii)],
            "restart_reach": [float(sq.max() / r) for sq, r in zip(run.restart_sq, radii)]}


def run_corollary2(trials: int, seed: int = 0, experiment: Experiment = ONE_DIM,
                   eta2: float = SECOND_STAGE_ETA) -> tuple[Corollary2Setting, np.ndarray, tuple[int, int]]:
    """Two stages, eta for T1 steps then eta2 for T2 steps (Corollary 2; Chapters 2-3).

    Returns ``(coro, sq, (T1, T2))``: the :class:`~sgd_escape.theory.Corollary2Setting`, the
    squared distances ||y_t - x*||^2 of shape (T1 + T2 + 1, trials), and the stage lengths.
    :func:`run_shrinking` with the one later step size ``eta2``; stage two starts from
    y' = x_T1 - eta2 grad f(x_T1)."""
    run = run_shrinking(trials, seed, experiment, (eta2,))
    return Corollary2Setting(*run.schedule.stages), run.sq, run.lengths
