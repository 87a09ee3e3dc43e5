"""The website in a real browser: every page of the table of contents in headless Chromium.

The built site (``built_book``, built once per session) is served on 127.0.0.1; requests to
any other host are blocked and reported, so the test also proves the site works offline.
Per page: no console errors, no failed requests, every image loads, all math is typeset by
the site's own MathJax, theorem blocks show their numbers, and a chapter's Colab button
points at its notebook in the repository. A full-page screenshot of each page is written to
``test-artifacts/site/`` for a person to look at.

Chromium is Debian's ``chromium`` package (``make test`` installs it when it is missing and
it runs as root); Playwright drives it through ``executable_path``. Without Chromium the
test fails in CI (``CI`` set) and is skipped elsewhere, saying how to install it.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import ROOT, toc_files
from site_tools import (PAGE_CODE_COLUMNS, PAGE_FIGURE_PX, PROOF_TYPES, SOLUTION_FIGURE_PX, colab_url,
                        html_page, labels_of, source_path, toc_notebooks)

pytestmark = pytest.mark.slow

DOCS = toc_files()
ARTIFACTS = ROOT / "test-artifacts" / "site"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-default-apps", "--disable-extensions",
]


def _unavailable(reason: str):
    message = (f"{reason}. The browser test needs Debian's Chromium and Playwright: "
               "`apt-get install -y chromium` (make test does this when run as root) and "
               "`pip install playwright` (in the test extras); or set SGD_ESCAPE_CHROMIUM.")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def chromium_path() -> str | None:
    for candidate in (os.environ.get("SGD_ESCAPE_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output readable
        pass


@pytest.fixture(scope="module")
def site_url(built_book: Path):
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    if executable is None:
        _unavailable("no `chromium` executable on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the Python package `playwright` is not installed")
    # Playwright gives each launch a fresh temporary profile (--user-data-dir).
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class PageReport:
    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    solutions: list[dict] = field(default_factory=list)
    folds: list[dict] = field(default_factory=list)
    screenshot: Path | None = None


# Evaluated in the page once it has loaded and MathJax has finished typesetting.
_FACTS_JS = """
async () => {
  const mathjax = !!(window.MathJax && MathJax.startup && MathJax.startup.promise);
  if (mathjax) { await MathJax.startup.promise; }
  await document.fonts.ready;
  const root = document.querySelector('article.bd-article') || document.body;
  const math = [...root.querySelectorAll('.math')];
  const images = [...document.images].map(img => ({
    src: img.currentSrc || img.src, alt: img.getAttribute('alt'),
    ok: img.complete && img.naturalWidth > 0, inArticle: root.contains(img),
    naturalWidth: img.naturalWidth, shownWidth: img.getBoundingClientRect().width,
    inSolution: !!img.closest('div.solution')}));
  const proofs = [...root.querySelectorAll('div.proof')].map(div => ({
    id: div.id, classes: [...div.classList],
    title: (div.querySelector('.admonition-title .caption-number') || {}).textContent || null,
    visible: div.getBoundingClientRect().height > 0}));
  const mathjaxScripts = [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s));
  // Code and output blocks a reader would have to scroll sideways (shown ones: open solutions too).
  const overflowing = [...root.querySelectorAll('pre')]
    .filter(pre => pre.getBoundingClientRect().height > 0 && pre.scrollWidth > pre.clientWidth)
    .map(pre => ({kind: pre.closest('.cell_output') ? 'output' : pre.closest('.cell_input') ? 'code' : 'block',
                  hiddenPx: pre.scrollWidth - pre.clientWidth,
                  line: pre.textContent.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), '')}));
  return {
    mathjax, mathjaxVersion: mathjax ? MathJax.version : null, mathjaxScripts,
    mathCount: math.length,
    mathTypeset: math.filter(el => el.querySelector('mjx-container')).length,
    mathErrors: root.querySelectorAll('mjx-merror').length,
    rawTex: math.filter(el => !el.querySelector('mjx-container')).slice(0, 5).map(el => el.textContent),
    images, proofs, overflowing,
    colab: [...document.querySelectorAll('a[href*="colab.research.google.com"]')].map(a => a.href),
    h1: (root.querySelector('h1') || {}).textContent || null,
    articleHeight: root.getBoundingClientRect().height,
  };
}
"""


# The exercise solutions of a page: folded or not, and how tall.
_SOLUTIONS_JS = """
() => [...document.querySelectorAll('article.bd-article div.solution')].map(div => ({
  folded: div.classList.contains('toggle-hidden'), height: div.getBoundingClientRect().height}))
