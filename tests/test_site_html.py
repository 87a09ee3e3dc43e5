"""The built website, read as HTML: internal links, stable anchors, alt text, headings, widgets.

These checks parse the site that the ``built_book`` fixture builds (once per session) and
cover every page of ``_toc.yml``. The browser test (test_site_browser.py) renders the pages.
"""
from __future__ import annotations

import posixpath
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import ROOT, toc_files
from site_tools import (PROOF_TYPES, article, cited_keys, html_page, labels_of, soup,
                        source_path, toc_notebooks)

pytestmark = pytest.mark.slow

DOCS = toc_files()


def _ids(page_soup) -> set[str]:
    return {tag["id"] for tag in page_soup.find_all(id=True)} | {
        tag["name"] for tag in page_soup.find_all("a", attrs={"name": True})}


def test_the_site_root_is_a_titled_page_that_leads_to_the_first_page(built_book: Path):
    import yaml

    title = yaml.safe_load((ROOT / "_config.yml").read_text())["title"]
    root = yaml.safe_load((ROOT / "_toc.yml").read_text())["root"]
    index = soup(built_book, "index.html")
    assert index.title is not None and index.title.get_text() == title
    refresh = index.find("meta", attrs={"http-equiv": "Refresh"})
    assert refresh is not None and refresh["content"] == f"0; url={root}.html"
    assert index.find("a", href=f"{root}.html") is not None       # for browsers that do not redirect


def test_every_internal_link_resolves(built_book: Path):
    """Crawl every HTML file of the site: each relative link names an existing file and,
    where it has a fragment, an element with that id. External URLs are not fetched (offline)."""
    ids_cache: dict[Path, set[str]] = {}
    broken = []
    pages = [p for p in built_book.rglob("*.html") if "_static" not in p.parts]
    assert len(pages) >= len(DOCS)
    checked = 0
    for page in pages:
        page_soup = soup(built_book, str(page.relative_to(built_book)))
        ids_cache.setdefault(page, _ids(page_soup))
        for tag, attr in (("a", "href"), ("link", "href"), ("img", "src"), ("script", "src")):
            for node in page_soup.find_all(tag, attrs={attr: True}):
                url = urlsplit(node[attr])
                if url.scheme or url.netloc or node[attr].startswith(("mailto:", "javascript:")):
                    continue
                target = page if not url.path else (page.parent / unquote(url.path))
                target = Path(posixpath.normpath(str(target)))
                if target.is_dir():
                    target = target / "index.html"
                checked += 1
                if not target.exists():
                    broken.append(f"{page.relative_to(built_book)}: {node[attr]} (no such file)")
                    continue
                if url.fragment and target.suffix == ".html":
                    if target not in ids_cache:
                        ids_cache[target] = _ids(soup(built_book, str(target.relative_to(built_book))))
                    if unquote(url.fragment) not in ids_cache[target]:
                        broken.append(f"{page.relative_to(built_book)}: {node[attr]} (no such anchor)")
    assert checked > 0
    assert not broken, "broken internal links:\n" + "\n".join(sorted(set(broken)))


@pytest.mark.parametrize("doc", DOCS)
def test_labels_are_stable_anchors(built_book: Path, doc: str):
    """Every label a page defines, `(label)=`, `:label:` of a theorem-like block, a figure's
    name, an equation's label, is an HTML id of that page: citations use these anchors."""
    ids = _ids(soup(built_book, html_page(doc)))
    missing = [f"{label} (id {html_id})" for label, html_id in labels_of(doc).html_ids().items()
               if html_id not in ids]
    assert not missing, f"{doc}: labels with no anchor in the HTML: {missing}"


def test_chapters_start_with_their_label():
    """Each numbered chapter's first markdown cell opens with `(chN)=` (CONTRIBUTING), so that
    `#chN` is a stable anchor for the chapter."""
    for doc in toc_notebooks():
        match = re.match(r"ch(\d+)_", Path(doc).name)
        if match:
            assert f"ch{int(match.group(1))}" in labels_of(doc).sections, (
                f"{doc} does not define the label (ch{int(match.group(1))})=")


def test_every_section_of_a_chapter_has_a_label():
    """How to cite promises a stable anchor for sections: each heading below a chapter's title
    has its `(label)=` on the line above, so rewording the heading breaks no citation."""
    import nbformat

    unlabelled = []
    for doc in toc_notebooks():
        for cell in nbformat.read(str(source_path(doc)), as_version=4).cells:
            lines = cell.source.split("\n") if cell.cell_type == "markdown" else []
            unlabelled += [f"{doc}: {line}" for k, line in enumerate(lines)
                           if re.match(r"#{2,6} ", line) and not (k and re.fullmatch(r"\([\w-]+\)=", lines[k - 1]))]
    assert not unlabelled, unlabelled


