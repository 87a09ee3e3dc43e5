"""Theorem 1's constants on a network (Chapter 6): the power iteration, the Hessian-vector
products, the minibatch noise, the run that records them and the numbers the chapter reads."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sgd_escape.__main__ import experiment_names
from sgd_escape.cifar import conditions, conditions_tables
from sgd_escape.cifar.datasets import synthetic_cifar
from sgd_escape.cifar.experiments import (BY_NAME_ONLY, EXPERIMENTS, SECTION5_CIFAR10, image_passes,
                                          preset_config, total_units)
from sgd_escape.cifar.models import EnsembleLinear, build_ensemble, load_members
from sgd_escape.cifar.pipeline import run_experiment
from sgd_escape.cifar.results import expected_shapes, load_result
from sgd_escape.cifar.runner import Run
from sgd_escape.cifar.training import probe_gradient, to_device
from sgd_escape.theory import Theorem1Setting

NAME = "conditions-resnet-cifar10"


@pytest.fixture(scope="module")
def data():
    return to_device(synthetic_cifar(train_size=64, test_size=8, seed=3), None, None, torch.device("cpu"))


class PooledLinear(nn.Module):
    """An ensemble whose logits are linear in its weights (channel means of the image): its probe
    loss is a softmax regression, whose Hessian autograd can write down in full."""

    def __init__(self, members: int):
        super().__init__()
        self.members = members
        self.head = EnsembleLinear(members, 3, 10)
        generator = torch.Generator().manual_seed(members)
        nn.init.normal_(self.head.weight, std=2.0, generator=generator)
        nn.init.normal_(self.head.bias, std=1.0, generator=generator)

    def forward(self, x):
        return self.head(x.mean((2, 3)))


def exact_top_eigenvalues(model, images, labels, data) -> np.ndarray:
    """Each member's largest Hessian eigenvalue of the mean cross-entropy, from the full Hessian."""
    features = data.normalise(images).mean((2, 3)).double()                 # [N, 3]
    weight = model.head.weight.detach().double().view(model.members, 10, 3)
    bias = model.head.bias.detach().double().view(model.members, 10)
    tops = []
    for k in range(model.members):
        def loss(flat):
            logits = features @ flat[:30].view(10, 3).T + flat[30:]
            return nn.functional.cross_entropy(logits, labels)
        hessian = torch.autograd.functional.hessian(loss, torch.cat([weight[k].reshape(-1), bias[k]]))
        tops.append(torch.linalg.eigvalsh(hessian).max().item())
    return np.array(tops)


def test_power_iteration_finds_each_members_top_eigenvalue_of_a_known_hessian(data):
    model = PooledLinear(3)
    images, labels = data.train_images(64), data.train_labels[:64]
    found = conditions.top_hessian_eigenvalue(model, images, labels, data, 16, 150, seed=1)
    exact = exact_top_eigenvalues(model, images, labels, data)
    assert len(set(np.round(exact, 3))) == 3                                 # the members differ
    np.testing.assert_allclose(found["sharpness"].numpy(), exact, rtol=1e-3)
    assert found["trace"].shape == (150, 3)
    assert np.all(found["trace"].numpy() <= exact + 1e-6)                    # Rayleigh: never above


def test_power_iteration_normalises_each_block_on_its_own():
    matrices = torch.stack([torch.diag(torch.tensor([9.0, 1.0, -2.0])),
                            torch.diag(torch.tensor([0.5, -0.01, 0.0])),
                            torch.diag(torch.tensor([-4.0, 3.0, 1.0]))]).double()
    found = conditions.power_iteration(lambda v: torch.einsum("kij,kj->ki", matrices, v),
                                       torch.ones(3, 3, dtype=torch.float64), 200)
    # the largest in size, with its sign: the third block's is -4
    np.testing.assert_allclose(found["eigenvalue"].numpy(), [9.0, 0.5, -4.0], rtol=1e-6)


def test_hessian_vector_products_are_symmetric_and_block_diagonal(data):
    model = build_ensemble("resnet14", 2, 10, 0)
    images, labels = data.train_images(32), data.train_labels[:32]
    size = sum(p.numel() for p in model.parameters()) // 2
    u, v = torch.randn(2, size, generator=torch.Generator().manual_seed(0)).unbind(0)
    hu = conditions.hessian_vector_products(model, torch.stack([u, v]), images, labels, data, 16)
    hv = conditions.hessian_vector_products(model, torch.stack([v, u]), images, labels, data, 16)
    # member 0: <v, H u> = <u, H v>; member 1 likewise
    assert torch.allclose((v * hu[0]).sum(), (u * hv[0]).sum(), rtol=1e-3)
    assert torch.allclose((u * hu[1]).sum(), (v * hv[1]).sum(), rtol=1e-3)
    zeroed = conditions.hessian_vector_products(model, torch.stack([u, 0 * v]), images, labels, data, 16)
    assert torch.equal(zeroed[1], torch.zeros(size)) and torch.allclose(zeroed[0], hu[0], rtol=1e-4, atol=1e-6)


