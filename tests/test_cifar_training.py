"""The trainer and the probes of Chapters 4-6: augmentation, schedules, inner products."""
from __future__ import annotations

import math

import pytest
import torch

from sgd_escape.cifar.datasets import synthetic_cifar
from sgd_escape.cifar.probes import (all_pairs_inner_products, one_point_inner_products,
                                     pairwise_distances, uniform_ball)
from sgd_escape.cifar.training import (PAD, augmented_batch, epoch_plan, learning_rate, member_losses,
                                       to_device)


@pytest.fixture(scope="module")
def data():
    return to_device(synthetic_cifar(train_size=64, test_size=16), 32, 16, torch.device("cpu"))


def test_centred_unflipped_crop_is_the_normalised_image(data):
    indices = torch.tensor([[0, 1], [2, 3]])
    offsets = torch.full((2, 2, 2), PAD)
    x, y = augmented_batch(data, indices, offsets, torch.zeros(2, 2, dtype=torch.bool))
    assert x.shape == (2, 6, 32, 32) and y.shape == (2, 2)
    torch.testing.assert_close(x[1, 3:6], data.normalise(data.train_images(4)[3:4])[0])
    flipped, _ = augmented_batch(data, indices, offsets, torch.ones(2, 2, dtype=torch.bool))
    torch.testing.assert_close(flipped, x.flip(-1))


def test_shifted_crop_reads_the_zero_padding(data):
    x, _ = augmented_batch(data, torch.tensor([[0]]), torch.zeros(1, 1, 2, dtype=torch.long),
                           torch.zeros(1, 1, dtype=torch.bool))
    torch.testing.assert_close(x[0, :, :PAD, :], data.normalise(torch.zeros(1, 3, PAD, 32, dtype=torch.uint8))[0])


def test_each_dataset_is_normalised_with_its_own_channel_statistics():
    arrays = synthetic_cifar(train_size=8, test_size=4)
    cifar10, cifar100 = (to_device(arrays, 8, 4, torch.device("cpu"), dataset=d) for d in ("cifar10", "cifar100"))
    assert cifar10.mean.flatten().tolist() != cifar100.mean.flatten().tolist()
    assert cifar100.mean.flatten()[0].item() == pytest.approx(129.3)
    with pytest.raises(ValueError, match="dataset"):
        to_device(arrays, 8, 4, torch.device("cpu"), dataset="mnist")


def test_epoch_plan_depends_only_on_member_seed_and_epoch():
    together = epoch_plan([3, 7], 5, 100, 16, "cpu")
    alone = epoch_plan([7], 5, 100, 16, "cpu")
    assert together.indices.shape == (2, 6, 16)
    assert torch.equal(together.indices[1], alone.indices[0])
    assert not torch.equal(together.indices[0], together.indices[1])
    assert not torch.equal(epoch_plan([7], 6, 100, 16, "cpu").indices, alone.indices)


def test_epoch_plan_rejects_a_batch_larger_than_the_data():
    with pytest.raises(ValueError, match="batch_size"):
        epoch_plan([0], 0, 10, 16, "cpu")


def test_learning_rate_follows_the_papers_step_schedule():
    rates = [learning_rate(e, 0.1, [150, 225]) for e in (0, 149, 150, 224, 225, 299)]
    assert rates == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_member_losses_are_each_members_mean_cross_entropy():
    logits, labels = torch.randn(5, 2, 10), torch.randint(0, 10, (5, 2))
    expected = torch.nn.functional.cross_entropy(logits[:, 1], labels[:, 1])
    torch.testing.assert_close(member_losses(logits, labels)[1], expected)


def test_one_point_inner_product_sign_and_cosine():
    gradient = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    point, target = torch.zeros(2, 2), torch.tensor([[-2.0, 0.0], [0.0, 3.0]])
    inner = one_point_inner_products(gradient, point, target)
    assert inner["raw"].tolist() == [2.0, -3.0]        # -g points at the first target, away from the second
    assert inner["cosine"].tolist() == [1.0, -1.0]


def test_all_pairs_agree_with_one_point_products():
    g, x, t = torch.randn(4, 30), torch.randn(4, 30), torch.randn(3, 30)
    pairs = all_pairs_inner_products(g, x, t)
    for j in range(3):
        single = one_point_inner_products(g, x, t[j].expand(4, -1))
        torch.testing.assert_close(pairs["raw"][:, j], single["raw"])
        torch.testing.assert_close(pairs["cosine"][:, j], single["cosine"])
    assert pairwise_distances(t)[0, 1].item() == pytest.approx((t[0] - t[1]).norm().item(), rel=1e-5)