@pytest.mark.parametrize("doc", DOCS)
def test_theorem_blocks_carry_their_numbers(built_book: Path, doc: str):
    """A labelled theorem-like block shows its number ("Theorem 3.1") unless its source asks
    for no number; the number is what readers cite next to the anchor."""
    page = soup(built_book, html_page(doc))
    labels = labels_of(doc).proofs
    for label, (kind, numbered) in labels.items():
        block = page.find("div", id=label)
        assert block is not None and "proof" in block.get("class", []), f"{doc}: no block #{label}"
        title = block.select_one(".admonition-title .caption-number")
        assert title is not None, f"{doc}: block #{label} has no title"
        if numbered and kind in PROOF_TYPES:
            assert re.fullmatch(rf"{kind.capitalize()} \d+(\.\d+)*", title.get_text().strip()), (
                f"{doc}: block #{label} is titled {title.get_text()!r}, without its number")
    # Every numbered-type block on the page is either labelled (so citable) or deliberately unnumbered.
    for block in page.select("div.proof"):
        kinds = set(block.get("class", [])) & PROOF_TYPES
        if kinds and block.get("id") not in labels:
            number = block.select_one(".admonition-title .caption-number")
            assert number is None or not re.search(r"\d", number.get_text()), (
                f"{doc}: a numbered {kinds.pop()} block has no :label:, so it has no stable anchor")


@pytest.mark.parametrize("doc", toc_notebooks())
def test_exercises_are_numbered_and_followed_by_folded_solutions(built_book: Path, doc: str):
    """On the page, Exercise N.K (anchor ``chN-exK``) is followed by a folded "Solution to
    Exercise N.K" that links back to it and holds the worked answer."""
    chapter = int(re.search(r"ch0*(\d+)_", doc).group(1))
    blocks = article(soup(built_book, html_page(doc))).select("div.exercise, div.solution")
    assert blocks, f"{doc}: no exercises on the page"
    for k, (exercise, solution) in enumerate(zip(blocks[::2], blocks[1::2]), 1):
        assert exercise.get("id") == f"ch{chapter}-ex{k}", f"{doc}: exercise {k} is #{exercise.get('id')}"
        title = " ".join(exercise.select_one(".admonition-title").get_text().split())
        assert title == f"Exercise {chapter}.{k}", f"{doc}: #{exercise['id']} is titled {title!r}"
        assert "solution" in solution["class"] and "dropdown" in solution["class"], (
            f"{doc}: no folded solution after #{exercise['id']}")
        link = solution.select_one(".admonition-title a")
        assert link is not None and link["href"] == f"#ch{chapter}-ex{k}", f"{doc}: solution {k} links elsewhere"
        assert len(solution.get_text().split()) > 40, f"{doc}: solution {k} is nearly empty"
    assert len(blocks) % 2 == 0, f"{doc}: an exercise without its solution"


@pytest.mark.parametrize("doc", DOCS)
def test_figures_have_alt_text(built_book: Path, doc: str):
    """Every image in a page's content has a real description, not empty and not a file name."""
    images = article(soup(built_book, html_page(doc))).find_all("img")
    for img in images:
        alt = (img.get("alt") or "").strip()
        assert alt and not re.search(r"\.(png|jpe?g|svg|gif)$", alt, re.I), (
            f"{doc}: image {img.get('src')} has no alt text (set mystnb.image.alt on its cell)")


@pytest.mark.parametrize("doc", DOCS)
def test_headings_are_in_order(built_book: Path, doc: str):
    """One <h1> per page, first; no level skipped going down (h2 then h4)."""
    levels = [int(h.name[1]) for h in article(soup(built_book, html_page(doc))).find_all(
        re.compile(r"^h[1-6]$"))]
    assert levels and levels[0] == 1 and levels.count(1) == 1, f"{doc}: headings {levels}"
    for before, after in zip(levels, levels[1:]):
        assert after <= before + 1, f"{doc}: heading level jumps from h{before} to h{after}"


