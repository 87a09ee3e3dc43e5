"""Shared fixtures: the book is built once per test session and inspected by many tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"


def toc_files() -> list[str]:
    """Every document of the table of contents, as paths relative to the root, no suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [entry["file"] for entry in part.get("chapters", [])]
    return files


def chapter_notebooks() -> list[Path]:
    return sorted(CHAPTERS.glob("*.ipynb"))


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the website with warnings as errors, executing every chapter afresh.

    The execution cache keys on a notebook's cells only and cannot see changes in
    ``src/``, so the cache is cleared first: every chapter runs in a fresh kernel.
    """
    # SGD_ESCAPE_BUILD_DIR lets several builds run side by side (default: the repository).
    output = Path(os.environ.get("SGD_ESCAPE_BUILD_DIR", ROOT))
    for stale in ("_build/.jupyter_cache", "_build/html/reports"):
        shutil.rmtree(output / stale, ignore_errors=True)
    env = dict(os.environ, SGD_ESCAPE_STATIC="1")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "--path-output", str(output),
         "--all", "-W", "-n", "--keep-going"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    log = result.stdout + result.stderr
    (output / "_build").mkdir(parents=True, exist_ok=True)
    (output / "_build" / "build.log").write_text(log)
    if result.returncode != 0:
        pytest.fail(f"jupyter-book build failed (see {output}/_build/build.log):\n" + log[-6000:])
    return output / "_build" / "html"
