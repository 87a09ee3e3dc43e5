"""Helpers of the website tests (tests/test_site*.py): the pages of the table of contents,
the labels the sources define, and a parsed view of the built HTML.

Everything here is derived from ``_toc.yml`` and the chapter sources, so the checks cover
each chapter as soon as it is listed in the table of contents.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from bs4 import BeautifulSoup

from conftest import ROOT, toc_files

#: Sphinx-proof directive names whose blocks are numbered ("Theorem 2.1"); `proof` is not.
PROOF_TYPES = {
    "algorithm", "assumption", "axiom", "conjecture", "corollary", "criterion", "definition",
    "example", "lemma", "observation", "property", "proposition", "remark", "theorem",
}

#: The width a wide figure is shown at, at the browser test's 1280-pixel window (CSS pixels; wider
#: PNGs are scaled down): in the text, and inside an opened exercise solution (a dropdown, whose
#: padding narrows the column). ``test_figure_layout`` sizes text on the page with them, and
#: ``test_site_browser`` checks that the site still shows figures at least this wide.
PAGE_FIGURE_PX = 672
SOLUTION_FIGURE_PX = 621

#: The most characters a line of code or printed output may have: PEP 8's 79, which the site's
#: code font (0.8rem, ``_ext/static/book.css``) fits at the browser test's 1280-pixel window even
#: in the narrowest place, a folded cell inside an opened exercise solution. Wider lines would
#: make the reader scroll sideways (``test_site_browser`` checks the rendered pages).
PAGE_CODE_COLUMNS = 79

_LABEL = re.compile(r"^\(([A-Za-z0-9_.:-]+)\)=\s*$", re.M)
_PRF = re.compile(r"^\s*(`{3,}|:{3,})\{prf:([a-z]+)\}[^\n]*\n((?:\s*:[\w-]+:[^\n]*\n)*)", re.M)
_EQ_LABEL = re.compile(r"\$\$\s*\(([A-Za-z0-9_.:-]+)\)\s*$", re.M)
_MATH_LABEL = re.compile(r"^\s*(?:`{3,}|:{3,})\{math\}[^\n]*\n((?:\s*:[\w-]+:[^\n]*\n)*)", re.M)
_CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


def source_path(doc: str) -> Path:
    """The source file of a table-of-contents entry (``chapters/ch01_x`` -> ``.ipynb`` or ``.md``)."""
    for suffix in (".ipynb", ".md"):
        path = ROOT / f"{doc}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(f"no source for {doc} in _toc.yml")


def html_page(doc: str) -> str:
    """Path of the built page of a table-of-contents entry, relative to the site root."""
    return f"{doc}.html"


def toc_notebooks() -> list[str]:
    return [doc for doc in toc_files() if source_path(doc).suffix == ".ipynb"]


def markdown_text(path: Path) -> str:
    """The markdown of a page: a .md file, or a notebook's markdown cells joined."""
    if path.suffix == ".md":
        return path.read_text()
    cells = json.loads(path.read_text())["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


@dataclass
class Labels:
    """Targets a page defines in its source: each must become an ``id`` in its HTML."""

    sections: list[str] = field(default_factory=list)      # (label)=
    proofs: dict[str, tuple[str, bool]] = field(default_factory=dict)  # label -> (type, numbered)
    figures: list[str] = field(default_factory=list)       # mystnb.figure.name
    equations: list[str] = field(default_factory=list)     # $$ ... $$ (label)

    def html_ids(self) -> dict[str, str]:
        """label -> the HTML id that carries it (Sphinx prefixes equation ids with 'equation-')."""
        ids = {label: label for label in [*self.sections, *self.proofs, *self.figures]}
        ids.update({label: f"equation-{label}" for label in self.equations})
        return ids


def labels_of(doc: str) -> Labels:
    path = source_path(doc)
    text = markdown_text(path)
    labels = Labels(sections=_LABEL.findall(text), equations=_EQ_LABEL.findall(text))
    for options in _MATH_LABEL.findall(text):
        label = re.search(r":label:[ \t]*(\S+)", options)
        if label:
            labels.equations.append(label.group(1))
    for _fence, kind, options in _PRF.findall(text):
        opts = dict(re.findall(r":([\w-]+):[ \t]*([^\n]*)", options))
        if "label" in opts:
            labels.proofs[opts["label"].strip()] = (kind, "nonumber" not in opts)
    if path.suffix == ".ipynb":
        for cell in json.loads(path.read_text())["cells"]:
            figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
            if cell["cell_type"] == "code" and figure.get("name"):
                labels.figures.append(figure["name"])
    return labels


def cited_keys(doc: str) -> set[str]:
    keys: set[str] = set()
    for group in _CITE.findall(markdown_text(source_path(doc))):
        keys.update(k.strip() for k in group.split(","))
    return keys


def repository() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]


def colab_url(doc: str) -> str:
    """The Colab address a chapter's launch button must point to."""
    repo = repository()
    org_repo = "/".join(repo["url"].rstrip("/").split("/")[-2:])
    prefix = repo.get("path_to_book", "").strip("/")
    path = f"{prefix}/{doc}.ipynb" if prefix else f"{doc}.ipynb"
    return f"https://colab.research.google.com/github/{org_repo}/blob/{repo['branch']}/{path}"


def soup(html_root: Path, page: str) -> BeautifulSoup:
    return BeautifulSoup((html_root / page).read_text(), "html.parser")


def article(page_soup: BeautifulSoup):
    """The page's own content (not the theme's navigation)."""
    node = page_soup.select_one("article.bd-article")
    assert node is not None, "no <article class='bd-article'> in the page"
    return node
