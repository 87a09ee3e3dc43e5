"""The trainer: all members of an ensemble take SGD steps together, data and augmentation on
the device (Chapter 4, :ref:`ch4`).

The training set lives on the device as uint8, zero-padded by 4 pixels once; each step gathers
every member's own batch, crops and flips it there and normalises it. Each epoch's data order,
crops and flips come from a generator seeded by ``(seed, member, epoch)`` alone, so a run
resumed at an epoch boundary repeats exactly what an uninterrupted run does. Nothing inside a
step waits for the host: losses and gradient norms accumulate on the device.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import require_choice, require_int_at_least, require_positive
from .datasets import CifarArrays
from .models import set_batchnorm_updates

#: Per-channel mean and standard deviation of each dataset's training images (0-255 scale).
CHANNEL_STATS = {"cifar10": ((125.3, 123.0, 113.9), (63.0, 62.1, 66.7)),
                 "cifar100": ((129.3, 124.1, 112.4), (68.2, 65.4, 70.4))}
PAD = 4


@dataclasses.dataclass
class DeviceData:
    """A training subset (padded uint8), an evaluation subset of it, the test subset and labels,
    on the device (Chapter 4); ``mean`` and ``std`` are the channel statistics ``[1, 3, 1, 1]``."""

    train_padded: torch.Tensor   # [N, 3, 40, 40] uint8
    train_labels: torch.Tensor   # [N]
    test_images: torch.Tensor    # [M, 3, 32, 32] uint8
    test_labels: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    @property
    def train_size(self) -> int:
        """Number of training images ``N``."""
        return self.train_padded.shape[0]

    def normalise(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """Images ``[..., 3, H, W]`` (uint8, 0-255) as float32, standardised per channel."""
        return (images_uint8.float() - self.mean) / self.std

    def train_images(self, count: int) -> torch.Tensor:
        """The first ``count`` training images, uncropped and unflipped (uint8)."""
        return self.train_padded[:count, :, PAD:-PAD, PAD:-PAD]


def require_device(device) -> torch.device:
    """``device`` as a ``torch.device``; a ``ValueError`` naming it when torch does not know the
    name or when it names a GPU this machine does not have (Chapter 4)."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"device {device!r} is not a device name (cpu, cuda, cuda:1 ...): {error}") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no GPU is visible"
            raise ValueError(f"device {device!r}: CUDA is not available here ({why}); use --device cpu")
        if (parsed.index or 0) >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} GPU(s) are visible")
    return parsed


def subset_indices(total: int, count: int | None, seed: int, name: str = "count") -> np.ndarray:
    """A fixed random subset of ``count`` of ``total`` indices (all of them, shuffled, if None),
    as an int array (Chapter 4). Errors call ``count`` by the caller's ``name`` for it."""
    if count is not None and not 1 <= require_int_at_least(name, count, 1) <= total:
        raise ValueError(f"{name} must lie in [1, {total}] (the images there are), got {count!r}")
    require_int_at_least("seed", seed, 0)
    order = np.random.default_rng(seed).permutation(total)
    return order if count is None else order[:count]


def to_device(arrays: CifarArrays, train_examples: int | None, test_examples: int | None,
              device: torch.device, seed: int = 0, dataset: str = "cifar10") -> DeviceData:
    """Move the chosen subsets to ``device`` as uint8 (padding the training images once);
    images are normalised with ``dataset``'s channel statistics. Returns :class:`DeviceData`
    (Chapter 4)."""
    mean, std = CHANNEL_STATS[require_choice("dataset", dataset, CHANNEL_STATS)]
    train = subset_indices(len(arrays.train_labels), train_examples, seed, name="train_examples")
    test = np.sort(subset_indices(len(arrays.test_labels), test_examples, seed + 1, name="test_examples"))

    def images(x):
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(device)

    return DeviceData(
        train_padded=F.pad(images(arrays.train_images[train]), (PAD,) * 4),
        train_labels=torch.from_numpy(arrays.train_labels[train]).to(device),
        test_images=images(arrays.test_images[test]),
        test_labels=torch.from_numpy(arrays.test_labels[test]).to(device),
        mean=torch.tensor(mean, device=device).view(1, 3, 1, 1),
        std=torch.tensor(std, device=device).view(1, 3, 1, 1),
    )


@dataclasses.dataclass
class EpochPlan:
    """Every member's batches of one epoch: indices, crop offsets and flips, ``[K, steps, B]``
    (Chapter 4)."""

    indices: torch.Tensor
    offsets: torch.Tensor   # [K, steps, B, 2]
    flips: torch.Tensor


