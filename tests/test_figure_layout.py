"""Every figure of the book is readable where it is shown: text large enough on the page, no text
on other text, no legend on the data, every axis of numbers labelled.

The book build of the tests measures each figure as a chapter displays it (``figure_probe``,
installed in every notebook kernel by ``conftest._build_book``). The first tests below show on
made-up figures that each measurement catches what it should; the last hold every chapter's
figures to the same limits.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.ticker import FixedLocator  # noqa: E402

from conftest import FIGURE_PROBE, chapter_notebooks  # noqa: E402
from figure_probe import legend_cover, measure, text_collisions, unlabelled_axes  # noqa: E402
from site_tools import PAGE_FIGURE_PX  # noqa: E402

#: The smallest text allowed on the page: half the site's 16-pixel body text (CSS pixels).
MIN_TEXT_PX = 8.0
#: A legend without a frame, or a text in the axes, may touch a line, not lie on it: pixels of
#: line under its entries. No marker may lie under either.
MAX_LINE_PX_UNDER_LEGEND = 5
#: A framed legend hides what is behind it: at most this share of a line's or a bar's drawing.
MAX_SHARE_HIDDEN = 0.02


def smallest_text_on_page(record: dict) -> float:
    """The smallest font of a measured figure in CSS pixels on the page (72 points an inch)."""
    scale = min(1.0, PAGE_FIGURE_PX / record["width_px"])
    return record["smallest_font_pt"] * record["dpi"] / 72 * scale


def _data_hidden(under: dict, opaque: bool) -> str | None:
    """What a legend or text covers beyond the limits (``figure_probe.data_under``), or None."""
    too_much_line = (under["line_fraction"] > MAX_SHARE_HIDDEN if opaque
                     else under["line_pixels"] > MAX_LINE_PX_UNDER_LEGEND)
    if too_much_line:
        return f"{under['line']} ({under['line_pixels']} px, {under['line_fraction']:.0%} of it)"
    if under["marker_count"] > 0:
        return f"{under['markers']} ({under['marker_count']} of its markers)"
    return None


def layout_problems(record: dict) -> list[str]:
    """What makes a measured figure hard to read (empty when nothing does)."""
    if "probe_error" in record:
        return [f"the probe failed: {record['probe_error']}"]
    problems = list(record["collisions"]) + list(record["unlabelled"])
    if record["smallest_font_pt"] is not None and smallest_text_on_page(record) < MIN_TEXT_PX:
        problems.append(f"text {record['smallest_font_text']!r} is {smallest_text_on_page(record):.1f}"
                        f" px on the page (figure {record['width_px']:.0f} px wide)")
    for cover in record["legend_covers"]:
        hidden = _data_hidden(cover, cover["opaque"])
        if hidden:
            problems.append(f"axes {cover['axes']}: the legend lies on {hidden}")
        if cover["bar_fraction"] > MAX_SHARE_HIDDEN:
            problems.append(f"axes {cover['axes']}: the legend hides {cover['bar_fraction']:.0%}"
                            " of the bars' area")
    for text in record["texts_on_data"]:
        hidden = _data_hidden(text, opaque=False)
        if hidden:
            problems.append(f"axes {text['axes']}: the text {text['text']!r} lies on {hidden}")
    return problems


@pytest.fixture
def figure():
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    yield fig, ax
    plt.close(fig)


def test_a_plain_figure_has_no_problems(figure):
    fig, ax = figure
    x = np.linspace(0, 1, 200)
    ax.plot(x, x**2, label="square")
    ax.legend(loc="upper left", frameon=False)
    ax.set(xlabel="x", ylabel="y", title="a plain figure")
    assert layout_problems(measure(fig)) == []


def test_a_line_through_the_legend_text_is_found(figure):
    fig, ax = figure
    ax.plot([0, 1], [0.5, 0.5], label="a flat line with a long label")
    ax.legend(loc="center", frameon=False)         # the line runs through its own entry
    fig.draw_without_rendering()
    cover = legend_cover(ax.get_legend(), ax)
    assert not cover["opaque"] and cover["line_pixels"] > 100   # the label is about 200 px long
    assert any("the legend lies on" in p for p in layout_problems(measure(fig)))


def test_a_framed_legend_hiding_points_is_found(figure):
    fig, ax = figure
    grid = np.linspace(0, 1, 30)
    ax.scatter(*np.meshgrid(grid, grid), s=4, label="points")
    ax.legend(loc="center", frameon=True, framealpha=1.0, fontsize=14)
    record = measure(fig)
    assert record["legend_covers"][0]["opaque"]
    assert any("the legend lies on points" in p and "of its markers" in p for p in layout_problems(record))


def test_a_legend_on_bars_is_found_but_not_on_a_shaded_band(figure):
    fig, ax = figure
    ax.set(xlim=(0, 1), xlabel="x", ylabel="y")
    ax.axvspan(0.4, 0.6, color="0.9", label="band")
    ax.legend(loc="center", frameon=True, fontsize=16)   # on about a tenth of the band
    assert layout_problems(measure(fig)) == []       # a band across the axes is background
    ax.bar(np.arange(5) / 5 + 0.1, [1, 1, 1, 1, 1], width=0.18, label="bars")
    ax.legend(loc="center", frameon=True, fontsize=16)
    assert any("of the bars' area" in p for p in layout_problems(measure(fig)))


def test_a_text_on_a_line_or_a_marker_is_found_but_not_beside_them(figure):
    fig, ax = figure
    ax.plot([0, 1], [0, 1], color="0.5")
    ax.plot([0.25], [0.75], "o")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="x", ylabel="y")
    ax.text(0.9, 0.1, "beside", ha="right")
    assert layout_problems(measure(fig)) == []
    ax.text(0.5, 0.5, "on the line", ha="center", va="center")
    ax.text(0.25, 0.75, "on the dot", ha="center", va="center")
    problems = layout_problems(measure(fig))
    assert any("'on the line' lies on line" in p for p in problems)
    assert any("'on the dot' lies on line" in p and "(1 of its markers)" in p for p in problems)


def test_crowded_tick_labels_are_found(figure):
    fig, ax = figure
    ax.set_xticks(np.arange(30), [f"label {i}" for i in range(30)])
    fig.draw_without_rendering()
    collisions = text_collisions(fig)
    assert any("x tick 'label 1'" in c and "x tick 'label 2'" in c for c in collisions)


def test_tick_labels_beyond_the_view_are_not_counted():
    """``get_ticklabels`` lists locator ticks outside the view; they are not drawn."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(4, 2), dpi=100, gridspec_kw={"wspace": 0})
    left.set_xlim(0, 1)
    left.xaxis.set_major_locator(FixedLocator([0, 0.5, 1, 1.2, 1.5]))  # 1.2, 1.5: in `right`
    right.set_xlim(0, 1)
    right.xaxis.set_major_locator(FixedLocator([0.1, 0.25, 0.5]))
    fig.draw_without_rendering()
    assert not [c for c in text_collisions(fig) if "'1.2'" in c or "'1.5'" in c]
    plt.close(fig)