def test_uniform_ball_points_lie_inside_and_near_the_sphere_in_high_dimension():
    center = torch.randn(20000)
    points = uniform_ball(center, 0.5, 16, seed=1)
    radii = (points - center).norm(dim=1)
    assert radii.max() <= 0.5 + 1e-5 and radii.min() > 0.49
    directions = (points - center) / radii[:, None]
    assert (directions @ directions.T - torch.eye(16)).abs().max() < 5 / math.sqrt(20000) * 3


def test_ball_points_come_in_fixed_blocks_whatever_the_count():
    from sgd_escape.cifar.probes import DRAW_BLOCK, ball_points

    center = torch.randn(500)
    torch.testing.assert_close(ball_points(center, 0.5, 7, 3), uniform_ball(center, 0.5, 7, 3 * 10_007))
    many = ball_points(center, 0.5, DRAW_BLOCK + 5, 3)
    assert many.shape == (DRAW_BLOCK + 5, 500)
    torch.testing.assert_close(many[:DRAW_BLOCK], uniform_ball(center, 0.5, DRAW_BLOCK, 3 * 10_007))


def test_ball_probe_does_not_depend_on_how_many_points_share_the_device(data):
    from sgd_escape.cifar.models import build_ensemble, flatten_members
    from sgd_escape.cifar.probes import ball_probe

    center = flatten_members(build_ensemble("resnet14", 1, 10, seed=0).parameters(), 1)[0]
    target = center + 0.1 * torch.randn_like(center)
    images, labels = data.train_images(32), data.train_labels[:32]
    probes = [ball_probe(build_ensemble("resnet14", chunk, 10), center, target, 0.5, 5, 1, images, labels,
                         data, 16) for chunk in (2, 5)]
    for key, value in probes[0].items():
        torch.testing.assert_close(value, probes[1][key], rtol=1e-4, atol=1e-6)


def test_sgd_step_points_are_one_plain_step_on_each_points_own_minibatch(data):
    from sgd_escape.cifar.models import build_ensemble, flatten_members, load_members
    from sgd_escape.cifar.probes import sgd_step_points

    center = flatten_members(build_ensemble("resnet14", 1, 10, seed=0).parameters(), 1)[0]
    points = [sgd_step_points(build_ensemble("resnet14", chunk, 10), center, 0.1, 5, 2, data, 8)
              for chunk in (2, 5)]
    torch.testing.assert_close(points[0], points[1], rtol=1e-4, atol=1e-6)   # the chunk size does not matter
    alone = build_ensemble("resnet14", 1, 10)
    load_members(list(alone.parameters()), center[None])
    plan = epoch_plan([2 * 1000 + 3], 0, data.train_size, 8, "cpu")      # point 3's minibatch
    x, y = augmented_batch(data, plan.indices[:, 0], plan.offsets[:, 0], plan.flips[:, 0])
    member_losses(alone(x), y).sum().backward()
    gradient = torch.cat([p.grad.reshape(-1) for p in alone.parameters()])
    torch.testing.assert_close(points[0][3], center - 0.1 * gradient, rtol=1e-4, atol=1e-6)
    assert len({round(float((p - center).norm()), 6) for p in points[0]}) == 5   # five different minibatches


def test_minibatch_gradient_wants_one_seed_per_member(data):
    from sgd_escape.cifar.models import build_ensemble
    from sgd_escape.cifar.training import minibatch_gradient

    with pytest.raises(ValueError, match="seeds must hold one seed per member"):
        minibatch_gradient(build_ensemble("resnet14", 2, 10), data, [1, 2, 3], 8)


def test_sgd_step_probe_reports_the_steps_lengths(data):
    from sgd_escape.cifar.models import build_ensemble, flatten_members
    from sgd_escape.cifar.probes import sgd_step_points, sgd_step_probe

    center = flatten_members(build_ensemble("resnet14", 1, 10, seed=0).parameters(), 1)[0]
    target = center + 0.1 * torch.randn_like(center)
    images, labels = data.train_images(32), data.train_labels[:32]
    probe = sgd_step_probe(build_ensemble("resnet14", 2, 10), center, target, 0.1, 3, 1, images, labels, data, 16, 8)
    lengths = (sgd_step_points(build_ensemble("resnet14", 3, 10), center, 0.1, 3, 1, data, 8) - center).norm(dim=1)
    assert probe["length_max"].item() == pytest.approx(lengths.max().item(), rel=1e-4)
    assert probe["length_min"].item() == pytest.approx(lengths.min().item(), rel=1e-4)
    assert probe["raw_min"] <= probe["raw_mean"] <= probe["raw_max"]


