"""The book as a whole: notebooks are clean sources, the build passes, every chapter executes."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import ROOT, chapter_notebooks, toc_files
from site_tools import PAGE_CODE_COLUMNS
from tools.notebook import FOLD_TAG, execute, fold, prose_only_cells, setup_cell_source


def test_every_notebook_is_in_the_table_of_contents():
    listed = set(toc_files())
    for notebook in chapter_notebooks():
        assert f"chapters/{notebook.stem}" in listed, f"{notebook.name} is missing from _toc.yml"


@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(notebook: Path):
    nb = json.loads(notebook.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{notebook.name} has outputs: strip them"
            assert cell.get("execution_count") is None, f"{notebook.name} has execution counts"


@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_code_cells_stay_short(notebook: Path):
    """Cells call the package; more than 15 lines in one cell wants a function or a split."""
    cells = json.loads(notebook.read_text())["cells"]
    long = [(index, len("".join(cell["source"]).split("\n"))) for index, cell in enumerate(cells)
            if cell["cell_type"] == "code" and len("".join(cell["source"]).split("\n")) > 15]
    assert not long, f"{notebook.name}: code cells over 15 lines (index, lines): {long}"


def _fenced_code(text: str) -> list[str]:
    """The fenced code blocks of markdown ``text`` (```bash, ~~~text...), not the fences of
    directives (```{math}), though code blocks inside those count."""
    blocks, open_fences = [], []          # open_fences: (fence, lines of a code block or None)
    for line in text.split("\n"):
        fence = re.match(r"\s*(`{3,}|~{3,})(.*)$", line)
        if fence and open_fences and not fence.group(2).strip() and fence.group(1).startswith(open_fences[-1][0]):
            closed = open_fences.pop()[1]
            blocks += [] if closed is None else ["\n".join(closed)]
        elif open_fences and open_fences[-1][1] is not None:
            open_fences[-1][1].append(line)
        elif fence:
            open_fences.append((fence.group(1), None if fence.group(2).strip().startswith("{") else []))
    return blocks


def _wide_code_lines(document: Path) -> list[str]:
    """The lines of code the site shows for ``document`` (code cells, folded or not, and the
    prose's code blocks) that are wider than ``PAGE_CODE_COLUMNS``."""
    if document.suffix == ".ipynb":
        cells = nbformat.read(str(document), as_version=4).cells
        code = [cell.source for cell in cells if cell.cell_type == "code"
                and "remove-cell" not in cell.metadata.get("tags", [])]
        prose = [cell.source for cell in cells if cell.cell_type == "markdown"]
    else:
        code, prose = [], [document.read_text()]
    code += [block for text in prose for block in _fenced_code(text)]
    return [f"{len(line)}: {line}" for block in code for line in block.split("\n")
            if len(line) > PAGE_CODE_COLUMNS]


@pytest.mark.parametrize("document", sorted([*chapter_notebooks(), *(ROOT / "chapters").glob("*.md")]),
                         ids=lambda p: p.name)
def test_code_lines_fit_the_page(document: Path):
    """No reader scrolls sideways through code: every line is at most PAGE_CODE_COLUMNS wide."""
    wide = _wide_code_lines(document)
    assert not wide, f"{document.name}: {len(wide)} code lines wider than {PAGE_CODE_COLUMNS}: {wide[:5]}"


def test_wide_code_lines_are_found_in_cells_and_in_code_blocks(tmp_path: Path):
    narrow, wide = "x = 1", "x = " + "1" * PAGE_CODE_COLUMNS
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(wide, metadata={"tags": ["remove-cell"]}),   # not on the site
        nbformat.v4.new_code_cell(f"{narrow}\n{wide}", metadata={"tags": [FOLD_TAG]}),
        nbformat.v4.new_markdown_cell(f"```{{math}}\n{wide}\n```\n{wide}\n```bash\n{wide}\n```\n\n"
                                      f"````{{prf:remark}}\n{wide}\n```text\n{narrow}\n```\n````")])
    nbformat.write(notebook, str(tmp_path / "chapter.ipynb"))
    assert _wide_code_lines(tmp_path / "chapter.ipynb") == [f"{len(wide)}: {wide}"] * 2
    (tmp_path / "page.md").write_text(f"Text {wide}\n\n~~~text\n{narrow}\n~~~\n")
    assert _wide_code_lines(tmp_path / "page.md") == []


