"""Exercise 5.3's comparison of shared and zeroed momentum buffers (Chapter 5)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from sgd_escape.cifar import momentum_buffer
from sgd_escape.cifar.experiments import preset_config
from sgd_escape.cifar.results import load_result


def _pair(losses_shared, losses_zeroed):
    """Two fake slope results whose train and test losses are the given (epoch, branch) arrays."""
    def result(experiment, losses):
        losses = np.asarray(losses, dtype=float)
        branches = losses.shape[1]
        curves = {"train_loss": losses, "test_loss": losses, "train_loss_running": losses[1:],
                  "inner_raw": np.ones((2, branches, branches)), "inner_cosine": np.full((2, branches, branches), 0.1),
                  "final_distances": np.ones((branches, branches)), "test_accuracy": losses}
        return SimpleNamespace(config=preset_config(experiment, "mini"), curves=curves)
    return result("slope-resnet-cifar10", losses_shared), result("slopezero-resnet-cifar10", losses_zeroed)


def test_twin_gaps_are_measured_against_the_gaps_between_branches_of_the_shared_run():
    # epoch 1: branches at 1, 2, 4 (mean gap between two of them 2); twins off by 1, 1, 1 -> 1/2
    shared, zeroed = _pair([[0, 0, 0], [1, 2, 4]], [[0, 0, 0], [2, 1, 5]])
    np.testing.assert_allclose(momentum_buffer.twin_over_sibling(shared, zeroed), [0.5])
    assert momentum_buffer.branch_point_gap(shared, zeroed) == 0


def test_the_first_epoch_change_counts_the_branches_whose_loss_fell():
    shared, zeroed = _pair([[3, 3, 3], [1, 2, 4]], [[3, 3, 3], [0.5, 2.5, 3]])
    change = momentum_buffer.first_epoch_change(shared, zeroed)
    np.testing.assert_allclose(change["changes"], [-0.5, 0.5, -1])
    assert (change["lower"], change["branches"]) == (2, 3)


def test_runs_that_are_not_twins_are_refused_with_the_argument_named():
    shared, zeroed = _pair([[0, 0], [1, 2]], [[0, 0], [1, 2]])
    with pytest.raises(ValueError, match="^zeroed must"):
        momentum_buffer.branch_point_gap(shared, shared)
    with pytest.raises(ValueError, match="^shared must"):
        momentum_buffer.branch_point_gap(zeroed, zeroed)
    zeroed.config = {**zeroed.config, "branches": 7}
    with pytest.raises(ValueError, match="^zeroed must have the config of shared"):
        momentum_buffer.twin_over_sibling(shared, zeroed)
    with pytest.raises(ValueError, match="^forget must"):
        momentum_buffer.summary(*_pair([[0, 0], [1, 2]], [[0, 0], [1, 2]]), forget=1.0)


def test_the_committed_twin_runs_start_from_the_same_point_and_differ_after_it():
    shared, zeroed = load_result("slope-resnet-cifar10", "cpu"), load_result("slopezero-resnet-cifar10", "cpu")
    numbers = momentum_buffer.summary(shared, zeroed)
    assert numbers["start_gap"] == 0                       # the shared part repeats bit for bit on a CPU
    assert np.all(numbers["twin"] > 0) and numbers["branches"] == shared.config["branches"]
    rows = momentum_buffer.statistics_rows(shared, zeroed)
    counts = [f"{r.scalars['nonpositive_to_other_finals']} of {r.scalars['inner_products_to_other_finals']}"
              for r in (shared, zeroed)]
    assert rows[0] == ["inner products not positive, j != i", *counts]


def test_distances_between_ends_are_compared_twin_pair_by_twin_pair():
    shared, zeroed = _pair([[0, 0, 0], [1, 2, 4]], [[0, 0, 0], [1, 2, 4]])
    shared.curves["final_distances"] = np.array([[0, 2, 4], [2, 0, 5], [4, 5, 0]], dtype=float)
    zeroed.curves["final_distances"] = np.array([[0, 3, 4], [3, 0, 4], [4, 4, 0]], dtype=float)
    # pairs (0, 1), (0, 2), (1, 2): 2 -> 3, 4 -> 4, 5 -> 4
    np.testing.assert_allclose(momentum_buffer.summary(shared, zeroed)["pair_changes"], [0.5, 0.0, -0.2])