def test_member_gradient_norms_equal_those_of_the_networks_trained_alone(data):
    from sgd_escape.cifar.models import build_ensemble
    from sgd_escape.cifar.training import member_grad_norms

    def norms(members, seed):
        model = build_ensemble("resnet14", members, 10, seed=seed)
        x = data.normalise(data.train_images(8)).repeat(1, members, 1, 1)
        member_losses(model(x), data.train_labels[:8].view(-1, 1).expand(-1, members)).sum().backward()
        return member_grad_norms(list(model.parameters()), members)

    together = norms(3, seed=0)
    for k in range(3):                     # member k of the ensemble is the network of seed k
        assert together[k].item() == pytest.approx(norms(1, seed=k).item(), rel=1e-4)


def test_member_gradient_norm_is_the_euclidean_norm_of_the_whole_gradient(data):
    from sgd_escape.cifar.models import build_ensemble
    from sgd_escape.cifar.training import member_grad_norms

    model = build_ensemble("resnet14", 1, 10, seed=0)
    x = data.normalise(data.train_images(8))
    member_losses(model(x), data.train_labels[:8].view(-1, 1)).sum().backward()
    direct = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
    assert member_grad_norms(list(model.parameters()), 1)[0].item() == pytest.approx(direct.item(), rel=1e-6)


def test_optimizer_uses_the_given_momentum_and_weight_decay():
    from sgd_escape.cifar.models import build_ensemble
    from sgd_escape.cifar.training import make_optimizer

    group = make_optimizer(build_ensemble("resnet14", 1, 10), 0.1, 0.9, 1e-4).param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.1, 0.9, 1e-4)


def test_probe_gradient_over_several_batches_is_the_mean_of_the_batch_gradients(data):
    """Four batches of 8 give the average of the four one-batch gradients (BatchNorm uses each
    batch's own statistics, so this, not one batch of 32, is what the probe defines)."""
    from sgd_escape.cifar.models import build_ensemble
    from sgd_escape.cifar.training import probe_gradient

    model = build_ensemble("resnet14", 1, 10, seed=0)
    images, labels = data.train_images(32), data.train_labels[:32]
    whole = probe_gradient(model, images, labels, data, 8)
    parts = [probe_gradient(model, images[k:k + 8], labels[k:k + 8], data, 8) for k in range(0, 32, 8)]
    torch.testing.assert_close(whole, sum(parts) / 4, rtol=1e-4, atol=1e-7)


def test_ball_probe_measures_towards_the_target_from_the_centre(data, monkeypatch):
    """With a constant gradient g, every point of the ball gives <-g, target - centre>."""
    from sgd_escape.cifar import probes
    from sgd_escape.cifar.models import build_ensemble, flatten_members

    model = build_ensemble("resnet14", 2, 10)
    center = flatten_members(build_ensemble("resnet14", 1, 10, seed=0).parameters(), 1)[0]
    target, g = center + torch.randn_like(center), torch.randn_like(center)
    monkeypatch.setattr(probes, "probe_gradient", lambda m, *args: g.expand(m.members, -1).clone())
    out = probes.ball_probe(model, center, target, 0.5, 3, 0, None, None, data, 8)
    expected = -(g.double() * (target.double() - center.double())).sum()
    for key in ("raw_mean", "raw_min", "raw_max"):
        torch.testing.assert_close(out[key], expected, rtol=1e-6, atol=1e-6)


def test_synthetic_data_has_the_classes_of_the_dataset_it_stands_for():
    from sgd_escape.cifar.datasets import load_cifar

    assert load_cifar("cifar100", "synthetic").train_labels.max() == 99
    assert load_cifar("cifar10", "synthetic").train_labels.max() == 9