def epoch_plan(seeds, epoch: int, train_size: int, batch_size: int, device) -> EpochPlan:
    """The :class:`EpochPlan` of ``epoch`` for members with data seeds ``seeds`` (last partial
    batch dropped; Chapter 4)."""
    require_int_at_least("batch_size", batch_size, 1)
    steps = train_size // batch_size
    if steps < 1:
        raise ValueError(f"batch_size must be <= the training subset's size ({train_size}), got {batch_size}")
    parts = []
    for seed in seeds:
        generator = torch.Generator().manual_seed(int(seed) * 100_003 + epoch)
        order = torch.randperm(train_size, generator=generator)[: steps * batch_size]
        offsets = torch.randint(0, 2 * PAD + 1, (steps * batch_size, 2), generator=generator)
        flips = torch.rand(steps * batch_size, generator=generator) < 0.5
        parts.append((order, offsets, flips))
    shape = (len(parts), steps, batch_size)
    return EpochPlan(*(torch.stack([p[i] for p in parts]).view(*shape, *([2] if i == 1 else []))
                       .to(device) for i in range(3)))


def augmented_batch(data: DeviceData, indices, offsets, flips) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop (random 32x32 window of the padded image) and flip each member's images on the device
    (Chapter 4).

    Returns the input ``[B, K*3, 32, 32]`` and the labels ``[B, K]``.
    """
    members, batch = indices.shape
    images = data.train_padded[indices.reshape(-1)]                      # [K*B, 3, 40, 40]
    span = torch.arange(32, device=images.device)
    rows = (offsets[..., 0].reshape(-1, 1) + span).view(-1, 1, 32, 1)
    cols = (offsets[..., 1].reshape(-1, 1) + span).view(-1, 1, 1, 32)
    cols = torch.where(flips.reshape(-1, 1, 1, 1), cols.flip(-1), cols)
    item = torch.arange(members * batch, device=images.device).view(-1, 1, 1, 1)
    channel = torch.arange(3, device=images.device).view(1, 3, 1, 1)
    crops = data.normalise(images[item, channel, rows, cols])            # [K*B, 3, 32, 32]
    x = crops.view(members, batch, 3, 32, 32).transpose(0, 1).reshape(batch, members * 3, 32, 32)
    return x, data.train_labels[indices].T


def member_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each member, ``[K]``, from logits ``[B, K, C]`` and labels ``[B, K]``
    (Chapter 4)."""
    batch, members, classes = logits.shape
    per_item = F.cross_entropy(logits.reshape(-1, classes), labels.reshape(-1), reduction="none")
    return per_item.view(batch, members).mean(0)


def member_grad_norms(params, members: int) -> torch.Tensor:
    """Euclidean norm of each member's gradient, ``[K]`` (Chapter 4)."""
    # One concatenation, then one reduction: a few kernel launches per step, not three per tensor.
    return torch.cat([p.grad.reshape(members, -1) for p in params], 1).pow(2).sum(1).sqrt()


