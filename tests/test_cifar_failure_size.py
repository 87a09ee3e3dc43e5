"""How far from zero the failures of Chapters 4-5 lie: within RANDOM_BAND / sqrt(P) a failure is
narrow (the size of a random direction's cosine), beyond it a clear one."""
from types import SimpleNamespace

import numpy as np
import pytest

from sgd_escape.cifar import tables


@pytest.fixture
def unit_scale(monkeypatch):
    # 1 / sqrt(P) = 0.01 for every network, without building one
    monkeypatch.setattr(tables, "random_cosine_scale", lambda config: 0.01)


def _fig5_result():
    raw = np.ones((8, 2))
    raw[2, 0], raw[6, 1] = -1.0, -0.5                 # epoch 2 is before the paper's epoch 5
    curves = {"inner_raw": raw, "inner_cosine": raw / 100,
              "ball_epochs": np.array([2, 5, 7]), "ball_raw_mean": np.array([[-1.0], [-2.0], [3.0]]),
              "ball_cosine_mean": np.array([[-0.5], [-0.04], [0.2]])}
    return SimpleNamespace(curves=curves, config={"epochs": 8})


def test_fig5_failures_are_those_the_verdict_counts_from_epoch_5_on(unit_scale):
    (cosines, scale), = tables.fig5_failing_cosines({"a": _fig5_result(), "b": None})
    # the inner product at epoch 6 (not the one at epoch 2) and the ball of epoch 5 (not that of epoch 2)
    assert cosines.tolist() == [-0.005, -0.04] and scale == 0.01


def test_slope_failures_leave_out_the_pairs_towards_the_branch_own_end(unit_scale):
    raw = np.ones((3, 2, 2))
    raw[0, 0, 0], raw[1, 0, 1], raw[2, 1, 0] = -1.0, -2.0, 0.0  # (epoch, branch i, end j)
    result = SimpleNamespace(curves={"inner_raw": raw, "inner_cosine": raw / 100}, config={})
    (cosines, _), = tables.slope_failing_cosines({"a": result})
    assert sorted(cosines.tolist()) == [-0.02, 0.0]


def test_failures_within_the_band_read_as_narrow_and_those_beyond_it_as_clear():
    narrow = tables.failure_size_clause([(np.array([-0.002, -0.029]), 0.01)])
    assert narrow.startswith("All 2 failing values have cosines of -0.029 to -0.002, within 3/√P") and "narrowly" in narrow
    clear = tables.failure_size_clause([(np.array([-0.002]), 0.01), (np.array([-0.031]), 0.01)])
    assert "1 of the 2 lie beyond 3/√P of zero, clear failures, and 1 within it" in clear
    assert tables.failure_size_clause([]) == tables.failure_size_clause([(np.zeros(0), 0.01)])


def test_the_random_scale_counts_the_shown_network_parameters_and_classes():
    from sgd_escape.cifar.models import parameter_count
    config = {"architecture": "resnet14", "dataset": "cifar100"}
    assert tables.random_cosine_scale(config) == pytest.approx(parameter_count("resnet14", 100) ** -0.5)
    assert tables.random_cosine_scale({**config, "dataset": "cifar10"}) > tables.random_cosine_scale(config)