def test_hessian_vector_products_match_finite_differences_of_the_probe_gradient(data):
    model = PooledLinear(2)        # smooth: no ReLU kinks for the differences to cross
    images, labels = data.train_images(64), data.train_labels[:64]
    params = list(model.parameters())
    v = torch.randn(2, 40, generator=torch.Generator().manual_seed(2))
    step = 1e-2
    with torch.no_grad():
        flat = torch.cat([p.reshape(2, -1) for p in params], 1)
    gradients = []
    for sign in (1, -1):
        load_members(params, flat + sign * step * v)
        gradients.append(probe_gradient(model, images, labels, data, 16).double())
    load_members(params, flat)
    product = conditions.hessian_vector_products(model, v, images, labels, data, 16).double()
    np.testing.assert_allclose(product.numpy(), ((gradients[0] - gradients[1]) / (2 * step)).numpy(),
                               rtol=1e-2, atol=1e-4)


def test_noise_is_zero_when_every_minibatch_is_the_whole_probe_set(data):
    model = build_ensemble("resnet14", 2, 10, 0)
    images, labels = data.train_images(32), data.train_labels[:32]
    whole = conditions.minibatch_noise(model, images, labels, data, 32, 32, 3, seed=0)
    scale = probe_gradient(model, images, labels, data, 32).norm(dim=1)
    assert torch.all(whole["noise_max"] <= 1e-4 * scale)
    halves = conditions.minibatch_noise(model, images, labels, data, 32, 16, 2, seed=0)
    assert torch.all(halves["noise_max"] > 1e-2 * scale)
    assert torch.all(halves["noise_mean"] <= halves["noise_max"])


def test_noise_is_the_distance_of_each_minibatch_gradient_from_the_full_one(data):
    model = build_ensemble("resnet14", 2, 10, 1)
    images, labels = data.train_images(32), data.train_labels[:32]
    found = conditions.minibatch_noise(model, images, labels, data, 16, 16, 1, seed=4)
    full = probe_gradient(model, images, labels, data, 16).double()
    order = torch.randperm(32, generator=torch.Generator().manual_seed(4 * 100_003))
    norms = torch.stack([(probe_gradient(model, images[part], labels[part], data, 16).double() - full).norm(dim=1)
                         for part in order.view(2, 16)])
    np.testing.assert_allclose(found["noise_max"].numpy(), norms.max(0).values.numpy(), rtol=1e-12)
    np.testing.assert_allclose(found["noise_mean"].numpy(), norms.mean(0).numpy(), rtol=1e-12)


@pytest.mark.parametrize("argument, call", [
    ("iterations", lambda m, d: conditions.top_hessian_eigenvalue(m, *d, 16, 0)),
    ("iterations", lambda m, d: conditions.top_hessian_eigenvalue(m, *d, 16, 2.5)),
    ("iterations", lambda m, d: conditions.power_iteration(lambda v: v, torch.ones(1, 2), -1)),
    ("reshuffles", lambda m, d: conditions.minibatch_noise(m, *d, 16, 16, 0)),
    ("batch_size", lambda m, d: conditions.minibatch_noise(m, *d, 16, 64, 1)),
    ("seed", lambda m, d: conditions.top_hessian_eigenvalue(m, *d, 16, 1, seed=-1)),
    ("vectors", lambda m, d: conditions.hessian_vector_products(m, torch.ones(2, 3), *d, 16)),
    ("conditions_epochs", lambda m, d: conditions.check_conditions_epochs([0, 5, 3], 10)),
    ("conditions_epochs", lambda m, d: conditions.check_conditions_epochs([0, 11], 10)),
    ("conditions_epochs", lambda m, d: conditions.check_conditions_epochs([], 10)),
])
def test_invalid_arguments_raise_a_value_error_naming_them(argument, call, data):
    model = PooledLinear(2)
    with pytest.raises(ValueError, match=f"^{argument} must"):
        call(model, (data.train_images(32), data.train_labels[:32], data))


