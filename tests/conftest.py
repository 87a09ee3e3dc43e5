"""Shared fixtures: the book is built once per test session and inspected by many tests."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"

# Under pytest-xdist, two workers share the machine's cores (CI has two): one thread each for
# torch and for what they start (notebook kernels, the book build), instead of every process
# taking every core and slowing the others down.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    if "torch" in sys.modules:                      # imported before this file: tell it directly
        sys.modules["torch"].set_num_threads(1)


def toc_files() -> list[str]:
    """Every document of the table of contents, as paths relative to the root, no suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [entry["file"] for entry in part.get("chapters", [])]
    return files


def chapter_notebooks() -> list[Path]:
    return sorted(CHAPTERS.glob("*.ipynb"))


# What the figure probe (tests/figure_probe.py) measured in the build: a JSON line per figure.
FIGURE_PROBE = Path("_build") / "figure-probe.jsonl"

_PROBE_STARTUP = """\
# Written by tests/conftest.py for the tests' book build: measures every figure a chapter shows.
import importlib.util as _util
_spec = _util.spec_from_file_location("sgd_escape_figure_probe", {probe!r})
_probe = _util.module_from_spec(_spec)
_spec.loader.exec_module(_probe)
_probe.install()
del _util, _spec, _probe
"""


def _probe_environment(output: Path) -> dict[str, str]:
    """Environment for the build's notebook kernels: an IPython directory whose start-up file
    installs the figure probe, which appends to ``output/FIGURE_PROBE`` (emptied here)."""
    ipython_dir = output / "_build" / "ipython-probe"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    probe = Path(__file__).with_name("figure_probe.py")
    (startup / "00-figure-probe.py").write_text(_PROBE_STARTUP.format(probe=str(probe)))
    record = output / FIGURE_PROBE
    record.unlink(missing_ok=True)
    return {"IPYTHONDIR": str(ipython_dir), "SGD_ESCAPE_FIGURE_PROBE": str(record)}


def _build_book(output: Path) -> tuple[int, str]:
    """Run the book build into ``output/_build``; return its exit code and log."""
    for stale in ("_build/.jupyter_cache", "_build/html/reports"):
        shutil.rmtree(output / stale, ignore_errors=True)
    env = dict(os.environ, SGD_ESCAPE_STATIC="1", **_probe_environment(output))
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "--path-output", str(output),
         "--all", "-W", "-n", "--keep-going"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    log = result.stdout + result.stderr
    (output / "_build").mkdir(parents=True, exist_ok=True)
    (output / "_build" / "build.log").write_text(log)
    return result.returncode, log


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the website with warnings as errors, executing every chapter afresh.

    The execution cache keys on a notebook's cells only and cannot see changes in
    ``src/``, so the cache is cleared first: every chapter runs in a fresh kernel.

    Built once per test run, also when pytest-xdist spreads the tests over several
    processes (``make test`` does): the first process to need the site builds it under a
    file lock and records the result for this run; the others wait and reuse it.
    """
    # For a quick loop on the site checks only: SGD_ESCAPE_PREBUILT_SITE=<a built _build/html>
    # checks that site as it is, without building (never set in `make test` or CI).
    prebuilt = os.environ.get("SGD_ESCAPE_PREBUILT_SITE")
    if prebuilt:
        assert (Path(prebuilt) / "index.html").exists(), f"{prebuilt} is not a built site"
        return Path(prebuilt)
    # SGD_ESCAPE_BUILD_DIR lets several builds run side by side (default: the repository).
    output = Path(os.environ.get("SGD_ESCAPE_BUILD_DIR", ROOT))
    (output / "_build").mkdir(parents=True, exist_ok=True)
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # set by pytest-xdist in its workers
    if run is None:
        returncode, log = _build_book(output)
    else:
        from filelock import FileLock

        record = output / "_build" / ".built_book.json"
        with FileLock(str(output / "_build" / ".built_book.lock")):
            done = json.loads(record.read_text()) if record.exists() else {}
            if done.get("run") == run:
                returncode = done["returncode"]
                log = (output / "_build" / "build.log").read_text()
            else:
                returncode, log = _build_book(output)
                record.write_text(json.dumps({"run": run, "returncode": returncode}))
    if returncode != 0:
        pytest.fail(f"jupyter-book build failed (see {output}/_build/build.log):\n" + log[-6000:])
    return output / "_build" / "html"
