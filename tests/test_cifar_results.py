"""Cached results: provenance where git is missing, and comparing two runs (Chapter 4)."""
from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sgd_escape.cifar import provenance, results
from sgd_escape.cifar.results import CachedResult, result_differences


def a_result(**curves) -> CachedResult:
    return CachedResult("fig5-resnet-cifar10", "smoke", {}, {"count": 3, "flags": [True, False]},
                        {}, {"inner_raw": np.array([1.0, -2.0, 0.0]), **curves}, Path("."))


def test_commit_comes_from_git_inside_a_clone():
    commit, source = provenance._git_commit(Path(__file__).resolve().parents[1])
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).parent).stdout.strip()
    assert source == "git" and commit.startswith(head)


def test_commit_falls_back_to_the_environment_without_git(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "no-repository"))      # git finds no repository
    monkeypatch.setenv(provenance.COMMIT_ENV, "0123abc")
    assert provenance._git_commit(tmp_path) == ("0123abc", f"${provenance.COMMIT_ENV} (no git repository where it ran)")
    monkeypatch.delenv(provenance.COMMIT_ENV)
    assert provenance._git_commit(tmp_path) == ("unknown", "none")


def test_identical_results_differ_by_nothing():
    report = result_differences(a_result(), a_result())
    assert report["identical"] and report["max_abs"] == report["max_rel"] == 0.0


def test_the_largest_absolute_and_relative_differences_are_found():
    other = dataclasses.replace(a_result(), curves={"inner_raw": np.array([1.0, -2.5, 1e-9])})
    report = result_differences(a_result(), other)
    assert not report["identical"]
    assert report["max_abs"] == pytest.approx(0.5) and report["max_abs_key"] == "curve inner_raw"
    assert report["max_rel"] == pytest.approx(1.0)            # 0 against 1e-9: a relative gap of 1
    assert report["per_key"]["scalar count"] == {"abs": 0.0, "rel": 0.0}


def test_nan_in_both_results_is_equal_and_in_one_is_an_infinite_gap():
    nan_twice = result_differences(a_result(extra=np.array([np.nan])), a_result(extra=np.array([np.nan])))
    assert nan_twice["identical"]
    once = result_differences(a_result(extra=np.array([np.nan])), a_result(extra=np.array([0.0])))
    assert once["max_abs"] == np.inf and once["max_abs_key"] == "curve extra"


@pytest.mark.parametrize("change, message", [
    (dict(preset="mini"), "^first and second must be one experiment and preset"),
    (dict(curves={"inner_raw": np.zeros(4)}), "shape"),
    (dict(curves={}), "second result lacks curve inner_raw"),
])
def test_results_that_cannot_be_compared_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        result_differences(a_result(), dataclasses.replace(a_result(), **change))


def test_a_result_whose_curves_lack_an_array_it_lists_is_refused(tmp_path):
    from cifar_fakes import write_fake_result

    folder = write_fake_result(tmp_path, "spectrum-resnet-cifar10", "smoke")
    record = json.loads((folder / "result.json").read_text())
    record["curves"] = sorted(record["curves"] + ["base_train_loss"])   # listed, never written
    (folder / "result.json").write_text(json.dumps(record))
    with pytest.raises(results.CacheError, match="curves.npz does not hold the arrays result.json lists"):
        results.load_result("spectrum-resnet-cifar10", "smoke", tmp_path)


def test_uncommitted_changes_to_the_experiment_code_mark_the_commit(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org",
                               "-c", "commit.gpgsign=false", *args], cwd=tmp_path, check=True,
                              capture_output=True, text=True).stdout.strip()

    source = tmp_path / "src" / "sgd_escape" / "cifar" / "runner.py"
    source.parent.mkdir(parents=True)
    source.write_text("a = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "code")
    head = git("rev-parse", "HEAD")
    (tmp_path / "notes.txt").write_text("not code")                 # outside the experiment code
    assert provenance._git_commit(tmp_path) == (head, "git")
    source.write_text("a = 2\n")
    assert provenance._git_commit(tmp_path) == (head + "+uncommitted-src-changes", "git")


def test_the_relative_difference_divides_by_the_larger_magnitude_either_way_round():
    four, five = a_result(extra=np.array([4.0])), a_result(extra=np.array([5.0]))
    for first, second in ((four, five), (five, four)):
        assert result_differences(first, second)["per_key"]["curve extra"] == {"abs": 1.0, "rel": 0.2}


def test_provenance_names_the_processor_and_the_thread_count_that_did_the_arithmetic():
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        record = provenance.code_and_machine("cpu")
        assert record["cpu_threads"] == 1 and record["device_name"].endswith("1 thread)")
        torch.set_num_threads(2)
        assert provenance.code_and_machine("cpu")["cpu_threads"] == 2
    finally:
        torch.set_num_threads(before)
    assert record["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert isinstance(record["cpu_model"], str) and record["cpu_model"]


def test_a_repository_without_a_commit_names_no_commit(tmp_path, monkeypatch):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)     # `git rev-parse HEAD` prints HEAD, fails
    monkeypatch.delenv(provenance.COMMIT_ENV, raising=False)
    assert provenance._git_commit(tmp_path) == ("unknown", "none")


def test_provenance_keeps_the_command_data_start_and_seconds_it_is_given(monkeypatch):
    import torch

    record = provenance.provenance("python -m sgd_escape run x", "cpu", "synthetic (seed 0)",
                                   "2020-01-02T03:04:05+00:00", 123.456)
    assert (record["command"], record["dataset_source"]) == ("python -m sgd_escape run x", "synthetic (seed 0)")
    assert record["started_utc"] == "2020-01-02T03:04:05+00:00" and record["wall_seconds"] == 123.5
    assert "backend_flags" not in record
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "A GPU")
    gpu = provenance.code_and_machine("cuda")                 # the switches that change GPU numerics
    assert gpu["device_name"] == "A GPU" and gpu["backend_flags"]["probe_cudnn_allow_tf32"] is False


def test_cached_or_none_gives_none_for_what_is_not_cached_and_the_cache_otherwise(tmp_path):
    root = Path(__file__).resolve().parents[1] / "data"
    assert results.cached_or_none("slope-resnet-cifar10", "cpu", root).preset == "cpu"
    assert results.cached_or_none("slope-resnet-cifar10", "reduced", root) is None
    assert results.cached_or_none("slope-resnet-cifar10", None, root) is None
    assert results.cached_or_none("slope-resnet-cifar10", "cpu", tmp_path) is None