def test_the_run_is_by_name_only_and_trains_as_the_plain_spectrum_run():
    assert NAME in EXPERIMENTS and NAME in BY_NAME_ONLY
    assert NAME not in SECTION5_CIFAR10 and NAME not in experiment_names(["all"], EXPERIMENTS)
    for preset in ("smoke", "mini", "cpu", "reduced", "paper"):
        plain, measured = preset_config("spectrum-resnet-cifar10", preset), preset_config(NAME, preset)
        added = {key: measured.pop(key) for key in set(measured) - set(plain)}
        assert {**measured, "experiment": plain["experiment"]} == plain          # same training, same seeds
        assert added["conditions"] == "estimated" and added["conditions_epochs"][-1] <= plain["restart_length"]
        assert total_units(preset_config(NAME, preset)) == total_units(plain) + len(added["conditions_epochs"])
        assert image_passes(preset_config(NAME, preset))["passes"] > image_passes(plain)["passes"]
    extra = set(expected_shapes(preset_config(NAME, "cpu"))) - set(expected_shapes(preset_config("spectrum-resnet-cifar10", "cpu")))
    assert extra == {"cond_sharpness", "cond_noise_max", "cond_noise_mean", "cond_sharpness_trace", "cond_epochs"}


@pytest.mark.slow
def test_smoke_run_records_the_constants_and_repeats_the_plain_run(tmp_path):
    for name in ("spectrum-resnet-cifar10", NAME):
        run_experiment(name, "smoke", data="synthetic", out=tmp_path / "data", work=tmp_path / name, progress=False)
    plain, measured = (load_result(name, "smoke", tmp_path / "data") for name in ("spectrum-resnet-cifar10", NAME))
    config = measured.config
    probed, restarts = len(config["conditions_epochs"]), len(config["restart_epochs"])
    for key in ("cond_sharpness", "cond_noise_max", "cond_noise_mean"):
        assert measured.curves[key].shape == (probed, restarts)
        assert np.all(np.isfinite(measured.curves[key]))
    assert measured.curves["cond_sharpness_trace"].shape == (probed, config["power_iterations"], restarts)
    assert measured.curves["cond_epochs"].tolist() == config["conditions_epochs"]
    assert np.all(measured.curves["cond_noise_mean"] <= measured.curves["cond_noise_max"])
    assert conditions_tables.repetition_gap(plain, measured) == 0.0
    run = Run(tmp_path / NAME, config, "cpu", None, 1, progress=False)
    assert run.state["units"] == total_units(config)
    # the sharpness at a restart's end is that of its last snapshot, recomputed
    model = build_ensemble(config["architecture"], restarts, 10)
    load_members(list(model.parameters()), run.load_snapshot("restarts", config["conditions_epochs"][-1])["params"])
    data = to_device(synthetic_cifar(), config["train_examples"], config["test_examples"], torch.device("cpu"))
    count = config["probe_examples"]
    again = conditions.top_hessian_eigenvalue(model, data.train_images(count), data.train_labels[:count], data,
                                              config["probe_batch_size"], config["power_iterations"],
                                              config["seed"] + 3000 + config["conditions_epochs"][-1])
    np.testing.assert_allclose(measured.curves["cond_sharpness"][-1], again["sharpness"].numpy(), rtol=1e-5)


class Fake:
    def __init__(self, config, curves):
        self.config, self.curves = config, curves


def fake_result(inner_raw, sharpness, noise, restart_lr=0.01):
    config = {**preset_config(NAME, "smoke"), "restart_lr": restart_lr}
    probed = len(config["conditions_epochs"])
    curves = {"inner_raw": np.asarray(inner_raw, dtype=float), "inner_distance": np.ones((2, 2)),
              "cond_sharpness": np.asarray(sharpness, dtype=float), "cond_epochs": np.array([0, 2]),
              "cond_noise_max": np.asarray(noise, dtype=float), "cond_noise_mean": np.asarray(noise) / 2,
              "cond_sharpness_trace": np.stack([np.asarray(sharpness) * 0.9, np.asarray(sharpness)], 1),
              "restart_epochs": np.array([1, 3])}
    assert curves["cond_sharpness"].shape[0] == probed
    return Fake(config, curves)


