"""Resumable runs: a state file, per-epoch weight snapshots, a time budget and a progress bar
(Chapter 4, :ref:`ch4`).

A run is a sequence of named phases, each a sequence of units (a training epoch, the probes
of one epoch). After every unit the state is written atomically to ``state.pt`` in the run's
work folder; running the same command again continues after the last completed unit. Because
every random choice is seeded by the unit it belongs to, a resumed run computes exactly what
an uninterrupted one does (up to GPU non-determinism).
"""
from __future__ import annotations

import pickle
import time
from pathlib import Path

import torch

from .models import flatten_members, float_buffers, load_members
from .provenance import utc_now
from .training import evaluate, learning_rate, make_optimizer, train_epoch

#: Exit status of the command line when it stopped at its time budget (run it again to resume).
EXIT_BUDGET = 75


class BudgetExhausted(Exception):
    """The run stopped cleanly at its ``--max-minutes`` budget; its state is saved (Chapter 4)."""


class Run:
    """The persistent state of one experiment at one preset, in ``work_dir`` (Chapter 4)."""

    def __init__(self, work_dir: Path, config: dict, device, max_minutes: float | None,
                 total_units: int, progress: bool = True, dataset_source: str | None = None,
                 began: float | None = None):
        """``dataset_source`` (the data's provenance line; None: not checked) must match the one
        a resumed run saved; ``began`` (a ``time.monotonic()`` value, default now) is when the
        budget started, so that loading the data counts against it."""
        self.work_dir, self.device, self.config = Path(work_dir), torch.device(device), config
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.max_seconds = None if max_minutes is None else 60.0 * max_minutes
        self.began = time.monotonic() if began is None else began
        self.mark, self.slowest = time.monotonic(), 0.0
        self.state = self._load_or_start(dataset_source)
        self.bar = None
        if progress:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total_units, initial=self.state["units"], unit="unit",
                            desc=config.get("experiment", "run"), dynamic_ncols=True)

    @property
    def state_file(self) -> Path:
        """The run's state file, ``work_dir/state.pt``."""
        return self.work_dir / "state.pt"

    def _load_or_start(self, dataset_source: str | None) -> dict:
        if self.state_file.exists():
            state = self._read(self.state_file)
            if state["config"] != self.config:
                raise RuntimeError(f"{self.work_dir} holds a run with another config; delete the "
                                   "folder or run with --fresh to start over")
            saved = state.setdefault("dataset_source", dataset_source)
            if None not in (saved, dataset_source) and saved != dataset_source:
                # half a run on other data would be recorded as a run on this data
                raise RuntimeError(f"{self.work_dir} holds a run on other data ({saved}), not "
                                   f"{dataset_source}; pass the same --data, or --fresh to start over")
            return state
        return {"config": self.config, "phases": {}, "units": 0, "active_seconds": 0.0,
                "started_utc": utc_now(), "dataset_source": dataset_source}

    def phase(self, name: str) -> dict:
        """The state of phase ``name``: a dict, created empty on first use, saved with the run."""
        return self.state["phases"].setdefault(name, {})

    def save(self) -> None:
        """Write the state atomically to :attr:`state_file`, adding the active time since the last save."""
        now = time.monotonic()
        self.state["active_seconds"] += now - self.mark
        self.mark = now
        tmp = self.state_file.with_suffix(".tmp")
        torch.save(self.state, tmp)
        tmp.replace(self.state_file)

    def unit_done(self, unit_seconds: float) -> None:
        """Save; then stop (``BudgetExhausted``) if another unit would overrun the budget."""
        self.state["units"] += 1
        self.save()
        if self.bar is not None:
            self.bar.update(1)
        self.slowest = max(self.slowest, unit_seconds)
        elapsed = time.monotonic() - self.began
        if self.max_seconds is not None and elapsed + self.slowest > self.max_seconds:
            self.close()
            raise BudgetExhausted(f"stopped at the {self.max_seconds / 60:g}-minute budget after "
                                  f"{self.state['units']} units; run the same command to resume")

    def close(self) -> None:
        """Close the progress bar, if there is one."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def snapshot_path(self, phase: str, epoch: int) -> Path:
        """Where the weights of ``phase`` at the start of ``epoch`` go:
        ``work_dir/snapshots/<phase>/epoch_NNNN.pt``."""
        return self.work_dir / "snapshots" / phase / f"epoch_{epoch:04d}.pt"

    def save_snapshot(self, phase: str, epoch: int, model, optimizer=None) -> None:
        """Save every member's weights atomically, on the CPU: ``{"params": [K, P], "buffers":
        [K, Q]}`` (Q: the BatchNorm running statistics), and ``"momentum": [K, P]`` (the SGD
        momentum buffers, :func:`momentum_buffers`) when ``optimizer`` is given."""
        path = self.snapshot_path(phase, epoch)
        path.parent.mkdir(parents=True, exist_ok=True)
        members = model.members
        snapshot = {"params": flatten_members(model.parameters(), members).cpu(),
                    "buffers": flatten_members(float_buffers(model), members).cpu()}
        if optimizer is not None:
            snapshot["momentum"] = flatten_members(momentum_buffers(model, optimizer), members).cpu()
        torch.save(snapshot, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)

    def load_snapshot(self, phase: str, epoch: int) -> dict:
        """The snapshot that :meth:`save_snapshot` wrote, on the run's device."""
        return self._read(self.snapshot_path(phase, epoch))

    def _read(self, path: Path) -> dict:
        """A checkpoint of this run; a damaged one stops the run with the way out, deleting nothing."""
        try:
            return torch.load(path, map_location=self.device, weights_only=True)
        except torch.cuda.OutOfMemoryError:
            raise                      # the device's trouble, not the file's: --fresh would lose work
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
            if str(error).startswith("CUDA"):
                raise
            # torch's unpickling message advises weights_only=False, unsafe here: name the error only
            lines = str(error).strip().splitlines()
            reason = lines[0] if lines and not isinstance(error, pickle.UnpicklingError) else type(error).__name__
            raise RuntimeError(f"{path} cannot be read ({reason}); the run in {self.work_dir} "
                               "cannot resume: run the same command with --fresh to start over") from None