"""


def _click_all(page, selector: str, state_js: str) -> tuple[list[dict], list[dict]]:
    """Click everything ``selector`` finds, as a reader would; ``state_js`` before and after."""
    before = page.evaluate(state_js)
    targets = page.locator(selector)
    for k in range(targets.count()):
        targets.nth(k).click()
    page.wait_for_timeout(300)
    return before, page.evaluate(state_js)


def _click_every_solution(page) -> list[dict]:
    """Click each solution's title, as a reader opening it; each one's state before and after."""
    before, after = _click_all(page, "article.bd-article div.solution > .admonition-title", _SOLUTIONS_JS)
    return [{"folded": b["folded"], "height": b["height"], "folded_after_click": a["folded"],
             "height_after_click": a["height"]} for b, a in zip(before, after)]


# The folded cells of a page (``tools.notebook.fold``): whether each follows another folded
# cell (``_ext/static/book.js`` gives such a run one toggle), and whether its toggle and its
# code are on show.
_FOLDS_JS = """
() => [...document.querySelectorAll('article.bd-article div.cell.tag_hide-input')].map(cell => {
  const before = cell.previousElementSibling, summary = cell.querySelector(':scope > details > summary');
  const code = cell.querySelector('.cell_input');
  return {follows: !!(before && before.matches('div.cell.tag_hide-input')),
          toggleShown: !!summary && summary.checkVisibility(),
          codeShown: !!code && code.checkVisibility()};   // a closed <details> still lays it out
})
"""


def _click_every_fold(page) -> list[dict]:
    """Click each toggle of folded cells that is on show, as a reader asking for the code; the
    state of each folded cell before, and whether its code shows after."""
    before, after = _click_all(
        page, "article.bd-article div.cell.tag_hide-input:not(.fold-follows) > details > summary", _FOLDS_JS)
    return [{**b, "code_shown_after_click": a["codeShown"]} for b, a in zip(before, after)]


def _router(host: str, report: PageReport):
    """Serve requests to the local site; record and refuse every other one."""
    def route(route):
        if urlsplit(route.request.url).netloc == host or route.request.url.startswith("data:"):
            route.continue_()
        else:
            report.external_requests.append(route.request.url)
            route.abort()
    return route


@pytest.fixture(scope="module")
def visited(browser, site_url) -> dict[str, PageReport]:
    """Open every page once; the tests below read the reports."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # no stale pictures of removed pages
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    host = urlsplit(site_url).netloc
    reports: dict[str, PageReport] = {}
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    for doc in DOCS:
        report = PageReport(url=site_url + html_page(doc))
        page = context.new_page()

        page.route("**/*", _router(host, report))
        page.on("console", lambda msg, r=report: msg.type == "error" and r.console_errors.append(
            f"{msg.text} ({msg.location.get('url', '')}:{msg.location.get('lineNumber', '')})"))
        page.on("pageerror", lambda err, r=report: r.page_errors.append(str(err)))
        page.on("requestfailed", lambda req, r=report: r.failed_requests.append(
            f"{req.url} ({req.failure})"))
        page.on("response", lambda resp, r=report: resp.status >= 400 and r.failed_requests.append(
            f"{resp.url} (HTTP {resp.status})"))
        page.goto(report.url, wait_until="load", timeout=60_000)
        # Solutions and folded code open while the page is measured (their figures and code
        # are shown only then), and are folded again for the screenshot.
        report.solutions = _click_every_solution(page)
        report.folds = _click_every_fold(page)
        report.facts = page.evaluate(_FACTS_JS)
        _click_every_fold(page)
        _click_every_solution(page)
        # The whole page in one picture: a viewport as tall as the page (a full-page capture
        # of a short viewport cuts the theme's sticky sidebars).
        height = page.evaluate("() => document.documentElement.scrollHeight")
        page.set_viewport_size({"width": 1280, "height": min(max(height, 900), 16_000)})
        page.wait_for_timeout(300)
        report.screenshot = ARTIFACTS / (doc.replace("/", "__") + ".png")
        page.screenshot(path=str(report.screenshot), timeout=60_000)
        page.close()
        reports[doc] = report
    context.close()
    return reports


@pytest.mark.parametrize("doc", DOCS)
def test_page_loads_without_errors(visited, doc):
    report = visited[doc]
    assert not report.page_errors, f"{doc}: JavaScript errors: {report.page_errors}"
    assert not report.console_errors, f"{doc}: console errors: {report.console_errors}"
    assert not report.failed_requests, f"{doc}: failed requests: {report.failed_requests}"


@pytest.mark.parametrize("doc", DOCS)
def test_page_needs_no_other_host(visited, doc):
    """Nothing is requested from another host while a page loads: the site works offline."""
    assert not visited[doc].external_requests, (
        f"{doc}: requested {visited[doc].external_requests}")


@pytest.mark.parametrize("doc", DOCS)
def test_page_shows_its_content(visited, doc):
    facts = visited[doc].facts
    assert facts["h1"] and facts["articleHeight"] > 200, f"{doc}: empty page? {facts['h1']!r}"
    assert visited[doc].screenshot.stat().st_size > 10_000


@pytest.mark.parametrize("doc", DOCS)
def test_every_image_loads(visited, doc):
    images = visited[doc].facts["images"]
    broken = [img["src"] for img in images if not img["ok"]]
    assert not broken, f"{doc}: images that did not load: {broken}"
    for img in images:
        if img["inArticle"]:
            assert (img["alt"] or "").strip(), f"{doc}: {img['src']} has no alt text"


