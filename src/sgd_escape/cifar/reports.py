"""The GPU session's reports as the book shows them: the trainer's speed against a plain
DataLoader pipeline, projected GPU-hours, and the determinism check (Chapter 4, :ref:`ch4`).

They live in ``data/benchmarks/<report>-<gpu>.json``, written by ``python -m sgd_escape
unpack`` from a session's files (see :mod:`sgd_escape.cifar.session`).
"""
from __future__ import annotations

import json
from pathlib import Path

from .results import data_root
from .tables import Rich, code_html, show_table

NOT_YET = ("Not measured yet: no GPU session's reports are in `data/benchmarks/`. "
           "On a GPU, run `python -m sgd_escape session --data cifar10-jpeg.tar.xz --out OUT` "
           "until it exits 0, then `python -m sgd_escape unpack OUT` here (see the README).")


def load_reports(report: str, root: str | Path | None = None) -> list[dict]:
    """Every ``data/benchmarks/<report>-<gpu>.json``, sorted by GPU, as a list of dicts (Chapter 4)."""
    folder = Path(root or data_root()) / "benchmarks"
    return [json.loads(path.read_text()) for path in sorted(folder.glob(f"{report}-*.json"))]


def _not_yet() -> Rich:
    return Rich(f"<p>{code_html(NOT_YET)}</p>", NOT_YET)


def benchmark_table(root: str | Path | None = None) -> Rich:
    """Seconds per network-epoch of both pipelines, their ratio, and projected GPU-hours, one row
    per GPU (Chapter 4). The projection is a lower bound: it counts every pass at the training
    rate, while the probes run slower, in full fp32 (``projection_basis`` in the report). Returns a :class:`~sgd_escape.cifar.tables.Rich` table, or a line
    saying that nothing is measured yet."""
    reports = load_reports("cifar_trainer", root)
    if not reports:
        return _not_yet()
    rows = [[r["device_name"], r["architecture"], r["members"], f"{r['plain_seconds_per_network_epoch']:.2f}",
             f"{r['trainer_seconds_per_network_epoch']:.2f}", f"{r['speedup_per_network']:.1f}x",
             *(f"{r.get(f'projection_{p}', {}).get('total_device_hours', float('nan')):.2f}"
               for p in ("reduced", "paper"))] for r in reports]
    return show_table(["GPU", "network", "trained at once", "plain DataLoader, s per network-epoch",
                       "book's trainer, s per network-epoch", "speed-up", "reduced preset, GPU-hours (at least)",
                       "paper preset, GPU-hours (at least)"], rows)


def determinism_table(root: str | Path | None = None) -> Rich:
    """Per GPU (Chapter 4): whether a run stopped and resumed on the way repeats an uninterrupted
    one exactly (both with deterministic cuDNN kernels), and the tolerance of the experiments'
    own runs: the largest differences between two runs of one seed when cuDNN autotunes its
    kernels. Returns a :class:`~sgd_escape.cifar.tables.Rich` table, or a line saying that nothing
    is measured yet. A report from before the tolerance was measured shows "-" for it."""
    reports = load_reports("determinism", root)
    if not reports:
        return _not_yet()
    rows = [[r["device_name"], r["preset"], len(r["experiments"]),
             "stopped after one unit, resumed" if "resumed" in r.get("second_copy", "") else "uninterrupted",
             "yes" if r["identical"] else "no", f"{r['max_abs']:.3g}", *_tolerance(r.get("repeat"))]
            for r in reports]
    return show_table(["GPU", "preset", "experiments", "second run", "same numbers",
                       "largest absolute difference", "autotuned rerun: largest absolute difference",
                       "autotuned rerun: largest relative difference"], rows)


def _tolerance(repeat: dict | None) -> list[str]:
    if repeat is None:
        return ["-", "-"]
    return [f"{repeat['max_abs']:.3g}", f"{repeat['max_rel']:.3g}"]