def probe_phase(run: Run, name: str, units: list, compute) -> dict:
    """Run ``compute(unit) -> {key: tensor}`` for every unit not yet done; stack the results
    (Chapters 4-6). Returns ``{key: tensor [len(units), ...]}``, in the order of ``units``."""
    state = run.phase(name)
    results = state.setdefault("results", {})
    for index in range(state.get("next", 0), len(units)):
        began = time.monotonic()
        for key, value in compute(units[index]).items():
            results.setdefault(key, []).append(value.detach().cpu())
        state["next"] = index + 1
        run.unit_done(time.monotonic() - began)
    return stack_on_cpu(results)


def train_phase(run: Run, name: str, model, data, seeds, epochs: int, schedule: dict,
                initialise=None, snapshot_momentum: bool = False) -> dict:
    """Train ``model`` for ``epochs`` epochs, snapshotting and evaluating at every epoch start
    (Chapters 4-6).

    ``schedule`` holds ``lr``, ``lr_milestones``, ``momentum``, ``weight_decay``, ``batch_size``,
    ``train_eval_examples``, and ``lr_per_epoch`` for a smooth schedule. ``initialise(model,
    optimizer)`` runs once, before the first epoch. With ``snapshot_momentum`` the snapshots
    keep the momentum buffers too (Exercise 6.2's restarts start from them).
    Returns per-epoch records, each ``[epochs or epochs + 1, K]``.
    """
    state = run.phase(name)
    optimizer = make_optimizer(model, schedule["lr"], schedule["momentum"], schedule["weight_decay"])
    if "model" in state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    elif initialise is not None:
        initialise(model, optimizer)
    records = state.setdefault("records", {})
    count = schedule["train_eval_examples"]
    for epoch in range(state.get("epoch", 0), epochs + 1):
        began = time.monotonic()
        run.save_snapshot(name, epoch, model, optimizer if snapshot_momentum else None)
        for split, (images, labels) in {"train": (data.train_images(count), data.train_labels[:count]),
                                        "test": (data.test_images, data.test_labels)}.items():
            for key, value in evaluate(model, images, labels, data).items():
                records.setdefault(f"{split}_{key}", []).append(value.cpu())
        if epoch < epochs:
            from .training import epoch_plan

            plan = epoch_plan(seeds, epoch, data.train_size, schedule["batch_size"], data.train_labels.device)
            lr = learning_rate(epoch, schedule["lr"], schedule["lr_milestones"],
                               per_epoch=schedule.get("lr_per_epoch"))
            for key, value in train_epoch(model, optimizer, data, plan, lr).items():
                records.setdefault(key, []).append(value.cpu())
        state.update(epoch=epoch + 1, model=model.state_dict(), optimizer=optimizer.state_dict())
        run.unit_done(time.monotonic() - began)
    return stack_on_cpu(records)