def test_numbers_without_an_axis_label_are_found():
    fig, (left, right) = plt.subplots(1, 2, sharey=True, figsize=(6, 3), dpi=100)
    left.plot([1, 2], [3, 4])
    right.bar(["drop", "smooth"], [3, 4])        # categories need no label
    right.tick_params(labelleft=True)             # numbers on both y axes, one label
    left.set(xlabel="epoch", ylabel="loss")       # the shared y axis is labelled once
    assert unlabelled_axes(fig) == []
    left.set_xlabel("")
    assert unlabelled_axes(fig) == ["axes 0 has x tick labels and no x label"]
    plt.close(fig)


def test_small_text_on_a_wide_figure_is_found():
    fig, ax = plt.subplots(figsize=(12, 3), dpi=110)  # 1320 px: shown at about half size
    ax.plot([0, 1], [0, 1], label="line")
    ax.legend(fontsize=8, loc="lower right")
    record = measure(fig)
    plt.close(fig)
    assert smallest_text_on_page(record) < MIN_TEXT_PX
    assert any("px on the page" in p for p in layout_problems(record))


# ---- the book's own figures (measured in the tests' book build) ----

def _probe_records(built_book: Path) -> list[dict]:
    if os.environ.get("SGD_ESCAPE_PREBUILT_SITE"):
        pytest.skip("a prebuilt site (SGD_ESCAPE_PREBUILT_SITE): its figures were not measured")
    path = built_book.parents[1] / FIGURE_PROBE
    assert path.exists(), f"the book build wrote no figure measurements to {path}"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _chapter_records(records: list[dict], notebook: Path) -> list[dict]:
    cells = {"".join(c["source"]) for c in json.loads(notebook.read_text())["cells"]
             if c["cell_type"] == "code"}
    return [r for r in records if r["cell"] in cells]


def _images_shown(built_book: Path, notebook: Path) -> int:
    executed = built_book.parent / "jupyter_execute" / "chapters" / notebook.name
    outputs = [o for c in json.loads(executed.read_text())["cells"] for o in c.get("outputs", [])]
    return sum("image/png" in o.get("data", {}) for o in outputs)


@pytest.mark.slow
@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_every_figure_of_the_chapter_was_measured(built_book: Path, notebook: Path):
    records = [r for r in _chapter_records(_probe_records(built_book), notebook)
               if r["format"] == "png"]
    assert len(records) == _images_shown(built_book, notebook)


@pytest.mark.slow
@pytest.mark.parametrize("notebook", chapter_notebooks(), ids=lambda p: p.stem)
def test_every_figure_of_the_chapter_is_readable(built_book: Path, notebook: Path):
    problems = []
    for record in _chapter_records(_probe_records(built_book), notebook):
        where = record["cell"].strip().splitlines()[0][:60]
        problems += [f"figure made by the cell starting {where!r} "
                     f"(titles {record.get('titles')}): {p}" for p in layout_problems(record)]
    assert not problems, "\n".join(problems)
