"""Write a chapter notebook from a list of cells, with the book's standard Colab setup cell.

Chapters are ``.ipynb`` files committed without outputs. Authors may edit them in Jupyter
(then strip outputs) or generate them with this module:

    from tools.notebook import code, markdown, write_chapter
    write_chapter("chapters/ch01_motivating_example.ipynb", [markdown("# Title"), code("1 + 1")])

``python -m tools.notebook strip chapters/*.ipynb`` removes outputs and execution counts;
``python -m tools.notebook fold chapters/*.ipynb`` runs each chapter and folds on the site the
cells whose work reaches the reader only as numbers in the text (see ``prose_only_cells``).
"""
from __future__ import annotations

import ast
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
FOLD_TAG = "hide-input"          # myst-nb shows a toggle in place of the cell's source
GLUE_RECORD = "application/papermill.record/"   # glue(..., display=False) output: never shown
GLUE_CALL = re.compile(r"\bglue(_numbers)?\(")   # sgd_escape.book.glue, glue_numbers


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


def _shown_outputs(cell) -> list:
    """The outputs the site shows: not glue records, not stderr (``_config.yml`` removes it)."""
    return [output for output in cell.get("outputs", [])
            if not (output.get("output_type") == "stream" and output.get("name") == "stderr")
            and not (output.get("data") and all(key.startswith(GLUE_RECORD) for key in output["data"]))]


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names the cell defines, names it reads without defining them itself)."""
    from IPython.core.inputtransformer2 import TransformerManager   # cells may hold magics

    tree = ast.parse(TransformerManager().transform_cell(source))
    defined, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
    return defined, read - defined


def prose_only_cells(executed) -> list[int]:
    """Indices of the code cells of an executed chapter whose work reaches the reader only as
    numbers glued into the text: each calls ``glue``, shows no output, and defines no name that
    a shown cell reads. The site folds their source (``FOLD_TAG``), so that the page reads as
    prose, experiments and figures; Colab and Jupyter show every cell."""
    cells = {index: cell for index, cell in enumerate(executed.cells) if cell.cell_type == "code"
             and "remove-cell" not in cell.metadata.get("tags", [])}
    names = {index: _names(cell.source) for index, cell in cells.items()}
    folded = {index for index, cell in cells.items()
              if GLUE_CALL.search(cell.source) and not _shown_outputs(cell)}
    changed = True
    while changed:                   # a cell read by a cell that stays shown stays shown too
        definer, feeds_shown = {}, set()
        for index in cells:
            defined, read = names[index]
            if index not in folded:
                feeds_shown.update(definer[name] for name in read if definer.get(name) in folded)
            definer.update(dict.fromkeys(defined, index))
        changed = bool(feeds_shown)
        folded -= feeds_shown
    return sorted(folded)


def execute(path: str | Path, executed_dir: Path) -> None:
    """Run chapter ``path`` in a fresh kernel, as the book build does (in its folder, with
    SGD_ESCAPE_STATIC=1), and write the executed copy into ``executed_dir``.

    Not the build's own copy in ``_build/jupyter_execute``: where the build takes a chapter
    from its execution cache, that copy loses the printed outputs of cells that also glue."""
    from nbclient import NotebookClient

    path = Path(path)
    notebook = nbformat.read(str(path), as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute(
        env=dict(os.environ, SGD_ESCAPE_STATIC="1"))     # the kernel's environment
    nbformat.write(notebook, str(Path(executed_dir) / path.name))


def fold(path: str | Path, executed_dir: Path) -> list[str]:
    """Tag exactly the prose-only cells of chapter ``path`` with ``FOLD_TAG``, reading its
    executed copy in ``executed_dir`` (``execute``); returns the ids of the cells it folds."""
    path = Path(path)
    source = nbformat.read(str(path), as_version=4)
    executed = nbformat.read(str(executed_dir / path.name), as_version=4)
    if [cell.get("id") for cell in source.cells] != [cell.get("id") for cell in executed.cells]:
        raise ValueError(f"executed_dir must hold an executed copy of {path.name} as it is now: run it again")
    folded = set(prose_only_cells(executed))
    for index, cell in enumerate(source.cells):
        tags = [tag for tag in cell.metadata.get("tags", []) if tag != FOLD_TAG]
        tags += [FOLD_TAG] if index in folded else []
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
    nbformat.write(source, str(path))
    return [source.cells[index].get("id") for index in sorted(folded)]


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
    elif len(sys.argv) >= 3 and sys.argv[1] == "fold":
        with tempfile.TemporaryDirectory() as executed:
            for name in sys.argv[2:]:
                execute(name, Path(executed))
                print(f"{name}: folded {len(fold(name, Path(executed)))} cells")
    else:
        sys.exit("usage: python -m tools.notebook strip|fold NOTEBOOK...")
