"""Benchmark: the whole of Figure 3 (Chapter 1), vectorised versus a per-trial Python loop.

Both compute the same thing: the last iterates of all seven simulated panels (100 trials
each, FIGURE3.steps steps) and the convolved curves of rows 1 and 3. The loop version runs
one trial at a time, one step at a time, calling the same gradient on a scalar. Their random
draws come in a different order, so the two agree in distribution, not trial by trial: the
script compares each panel's last iterates with a two-sample Kolmogorov-Smirnov test.

    python benchmarks/figure3.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from sgd_escape.figure3 import panel_plan, simulate_figure3
from sgd_escape.landscapes import FIGURE3, figure3_function

CURVE_POINTS = 2001


def convolved_curves(f, setup):
    """The orange curves of rows 1 and 3 (identical work in both versions)."""
    xs = np.linspace(-setup.init_half_width - 0.5, setup.init_half_width + 0.5, CURVE_POINTS)
    windows = [setup.step_size * r for r in setup.noise_levels.values()] + \
              [setup.step_size * r for r in setup.stage_noises]
    return [f.convolved_value(xs, w) for w in windows]


def figure3_vectorised(f, setup):
    return simulate_figure3(f, setup, seed=0), convolved_curves(f, setup)


def figure3_per_trial_loop(f, setup):
    rng = np.random.default_rng(0)
    last = {}
    for name, (noise, half) in panel_plan(setup).items():
        ends = []
        for _ in range(setup.trials):
            x = rng.uniform(-half, half)
            for _ in range(setup.steps):
                x = x - setup.step_size * (f.grad(x) + noise * rng.uniform(-1.0, 1.0))
            ends.append(x)
        last[name] = np.array(ends)
    return last, convolved_curves(f, setup)


def agreement(vectorised_last, loop_last):
    """Two-sample Kolmogorov-Smirnov p-value per panel (small p: the versions disagree)."""
    from scipy.stats import ks_2samp

    return {name: float(ks_2samp(vectorised_last[name], loop_last[name]).pvalue) for name in vectorised_last}


def best_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs (vectorised)")
    args = parser.parse_args()
    f, setup = figure3_function(), FIGURE3
    trials = len(panel_plan(setup)) * setup.trials
    print(f"Figure 3: {trials} trials x {setup.steps} steps, plus {3 + len(setup.stage_noises)} convolved curves")
    vectorised = best_time(lambda: figure3_vectorised(f, setup), args.repeats)
    start = time.perf_counter()
    loop_last, _ = figure3_per_trial_loop(f, setup)
    loop = time.perf_counter() - start
    pvalues = agreement(figure3_vectorised(f, setup)[0], loop_last)
    print("KS p-value per panel, vectorised vs loop:", {k: round(v, 3) for k, v in pvalues.items()})
    if min(pvalues.values()) < 0.001:
        raise SystemExit("the vectorised and loop versions disagree in distribution (KS p < 0.001)")
    print(f"vectorised (all trials as one array): {vectorised:8.3f} s")
    print(f"per-trial Python loop:                {loop:8.3f} s")
    print(f"speed-up: {loop / vectorised:.0f}x   (targets: vectorised < 2 s, speed-up >= 50x)")


if __name__ == "__main__":
    main()
