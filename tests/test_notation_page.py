"""The Notation page: in the book, and every symbol it lists points to where it is defined."""
from __future__ import annotations

import re

from conftest import ROOT, toc_files

NOTATION = ROOT / "chapters" / "notation.md"
CROSS_REFERENCE = re.compile(r"\{(?:ref|numref|eq|prf:ref)\}`[^`]+`")


def symbol_rows(text: str) -> list[list[str]]:
    """The cells of each row of the page's symbol tables (header and rule rows left out)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith(("| symbol", "| ---")):
            continue
        rows.append([cell.strip() for cell in re.split(r" \| ", line.strip("| "))])
    return rows


def test_notation_page_is_in_the_book():
    assert "chapters/notation" in toc_files()


def test_every_symbol_row_says_where_it_is_defined():
    rows = symbol_rows(NOTATION.read_text())
    assert len(rows) >= 50, f"only {len(rows)} symbols listed"
    for row in rows:
        assert len(row) == 3, f"row {row[0]!r} has {len(row)} cells, not 3 (a bare | in math?)"
        assert CROSS_REFERENCE.search(row[2]), f"row {row[0]!r} links to no definition"


def test_a_row_without_a_link_is_caught():
    rows = symbol_rows("| symbol | meaning | defined in |\n| --- | --- | --- |\n| $x$ | a point | Chapter 1 |\n")
    assert rows == [["$x$", "a point", "Chapter 1"]]
    assert not CROSS_REFERENCE.search(rows[0][2])