def test_probe_gradients_turn_tf32_convolutions_off_and_restore_the_switch(data, monkeypatch):
    from sgd_escape.cifar.models import build_ensemble
    from sgd_escape.cifar import training

    model, seen = build_ensemble("resnet14", 1, 10, seed=0), []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda x: seen.append(torch.backends.cudnn.allow_tf32) or forward(x))
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    training.probe_gradient(model, data.train_images(16), data.train_labels[:16], data, 8)
    assert seen == [False, False] and torch.backends.cudnn.allow_tf32 is True
    with pytest.raises(RuntimeError), training.full_precision_convolutions():
        raise RuntimeError("a failing probe")
    assert torch.backends.cudnn.allow_tf32 is True                     # restored after an error too


def test_smooth_schedule_shrinks_the_rate_every_epoch_and_refuses_milestones():
    assert learning_rate(0, 0.1, [], per_epoch=0.99) == 0.1
    assert learning_rate(150, 0.1, [], per_epoch=0.99) == pytest.approx(0.1 * 0.99 ** 150)
    with pytest.raises(ValueError, match="milestones must be empty"):
        learning_rate(3, 0.1, [2], per_epoch=0.99)
    with pytest.raises(ValueError, match="per_epoch must be > 0"):
        learning_rate(3, 0.1, [], per_epoch=0.0)


def test_smooth_runs_shrink_the_rate_over_the_run_as_the_paper_does_over_300_epochs():
    from sgd_escape.cifar.experiments import PRESETS, preset_config

    for preset in PRESETS:
        config = preset_config("fig5smooth-densenet-cifar10", preset)
        plain = preset_config("fig5-densenet-cifar10", preset)
        assert config["lr_milestones"] == [] and "lr_per_epoch" not in plain
        assert config["lr_per_epoch"] ** config["epochs"] == pytest.approx(0.99 ** 300)
        assert {k: v for k, v in config.items() if k not in ("experiment", "lr_milestones", "lr_per_epoch")} == \
               {k: v for k, v in plain.items() if k not in ("experiment", "lr_milestones")}
    assert preset_config("fig5smooth-resnet-cifar10", "paper")["lr_per_epoch"] == pytest.approx(0.99)


def test_ball_points_of_each_block_come_from_their_own_seed():
    from sgd_escape.cifar.probes import DRAW_BLOCK, ball_points

    center = torch.zeros(50)
    points = ball_points(center, 0.5, 2 * DRAW_BLOCK, 3)
    torch.testing.assert_close(points[DRAW_BLOCK:], uniform_ball(center, 0.5, DRAW_BLOCK, 3 * 10_007 + DRAW_BLOCK))
    assert len({tuple(p.tolist()) for p in points}) == 2 * DRAW_BLOCK        # no point drawn twice


def test_neighbourhood_probe_takes_mean_min_and_max_over_the_points(monkeypatch):
    """f(w) = |w|^2 / 2, so -grad f(w) = -w; from centre 0 towards t = (1, 1) the points give
    <-w, t> = -1, 1, -2 and cosines -1/sqrt2, 1/sqrt2, -1/sqrt2 (chunks of two: the last one padded)."""
    from types import SimpleNamespace

    from sgd_escape.cifar import probes

    loaded = {}
    monkeypatch.setattr(probes, "load_members", lambda tensors, flat: loaded.update(points=flat.clone()))
    monkeypatch.setattr(probes, "probe_gradient", lambda model, *args: loaded["points"])
    model = SimpleNamespace(members=2, parameters=lambda: [])
    points = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0]])
    out = probes.neighbourhood_probe(model, points, torch.zeros(2), torch.ones(2), None, None, None, 8)
    assert [out[f"raw_{k}"].item() for k in ("mean", "min", "max")] == pytest.approx([-2 / 3, -2.0, 1.0])
    root = math.sqrt(0.5)
    assert [out[f"cosine_{k}"].item() for k in ("mean", "min", "max")] == pytest.approx([-root / 3, -root, root])


@pytest.mark.parametrize("setting, benchmark", [(None, True), ("1", False)])
def test_cuda_runs_autotune_their_kernels_unless_told_to_be_deterministic(monkeypatch, setting, benchmark):
    """The determinism check's resume test needs deterministic kernels; the experiments do not."""
    from sgd_escape.cifar.training import DETERMINISTIC_ENV, configure_backends

    monkeypatch.delenv(DETERMINISTIC_ENV, raising=False)
    if setting:
        monkeypatch.setenv(DETERMINISTIC_ENV, setting)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", not benchmark)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", benchmark)
    configure_backends("cuda")            # a device name: no GPU is touched
    assert torch.backends.cudnn.benchmark is benchmark
    assert torch.backends.cudnn.deterministic is not benchmark
