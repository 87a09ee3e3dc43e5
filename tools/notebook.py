"""Write a chapter notebook from a list of cells, with the book's standard Colab setup cell.

Chapters are ``.ipynb`` files committed without outputs. Authors may edit them in Jupyter
(then strip outputs) or generate them with this module:

    from tools.notebook import code, markdown, write_chapter
    write_chapter("chapters/ch01_motivating_example.ipynb", [markdown("# Title"), code("1 + 1")])

``python -m tools.notebook strip chapters/*.ipynb`` removes outputs and execution counts.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]


def repository_url() -> str:
    """The repository URL from ``_config.yml`` (the single source of truth)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["repository"]["url"]


def setup_cell_source() -> str:
    """Source of the first cell of every chapter: in Colab only, clone and pip-install the book."""
    url = repository_url()
    folder = "/content/" + url.rstrip("/").split("/")[-1]
    return (
        "# Colab only: fetch this book's repository and install its package `sgd_escape`.\n"
        "# Elsewhere (the website, Jupyter, the tests) this cell does nothing.\n"
        "import os, sys\n"
        'if "google.colab" in sys.modules:\n'
        f'    REPOSITORY, FOLDER = "{url}", "{folder}"\n'
        "    if not os.path.isdir(FOLDER):\n"
        "        !git clone --depth 1 {REPOSITORY} {FOLDER}\n"
        "    %pip install --quiet {FOLDER}\n"
        '    os.chdir(FOLDER + "/chapters")'
    )


def markdown(source: str):
    return nbformat.v4.new_markdown_cell(source.strip("\n"))


def code(source: str, tags: tuple[str, ...] = (), alt: str | None = None,
         caption: str | None = None, label: str | None = None):
    """A code cell. A cell that draws a figure gives ``alt`` text (read by screen readers and
    checked by the site tests); ``caption`` and ``label`` make it a numbered, referable figure."""
    cell = nbformat.v4.new_code_cell(source.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    if alt:
        cell.metadata.setdefault("mystnb", {})["image"] = {"alt": alt}
    if caption:
        figure = {"caption": caption}
        if label:
            figure["name"] = label
        cell.metadata.setdefault("mystnb", {})["figure"] = figure
    return cell


def write_chapter(path: str | Path, cells: list) -> None:
    """Write ``cells`` after the standard setup cell (hidden on the site) to ``path``."""
    setup = code(setup_cell_source(), tags=("remove-cell",))
    nb = nbformat.v4.new_notebook(cells=[setup, *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, str(path))


def strip_outputs(path: str | Path) -> None:
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, str(path))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "strip":
        for name in sys.argv[2:]:
            strip_outputs(name)
    else:
        sys.exit("usage: python -m tools.notebook strip NOTEBOOK...")
