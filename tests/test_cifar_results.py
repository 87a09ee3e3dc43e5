"""Cached results: provenance where git is missing, and comparing two runs (Chapter 4)."""
from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sgd_escape.cifar import results
from sgd_escape.cifar.results import CachedResult, result_differences


def a_result(**curves) -> CachedResult:
    return CachedResult("fig5-resnet-cifar10", "smoke", {}, {"count": 3, "flags": [True, False]},
                        {}, {"inner_raw": np.array([1.0, -2.0, 0.0]), **curves}, Path("."))


def test_commit_comes_from_git_inside_a_clone():
    commit, source = results._git_commit(Path(__file__).resolve().parents[1])
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).parent).stdout.strip()
    assert source == "git" and commit.startswith(head)


def test_commit_falls_back_to_the_environment_without_git(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "no-repository"))      # git finds no repository
    monkeypatch.setenv(results.COMMIT_ENV, "0123abc")
    assert results._git_commit(tmp_path) == ("0123abc", f"${results.COMMIT_ENV} (no git repository where it ran)")
    monkeypatch.delenv(results.COMMIT_ENV)
    assert results._git_commit(tmp_path) == ("unknown", "none")


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
    (dict(preset="mini"), "one experiment and preset"),
    (dict(curves={"inner_raw": np.zeros(4)}), "shape"),
    (dict(curves={}), "second result lacks curve inner_raw"),
])
def test_results_that_cannot_be_compared_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        result_differences(a_result(), dataclasses.replace(a_result(), **change))
