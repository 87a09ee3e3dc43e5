"""The probes of Section 5: inner products between negative gradients and the vectors to
final points, raw and as cosines (Chapters 4-6).
"""
from __future__ import annotations

import numpy as np
import torch

from ..checks import require_int_at_least, require_positive
from .models import load_members
from .training import minibatch_gradient, probe_gradient


def one_point_inner_products(gradients: torch.Tensor, points: torch.Tensor,
                             targets: torch.Tensor) -> dict:
    """Row-wise ``<-g_k, x*_k - x_k>`` and its cosine, for ``[K, P]`` inputs (Chapter 4).

    Positive values mean the negative gradient at ``x_k`` points towards ``x*_k``: the
    one-point convexity of Assumption 1, checked at one point.
    """
    g, direction = gradients.double(), targets.double() - points.double()
    raw = -(g * direction).sum(1)
    grad_norm, distance = g.norm(dim=1), direction.norm(dim=1)
    return {"raw": raw, "cosine": raw / (grad_norm * distance).clamp_min(1e-300),
            "grad_norm": grad_norm, "distance": distance}


def all_pairs_inner_products(gradients: torch.Tensor, points: torch.Tensor,
                             targets: torch.Tensor) -> dict:
    """``[K, J]``: ``<-g_i, x*_j - x_i>`` for every point ``i`` and target ``j`` (Chapter 5)."""
    g, x, t = gradients.double(), points.double(), targets.double()
    raw = -(g @ t.T) + (g * x).sum(1, keepdim=True)
    squared = (t * t).sum(1)[None, :] + (x * x).sum(1)[:, None] - 2 * x @ t.T
    distance = squared.clamp_min(0).sqrt()
    return {"raw": raw, "cosine": raw / (g.norm(dim=1, keepdim=True) * distance).clamp_min(1e-300)}


def not_positive(values) -> np.ndarray:
    """Where an inner product fails the sign test of Section 5: ``<= 0``, or NaN (a diverged
    run must not count as a success). A boolean array of the shape of ``values`` (Chapters 4-6)."""
    return ~(np.asarray(values) > 0)


def first_counted_epoch(epochs: int) -> int:
    """The first epoch that Figure 5's claim covers (Chapter 4): 5, or the last probed epoch
    ``epochs - 1`` for runs shorter than six epochs."""
    return min(5, require_int_at_least("epochs", epochs, 1) - 1)


def counted_ball_epochs(ball_epochs, epochs: int) -> np.ndarray:
    """Which probed ball epochs count "from epoch 5 on" (Chapter 4), as a boolean mask."""
    return np.asarray(ball_epochs) >= first_counted_epoch(epochs)


def pairwise_distances(points: torch.Tensor) -> torch.Tensor:
    """``[K, K]`` Euclidean distances between the rows of ``points`` (float64; Chapter 5)."""
    return torch.cdist(points.double(), points.double())


def uniform_ball(center: torch.Tensor, radius: float, count: int, seed: int) -> torch.Tensor:
    """``[count, P]`` points drawn uniformly from the ball of ``radius`` around ``center`` (Chapter 4).

    A uniform direction (a normalised Gaussian) times ``radius * U**(1/P)``; in millions of
    dimensions that radius is ``radius`` to many digits, so the points lie on the sphere.
    """
    require_positive("radius", radius)
    require_int_at_least("count", count, 1)
    generator = torch.Generator().manual_seed(seed)
    dimension = center.numel()
    directions = torch.randn(count, dimension, generator=generator, dtype=torch.float64)
    directions /= directions.norm(dim=1, keepdim=True)
    radii = radius * torch.rand(count, 1, generator=generator, dtype=torch.float64) ** (1.0 / dimension)
    return (center.double().cpu() + radii * directions).float().to(center.device)


#: Ball points are drawn in blocks of this many per seed, so which points a probe visits does
#: not depend on how many of them fit on the device at once.
DRAW_BLOCK = 20


