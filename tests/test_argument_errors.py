"""Invalid arguments of the package's public constructors and runners raise a ValueError that
names the argument (the modules' own tests cover the rest)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sgd_escape.bounded_noise import BoundedNoise
from sgd_escape.cifar.datasets import load_cifar, synthetic_cifar
from sgd_escape.cifar.figures import plot_figure5
from sgd_escape.cifar.pipeline import check_restart_epochs
from sgd_escape.cifar.probes import ball_points, sgd_step_points, uniform_ball
from sgd_escape.cifar.training import epoch_plan, probe_gradient, subset_indices
from sgd_escape.figure3 import criteria_over_seeds
from sgd_escape.landscapes import figure3_function
from sgd_escape.large_step import Flower, fraction_moving_away, gd_path, radial_noise_share
from sgd_escape.spiky_quadratic import SpikyQuadratic
from sgd_escape.theory import noisy_large_step_threshold
from sgd_escape.ysequence import simulate_y, starting_points

BALL = BoundedNoise("ball", 1.0, 1)
SPHERE2 = BoundedNoise("sphere", 1.0, 2)
RNG = np.random.default_rng(0)

CASES = [
    ("a", lambda: Flower(a=-1.0)),
    ("eta", lambda: gd_path(lambda x: x, np.ones(2), 0.0, 3)),
    ("steps", lambda: gd_path(lambda x: x, np.ones(2), 0.1, 0)),
    ("noise_sq_norm", lambda: noisy_large_step_threshold(np.ones(2), np.ones(2), 0.0, -1.0)),
    ("grad", lambda: fraction_moving_away(np.ones(3), np.ones(2), 0.0, [0.1], SPHERE2, 10, RNG)),
    ("x", lambda: fraction_moving_away(np.ones(2), np.ones(3), 0.0, [0.1], SPHERE2, 10, RNG)),
    ("etas", lambda: fraction_moving_away(np.ones(2), np.ones(2), 0.0, [0.1, -0.1], SPHERE2, 10, RNG)),
    ("etas", lambda: fraction_moving_away(np.ones(2), np.ones(2), 0.0, [], SPHERE2, 10, RNG)),
    ("draws", lambda: fraction_moving_away(np.ones(2), np.ones(2), 0.0, [0.1], SPHERE2, 0, RNG)),
    ("direction", lambda: radial_noise_share(SPHERE2, np.zeros(2), 10, RNG)),
    ("draws", lambda: radial_noise_share(SPHERE2, np.ones(2), 0, RNG)),
    ("r", lambda: BoundedNoise("ball", -1.0, 2)),
    ("d", lambda: BoundedNoise("ball", 1.0, 0)),
    ("kind", lambda: BoundedNoise("cube", 1.0, 2)),
    ("beta", lambda: SpikyQuadratic(1.0, -1.0, 1.0)),
    ("k", lambda: SpikyQuadratic(1.0, 1.0, 0.0)),
    ("eta", lambda: simulate_y(lambda x: x, np.ones((2, 1)), 0.0, BALL, 3, RNG)),
    ("steps", lambda: simulate_y(lambda x: x, np.ones((2, 1)), 0.1, BALL, 0, RNG)),
    ("trials", lambda: starting_points(0, 2, 1.0, RNG)),
    ("seed", lambda: criteria_over_seeds(figure3_function(), [-1])),
    ("train_size", lambda: synthetic_cifar(train_size=0)),
    ("dataset", lambda: load_cifar("mnist")),
    ("radius", lambda: uniform_ball(torch.zeros(4), -1.0, 2, 0)),
    ("count", lambda: ball_points(torch.zeros(4), 0.5, 0, 0)),
    ("lr", lambda: sgd_step_points(None, torch.zeros(4), 0.0, 2, 0, None, 8)),
    ("count", lambda: sgd_step_points(None, torch.zeros(4), 0.1, 0, 0, None, 8)),
    ("batch_size", lambda: epoch_plan([0], 0, 100, 0, "cpu")),
    ("count", lambda: subset_indices(10, -1, 0)),
    ("count", lambda: subset_indices(10, 11, 0)),
    ("batch_size", lambda: probe_gradient(None, torch.zeros(10, 32, 32, 3), torch.zeros(10), None, 4)),
    ("quantity", lambda: plot_figure5([], {}, "cos")),
    ("restart_epochs", lambda: check_restart_epochs([4, 2], 6)),
    ("restart_epochs", lambda: check_restart_epochs([2, 8], 6)),
    ("restart_epochs", lambda: check_restart_epochs([2, 7], 6)),       # epoch 7 of a 6-epoch run: no snapshot
    ("restart_epochs", lambda: check_restart_epochs([2, 2], 6)),       # two restarts from one epoch
]


def test_restart_epochs_may_run_from_the_first_to_the_last_snapshot():
    assert check_restart_epochs([0, 6], 6) is None


@pytest.mark.parametrize("argument, call", CASES, ids=[f"{name}-{i}" for i, (name, _) in enumerate(CASES)])
def test_invalid_argument_raises_a_value_error_naming_it(argument, call):
    with pytest.raises(ValueError, match=rf"^{argument} must"):
        call()
