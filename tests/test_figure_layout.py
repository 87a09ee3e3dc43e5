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
from figure_probe import (_data_samples, _is_number, legend_cover, measure,  # noqa: E402
                          text_collisions, unlabelled_axes)
from site_tools import PAGE_FIGURE_PX, SOLUTION_FIGURE_PX  # noqa: E402

#: The smallest text allowed on the page: half the site's 16-pixel body text (CSS pixels).
MIN_TEXT_PX = 8.0
#: A legend without a frame, or a text in the axes, may touch a line, not lie on it: pixels of
#: line under its entries. No marker may lie under either.
MAX_LINE_PX_UNDER_LEGEND = 5
#: A framed legend hides what is behind it: at most this share of a line's, a bar's or a filled
#: area's drawing (a legend without a frame: of a bar's or a filled area's).
MAX_SHARE_HIDDEN = 0.02


def smallest_text_on_page(record: dict, page_px: float = PAGE_FIGURE_PX) -> float:
    """The smallest font of a measured figure in CSS pixels on the page (72 points an inch),
    where the figure is shown at most ``page_px`` wide."""
    scale = min(1.0, page_px / record["width_px"])
    return record["smallest_font_pt"] * record["dpi"] / 72 * scale


def _data_hidden(covered: list[dict], opaque: bool) -> list[str]:
    """The lines and markers a legend or a text covers beyond the limits
    (``covered``: ``figure_probe.data_under``)."""
    def too_much(item: dict) -> bool:
        if item["markers"]:
            return item["count"] > 0
        return (item["fraction"] > MAX_SHARE_HIDDEN if opaque
                else item["count"] > MAX_LINE_PX_UNDER_LEGEND)
    return [f"{item['artist']} ({item['count']} {'marker(s)' if item['markers'] else 'px'}, "
            f"{item['fraction']:.0%} of it)" for item in covered if too_much(item)]


def layout_problems(record: dict, page_px: float = PAGE_FIGURE_PX) -> list[str]:
    """What makes a measured figure hard to read (empty when nothing does), shown at most
    ``page_px`` wide."""
    if "probe_error" in record:
        return [f"the probe failed: {record['probe_error']}"]
    problems = list(record["collisions"]) + list(record["unlabelled"])
    if record["smallest_font_pt"] is not None and smallest_text_on_page(record, page_px) < MIN_TEXT_PX:
        problems.append(f"text {record['smallest_font_text']!r} is {smallest_text_on_page(record, page_px):.1f}"
                        f" px on the page (figure {record['width_px']:.0f} px wide)")
    for cover in record["legend_covers"]:
        problems += [f"axes {cover['axes']}: the legend lies on {hidden}"
                     for hidden in _data_hidden(cover["covered"], cover["opaque"])]
        if cover["bar_fraction"] > MAX_SHARE_HIDDEN:
            problems.append(f"axes {cover['axes']}: the legend hides {cover['bar_fraction']:.0%}"
                            " of a bar")
        if cover["fill_fraction"] > MAX_SHARE_HIDDEN:
            problems.append(f"axes {cover['axes']}: the legend hides {cover['fill_fraction']:.0%}"
                            " of a filled area")
    for text in record["texts_on_data"]:
        problems += [f"axes {text['axes']}: the text {text['text']!r} lies on {hidden}"
                     for hidden in _data_hidden(text["covered"], opaque=False)]
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
    assert not cover["opaque"] and cover["covered"][0]["count"] > 100   # the label: ~200 px long
    assert any("the legend lies on" in p for p in layout_problems(measure(fig)))


def test_a_framed_legend_hiding_points_is_found(figure):
    fig, ax = figure
    grid = np.linspace(0, 1, 30)
    ax.scatter(*np.meshgrid(grid, grid), s=4, label="points")
    ax.legend(loc="center", frameon=True, framealpha=1.0, fontsize=14)
    record = measure(fig)
    assert record["legend_covers"][0]["opaque"]
    assert any("the legend lies on points" in p and "marker(s)" in p for p in layout_problems(record))


def test_a_legend_on_bars_is_found_but_not_on_a_shaded_band(figure):
    fig, ax = figure
    ax.set(xlim=(0, 1), xlabel="x", ylabel="y")
    ax.axvspan(0.4, 0.6, color="0.9", label="band")
    ax.legend(loc="center", frameon=True, fontsize=16)   # on about a tenth of the band
    assert layout_problems(measure(fig)) == []       # a band across the axes is background
    ax.bar(np.arange(5) / 5 + 0.1, [1, 1, 1, 1, 1], width=0.18, label="bars")
    ax.legend(loc="center", frameon=True, fontsize=16)
    assert any("of a bar" in p for p in layout_problems(measure(fig)))


def test_a_legend_on_a_filled_band_is_found_but_not_on_level_sets(figure):
    fig, ax = figure
    x = np.linspace(0, 1, 100)
    ax.set(xlim=(0, 1), ylim=(-1, 2), xlabel="x", ylabel="y")
    ax.fill_between(x, x - 0.5, x + 0.5, alpha=0.2, linewidth=0, label="spread")
    ax.legend(loc="upper left", frameon=True, fontsize=10)    # above the band: nothing hidden
    assert layout_problems(measure(fig)) == []
    ax.legend(loc="center", frameon=True, fontsize=16)         # on the band's middle
    record = measure(fig)
    assert 0.02 < record["legend_covers"][0]["fill_fraction"] < 0.5
    assert any("of a filled area" in p for p in layout_problems(record))
    ax.cla()                                                     # level sets are a background
    grid = np.linspace(-1, 1, 50)
    ax.contour(grid, grid, np.add.outer(grid**2, grid**2), levels=[0.1, 0.3, 0.5], colors="0.75")
    ax.plot([], [], label="a label long enough to cross the rings")
    ax.set(xlabel="x", ylabel="y")
    ax.legend(loc="center", frameon=False, fontsize=14)
    assert layout_problems(measure(fig)) == []


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
    assert any("'on the dot' lies on markers of" in p and "(1 marker(s)" in p for p in problems)


