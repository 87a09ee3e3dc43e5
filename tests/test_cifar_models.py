"""The ensemble networks of Chapters 4-6: sizes, independence of members, weight vectors."""
from __future__ import annotations

import pytest
import torch

from sgd_escape.cifar.models import (ARCHITECTURES, build_ensemble, flatten_members, load_members,
                                     parameter_count)

#: Parameter counts: the paper's "about 1.2M" ResNet is matched best by ResNet-34's block layout
#: at widths 16-128 (about 1.3M, as the book says); DenseNet-BC-100 "about 0.8M"; small nets 10K.
TARGETS = {"resnet34": 1.3e6, "densenet100": 0.8e6, "resnet14": 1e4, "densenet34": 1e4,
           "vgg9": 1e6, "vgg6": 1e4}                 # footnote 6: a VGG of about 1M parameters


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_parameter_count_within_ten_percent_of_the_stated_size(architecture):
    count = parameter_count(architecture)
    assert abs(count - TARGETS[architecture]) <= 0.1 * TARGETS[architecture], count


@pytest.mark.parametrize("architecture", ["resnet14", "densenet34", "vgg6"])
def test_member_k_of_an_ensemble_is_the_single_network_of_seed_plus_k(architecture):
    torch.manual_seed(0)
    ensemble = build_ensemble(architecture, 3, 10, seed=5).eval()
    single = build_ensemble(architecture, 1, 10, seed=6).eval()
    images = torch.randn(4, 3, 3, 32, 32)          # [B, K, 3, H, W]: each member its own images
    together = ensemble(images.reshape(4, 9, 32, 32))
    alone = single(images[:, 1])
    torch.testing.assert_close(together[:, 1], alone[:, 0], rtol=1e-4, atol=1e-5)


def test_gradients_of_one_member_do_not_depend_on_the_others():
    ensemble = build_ensemble("resnet14", 2, 10, seed=0)
    images = torch.randn(8, 6, 32, 32)
    ensemble(images)[:, 0].sum().backward()          # a loss of member 0 only
    flat = flatten_members([p.grad for p in ensemble.parameters()], 2)
    assert flat[0].abs().sum() > 0 and flat[1].abs().sum() == 0


#: Backward functions whose CUDA kernels add with atomics (PyTorch's list of ops that
#: ``torch.use_deterministic_algorithms`` refuses or warns about), as autograd names them.
NON_DETERMINISTIC_ON_CUDA = ("AdaptiveAvgPool2DBackward", "AdaptiveAvgPool3DBackward", "AvgPool3DBackward",
                             "AdaptiveMaxPool2DBackward", "MaxPool3DWithIndicesBackward", "IndexAddBackward",
                             "ScatterAddBackward", "ScatterReduceBackward", "IndexPutBackward",
                             "EmbeddingBagBackward", "UpsampleBilinear2DBackward")


def _backward_functions(tensor: torch.Tensor) -> set[str]:
    seen, stack, names = set(), [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


@pytest.mark.parametrize("architecture", ["resnet14", "densenet34", "vgg6"])
def test_training_graph_has_no_backward_that_is_non_deterministic_on_cuda(architecture):
    """The GPU determinism check compares two identical runs; an atomic-add backward would make
    them differ for nothing. (``adaptive_avg_pool2d(x, 1)`` is safe: PyTorch computes it as a mean.)"""
    ensemble = build_ensemble(architecture, 2, 10, seed=0).train()
    names = _backward_functions(ensemble(torch.randn(4, 6, 32, 32)).sum())
    assert len(names) > 5, names                     # the walk saw the whole graph
    assert not [name for name in names if name.startswith(NON_DETERMINISTIC_ON_CUDA)], names


def test_the_graph_walk_finds_a_non_deterministic_backward():
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    assert "MeanBackward1" in _backward_functions(torch.nn.functional.adaptive_avg_pool2d(x, 1).sum())
    assert "AdaptiveAvgPool2DBackward0" in _backward_functions(torch.nn.functional.adaptive_avg_pool2d(x, 2).sum())


def test_flatten_and_load_members_round_trip():
    ensemble = build_ensemble("densenet34", 2, 10)
    params = list(ensemble.parameters())
    flat = flatten_members(params, 2)
    assert flat.shape == (2, parameter_count("densenet34"))
    load_members(params, flat.flip(0))
    torch.testing.assert_close(flatten_members(params, 2), flat.flip(0))


def test_load_members_rejects_a_vector_of_the_wrong_length():
    params = list(build_ensemble("resnet14", 1, 10).parameters())
    with pytest.raises(ValueError, match="^flat has 5 entries per member"):
        load_members(params, torch.zeros(1, 5))


@pytest.mark.parametrize("kwargs, name", [(dict(architecture="vgg"), "architecture"),
                                          (dict(members=0), "members"), (dict(num_classes=1), "num_classes")])
def test_build_ensemble_rejects_bad_arguments(kwargs, name):
    arguments = dict(architecture="resnet14", members=1, num_classes=10) | kwargs
    with pytest.raises(ValueError, match=name):
        build_ensemble(**arguments)