def test_the_conditions_use_each_estimate_on_its_own_side():
    # restart 0: c <= 0.1, L >= 4 (|-4|), r >= 2; restart 1: c <= -1 (an inner product < 0)
    result = fake_result([[0.3, 2.0], [0.1, -1.0]], [[1.0, 0.5], [-4.0, 0.25]], [[1.0, 0.5], [2.0, 0.5]])
    m = conditions_tables.per_restart(result)
    np.testing.assert_allclose(m["c_up"], [0.1, -1.0])
    np.testing.assert_allclose(m["L_low"], [4.0, 0.5])
    assert m["L_epoch"].tolist() == [2, 0] and m["c_epoch"].tolist() == [1, 1]
    np.testing.assert_allclose(m["half_L_factor"], [2 * 0.01 * 4.0, 2 * 0.01 * 0.5])
    assert m["c_L2_factor"][0] == pytest.approx(0.01 * 16 / 0.1) and np.isinf(m["c_L2_factor"][1])
    setting = Theorem1Setting(eta=0.001, c=0.1, L=4.0, r=2.0)        # the formulas of Chapter 2
    assert conditions_tables.contraction_rate(0.001, 0.1, 4.0) == pytest.approx(setting.lam)
    assert conditions_tables.noise_term(0.001, 4.0, 2.0) == pytest.approx(setting.b)
    lam = 2 * 0.01 * 0.1 - 0.01**2 * 16
    assert m["radius"][0] == pytest.approx(np.sqrt(20 * conditions_tables.noise_term(0.01, 4.0, 2.0) / lam))
    assert np.isinf(m["radius"][1])                                 # lambda <= 0 for c <= 0
    np.testing.assert_allclose(m["last_change"], [0.1, 0.1])
    assert conditions_tables.condition_verdict(m["c_L2_factor"]) == "fails for every restart"
    assert conditions_tables.condition_verdict(m["half_L_factor"]) == "is not ruled out for any restart"
    assert conditions_tables.condition_verdict([0.5, 2.0]) == "fails for some restarts"
    rows = conditions_tables.table_rows(m)
    assert len(rows) == 2 and all(len(row) == len(conditions_tables.COLUMNS) for row in rows)
    assert rows[1][6] == "∞ (c ≤ 0)" and rows[1][7] == "∞ (λ ≤ 0)"


def test_repetition_gap_refuses_runs_that_differ_in_more_than_the_estimates():
    measured = fake_result(np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 2)))
    plain_config = {k: v for k, v in preset_config(NAME, "smoke").items()
                    if k not in ("conditions", "conditions_epochs", "power_iterations", "noise_reshuffles")}
    plain = Fake({**plain_config, "experiment": "spectrum-resnet-cifar10"}, {"inner_raw": np.zeros((2, 2))})
    assert conditions_tables.repetition_gap(plain, measured) == 1.0
    other = Fake({**plain.config, "seed": 1}, plain.curves)
    with pytest.raises(ValueError, match="^measured must"):
        conditions_tables.repetition_gap(other, measured)
    with pytest.raises(ValueError, match="^result must"):
        conditions_tables.per_restart(other)


def test_end_sharpness_reads_the_last_probed_epoch_against_the_distance():
    result = fake_result(np.ones((2, 2)), [[1.0, 9.0], [-3.0, 2.0]], np.ones((2, 2)))
    result.curves["restart_distance_from_init"] = np.array([5.0, 4.0])
    result.curves["cond_sharpness_trace"] = np.array([[[1.0, 9.0], [1.0, 9.0]], [[-2.0, 1.0], [-3.0, 2.0]]])
    ends = conditions_tables.end_sharpness(result)
    assert ends["epoch"] == 2
    np.testing.assert_allclose(ends["sharpness"], [3.0, 2.0])            # in size
    np.testing.assert_allclose(ends["last_change"], [1 / 3, 0.5])
    assert ends["steps"].tolist() == [1.0]                               # nearer end 2.0, farther 3.0
    assert np.isnan(ends["rank_correlation"]) and np.isnan(ends["p_value"])   # two ends: no test
    assert conditions_tables.flatness_trend(ends["steps"]).startswith("rises at every step")
    assert conditions_tables.flatness_trend([-1, -1]).startswith("falls at every step")
    assert conditions_tables.flatness_trend([-1, 1]).startswith("does not move one way")


def test_rank_correlation_test_is_exact_over_every_ordering():
    rho, p = conditions_tables.rank_correlation_test([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])
    assert rho == pytest.approx(1.0) and p == pytest.approx(2 / 120)    # only the order and its reverse
    rho, p = conditions_tables.rank_correlation_test([1, 2, 3, 4, 5], [3, 1, 5, 2, 4])
    assert rho == pytest.approx(0.3) and 0.5 < p < 1
    rho, p = conditions_tables.rank_correlation_test(np.arange(10), np.arange(10)[::-1])
    assert rho == pytest.approx(-1.0) and p < 1e-3          # 10 points: sampled orderings
    with pytest.raises(ValueError, match="^x must"):
        conditions_tables.rank_correlation_test([1, 2], [1, 2])