def test_what_lies_under_a_legend_is_found_per_artist_and_per_bar(figure):
    """A short line wholly hidden is found beside a long one barely touched; so is one bar of
    many, one reaching the top of the axes, a twin axes' line and a step plot's flat run."""
    fig, ax = figure
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="x", ylabel="y")
    ax.plot(np.linspace(0, 1, 500), 0.5 + 0.4 * np.sin(np.linspace(0, 40, 500)), label="noisy")
    ax.plot([0.45, 0.55], [0.5, 0.5], color="k", label="short")
    ax.legend(loc="center", frameon=True, framealpha=1.0, fontsize=14)
    assert any("lies on line 'short'" in p for p in layout_problems(measure(fig)))
    ax.get_legend().remove()
    ax.bar(np.linspace(0.01, 0.99, 60), [0.2] * 59 + [1.0], width=0.01)   # the last: full height
    ax.legend(["noisy"], loc="lower right", frameon=True, framealpha=1.0, fontsize=14)
    assert any("of a bar" in p for p in layout_problems(measure(fig)))
    twin = ax.twinx()
    twin.step([0, 0.5, 1], [4, 0.3, 0.3], where="post", color="k")   # low on the right
    twin.set(ylim=(0, 5), ylabel="z")
    twin.text(0.25, 4, "on the step", ha="center", va="center")
    problems = layout_problems(measure(fig))
    assert any("legend lies on line '_child" in p for p in problems)        # the twin's step
    assert any("'on the step' lies on line" in p for p in problems)


def test_unusual_layouts_raise_no_false_alarms(figure):
    """Suptitles, axes turned off or hidden, rotated tick labels, an annotation's arrow across a
    line, a transparent legend frame and dates: none of them is a problem."""
    fig, ax = figure
    fig.suptitle("a suptitle")
    ax.plot([0, 1], [0.5, 0.5], label="data")
    ax.set_xticks([0.2, 0.4, 0.6, 0.8], [f"category number {i}" for i in range(4)],
                  rotation=45, ha="right")
    ax.set(ylabel="y", ylim=(0, 1))
    ax.annotate("a point", xy=(0.45, 0.8), xytext=(0.6, 0.2), arrowprops={"arrowstyle": "->"})
    ax.legend(loc="upper left", frameon=True, framealpha=0.0)
    hidden = fig.add_axes((0.3, 0.3, 0.3, 0.3))
    hidden.set_title("never drawn")
    hidden.set_visible(False)
    off = fig.add_axes((0.75, 0.6, 0.1, 0.1))
    off.axis("off")
    assert layout_problems(measure(fig)) == []
    assert not legend_cover(ax.get_legend(), ax)["opaque"]
    assert not _is_number("2020-01-01") and _is_number("$\\mathdefault{2\\times10^{-3}}$")


def test_subfigures_are_measured():
    fig = plt.figure(figsize=(6, 3), dpi=100)
    block = fig.subfigures(1, 1)
    ax = block.subplots()
    ax.plot([0, 1], [0.5, 0.5], label="flat")
    ax.set(xlabel="x", ylabel="y", title="panel title")
    block.suptitle("a block title", y=0.9)                 # pushed onto the panel's title
    block.legend(loc="center", frameon=False)              # on the flat line
    problems = layout_problems(measure(fig))
    plt.close(fig)
    assert any("'a block title' overlaps" in p or "overlaps figure text 'a block title'" in p
               for p in problems)
    assert any("the legend lies on line 'flat'" in p for p in problems)


def test_a_line_far_outside_the_axes_is_sampled_only_inside():
    fig, ax = plt.subplots(figsize=(6, 3), dpi=100)
    n = 3000
    ax.plot(np.arange(n), np.where(np.arange(n) % 2, 1e6, -1e6) * np.linspace(0, 1, n))
    ax.set_ylim(-5, 5)
    fig.draw_without_rendering()
    (_, _, points), = _data_samples(ax)
    plt.close(fig)
    height = ax.get_window_extent().height
    assert len(points) < n * 2 * height     # each crossing: about the axes' height in pixels


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


def _solution_cells(notebook: Path) -> set[str]:
    """The code cells inside the chapter's exercise solutions (shown in a narrower column)."""
    inside, cells = False, set()
    for cell in json.loads(notebook.read_text())["cells"]:
        text = "".join(cell["source"])
        inside = inside or ":::{solution-start}" in text
        if cell["cell_type"] == "code" and inside:
            cells.add(text)
        inside = inside and ":::{solution-end}" not in text
    return cells


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
    problems, in_solutions = [], _solution_cells(notebook)
    for record in _chapter_records(_probe_records(built_book), notebook):
        where = record["cell"].strip().splitlines()[0][:60]
        page_px = SOLUTION_FIGURE_PX if record["cell"] in in_solutions else PAGE_FIGURE_PX
        problems += [f"figure made by the cell starting {where!r} "
                     f"(titles {record.get('titles')}): {p}" for p in layout_problems(record, page_px)]
    assert not problems, "\n".join(problems)