def stack_on_cpu(lists: dict) -> dict:
    """``{key: list of tensors}`` stacked, on the CPU (Chapters 4-6). A resumed run reads its state
    onto the run's device (the model and optimizer need it there), so the entries saved before the
    stop are on the GPU and those appended since on the CPU; the stack must not mix them."""
    return {key: torch.stack([value.cpu() for value in values]) for key, values in lists.items()}


def replicate_into(model, source_state: dict, source_optimizer: dict | None, optimizer) -> None:
    """Make every member of ``model`` a copy of a one-member model (weights, buffers, momentum):
    the branches start from their shared point (Chapter 5). In place; returns None."""
    members = model.members
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            src = source_state[key]
            tensor.copy_(src.repeat(members, *([1] * (src.dim() - 1))) if src.dim() else src)
    if source_optimizer:
        for param, saved in zip(model.parameters(), source_optimizer["state"].values()):
            buffer = saved["momentum_buffer"]
            optimizer.state[param]["momentum_buffer"] = buffer.repeat(members, *([1] * (buffer.dim() - 1)))


def load_snapshot_members(model, snapshots: list[dict], optimizer=None) -> None:
    """Member ``k`` of ``model`` takes weights and buffers from one-member ``snapshots[k]``: the
    restarts start from epochs of the run at 0.1 (Chapter 6). With ``optimizer``, its momentum
    buffers come from the snapshots too (which must hold them: Exercise 6.2); without, it keeps
    its fresh ones. In place; returns None."""
    load_members(list(model.parameters()), torch.cat([s["params"] for s in snapshots]))
    load_members(float_buffers(model), torch.cat([s["buffers"] for s in snapshots]))
    if optimizer is not None:
        if not all("momentum" in s for s in snapshots):
            raise ValueError("snapshots must hold momentum buffers to restart with them "
                             "(train the run at 0.1 with snapshot_momentum=True)")
        flat = torch.cat([s["momentum"] for s in snapshots])
        buffers = [torch.zeros_like(p) for p in model.parameters()]
        load_members(buffers, flat)
        for param, buffer in zip(model.parameters(), buffers):
            optimizer.state[param]["momentum_buffer"] = buffer


def momentum_buffers(model, optimizer) -> list[torch.Tensor]:
    """The SGD momentum buffer of every parameter of ``model``, in parameter order, zeros where
    the optimizer has taken no step yet (Chapter 6). A zero buffer and none act alike: without
    dampening, SGD's first step sets the buffer to the gradient either way."""
    buffers = [optimizer.state.get(p, {}).get("momentum_buffer") for p in model.parameters()]
    return [torch.zeros_like(p) if b is None else b for p, b in zip(model.parameters(), buffers)]