@pytest.mark.slow
@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_printed_output_fits_the_page(built_book: Path, notebook: Path):
    """What a cell prints (stdout, a plain-text result) is at most PAGE_CODE_COLUMNS wide too."""
    executed = nbformat.read(str(built_book.parent / "jupyter_execute" / "chapters" / notebook.name), 4)
    printed = []
    for cell in executed.cells:
        if cell.cell_type != "code" or {"remove-cell", "remove-output"} & set(cell.metadata.get("tags", [])):
            continue
        for output in cell.get("outputs", []):
            if output.get("name") == "stdout":
                printed += output["text"].split("\n")
            elif set(output.get("data", {})) == {"text/plain"}:
                printed += output["data"]["text/plain"].split("\n")
    wide = [f"{len(line)}: {line}" for line in printed if len(line) > PAGE_CODE_COLUMNS]
    assert not wide, f"{notebook.name}: printed lines wider than {PAGE_CODE_COLUMNS}: {wide[:5]}"


@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_first_cell_is_the_standard_colab_setup_cell(notebook: Path):
    first = json.loads(notebook.read_text())["cells"][0]
    assert "".join(first["source"]) == setup_cell_source()
    assert "remove-cell" in first["metadata"].get("tags", []), "the setup cell must be hidden on the site"


@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_setup_cell_clones_the_configured_repository(notebook: Path):
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    source = "".join(json.loads(notebook.read_text())["cells"][0]["source"])
    assert re.search(r'REPOSITORY, FOLDER = "([^"]+)"', source).group(1) == url


@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_no_sys_path_edits(notebook: Path):
    assert "sys.path" not in notebook.read_text()


@pytest.mark.slow
def test_book_builds_without_warnings(built_book: Path):
    assert (built_book / "index.html").exists()


@pytest.mark.slow
@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_chapter_executed_without_error(built_book: Path, notebook: Path):
    """The build executed the chapter in a fresh kernel; it left no error report and a page."""
    report = built_book / "reports" / "chapters" / f"{notebook.stem}.err.log"
    assert not report.exists(), report.read_text()[-3000:]
    page = (built_book / "chapters" / f"{notebook.stem}.html").read_text()
    assert "Traceback (most recent call last)" not in page


_GLUED = nbformat.v4.new_output("display_data", data={"application/papermill.record/text/plain": "1"})
_PRINTED = nbformat.v4.new_output("stream", name="stdout", text="1\n")
_PROGRESS = nbformat.v4.new_output("stream", name="stderr", text="50%\n")    # removed on the site


def _executed(*cells: tuple[str, list]):
    """A notebook as the build leaves it: code cells (source, outputs)."""
    notebook = nbformat.v4.new_notebook()
    for source, outputs in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.outputs = outputs
        notebook.cells.append(cell)
    return notebook


def test_prose_only_cells_are_silent_glue_cells_that_no_shown_cell_reads():
    executed = _executed(
        ("a = 1\nglue('a', a)", [_GLUED]),                 # 0: prose only
        ("b = 2\nglue('b', b)", [_GLUED, _PROGRESS]),      # 1: silent, but cell 2 shows b
        ("print(b)", [_PRINTED]),
        ("c = 3\nglue('c', c)\nprint(c)", [_PRINTED]),    # 3: shows an output
        ("d = 4", []),                                     # 4: no glue
        ("e = d + 1\nglue('e', e)", []),                   # 5: prose only (reading is fine)
        ("f = 5\nglue('f', f)", []),                       # 6: read by 7, which cell 8 shows
        ("g = f\nglue('g', g)", []),
        ("print(g)", [_PRINTED]),
        ("a = 0", []),                                     # 9: cell 10 reads this a, not cell 0's
        ("print(a)", [_PRINTED]),
        ("glue_numbers('p', {'q': 1})", [_GLUED]),         # 11: prose only
    )
    assert prose_only_cells(executed) == [0, 5, 11]


