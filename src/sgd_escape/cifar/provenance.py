"""Provenance: which code, machine and software computed a result, and when (Chapter 4, :ref:`ch4`).

Every cached result, session report and benchmark records :func:`code_and_machine`; results add
the command, the dataset and the times (:func:`provenance`).
"""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

from .results import find_repository_root


#: Names the commit when ``git`` cannot (a copy of the working tree without ``.git``, as on
#: a rented GPU machine); recorded together with where it came from.
COMMIT_ENV = "SGD_ESCAPE_GIT_COMMIT"


def _git_commit(root: Path | None) -> tuple[str, str]:
    """``(commit, source)``: from ``git`` where it works, else from ``$SGD_ESCAPE_GIT_COMMIT``."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src/sgd_escape/cifar",
                                "src/sgd_escape/__main__.py"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip() + ("+uncommitted-src-changes" if dirty else ""), "git"
    except (OSError, subprocess.SubprocessError):
        pass
    if os.environ.get(COMMIT_ENV):
        return os.environ[COMMIT_ENV], f"${COMMIT_ENV} (no git repository where it ran)"
    return "unknown", "none"


def _backend_flags() -> dict:
    """The numerics switches that change GPU results (TF32, cuDNN autotuning, determinism)."""
    import torch

    return {"cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "probe_cudnn_allow_tf32": False}       # training.probe_gradient turns TF32 off


def cpu_description() -> dict:
    """The processor that did the CPU arithmetic, as a JSON dict (Chapter 4): its model name, the
    vector instructions torch's CPU kernels use, and torch's thread count. A CPU result repeats bit
    for bit only where all three are the same: they decide the order in which sums are rounded, and
    SGD amplifies rounding differences (by tens of percent over a few epochs)."""
    import torch

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model)
    except OSError:
        pass
    return {"cpu_model": model, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_threads": torch.get_num_threads()}


def code_and_machine(device) -> dict:
    """The code version, the device and the software that computed something, as a JSON dict
    (Chapter 4)."""
    import torch

    cpu = cpu_description()
    threads = cpu["cpu_threads"]
    device_name = (torch.cuda.get_device_name(device) if torch.device(device).type == "cuda"
                   else f"CPU ({platform.processor() or platform.machine()}, "
                        f"{threads} thread{'s' if threads != 1 else ''})")
    commit, commit_source = _git_commit(find_repository_root(required=False))
    record = {"git_commit": commit, "git_commit_source": commit_source, "device": str(device),
              "device_name": device_name, "torch_version": torch.__version__,
              "cuda_version": torch.version.cuda, "python_version": platform.python_version(), **cpu}
    if torch.device(device).type == "cuda":
        record["backend_flags"] = _backend_flags()
    return record


def provenance(command: str, device, dataset_source: str, started: str, wall_seconds: float) -> dict:
    """Where a result came from: command, code version, hardware, software, data, time; a JSON
    dict, stored with every result (Chapter 4)."""
    return {"command": command, **code_and_machine(device), "dataset_source": dataset_source,
            "started_utc": started, "wall_seconds": round(float(wall_seconds), 1)}


def utc_now() -> str:
    """The current UTC time in ISO 8601, to the second, for provenance records (Chapter 4)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