@pytest.mark.parametrize("doc", DOCS)
def test_figures_are_shown_as_wide_as_the_layout_test_assumes(visited, doc):
    """``test_figure_layout`` sizes text on the page assuming a figure shows at its own width,
    up to PAGE_FIGURE_PX, or SOLUTION_FIGURE_PX in an opened solution (at this 1280-pixel
    window); a narrower column would shrink the text."""
    for img in visited[doc].facts["images"]:
        if img["inArticle"] and img["ok"]:
            expected = min(img["naturalWidth"], SOLUTION_FIGURE_PX if img["inSolution"] else PAGE_FIGURE_PX)
            assert img["shownWidth"] >= expected - 1, (
                f"{doc}: {img['src']} is shown {img['shownWidth']:.0f} px wide, not {expected}")


@pytest.mark.parametrize("doc", DOCS)
def test_code_and_output_need_no_sideways_scrolling(visited, doc):
    """Every code block and printed output shows whole at the 1280-pixel window, solutions
    opened (``PAGE_CODE_COLUMNS``: the lines are short enough, the code font small enough)."""
    overflowing = visited[doc].facts["overflowing"]
    assert not overflowing, f"{doc}: blocks wider than the column (kind, hidden px, longest line): " + "; ".join(
        f"{block['kind']}, {block['hiddenPx']} px, {block['line'][:PAGE_CODE_COLUMNS + 10]!r}" for block in overflowing[:5])


@pytest.mark.parametrize("doc", toc_notebooks())
def test_a_run_of_folded_cells_has_one_toggle_that_opens_it(visited, doc):
    folds = visited[doc].folds
    assert folds, f"{doc}: no folded cells on the page"
    for k, fold in enumerate(folds, 1):
        assert not fold["codeShown"], f"{doc}: folded cell {k} shows its code before a click"
        assert fold["toggleShown"] == (not fold["follows"]), (
            f"{doc}: folded cell {k} {'has a toggle of its own' if fold['follows'] else 'shows no toggle'}: {fold}")
        assert fold["code_shown_after_click"], f"{doc}: folded cell {k} stays closed when its run's toggle is clicked"


@pytest.mark.parametrize("doc", toc_notebooks())
def test_solutions_are_folded_until_a_reader_opens_them(visited, doc):
    solutions = visited[doc].solutions
    assert solutions, f"{doc}: no exercise solutions on the page"
    for k, state in enumerate(solutions, 1):
        assert state["folded"] and state["height"] < 80, f"{doc}: solution {k} is open when the page loads: {state}"
        assert not state["folded_after_click"] and state["height_after_click"] > 2 * state["height"], (
            f"{doc}: solution {k} does not open when its title is clicked: {state}")


@pytest.mark.parametrize("doc", DOCS)
def test_math_is_typeset_by_the_bundled_mathjax(visited, doc):
    facts = visited[doc].facts
    if facts["mathCount"] == 0:
        pytest.skip(f"{doc} has no math")
    assert facts["mathjax"], f"{doc}: MathJax did not start"
    assert facts["mathjaxVersion"].startswith("3."), facts["mathjaxVersion"]
    assert facts["mathjaxScripts"] and all(
        urlsplit(s).netloc == urlsplit(visited[doc].url).netloc and "/_static/mathjax/" in s
        for s in facts["mathjaxScripts"]), facts["mathjaxScripts"]
    assert facts["mathTypeset"] == facts["mathCount"], (
        f"{doc}: {facts['mathCount'] - facts['mathTypeset']} math elements not typeset, "
        f"e.g. {facts['rawTex']}")
    assert facts["mathErrors"] == 0, f"{doc}: MathJax reports {facts['mathErrors']} TeX errors"


def test_some_page_has_math(visited):
    """The book has formulas; if no page had any, the math test would check nothing."""
    assert any(report.facts["mathTypeset"] > 0 for report in visited.values())


@pytest.mark.parametrize("doc", DOCS)
def test_theorem_blocks_show_numbers(visited, doc):
    labels = labels_of(doc).proofs
    for proof in visited[doc].facts["proofs"]:
        kinds = set(proof["classes"]) & PROOF_TYPES
        if not kinds:
            continue  # a proof block: not numbered
        assert proof["visible"], f"{doc}: block #{proof['id']} is not shown"
        if proof["id"] in labels and labels[proof["id"]][1]:
            assert proof["title"] and re.search(r"\d", proof["title"]), (
                f"{doc}: {kinds} block #{proof['id']} shows no number: {proof['title']!r}")


@pytest.mark.parametrize("doc", DOCS)
def test_colab_button_opens_this_notebook(visited, doc):
    links = set(visited[doc].facts["colab"])
    if source_path(doc).suffix != ".ipynb":
        assert not links, f"{doc} is not a notebook but has a Colab button: {links}"
        return
    expected = colab_url(doc)
    assert links == {expected}, f"{doc}: Colab button {links}, expected {expected}"
    relative = expected.split("/blob/", 1)[1].split("/", 1)[1]
    assert (ROOT / relative).is_file(), f"the Colab button opens {relative}, which is not in the repository"
