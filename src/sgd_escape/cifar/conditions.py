"""Theorem 1's constants measured on a network (Chapter 6, :ref:`ch6-theorem1-conditions`).

Theorem 1 asks for a step size below ``min{1/(2L), c/L^2}``, with ``L`` the smoothness of the loss
``f`` and ``r`` a bound on the norm of the gradient noise. The restarts of Section 5.4 run at 0.01,
where the paper says the theorem applies. This module estimates, at a point of every member of an
ensemble:

- the top eigenvalue of the Hessian of ``f`` (the *sharpness*), by power iteration with
  Hessian-vector products (:func:`top_hessian_eigenvalue`). A Rayleigh quotient ``v^T H v`` of a
  unit vector is at most ``||H||`` in size, so whatever the number of iterations, its absolute value
  is a lower bound on ``||H||`` there, hence on any ``L`` for which ``f`` is ``L``-smooth;
- the norms ``||grad f_B(x) - grad f(x)||`` of the minibatch noise over minibatches ``B`` of the
  training batch size drawn from the probe images (:func:`minibatch_noise`): their largest is a
  lower bound on ``r``.

``f`` is the probe loss of :func:`~sgd_escape.cifar.training.probe_gradient`: the mean
cross-entropy over the probe images, without weight decay, BatchNorm with batch statistics over
fixed batches of ``probe_batch_size``, running statistics untouched. The minibatches are not
cropped or flipped: the noise measured is that of sampling the images, not of augmentation.
The ensemble's loss is the sum of its members' losses, so its Hessian is block-diagonal: one power
iteration on the whole ensemble is one per member, each block normalised on its own.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch

from ..checks import require_int_at_least
from .models import flatten_members, load_members, set_batchnorm_updates
from .runner import probe_phase
from .training import full_precision_convolutions, member_losses, probe_batches, probe_gradient


def check_conditions_epochs(epochs, restart_length: int) -> None:
    """Raise ``ValueError`` unless ``epochs`` are distinct epochs of a restart in increasing order
    within ``[0, restart_length]`` (Chapter 6); returns None."""
    whole = all(isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in epochs or [])
    if not epochs or not whole or list(epochs) != sorted(set(epochs)) or epochs[0] < 0 \
            or epochs[-1] > restart_length:
        raise ValueError(f"conditions_epochs must be increasing integer epochs in "
                         f"[0, restart_length={restart_length}], got {epochs!r}")


def _split_members(vectors: torch.Tensor, params: list, members: int) -> list[torch.Tensor]:
    """``[K, P]`` cut into tensors shaped like ``params`` (the inverse of ``flatten_members``)."""
    pieces, offset = [], 0
    for p in params:
        size = p.numel() // members
        pieces.append(vectors[:, offset:offset + size].reshape(p.shape))
        offset += size
    if offset != vectors.shape[1]:
        raise ValueError(f"vectors must have {offset} entries per member, got {vectors.shape[1]}")
    return pieces


def hessian_vector_products(model, vectors: torch.Tensor, images_uint8, labels, data,
                            batch_size: int) -> torch.Tensor:
    """``[K, P]``: ``H_k v_k`` for every member ``k``, ``H_k`` the Hessian of member ``k``'s probe
    loss ``f`` (that of :func:`~sgd_escape.cifar.training.probe_gradient`) at its current weights and
    ``v_k = vectors[k]`` (Chapter 6). By double backward, batch by batch; BatchNorm's running
    statistics are left unchanged."""
    members, params = model.members, list(model.parameters())
    if vectors.shape != (members, sum(p.numel() for p in params) // members):
        raise ValueError(f"vectors must have shape [members={members}, parameters per member], "
                         f"got {tuple(vectors.shape)}")
    pieces = _split_members(vectors.to(device=params[0].device, dtype=params[0].dtype), params, members)
    total = [torch.zeros_like(p) for p in params]
    model.train()
    set_batchnorm_updates(model, False)
    try:
        with full_precision_convolutions():
            for x, y, count in probe_batches(images_uint8, labels, data, batch_size):
                logits = model(x.repeat(1, members, 1, 1))
                loss = member_losses(logits, y.view(-1, 1).expand(-1, members)).sum() / count
                grads = torch.autograd.grad(loss, params, create_graph=True)
                dot = sum((g * v).sum() for g, v in zip(grads, pieces))
                products = torch.autograd.grad(dot, params, allow_unused=True)
                for t, h in zip(total, products):
                    if h is not None:
                        t += h
    finally:
        set_batchnorm_updates(model, True)
    return flatten_members(total, members)


def power_iteration(hvp, start: torch.Tensor, iterations: int) -> dict:
    """Power iteration on ``K`` symmetric operators at once, one per row (Chapter 6).

    ``hvp`` maps ``[K, P]`` to ``[K, P]``, row ``k`` by operator ``k`` alone (a block-diagonal
    operator); ``start`` ``[K, P]`` holds the first vectors. ``iterations`` times: ``w = hvp(v)``, the
    Rayleigh quotient ``<v, w>`` of each row (``v`` of unit length), and ``v = w / ||w||`` row by row.
    Returns ``{"eigenvalue": [K], "trace": [iterations, K]}`` (float64): the last quotient and all of
    them. Each quotient lies between the smallest and the largest eigenvalue of its operator; the
    iteration converges to the eigenvalue of largest size.
    """
    require_int_at_least("iterations", iterations, 1)
    v = start.double()
    v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-300)
    trace = []
    for _ in range(iterations):
        w = hvp(v).double()
        trace.append((v * w).sum(1))
        v = w / w.norm(dim=1, keepdim=True).clamp_min(1e-300)
    trace = torch.stack(trace)
    return {"eigenvalue": trace[-1], "trace": trace}


def top_hessian_eigenvalue(model, images_uint8, labels, data, batch_size: int, iterations: int,
                           seed: int = 0) -> dict:
    """The sharpness of each member at its current weights (Chapter 6): :func:`power_iteration` on
    the Hessian of its probe loss (:func:`hessian_vector_products`), from a Gaussian vector per member
    drawn on the CPU from ``seed`` alone.

    Returns ``{"sharpness": [K], "trace": [iterations, K]}`` (float64): the last Rayleigh quotient
    and all of them.
    """
    require_int_at_least("iterations", iterations, 1)
    require_int_at_least("seed", seed, 0)
    members, params = model.members, list(model.parameters())
    size = sum(p.numel() for p in params) // members
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    start = torch.randn(members, size, generator=generator, device="cpu", dtype=torch.float64)

    def hvp(v):
        return hessian_vector_products(model, v.float(), images_uint8, labels, data, batch_size)

    found = power_iteration(hvp, start.to(device=params[0].device), iterations)
    return {"sharpness": found["eigenvalue"], "trace": found["trace"]}


def minibatch_noise(model, images_uint8, labels, data, probe_batch_size: int, batch_size: int,
                    reshuffles: int, seed: int = 0) -> dict:
    """The minibatch noise of each member at its current weights (Chapter 6):
    ``||grad f_B - grad f||`` for every minibatch ``B`` of ``batch_size`` consecutive images of
    ``reshuffles`` seeded orders of the probe images (a last, partial minibatch is dropped), ``f``
    the probe loss over batches of ``probe_batch_size``. Every member sees the same minibatches.

    Returns ``{"noise_max": [K], "noise_mean": [K]}`` (float64) over all the minibatches.
    """
    require_int_at_least("reshuffles", reshuffles, 1)
    require_int_at_least("batch_size", batch_size, 1)
    require_int_at_least("seed", seed, 0)
    count = len(labels) // batch_size
    if count < 1:
        raise ValueError(f"batch_size must be <= the number of probe images ({len(labels)}), got {batch_size}")
    full = probe_gradient(model, images_uint8, labels, data, probe_batch_size).double()
    norms = []
    for shuffle in range(reshuffles):
        generator = torch.Generator(device="cpu").manual_seed(int(seed) * 100_003 + shuffle)
        order = torch.randperm(len(labels), generator=generator, device="cpu").to(labels.device)
        for b in range(count):
            chosen = order[b * batch_size:(b + 1) * batch_size]
            g = probe_gradient(model, images_uint8[chosen], labels[chosen], data, batch_size)
            norms.append((g.double() - full).norm(dim=1))
    norms = torch.stack(norms)
    return {"noise_max": norms.max(0).values, "noise_mean": norms.mean(0)}


def conditions_curves(run, model, config: dict, data) -> dict:
    """The curves of Theorem 1's constants along the restarts of a spectrum run that asks for them
    (Chapter 6), through a resumable probe phase ``conditions``. At each epoch ``E`` of
    ``config["conditions_epochs"]`` (snapshots of the phase ``restarts``), per restart: the
    sharpness and its power-iteration trace, and the largest and mean minibatch noise norm.

    Returns numpy arrays: ``cond_sharpness``, ``cond_noise_max``, ``cond_noise_mean`` ``[E, R]``,
    ``cond_sharpness_trace`` ``[E, power_iterations, R]`` and ``cond_epochs`` ``[E]``.
    """
    epochs = config["conditions_epochs"]
    check_conditions_epochs(epochs, config["restart_length"])
    count = config["probe_examples"]
    images, labels = data.train_images(count), data.train_labels[:count]

    def estimate(epoch):
        load_members(list(model.parameters()), run.load_snapshot("restarts", epoch)["params"])
        seed = config["seed"] + 3000 + epoch
        top = top_hessian_eigenvalue(model, images, labels, data, config["probe_batch_size"],
                                     config["power_iterations"], seed)
        noise = minibatch_noise(model, images, labels, data, config["probe_batch_size"],
                                config["batch_size"], config["noise_reshuffles"], seed)
        return {"sharpness": top["sharpness"], "sharpness_trace": top["trace"], **noise}

    found = probe_phase(run, "conditions", list(epochs), estimate)
    curves = {f"cond_{key}": value.double().numpy() for key, value in found.items()}
    curves["cond_epochs"] = np.asarray(epochs, dtype=np.int64)
    return curves