@pytest.mark.parametrize("doc", DOCS)
def test_no_widget_boxes_on_the_static_site(built_book: Path, doc: str):
    """The static site shows figures for explorers: no widget views (which need a kernel), no
    widget reprs such as 'VBox(children=...)', and no widget loader scripts."""
    page = soup(built_book, html_page(doc))
    assert not page.find("script", type="application/vnd.jupyter.widget-view+json"), doc
    assert not page.find("script", type="application/vnd.jupyter.widget-state+json"), doc
    for script in page.find_all("script", src=True):
        assert not re.search(r"require(\.min)?\.js|html-manager|embed-amd", script["src"]), (
            f"{doc}: loads {script['src']}")
    text = article(page).get_text()
    assert not re.search(r"\b(VBox|HBox|Box|interactive|IntSlider|FloatSlider)\(", text), (
        f"{doc}: a widget's text repr is shown instead of a figure")


def test_site_loads_nothing_from_other_hosts(built_book: Path):
    """Scripts, styles and images come from the site itself, so it works offline."""
    remote = []
    for page in built_book.rglob("*.html"):
        page_soup = soup(built_book, str(page.relative_to(built_book)))
        for tag, attr in (("script", "src"), ("link", "href"), ("img", "src")):
            for node in page_soup.find_all(tag, attrs={attr: True}):
                if tag == "link" and not set(node.get("rel", [])) & {"stylesheet", "preload", "icon"}:
                    continue
                if urlsplit(node[attr]).netloc:
                    remote.append(f"{page.relative_to(built_book)}: <{tag}> {node[attr]}")
    assert not remote, "the site loads from other hosts:\n" + "\n".join(remote)


def test_mathjax_is_bundled(built_book: Path):
    script = built_book / "_static" / "mathjax" / "es5" / "tex-mml-chtml.js"
    assert script.stat().st_size > 500_000
    fonts = list((script.parent / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert len(fonts) > 20


def _bib_titles() -> dict[str, str]:
    """key -> title of each references.bib entry, braces removed, lower case."""
    titles = {}
    for entry in re.split(r"\n(?=@)", "\n" + (ROOT / "references.bib").read_text()):
        key = re.match(r"\s*@\w+\{\s*([^,\s]+)\s*,", entry)
        title = re.search(r"\btitle\s*=\s*[{\"](.+?)[}\"]\s*,?\s*\n", entry, re.S)
        if key and title:
            titles[key.group(1)] = " ".join(title.group(1).replace("{", "").replace("}", "").split()).lower()
    return titles


def test_references_page_lists_every_cited_work(built_book: Path):
    """The references page (built from references.bib) shows every work cited anywhere, once."""
    cited = set().union(*(cited_keys(doc) for doc in DOCS))
    assert "kleinberg2018alternative" in cited
    ref_docs = [doc for doc in DOCS if "{bibliography}" in source_path(doc).read_text()]
    assert ref_docs, "no page of _toc.yml has a {bibliography} directive"
    nodes = [node for doc in ref_docs for node in soup(built_book, html_page(doc)).select(".citation")]
    entries = " ".join(" ".join(node.get_text().split()).lower() for node in nodes)
    titles = _bib_titles()
    for key in sorted(cited):
        assert key in titles, f"{key} is cited but has no entry (with a title) in references.bib"
        assert titles[key] in entries, f"{key} ({titles[key]!r}) is missing from the references page"
    # ... and nothing else: works that the book does not cite are not listed.
    assert len(nodes) == len(cited), f"{len(nodes)} entries listed, {len(cited)} works cited"


def test_how_to_cite_anchor_table_tells_the_truth(built_book: Path):
    """Each row of the page's table of the paper's results links to the anchor it names."""
    page = soup(built_book, "chapters/how_to_cite.html")
    rows = [row for table in article(page).find_all("table") for row in table.find_all("tr")]
    checked = 0
    for row in rows:
        cells = row.find_all("td")
        link = cells[1].find("a") if len(cells) == 3 else None
        anchor = cells[2].get_text().strip() if len(cells) == 3 else ""
        if link is None or not anchor.startswith("#") or anchor.endswith(("...", "label")):
            continue
        assert urlsplit(link["href"]).fragment == anchor[1:], (
            f"row {cells[0].get_text()!r}: links to {link['href']}, the table says {anchor}")
        checked += 1
    assert checked >= 10, f"only {checked} rows of anchors found on the How to cite page"


def test_every_entry_of_references_bib_is_cited():
    """A work in references.bib that no page cites is named in the prose without its reference."""
    cited = set().union(*(cited_keys(doc) for doc in DOCS))
    entries = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "references.bib").read_text(), re.M))
    assert entries - cited == set(), f"never cited: {sorted(entries - cited)}"
