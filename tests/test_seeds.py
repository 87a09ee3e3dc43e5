"""Every seeded simulation draws from its seed: one seed replays, another gives different draws.

Without these, the tests that run a simulation over several seeds (Figure 3's criteria, the
saddle sweeps) could be running one simulation several times."""
from __future__ import annotations

import numpy as np

from sgd_escape.cifar.datasets import synthetic_cifar
from sgd_escape.escape_basins import SharpFlatLandscape, basin_fractions
from sgd_escape.escape_saddles import QuarticSaddle, simulate_saddle_escape, stochastic_gradient_descent
from sgd_escape.figure3 import simulate_figure3
from sgd_escape.landscapes import FIGURE3, figure3_function
from sgd_escape.sgd import run_sgd

F = figure3_function()


def test_run_sgd_draws_its_noise_from_the_seeded_stream():
    # one step from 0 on a flat function: x1 = -eta * omega, omega = r * U[-1, 1] from rng
    last = run_sgd(lambda x: 0 * x, np.zeros(5), step_size=1.0, noise=1.0, steps=1, rng=3)
    np.testing.assert_allclose(last, -np.random.default_rng(3).uniform(-1.0, 1.0, 5))


def test_run_sgd_with_another_seed_takes_another_path():
    x0 = np.linspace(-3, 3, 10)
    assert np.array_equal(run_sgd(F.grad, x0, 1.0, 0.3, 50, rng=7), run_sgd(F.grad, x0, 1.0, 0.3, 50, rng=7))
    assert not np.array_equal(run_sgd(F.grad, x0, 1.0, 0.3, 50, rng=7), run_sgd(F.grad, x0, 1.0, 0.3, 50, rng=8))


def test_figure3_with_another_seed_ends_elsewhere_in_every_panel():
    first, again, other = (simulate_figure3(F, FIGURE3, seed) for seed in (0, 0, 1))
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
        assert not np.array_equal(first[name], other[name]), name


def test_saddle_escape_with_another_seed_escapes_at_other_steps():
    first, again, other = (simulate_saddle_escape(QuarticSaddle(20), stochastic_gradient_descent(0.1, 0.1),
                                                  trials=10, horizon=400, seed=seed).times for seed in (0, 0, 1))
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_basin_fractions_with_another_seed_split_the_trials_differently():
    # from the barrier, one noisy step sends each trial either way: about half end in each basin
    landscape = SharpFlatLandscape()
    run = dict(step_size=0.01, noise_stds=[5.0], start=landscape.barrier(), trials=400, steps=1, settle_steps=0)
    first, other = basin_fractions(landscape, seed=0, **run), basin_fractions(landscape, seed=1, **run)
    assert 0.4 < first.sharp[0] < 0.6
    assert first.sharp[0] == basin_fractions(landscape, seed=0, **run).sharp[0]
    assert first.sharp[0] != other.sharp[0]


def test_synthetic_cifar_with_another_seed_draws_other_images():
    first = synthetic_cifar(train_size=20, test_size=5, seed=1)
    np.testing.assert_array_equal(first.train_images, synthetic_cifar(train_size=20, test_size=5, seed=1).train_images)
    assert not np.array_equal(first.train_images, synthetic_cifar(train_size=20, test_size=5, seed=2).train_images)
