"""Ensembles of CIFAR networks that train side by side as one module (Chapter 4, :ref:`ch4`).

An ensemble of ``K`` independent networks is one module whose convolutions are grouped
(``groups=K``): member ``k`` owns channel block ``k`` of every layer, sees its own images
(stacked along the channel axis) and has its own BatchNorm statistics. Every parameter and
buffer has the member as its leading block, so ``tensor.view(K, -1)[k]`` is member ``k``'s
share; :func:`flatten_members` and :func:`load_members` move whole weight vectors in and out.
One ``torch.optim.SGD`` on the ensemble equals ``K`` independent SGD runs.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import require_choice, require_int_at_least


class EnsembleConv2d(nn.Module):
    """``K`` independent convolutions without bias, as one grouped convolution (Chapter 4)."""

    def __init__(self, members: int, cin: int, cout: int, kernel: int, stride: int = 1):
        super().__init__()
        self.members, self.stride, self.padding = members, stride, kernel // 2
        self.weight = nn.Parameter(torch.empty(members * cout, cin, kernel, kernel))

    def forward(self, x):
        """``[B, K*cin, H, W] -> [B, K*cout, H', W']``: member ``k``'s channels through its own kernels."""
        return F.conv2d(x, self.weight, None, self.stride, self.padding, groups=self.members)


class EnsembleBatchNorm2d(nn.Module):
    """BatchNorm per member and channel. ``update_stats=False`` leaves the running buffers alone
    (Chapter 4)."""

    def __init__(self, members: int, channels: int, momentum: float = 0.1):
        super().__init__()
        self.momentum, self.update_stats = momentum, True
        self.weight = nn.Parameter(torch.ones(members * channels))
        self.bias = nn.Parameter(torch.zeros(members * channels))
        self.register_buffer("running_mean", torch.zeros(members * channels))
        self.register_buffer("running_var", torch.ones(members * channels))

    def forward(self, x):
        """Normalise ``[B, K*C, H, W]`` (same shape out): batch statistics in training mode (updating
        the running buffers only when ``update_stats``), the running ones in evaluation mode."""
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False)
        mean, var = (self.running_mean, self.running_var) if self.update_stats else (None, None)
        return F.batch_norm(x, mean, var, self.weight, self.bias, True, self.momentum)


class EnsembleLinear(nn.Module):
    """``K`` independent linear layers: ``[B, K*cin] -> [B, K, cout]`` (Chapter 4)."""

    def __init__(self, members: int, cin: int, cout: int):
        super().__init__()
        self.members, self.cin, self.cout = members, cin, cout
        self.weight = nn.Parameter(torch.empty(members * cout, cin))
        self.bias = nn.Parameter(torch.zeros(members * cout))

    def forward(self, x):
        """``[B, K*cin] -> [B, K, cout]``: member ``k``'s features through its own weights and bias."""
        w = self.weight.view(self.members, self.cout, self.cin)
        out = torch.einsum("bki,koi->bko", x.view(x.shape[0], self.members, self.cin), w)
        return out + self.bias.view(self.members, self.cout)


def _bn_relu(members, channels):
    return nn.Sequential(EnsembleBatchNorm2d(members, channels), nn.ReLU(inplace=False))