def test_fold_tags_exactly_the_prose_only_cells_and_keeps_other_tags(tmp_path: Path):
    executed = _executed(("x = 1\nglue('x', x)", [_GLUED]), ("y = 2\nglue('y', y)", [_GLUED]))
    source = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c.source) for c in executed.cells])
    for cell, copy in zip(source.cells, executed.cells):
        copy.id = cell.id
    source.cells[0].metadata["tags"] = ["full-width"]          # any other tag stays
    source.cells[1].metadata["tags"] = [FOLD_TAG]
    (tmp_path / "built").mkdir()
    executed.cells[1].outputs = [_PRINTED]                    # cell 1 now shows something
    nbformat.write(executed, str(tmp_path / "built" / "ch.ipynb"))
    nbformat.write(source, str(tmp_path / "ch.ipynb"))
    assert fold(tmp_path / "ch.ipynb", tmp_path / "built") == [source.cells[0].id]
    tags = [cell.metadata.get("tags") for cell in nbformat.read(str(tmp_path / "ch.ipynb"), 4).cells]
    assert tags == [["full-width", FOLD_TAG], None]


def test_fold_refuses_an_executed_copy_of_other_cells(tmp_path: Path):
    nbformat.write(_executed(("x = 1", [])), str(tmp_path / "ch.ipynb"))
    (tmp_path / "built").mkdir()
    nbformat.write(_executed(("x = 1", []), ("y = 2", [])), str(tmp_path / "built" / "ch.ipynb"))
    with pytest.raises(ValueError, match="executed_dir must"):
        fold(tmp_path / "ch.ipynb", tmp_path / "built")


def test_fold_runs_a_chapter_and_folds_the_cell_that_only_glues(tmp_path: Path):
    """``execute`` keeps what a cell prints beside its glue records (the build's cached copy
    does not), so a cell that prints and glues stays shown."""
    cells = ["from sgd_escape.book import glue", "glue('x', 1)", "print('shown')\nglue('y', 2)",
             "import os\nassert os.environ['SGD_ESCAPE_STATIC'] == '1'   # as in the build"]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]),
                   str(tmp_path / "ch.ipynb"))
    (tmp_path / "executed").mkdir()
    execute(tmp_path / "ch.ipynb", tmp_path / "executed")
    outputs = nbformat.read(str(tmp_path / "executed" / "ch.ipynb"), 4).cells[2].outputs
    assert [output.get("name") for output in outputs] == ["stdout", None]   # printed, then glued
    folded = fold(tmp_path / "ch.ipynb", tmp_path / "executed")
    assert folded == [nbformat.read(str(tmp_path / "ch.ipynb"), 4).cells[1].id]


@pytest.mark.slow
@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_folded_cells_are_the_prose_only_cells(built_book: Path, notebook: Path):
    """The site folds a cell exactly when its work shows only as glued numbers: never the code
    of a shown output, nor a name a shown cell reads."""
    executed = nbformat.read(str(built_book.parent / "jupyter_execute" / "chapters" / notebook.name), 4)
    source = nbformat.read(str(notebook), 4)
    folded = [cell.get("id") for cell in source.cells if FOLD_TAG in cell.metadata.get("tags", [])]
    expected = [executed.cells[index].get("id") for index in prose_only_cells(executed)]
    assert folded == expected, f"run `python -m tools.notebook fold {notebook.relative_to(ROOT)}`"


