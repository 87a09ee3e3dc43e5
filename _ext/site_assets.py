"""Build-time fixes of the website's HTML assets (a local Sphinx extension; see _config.yml).

Sphinx 7.4 registers an inline ``<script>`` added after the builder starts twice (once with
the file name ``None``, once with ``''``), so sphinx-thebe's configuration script
``const THEBE_JS_URL = ...`` appeared twice on every page and the second copy raised
"Identifier 'THEBE_JS_URL' has already been declared" in the browser. This drops exact
duplicates from each page's script list; tests/test_site_browser.py checks the console.
"""
from __future__ import annotations


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


def setup(app):
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