def make_optimizer(model, lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    """Plain SGD with heavy-ball momentum and L2 weight decay on every parameter (Chapter 4)."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)


def learning_rate(epoch: int, base_lr: float, milestones, factor: float = 0.1,
                  per_epoch: float | None = None) -> float:
    """The learning rate of ``epoch`` (Chapter 4). Step schedule: ``base_lr`` times ``factor`` per
    milestone reached (paper: 150, 225). With ``per_epoch``, the smooth schedule instead:
    ``base_lr * per_epoch ** epoch`` (the paper's remark: 0.99), and ``milestones`` must be empty."""
    if per_epoch is None:
        return base_lr * factor ** sum(epoch >= m for m in milestones)
    if milestones:
        raise ValueError(f"milestones must be empty with a smooth schedule (per_epoch), got {milestones!r}")
    return base_lr * require_positive("per_epoch", per_epoch) ** epoch


def train_epoch(model, optimizer, data: DeviceData, plan: EpochPlan, lr: float) -> dict:
    """One epoch of SGD for every member (Chapter 4). Returns per-member running loss and
    gradient norms: ``train_loss_running``, ``grad_norm_mean|min|max``, each ``[K]``."""
    members = plan.indices.shape[0]
    for group in optimizer.param_groups:
        group["lr"] = lr
    params = [p for p in model.parameters()]
    model.train()
    set_batchnorm_updates(model, True)
    device = plan.indices.device
    loss_sum = torch.zeros(members, device=device)
    norm_sum = torch.zeros(members, device=device)
    norm_min = torch.full((members,), float("inf"), device=device)
    norm_max = torch.zeros(members, device=device)
    for step in range(plan.indices.shape[1]):
        x, y = augmented_batch(data, plan.indices[:, step], plan.offsets[:, step], plan.flips[:, step])
        losses = member_losses(model(x), y)
        optimizer.zero_grad(set_to_none=False)
        losses.sum().backward()
        norms = member_grad_norms(params, members)
        optimizer.step()
        loss_sum += losses.detach()
        norm_sum += norms
        norm_min, norm_max = torch.minimum(norm_min, norms), torch.maximum(norm_max, norms)
    steps = plan.indices.shape[1]
    return {"train_loss_running": loss_sum / steps, "grad_norm_mean": norm_sum / steps,
            "grad_norm_min": norm_min, "grad_norm_max": norm_max}


@torch.no_grad()
def evaluate(model, images_uint8, labels, data: DeviceData, batch_size: int = 500) -> dict:
    """Loss and accuracy of every member on the same images (BatchNorm in evaluation mode;
    Chapter 4). Returns ``{"loss": [K], "accuracy": [K]}``."""
    model.eval()
    members = model.members
    loss = torch.zeros(members, device=labels.device)
    correct = torch.zeros(members, device=labels.device)
    for start in range(0, len(labels), batch_size):
        x = data.normalise(images_uint8[start:start + batch_size]).repeat(1, members, 1, 1)
        y = labels[start:start + batch_size].view(-1, 1).expand(-1, members)
        logits = model(x)
        loss += member_losses(logits, y) * len(y)
        correct += (logits.argmax(-1) == y).float().sum(0)
    return {"loss": loss / len(labels), "accuracy": correct / len(labels)}


#: Set to 1 in a run's environment for deterministic cuDNN kernels: the determinism check's
#: resume test (:func:`~sgd_escape.cifar.session.determinism_check`), where autotuned kernels
#: would make two runs differ for nothing. Experiments run without it.
DETERMINISTIC_ENV = "SGD_ESCAPE_DETERMINISTIC"


def configure_backends(device) -> None:
    """The GPU switches of every CIFAR run (Chapter 4): cuDNN picks the fastest kernels per shape,
    or, with ``SGD_ESCAPE_DETERMINISTIC=1`` in the environment, deterministic ones. The
    provenance of each result records them. Nothing to do on a CPU; returns None."""
    if torch.device(device).type == "cuda":
        deterministic = os.environ.get(DETERMINISTIC_ENV) == "1"
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic


@contextlib.contextmanager
def full_precision_convolutions():
    """Inside: cuDNN convolutions in full fp32, not TensorFloat-32, whose 10-bit mantissa could flip
    the sign of a probe's inner product when its cosine is near 0 (Chapter 4). Training keeps TF32."""
    saved = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = saved


def probe_batches(images_uint8, labels, data: DeviceData, batch_size: int):
    """The fixed, unaugmented batches of the probe loss ``f`` (Chapters 4 and 6): an iterator of
    ``(x, y, count)``, the images normalised, their labels, and the number of batches (an
    ensemble of K members takes ``x.repeat(1, K, 1, 1)`` and ``y.view(-1, 1).expand(-1, K)``). Fewer images than ``batch_size`` make one batch; more must
    fill whole batches (none is dropped)."""
    require_int_at_least("batch_size", batch_size, 1)
    if len(labels) == 0:        # else the check below blames batch_size
        raise ValueError("labels must hold at least one probe image, got none")
    batch_size = min(batch_size, len(labels))
    if len(labels) % batch_size:
        raise ValueError(f"batch_size must divide the number of probe images ({len(labels)}), "
                         f"got {batch_size}: the last, partial batch would otherwise be dropped")
    count = len(labels) // batch_size

    def batches():              # made one at a time: the checks above run at once
        for b in range(count):
            part = slice(b * batch_size, (b + 1) * batch_size)
            yield data.normalise(images_uint8[part]), labels[part], count
    return batches()


def probe_gradient(model, images_uint8, labels, data: DeviceData, batch_size: int) -> torch.Tensor:
    """``[K, P]``: each member's gradient of the mean cross-entropy over the given images (Chapter 4).

    BatchNorm uses batch statistics (training mode, as in the SGD steps) over the fixed,
    unaugmented batches of :func:`probe_batches`; its running statistics are left unchanged. The
    gradient is that of the data loss only (no weight decay term).
    """
    batches = probe_batches(images_uint8, labels, data, batch_size)   # checks first
    members = model.members
    model.train()
    set_batchnorm_updates(model, False)
    params = list(model.parameters())
    for p in params:
        p.grad = None
    with full_precision_convolutions():
        for x, y, count in batches:
            logits = model(x.repeat(1, members, 1, 1))
            (member_losses(logits, y.view(-1, 1).expand(-1, members)).sum() / count).backward()
    set_batchnorm_updates(model, True)
    return torch.cat([p.grad.reshape(members, -1) for p in params], 1)


def minibatch_gradient(model, data: DeviceData, seeds, batch_size: int) -> torch.Tensor:
    """``[K, P]``: member ``k``'s gradient of the mean cross-entropy on one training minibatch, the
    first batch of :func:`epoch_plan` for data seed ``seeds[k]``, cropped and flipped as in training
    (Chapter 4). What one SGD step would use, without momentum or weight decay; BatchNorm uses the
    batch's statistics and its running statistics are left unchanged."""
    if len(seeds) != model.members:
        raise ValueError(f"seeds must hold one seed per member ({model.members}), got {len(seeds)}")
    plan = epoch_plan(seeds, 0, data.train_size, batch_size, data.train_labels.device)
    model.train()
    set_batchnorm_updates(model, False)
    params = list(model.parameters())
    for p in params:
        p.grad = None
    with full_precision_convolutions():
        x, y = augmented_batch(data, plan.indices[:, 0], plan.offsets[:, 0], plan.flips[:, 0])
        member_losses(model(x), y).sum().backward()
    set_batchnorm_updates(model, True)
    return torch.cat([p.grad.reshape(model.members, -1) for p in params], 1)
