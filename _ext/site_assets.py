"""Build-time fixes of the website's HTML assets (a local Sphinx extension; see _config.yml).

Sphinx 7.4 registers an inline ``<script>`` added after the builder starts twice (once with
the file name ``None``, once with ``''``), so sphinx-thebe's configuration script
``const THEBE_JS_URL = ...`` appeared twice on every page and the second copy raised
"Identifier 'THEBE_JS_URL' has already been declared" in the browser. This drops exact
duplicates from each page's script list; tests/test_site_browser.py checks the console.

The book's root page is ``chapters/intro``, so the site's ``index.html`` only redirects. The
table-of-contents extension writes it as a bare ``<meta>`` line with no title (a browser tab
or a link preview shows the file name); this writes a whole page with the book's title and a
link for readers whose browser does not follow the redirect. tests/test_site_html.py checks it.
"""
from __future__ import annotations

import html
from pathlib import Path

REDIRECT_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<meta http-equiv="Refresh" content="0; url={target}">
</head>
<body><p>This book starts at <a href="{target}">{title}</a>.</p></body>
</html>
"""


def _asset_key(asset) -> tuple:
    filename = getattr(asset, "filename", asset) or ""
    attributes = getattr(asset, "attributes", {}) or {}
    return (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for asset in scripts:
        key = _asset_key(asset)
        if key not in seen:
            seen.add(key)
            unique.append(asset)
    context["script_files"] = unique


def write_redirect_index(app, exception) -> None:
    """Write ``index.html`` as a titled redirect to the root page (see the module docstring)."""
    root = app.config.root_doc
    if exception is not None or app.builder.name != "html" or root == "index":
        return
    title = html.escape(app.config.html_title or app.config.project)
    page = REDIRECT_PAGE.format(title=title, target=html.escape(f"{root}.html"))
    Path(app.outdir, "index.html").write_text(page, encoding="utf8")


def setup(app):
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    # Before sphinx-external-toc's own writer (priority 500), which then leaves the file alone.
    app.connect("build-finished", write_redirect_index, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
