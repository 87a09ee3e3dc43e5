"""Today's code still computes what data/ holds (Chapters 4-6).

A cache is checked against its config when a chapter loads it, but a change to the training
or probing code that keeps the config would leave every cached number stale without a word.
So the two cheapest cached results are recomputed here, on the real CIFAR-10 (the JPEG copy
that ``.ci/run`` points ``$SGD_ESCAPE_CIFAR10_JPEG`` at), and must agree bit for bit.

Bit for bit, because on a CPU there is no meaningful tolerance: another thread count or another
processor rounds its sums in another order, and SGD amplifies that to tens of percent within a
few epochs. The test therefore runs with the cached result's thread count, and is skipped
where the processor differs from the one its provenance names.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from sgd_escape.__main__ import main
from sgd_escape.cifar.datasets import JPEG_ENV
from sgd_escape.cifar.provenance import cpu_description
from sgd_escape.cifar.results import load_result, result_differences

CHEAPEST = ("slope-resnet-cifar10", "spectrum-resnet-cifar10")   # about 8 s each at `mini`
PROCESSOR = ("cpu_model", "cpu_capability")


@pytest.fixture(scope="module")
def cifar10_jpeg() -> str:
    archive = os.environ.get(JPEG_ENV, "")
    if not Path(archive).is_file():
        message = f"${JPEG_ENV} names no CIFAR-10 JPEG archive (got {archive!r}); .ci/run sets it"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return archive


@pytest.fixture(scope="module")
def decoded(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("datasets")      # decoded once for both experiments


def rerun(experiment: str, archive: str, datasets: Path, folder: Path, threads: int):
    before = torch.get_num_threads()
    try:
        status = main(["run", experiment, "--preset", "mini", "--device", "cpu", "--data", archive,
                       "--datasets-dir", str(datasets), "--out", str(folder / "data"),
                       "--work", str(folder / "work"), "--offline", "--threads", str(threads), "--quiet"])
    finally:
        torch.set_num_threads(before)                # main() set the cached run's thread count
    assert status == 0
    return load_result(experiment, "mini", root=folder / "data")


@pytest.mark.slow
@pytest.mark.parametrize("experiment", CHEAPEST)
def test_todays_code_recomputes_the_cached_mini_result_bit_for_bit(experiment, cifar10_jpeg, decoded, tmp_path):
    cached = load_result(experiment, "mini")
    recorded = {key: cached.provenance.get(key) for key in PROCESSOR}
    here = {key: cpu_description()[key] for key in PROCESSOR}
    if recorded != here:
        pytest.skip(f"cached on {recorded}, this machine is {here}: CPU results repeat only on the same processor")
    result = rerun(experiment, cifar10_jpeg, decoded, tmp_path, cached.provenance["cpu_threads"])
    report = result_differences(cached, result)
    assert report["identical"], (
        f"today's code no longer computes data/{experiment}/mini: {report['max_abs_key']} differs by "
        f"{report['max_abs']:.3g}. Recompute the caches that the change affects (README, 'The CIFAR "
        f"experiments') and say in the chapters what changed")
