"""Citing the book: CITATION.cff validates, and the BibTeX on the "How to cite" page, in the
README and in references.bib agree with each other and with the book's configuration."""
from __future__ import annotations

import copy
import json
import re

import jsonschema
import pytest
import yaml

from conftest import ROOT, toc_files

# The Citation File Format 1.2.0 schema, as shipped in the PyPI package cffconvert 2.0.0
# (cffconvert/schemas/1.2.0/schema.json); cffconvert itself pins jsonschema<4, which the
# book's toolchain cannot use, so the schema is validated here with jsonschema directly.
SCHEMA = json.loads((ROOT / "tests" / "data" / "citation-cff-1.2.0.schema.json").read_text())
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
HOW_TO_CITE = ROOT / "chapters" / "how_to_cite.md"


def _cff() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def _validate(data: dict) -> None:
    jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(data)


def _bibtex_entries(text: str) -> dict[str, dict[str, str]]:
    """key -> {field: value} of each BibTeX entry in ``text`` (a value may go on over several
    lines, which count as one space; braces nest two levels deep)."""
    entries = {}
    for match in re.finditer(r"@(\w+)\{([^,\s]+),\n(.*?)\n\}", text, re.S):
        fields = re.findall(r"^\s*(\w+)\s*=\s*\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\},?[ \t]*$",
                            match.group(3), re.M)
        entries[match.group(2)] = {"type": match.group(1).lower(),
                                   **{name: " ".join(value.split()) for name, value in fields}}
    return entries


def _plain(title: str) -> str:
    return " ".join(title.replace("{", "").replace("}", "").split()).lower()


def test_citation_cff_validates_against_the_schema():
    _validate(_cff())


def test_schema_check_rejects_an_invalid_file():
    """The validation above has teeth: a file without authors, or with a misspelt key, fails."""
    for broken in ({k: v for k, v in _cff().items() if k != "authors"}, {**_cff(), "titel": "x"}):
        with pytest.raises(jsonschema.ValidationError):
            _validate(broken)
    bad_date = copy.deepcopy(_cff())
    bad_date["date-released"] = "23 November 2026"
    with pytest.raises(jsonschema.ValidationError):
        _validate(bad_date)


def test_citation_cff_agrees_with_the_book():
    cff = _cff()
    assert cff["title"] == CONFIG["title"]
    readme = (ROOT / "README.md").read_text()
    assert readme.splitlines()[0] == f"# {CONFIG['title']}"
    book = _bibtex_entries(readme)["sgd_escape_book"]["title"]
    assert book.replace("{", "").replace("}", "") == CONFIG["title"]      # the same words, the same case
    assert cff["repository-code"] == CONFIG["repository"]["url"]
    version = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert str(cff["version"]) == version.group(1)
    paper = [ref for ref in cff.get("references", []) if ref["type"] == "conference-paper"]
    assert len(paper) == 1
    bib = _bibtex_entries((ROOT / "references.bib").read_text())["kleinberg2018alternative"]
    assert _plain(paper[0]["title"]) == _plain(bib["title"])
    assert f"{paper[0]['start']}--{paper[0]['end']}" == bib["pages"]
    assert paper[0]["url"] == bib["url"]


def test_how_to_cite_page_is_in_the_book():
    assert "chapters/how_to_cite" in toc_files()
    assert HOW_TO_CITE.read_text().startswith("(how-to-cite)=\n# How to cite")


def test_how_to_cite_gives_the_papers_bibtex_as_in_references_bib():
    page = _bibtex_entries(HOW_TO_CITE.read_text())
    bib = _bibtex_entries((ROOT / "references.bib").read_text())
    assert page["kleinberg2018alternative"] == bib["kleinberg2018alternative"]


def test_book_bibtex_agrees_everywhere():
    """The book's BibTeX on the page equals the README's, and matches CITATION.cff."""
    page = _bibtex_entries(HOW_TO_CITE.read_text())["sgd_escape_book"]
    readme = _bibtex_entries((ROOT / "README.md").read_text())
    assert readme.get("sgd_escape_book") == page, "README's 'How to cite' BibTeX differs from the page's"
    cff = _cff()
    assert _plain(page["title"]) == _plain(cff["title"])
    assert page["url"] == cff["repository-code"]
    assert page["year"] == str(cff["date-released"])[:4]
    assert page["author"].strip("{}") == cff["authors"][0]["name"]


def test_readme_says_how_to_cite():
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^#+ How to cite", readme, re.M), "the README has no 'How to cite' section"
