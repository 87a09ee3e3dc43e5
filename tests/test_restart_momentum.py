"""Exercise 6.2's comparison of restarts that keep the momentum buffer with fresh ones (Chapter 6)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from sgd_escape.cifar import restart_momentum
from sgd_escape.cifar.experiments import preset_config
from sgd_escape.cifar.results import load_result


def _pair():
    """Two fake mini-preset spectrum results (restarts from epochs 2, 4, 6, three epochs long)."""
    def result(experiment, offset):
        curves = {f"{phase}_{key}": np.arange(12.0).reshape(4, 3)[: 4 if key != "train_loss_running" else 3] + offset
                  for phase in ("base", "restart", "twin") for key in restart_momentum.REPEATED}
        curves.update(restart_epochs=np.array([2, 4, 6]), base_epoch_distance=np.array([9, 18, 9, 36, 9, 72.0]),
                      restart_momentum_norm=np.array([1.0, 2.0, 4.0]), restart_momentum_cosine=np.array([0.5, 0.2, -0.1]),
                      twin_distance=np.array([[0, 0, 0], [1, 2, 3], [2, 2, 2], [3, 4, 10.0]]),
                      inner_distance=np.full((3, 3), 20.0), restart_test_accuracy=np.full((4, 3), 0.5),
                      twin_test_accuracy=np.full((4, 3), 0.25))
        scalars = {"nonpositive_inner": 1, "inner_products": 9, "restart_one_point_convex": [True, False, True], "restarts": 3}
        return SimpleNamespace(config=preset_config(experiment, "mini"), curves=curves, scalars=scalars)
    fresh, kept = result("spectrum-resnet-cifar10", 0.0), result("spectrumkeep-resnet-cifar10", 0.0)
    kept.curves["restart_train_loss_running"] = kept.curves["twin_train_loss_running"] - 0.1
    return fresh, kept


def test_the_kept_shift_is_the_buffer_summed_over_its_steps():
    fresh, kept = _pair()
    # restart rate 0.01, m = 0.9: 0.01 * 9 * ||b_0||
    np.testing.assert_allclose(restart_momentum.kept_shift(kept), [0.09, 0.18, 0.36])
    # mini: 512 images / 128 = 4 steps; epochs 1, 3, 5 moved 18, 36, 72 -> per step 4.5, 9, 18; times 0.1 * 9
    np.testing.assert_allclose(restart_momentum.estimated_shift(kept), [4.05, 8.1, 16.2])


def test_per_restart_reads_the_twin_distances_and_the_changes_kept_minus_fresh():
    fresh, kept = _pair()
    measured = restart_momentum.per_restart(fresh, kept)
    np.testing.assert_array_equal(measured["start"], [2, 4, 6])
    np.testing.assert_array_equal(measured["gap_first"], [1, 2, 3])
    np.testing.assert_array_equal(measured["gap_end"], [3, 4, 10])
    np.testing.assert_allclose(measured["first_loss_change"], [-0.1] * 3)
    np.testing.assert_allclose(measured["test_accuracy_change"], [0.25] * 3)
    rows = restart_momentum.table_rows(measured)
    assert len(rows) == 3 and all(len(row) == len(restart_momentum.COLUMNS) for row in rows)
    assert rows[2][0] == "6" and rows[2][7] == "0.5" and rows[0][8] == "-0.1"     # 10 / 20 and -0.1


def test_the_repetition_gap_is_zero_for_exact_twins_and_sees_any_difference():
    fresh, kept = _pair()
    assert restart_momentum.repetition_gap(fresh, kept) == 0
    kept.curves["twin_test_loss"] = kept.curves["twin_test_loss"] + np.eye(4, 3) * 0.25
    assert restart_momentum.repetition_gap(fresh, kept) == 0.25


def test_runs_that_are_not_a_pair_are_refused_with_the_argument_named():
    fresh, kept = _pair()
    with pytest.raises(ValueError, match="^kept must be"):
        restart_momentum.per_restart(fresh, fresh)
    with pytest.raises(ValueError, match="^fresh must be"):
        restart_momentum.per_restart(kept, kept)
    kept.config = {**kept.config, "restart_length": 7}
    with pytest.raises(ValueError, match="^kept must have the config of fresh"):
        restart_momentum.repetition_gap(fresh, kept)
    fresh, kept = _pair()
    kept.curves["restart_epochs"] = np.array([0, 4, 6])
    with pytest.raises(ValueError, match="^result must restart from epochs >= 1"):
        restart_momentum.estimated_shift(kept)


def test_verdicts_count_the_signs_of_a_result():
    fresh, _ = _pair()
    assert restart_momentum.verdicts(fresh) == {"nonpositive": "1 of 9", "convex": 2, "restarts": 3}


def test_the_committed_twins_repeat_the_plain_run_and_the_kept_restarts_differ():
    fresh, kept = load_result("spectrum-resnet-cifar10", "cpu"), load_result("spectrumkeep-resnet-cifar10", "cpu")
    assert restart_momentum.repetition_gap(fresh, kept) == 0      # the same arithmetic on one CPU thread
    measured = restart_momentum.per_restart(fresh, kept)
    assert np.all(measured["gap_end"] > 0) and np.all(measured["shift"] > 0)
    assert np.all(np.abs(measured["cosine"]) <= 1)
    np.testing.assert_array_equal(kept.curves["twin_distance"][0], 0)     # twins start at one point


def test_an_exercise_run_differs_from_its_base_run_only_by_the_added_setting():
    from sgd_escape.cifar.experiments import differs_only_in

    base, kept = preset_config("spectrum-resnet-cifar10", "mini"), preset_config("spectrumkeep-resnet-cifar10", "mini")
    assert differs_only_in(base, kept, "restart_momentum")
    assert not differs_only_in(kept, base, "restart_momentum")            # taken away, not added
    assert not differs_only_in(base, {**kept, "seed": 1}, "restart_momentum")
    assert not differs_only_in(base, kept, "branch_momentum")
    assert not differs_only_in(base, base, "restart_momentum")


def test_the_twin_picture_draws_each_restart_against_the_buffers_delivery():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, kept = _pair()
    fig, ax = plt.subplots()
    restart_momentum.plot_twin_gaps(ax, kept)
    lines = ax.get_lines()
    assert len(lines) == 3 + 1
    np.testing.assert_allclose(lines[0].get_ydata(), np.array([0, 1, 2, 3]) / 0.09)   # twin distance / shift
    delivered = lines[-1]
    x, y = delivered.get_xdata(), delivered.get_ydata()
    np.testing.assert_allclose(y, 1 - 0.9 ** (4 * x))                   # mini: 4 steps per epoch
    assert ax.get_ylim()[1] == pytest.approx(1.05 * 3 / 0.09)          # the largest share, restart 1 at the end
    plt.close(fig)