def ball_points(center: torch.Tensor, radius: float, count: int, seed: int) -> torch.Tensor:
    """The ``[count, P]`` points of a ball probe: block ``b`` of up to :data:`DRAW_BLOCK` points
    comes from seed ``seed * 10_007 + b * DRAW_BLOCK`` (Chapter 4)."""
    require_int_at_least("count", count, 1)
    block = min(DRAW_BLOCK, count)
    return torch.cat([uniform_ball(center, radius, block, seed * 10_007 + start)[:min(block, count - start)]
                      for start in range(0, count, DRAW_BLOCK)])


def _fill(part: torch.Tensor, chunk: int) -> torch.Tensor:
    """``part`` padded to ``chunk`` rows with copies of its first row (a last, short chunk)."""
    return torch.cat([part, part[:1].expand(chunk - len(part), -1)])


def neighbourhood_probe(model, points, center, target, images, labels, data, batch_size) -> dict:
    """Mean, min and max over the rows ``w`` of ``points`` of ``<-grad f(w), target - center>``, raw
    and cosine (Chapter 4). ``model`` holds one member per point and takes the points in chunks of
    its size. Returns 0-d tensors under ``raw_mean``, ``raw_min``, ``raw_max``, ``cosine_mean``,
    ``cosine_min`` and ``cosine_max``."""
    chunk, count, values = model.members, len(points), {"raw": [], "cosine": []}
    for start in range(0, count, chunk):
        part = points[start:start + chunk]
        size = len(part)
        load_members(list(model.parameters()), _fill(part, chunk))
        gradients = probe_gradient(model, images, labels, data, batch_size)[:size]
        inner = one_point_inner_products(gradients, center.expand(size, -1), target.expand(size, -1))
        for key in values:
            values[key].append(inner[key])
    out = {}
    for key, parts in values.items():
        joined = torch.cat(parts)
        out.update({f"{key}_mean": joined.mean(), f"{key}_min": joined.min(), f"{key}_max": joined.max()})
    return out


def ball_probe(model, center, target, radius, count, seed, images, labels, data, batch_size) -> dict:
    """:func:`neighbourhood_probe` over ``count`` points of the ball of ``radius`` around ``center``
    (:func:`ball_points`; Figure 5b, Chapter 4). The chunk size of ``model`` does not change the
    points."""
    points = ball_points(center, radius, count, seed)
    return neighbourhood_probe(model, points, center, target, images, labels, data, batch_size)


def sgd_step_points(model, center, lr, count, seed, data, batch_size) -> torch.Tensor:
    """``[count, P]``: the points ``center - lr * g_k`` one plain SGD step away, ``g_k`` the
    gradient on training minibatch ``k`` (:func:`~sgd_escape.cifar.training.minibatch_gradient`,
    data seed ``seed * 1000 + k``; the paper's footnote 7, Chapter 4). The chunk size of ``model``
    does not change the points."""
    require_positive("lr", lr)
    require_int_at_least("count", count, 1)
    chunk, steps = model.members, []
    for start in range(0, count, chunk):
        seeds = [seed * 1000 + k for k in range(start, start + chunk)]     # a short chunk: extras unused
        load_members(list(model.parameters()), center.expand(chunk, -1))
        steps.append(minibatch_gradient(model, data, seeds, batch_size)[:count - start])
    return center - lr * torch.cat(steps)


def sgd_step_probe(model, center, target, lr, count, seed, images, labels, data, batch_size,
                   step_batch_size) -> dict:
    """:func:`neighbourhood_probe` over ``count`` points one SGD step of learning rate ``lr`` away
    from ``center`` (:func:`sgd_step_points`, minibatches of ``step_batch_size``; footnote 7,
    Chapter 4), plus the steps' lengths ``length_mean``, ``length_min`` and ``length_max``."""
    points = sgd_step_points(model, center, lr, count, seed, data, step_batch_size)
    lengths = (points.double() - center.double()).norm(dim=1)
    out = neighbourhood_probe(model, points, center, target, images, labels, data, batch_size)
    return {**out, "length_mean": lengths.mean(), "length_min": lengths.min(), "length_max": lengths.max()}