class BasicBlock(nn.Module):
    """The ResNet basic block (two 3x3 convolutions), 1x1 projection where the shape changes (Chapter 4)."""

    def __init__(self, members: int, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = EnsembleConv2d(members, cin, cout, 3, stride)
        self.bn1 = EnsembleBatchNorm2d(members, cout)
        self.conv2 = EnsembleConv2d(members, cout, cout, 3)
        self.bn2 = EnsembleBatchNorm2d(members, cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(EnsembleConv2d(members, cin, cout, 1, stride),
                                          EnsembleBatchNorm2d(members, cout))

    def forward(self, x):
        """``[B, K*cin, H, W] -> [B, K*cout, H/stride, W/stride]``: both convolutions plus the shortcut."""
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class EnsembleResNet(nn.Module):
    """CIFAR ResNet of basic blocks: ``blocks`` per stage at ``widths`` (stride 2 between stages;
    Chapter 4)."""

    def __init__(self, members: int, blocks, widths, num_classes: int):
        super().__init__()
        self.members = members
        layers = [EnsembleConv2d(members, 3, widths[0], 3), EnsembleBatchNorm2d(members, widths[0]),
                  nn.ReLU()]
        cin = widths[0]
        for stage, (count, width) in enumerate(zip(blocks, widths)):
            for i in range(count):
                layers.append(BasicBlock(members, cin, width, 2 if stage > 0 and i == 0 else 1))
                cin = width
        self.features = nn.Sequential(*layers)
        self.head = EnsembleLinear(members, cin, num_classes)

    def forward(self, x):
        """Logits ``[B, K, num_classes]`` from images ``[B, K*3, 32, 32]`` (member ``k`` reads
        channels ``3k`` to ``3k + 2``)."""
        return self.head(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class DenseLayer(nn.Module):
    """DenseNet-BC layer: BN-ReLU-1x1 conv (4k) - BN-ReLU-3x3 conv (k), output concatenated
    (Chapter 4); ``k`` is the growth rate."""

    def __init__(self, members: int, cin: int, growth: int):
        super().__init__()
        self.members = members
        self.body = nn.Sequential(_bn_relu(members, cin), EnsembleConv2d(members, cin, 4 * growth, 1),
                                  _bn_relu(members, 4 * growth), EnsembleConv2d(members, 4 * growth, growth, 3))

    def forward(self, x):
        """``[B, K*cin, H, W] -> [B, K*(cin + growth), H, W]``: each member's input channels
        followed by its ``growth`` new ones."""
        new = self.body(x)
        b, _, h, w = x.shape
        joined = torch.cat([x.view(b, self.members, -1, h, w), new.view(b, self.members, -1, h, w)], 2)
        return joined.view(b, -1, h, w)


class EnsembleDenseNet(nn.Module):
    """DenseNet-BC (bottleneck, compression 0.5) of the given depth and growth rate (Chapter 4)."""

    def __init__(self, members: int, depth: int, growth: int, num_classes: int):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"depth must be 6n+4 for DenseNet-BC, got {depth}")
        per_block, channels = (depth - 4) // 6, 2 * growth
        layers = [EnsembleConv2d(members, 3, channels, 3)]
        for block in range(3):
            for _ in range(per_block):
                layers.append(DenseLayer(members, channels, growth))
                channels += growth
            if block < 2:
                out = channels // 2
                layers += [_bn_relu(members, channels), EnsembleConv2d(members, channels, out, 1),
                           nn.AvgPool2d(2)]
                channels = out
        layers += [_bn_relu(members, channels)]
        self.members, self.features = members, nn.Sequential(*layers)
        self.head = EnsembleLinear(members, channels, num_classes)

    def forward(self, x):
        """Logits ``[B, K, num_classes]`` from images ``[B, K*3, 32, 32]`` (member ``k`` reads
        channels ``3k`` to ``3k + 2``)."""
        return self.head(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class EnsembleVGG(nn.Module):
    """A VGG with BatchNorm: 3x3 convolutions with BN-ReLU, 2x2 max pooling where ``layout`` says
    ``"M"``, then global average pooling and a linear head (Chapter 4, footnote 6 of the paper)."""

    def __init__(self, members: int, layout, num_classes: int):
        super().__init__()
        layers, cin = [], 3
        for item in layout:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            layers += [EnsembleConv2d(members, cin, item, 3), _bn_relu(members, item)]
            cin = item
        self.members, self.features = members, nn.Sequential(*layers)
        self.head = EnsembleLinear(members, cin, num_classes)

    def forward(self, x):
        """Logits ``[B, K, num_classes]`` from images ``[B, K*3, 32, 32]`` (member ``k`` reads
        channels ``3k`` to ``3k + 2``)."""
        return self.head(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


#: The architectures of Section 5. "resnet34"/"densenet100" are the paper's, which it gives as
#: about 1.2M and 0.8M parameters; our reading of them has 1.33M and 0.77M on CIFAR-10 (Chapter 4).
#: "resnet14"/"densenet34" are the "about 10K parameter" versions (9.6K, 9.5K). "vgg9" is our
#: reading of footnote 6's "VGG with about 1M parameters" (eight convolutions and the head, 1.01M);
#: "vgg6" its small version for the CPU presets (five convolutions and the head, 9.8K).
ARCHITECTURES = {
    "resnet34": dict(kind="resnet", blocks=(3, 4, 6, 3), widths=(16, 32, 64, 128)),
    "resnet14": dict(kind="resnet", blocks=(2, 2, 2), widths=(4, 8, 14)),
    "densenet100": dict(kind="densenet", depth=100, growth=12),
    "densenet34": dict(kind="densenet", depth=34, growth=3),
    "vgg9": dict(kind="vgg", layout=(32, "M", 64, "M", 128, 128, "M", 148, 148, "M", 148, 148, "M")),
    "vgg6": dict(kind="vgg", layout=(8, "M", 16, "M", 16, 16, "M", 24, "M")),
}


def describe_architecture(architecture: str) -> str:
    """One line (a string) that pins an architecture down, recorded in every config (Chapter 4)."""
    spec = ARCHITECTURES[require_choice("architecture", architecture, ARCHITECTURES)]
    if spec["kind"] == "resnet":
        return f"ResNet, basic blocks {list(spec['blocks'])} per stage, widths {list(spec['widths'])}"
    if spec["kind"] == "vgg":
        return f"VGG with BatchNorm, layout {list(spec['layout'])} (M: 2x2 max pooling)"
    return f"DenseNet-BC, depth {spec['depth']}, growth rate {spec['growth']}, compression 0.5"


def build_ensemble(architecture: str, members: int, num_classes: int, seed: int = 0) -> nn.Module:
    """``members`` independently initialised networks (member ``k`` from seed ``seed + k``), as one
    ensemble module whose ``members`` attribute is ``K`` (Chapter 4)."""
    require_choice("architecture", architecture, ARCHITECTURES)
    require_int_at_least("members", members, 1)
    require_int_at_least("num_classes", num_classes, 2)
    spec = dict(ARCHITECTURES[architecture])
    kind = spec.pop("kind")
    if kind == "resnet":
        model = EnsembleResNet(members, spec["blocks"], spec["widths"], num_classes)
    elif kind == "vgg":
        model = EnsembleVGG(members, spec["layout"], num_classes)
    else:
        model = EnsembleDenseNet(members, spec["depth"], spec["growth"], num_classes)
    initialise(model, members, seed)
    return model


def initialise(model: nn.Module, members: int, seed: int) -> None:
    """He-normal convolutions (fan-out), default PyTorch linear layers, BN at (1, 0), per member;
    in place, returns None (Chapter 4)."""
    for k in range(members):
        generator = torch.Generator().manual_seed(seed + k)
        for module in model.modules():
            if isinstance(module, EnsembleConv2d):
                w = module.weight.data.view(members, -1, *module.weight.shape[1:])[k]
                fan_out = w.shape[0] * w.shape[2] * w.shape[3]
                w.normal_(0, math.sqrt(2.0 / fan_out), generator=generator)
            elif isinstance(module, EnsembleLinear):
                bound = 1 / math.sqrt(module.cin)
                module.weight.data.view(members, -1)[k].uniform_(-bound, bound, generator=generator)
                module.bias.data.view(members, -1)[k].uniform_(-bound, bound, generator=generator)


def parameter_count(architecture: str, num_classes: int = 10) -> int:
    """Trainable parameters of one network of ``architecture`` (an int; Chapter 4)."""
    model = build_ensemble(architecture, 1, num_classes)
    return sum(p.numel() for p in model.parameters())


def flatten_members(tensors, members: int) -> torch.Tensor:
    """``[K, total]``: each member's share of ``tensors`` (parameters or buffers), concatenated
    (Chapter 4)."""
    return torch.cat([t.detach().reshape(members, -1) for t in tensors], 1)


@torch.no_grad()
def load_members(tensors, flat: torch.Tensor) -> None:
    """Inverse of :func:`flatten_members`: copy ``flat[k]`` into member ``k`` of ``tensors``, in
    place; returns None (Chapter 4)."""
    tensors, members = list(tensors), flat.shape[0]
    needed = sum(t.numel() // members for t in tensors)
    if needed != flat.shape[1]:
        raise ValueError(f"flat has {flat.shape[1]} entries per member, the model needs {needed}")
    offset = 0
    for t in tensors:
        size = t.numel() // members
        t.view(members, -1).copy_(flat[:, offset:offset + size])
        offset += size


def float_buffers(model: nn.Module) -> list[torch.Tensor]:
    """The BatchNorm running statistics (every floating-point buffer) of ``model``, as a list (Chapter 4)."""
    return [b for b in model.buffers() if b.is_floating_point()]


def set_batchnorm_updates(model: nn.Module, update: bool) -> None:
    """Set whether BatchNorm layers in training mode update their running statistics; returns None
    (Chapter 4)."""
    for module in model.modules():
        if isinstance(module, EnsembleBatchNorm2d):
            module.update_stats = update