def _markdown(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _paper_names() -> dict[str, str]:
    """Label -> the paper's name for it ("Theorem 1"), from each block's title "...; the paper's X"."""
    names = {}
    for notebook in chapter_notebooks():
        for title, label in re.findall(r"```\{prf:\w+\}([^\n]*)\n:label: ([\w-]+)", _markdown(notebook)):
            found = re.search(r"the paper's (informal )?(\w+ \d+)", title, re.IGNORECASE)
            if found:
                names[label] = found.group(2) + (" (informal)" if found.group(1) else "")
    return names


@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_links_to_the_papers_results_use_the_papers_numbers(notebook: Path):
    """The intro promises that "Theorem 1" in the prose is the paper's; a bare {prf:ref} would
    render the book's number ("Theorem 2.2") instead."""
    names = _paper_names()
    assert {"assumption-main", "theorem-main", "lemma-5"} <= set(names)
    for link in re.findall(r"\{prf:ref\}`([^`]+)`", _markdown(notebook)):
        text, label = re.fullmatch(r"(?:(.*) <)?([\w-]+)>?", link).groups()
        if label in names:
            assert text == names[label], f"{notebook.name}: write {{prf:ref}}`{names[label]} <{label}>`, not `{link}`"



_DIRECTIVE = re.compile(r"^:::\{(exercise|solution-start|solution-end)\}[ \t]*(\S*)\n((?::[\w-]+:.*\n)*)", re.M)


def _exercise_directives(notebook: Path) -> tuple[list[tuple[str, str, str]], str]:
    """The chapter's exercise and solution directives in order, as (kind, label, options), the
    label of an exercise taken from its ``:label:``; and the text of all its cells, joined."""
    text = "\n".join("".join(cell["source"]) + "\n" for cell in json.loads(notebook.read_text())["cells"])
    directives = []
    for match in _DIRECTIVE.finditer(text):
        kind, label, options = match.groups()
        if kind == "exercise":
            label = re.search(r":label: (\S+)", options).group(1)
        directives.append((kind, label, options))
    return directives, text


@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_every_exercise_is_followed_by_its_folded_worked_solution(notebook: Path):
    """Exercise N.K (label ``chN-exK``, in order) is followed at once by its solution: a
    dropdown, closed before the next exercise, with a real answer in it."""
    chapter = int(re.match(r"ch0*(\d+)_", notebook.stem).group(1))
    directives, text = _exercise_directives(notebook)
    count = sum(kind == "exercise" for kind, _, _ in directives)
    assert count >= 3, f"{notebook.name} has {count} exercises"
    for k in range(1, count + 1):
        label = f"ch{chapter}-ex{k}"
        exercise, start, end = (directives[3 * (k - 1):3 * k] + [("nothing", "", "")] * 3)[:3]
        assert exercise[:2] == ("exercise", label), f"exercise {k} should be labelled {label}, got {exercise[:2]}"
        assert start[:2] == ("solution-start", label), f"{label}: its solution must follow it, got {start[:2]}"
        assert ":class: dropdown" in start[2], f"{label}: the solution must be folded (:class: dropdown)"
        assert end[0] == "solution-end", f"{label}: the solution must be closed before what follows"
        answer = text.split(f":::{{solution-start}} {label}", 1)[1].split(":::{solution-end}", 1)[0]
        words = re.sub(r"^:.*$", "", answer, flags=re.M).split()
        assert len(words) >= 30, f"{label}: the solution is nearly empty ({len(words)} words)"
    assert len(directives) == 3 * count, f"{notebook.name}: stray exercise or solution directives"


# "at most {glue:text}`key:.2f`", "$c(y) \ge$ {glue:text}`key:.3f`" and the like: a glued number
# printed as the bound of an observed range. Where the phrase reads "at most $\eta r =$ ..." the
# glue is an equality, not a bound.
_BOUND = re.compile(r"(at most|within|up to|never exceeds|stays below|at least|fewer than|less than|more than)"
                    r"\s+(\$[^$]*\$\s*)?\{glue:text\}`(\w+):([^`]+)`")
_MATH_BOUND = re.compile(r"\$[^$]*(\\le|\\leq|\\ge|\\geq)\s*\$\s*\{glue:text\}`(\w+):([^`]+)`")
_UPPER = ("at most", "within", "up to", "never exceeds", "stays below", "fewer than", "less than", r"\le", r"\leq")


def _printed_bounds(notebook: Path) -> list[tuple[str, str, str]]:
    """(phrase, key, format spec) of every numeric glue the prose states as a bound."""
    text = _markdown(notebook)
    worded = [(phrase, key, spec) for phrase, formula, key, spec in _BOUND.findall(text)
              if not formula.rstrip().rstrip("$").rstrip().endswith("=")]
    return worded + _MATH_BOUND.findall(text)


@pytest.mark.slow
@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_bounds_printed_from_glued_numbers_hold(built_book: Path, notebook: Path):
    """Rounding to the nearest can make "at most 0.1" of 0.1027 false: such a bound must be
    rounded outward (``book.bound_text``), which this checks against the unrounded value."""
    glue_file = built_book.parent / "jupyter_execute" / "chapters" / f"{notebook.stem}.glue.json"
    assert glue_file.exists(), f"the build wrote no {glue_file.name}"
    glued = {key: output["data"]["text/plain"] for key, output in json.loads(glue_file.read_text()).items()}
    for phrase, key, spec in _printed_bounds(notebook):
        value = float(glued[key])                   # book.glue stores plain Python numbers
        shown = format(value, spec)
        printed = float(shown.rstrip("%")) / (100 if shown.endswith("%") else 1)
        holds = printed >= value if phrase in _UPPER else printed <= value
        holds = holds or math.isclose(printed, value, rel_tol=1e-12) or math.isnan(value)   # 10.000000000000002 is 10
        assert holds, f"{notebook.name}: '{phrase} {shown}' is false for {key} = {value!r}: glue bound_text instead"
