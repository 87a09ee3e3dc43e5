"""Measure a figure's layout as the book shows it: text size, text collisions, legends on data.

Used in two ways:

- ``measure(fig)`` returns the measurements of one matplotlib figure (tests call it directly);
- in the book build of the tests, every notebook kernel runs :func:`install` at start-up
  (an IPython start-up file, see ``conftest._build_book``). It wraps IPython's
  ``print_figure``, through which the inline backend and ``glue`` turn every displayed figure
  into a PNG, and appends one JSON line per figure to the file named by
  ``SGD_ESCAPE_FIGURE_PROBE``. It only reads the figure; the PNG is made as before.

All lengths are in the pixels of the PNG (the figure's dpi); ``test_figure_layout.py`` turns
them into pixels on the page and decides what is too much.

What it sees of the data: lines (as drawn, steps included), markers, line collections, scatter
points, bars and filled areas (``fill_between``: the bands of a mean's spread). Not images,
contours or spans across the axes (``axvspan``): the book draws them as backgrounds (level sets
behind a path, say), on which a label or a legend may lie. Texts are
compared by their upright boxes; labels rotated by other than a multiple of 90 degrees are not
compared with each other (their boxes overlap where the texts do not).
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

PROBE_ENV = "SGD_ESCAPE_FIGURE_PROBE"
NO_MARKER = (None, "None", "none", "", " ")


# ---- geometry, in display pixels; a box is (x0, y0, x1, y1) ----

def _box(extent) -> tuple[float, float, float, float]:
    return (float(extent.x0), float(extent.y0), float(extent.x1), float(extent.y1))


def _overlap_area(a, b) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(width, 0.0) * max(height, 0.0)


def _inside(points: np.ndarray, box) -> np.ndarray:
    return ((points[:, 0] >= box[0]) & (points[:, 0] <= box[2])
            & (points[:, 1] >= box[1]) & (points[:, 1] <= box[3]))


def _clip_segments(start: np.ndarray, end: np.ndarray, box):
    """The part of each segment inside ``box`` (Liang-Barsky); segments outside it dropped."""
    delta = end - start
    enter, leave = np.zeros(len(start)), np.ones(len(start))
    for along, (low, high) in enumerate(((box[0], box[2]), (box[1], box[3]))):
        d, s = delta[:, along], start[:, along]
        inside = (s >= low) & (s <= high)
        with np.errstate(divide="ignore", invalid="ignore"):
            a, b = (low - s) / d, (high - s) / d
        enter = np.maximum(enter, np.where(d == 0, np.where(inside, 0.0, np.inf), np.minimum(a, b)))
        leave = np.minimum(leave, np.where(d == 0, np.where(inside, 1.0, -np.inf), np.maximum(a, b)))
    keep = enter <= leave
    return start[keep] + enter[keep, None] * delta[keep], start[keep] + leave[keep, None] * delta[keep]


def _sample_polyline(points: np.ndarray, frame) -> np.ndarray:
    """One point per pixel along a polyline, within ``frame`` (the axes); NaN breaks the line."""
    start, end = points[:-1], points[1:]
    finite = np.isfinite(start).all(axis=1) & np.isfinite(end).all(axis=1)
    start, end = _clip_segments(start[finite], end[finite], frame)
    steps = np.maximum(np.ceil(np.hypot(*(end - start).T)), 1).astype(int)
    where = np.repeat(np.arange(len(start)), steps)
    fraction = (np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps)) / steps[where]
    return start[where] + fraction[:, None] * (end - start)[where]


# ---- what a figure draws ----

def _drawn(text) -> bool:
    return bool(text.get_visible() and text.get_text().strip())


def _text_box(text):
    """A text's own box; an annotation's ``get_window_extent`` also covers its arrow."""
    from matplotlib.text import Text

    return _box(Text.get_window_extent(text))


def _upright(text) -> bool:
    return text.get_rotation() % 90 == 0


def _shown_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def _subfigures(fig) -> list:
    """``fig`` and every subfigure in it, nested ones included."""
    return [fig] + [sub for child in fig.subfigs for sub in _subfigures(child)]


def _tick_labels(ax, along: int) -> list:
    """The tick labels ``ax`` draws on x (``along`` 0) or y (1): the axes shows its axes, the
    axis is visible and the tick lies within the axes (``get_ticklabels`` also lists the
    locator's ticks beyond the view limits)."""
    axis = (ax.xaxis, ax.yaxis)[along]
    if not (ax.axison and axis.get_visible()):
        return []
    frame = _box(ax.get_window_extent())
    labels = [t for t in axis.get_ticklabels(which="both") if _drawn(t)]
    centre = [np.mean(_box(t.get_window_extent())[along::2]) for t in labels]
    return [t for t, c in zip(labels, centre) if frame[along] - 1 <= c <= frame[along + 2] + 1]


def _axes_texts(ax) -> list[tuple[str, object]]:
    """(kind, text) of every text ``ax`` draws, tick labels included (not for 3-D axes, which
    place them in projection)."""
    texts = [("title", t) for t in (ax.title, ax._left_title, ax._right_title)]  # no public list
    texts += [("text", t) for t in ax.texts]
    if ax.name != "3d" and ax.axison:
        texts += [("x label", ax.xaxis.label), ("y label", ax.yaxis.label)]
        texts += [("x tick", t) for t in _tick_labels(ax, 0)]
        texts += [("y tick", t) for t in _tick_labels(ax, 1)]
    return [(kind, t) for kind, t in texts if _drawn(t)]


def _legends(fig) -> list[tuple[str, object]]:
    """(owner, legend) of every drawn legend: of an axes, of the figure or of a subfigure."""
    found = [(f"axes {fig.axes.index(ax)}", ax.get_legend()) for ax in _shown_axes(fig)]
    found += [("figure", legend) for sub in _subfigures(fig) for legend in sub.legends]
    return [(owner, legend) for owner, legend in found if legend is not None and legend.get_visible()]


def _data_samples(ax) -> list[tuple[str, bool, np.ndarray]]:
    """(name, whether markers, display pixels within the axes) of each line, line collection
    and scatter of ``ax``: a drawn line once per pixel along it, markers once per marker."""
    from matplotlib.cbook import STEP_LOOKUP_MAP
    from matplotlib.collections import LineCollection, PathCollection

    frame, samples = _box(ax.get_window_extent()), []
    for line in (line for line in ax.lines if line.get_visible() and len(line.get_xydata())):
        vertices, path = line.get_xydata(), line.get_xydata()
        if line.get_drawstyle() in STEP_LOOKUP_MAP:            # "steps-post" and the like
            path = np.column_stack(STEP_LOOKUP_MAP[line.get_drawstyle()](*vertices.T))
        to_display = line.get_transform().transform
        if line.get_linestyle() not in ("None", " ", "") and line.get_linewidth() > 0:
            samples.append((f"line {line.get_label()!r}", False,
                            _sample_polyline(to_display(path), frame)))
        if line.get_marker() not in NO_MARKER:
            samples.append((f"markers of {line.get_label()!r}", True, to_display(vertices)))
    for collection in (c for c in ax.collections if c.get_visible()):
        if isinstance(collection, LineCollection):
            transform = collection.get_transform()
            parts = [_sample_polyline(transform.transform(np.asarray(segment)), frame)
                     for segment in collection.get_segments() if len(segment) > 1]
            samples.append((f"lines {collection.get_label()!r}", False,
                            np.concatenate(parts) if parts else np.empty((0, 2))))
        elif isinstance(collection, PathCollection) and len(collection.get_offsets()):
            points = collection.get_offset_transform().transform(collection.get_offsets())
            samples.append((f"points {collection.get_label()!r}", True, points))
    return [(name, markers, points[np.isfinite(points).all(axis=1) & _inside(points, frame)])
            for name, markers, points in samples]


def _bar_boxes(ax) -> list:
    """The bars of ``ax`` (``bar``, ``barh``, ``hist``: its bar containers; not spans)."""
    from matplotlib.container import BarContainer

    return [_box(patch.get_window_extent()) for container in ax.containers
            if isinstance(container, BarContainer) for patch in container.patches
            if patch.get_visible()]


def _fill_areas(ax, spacing: float = 2.0) -> list[np.ndarray]:
    """Each filled area of ``ax`` (``fill_between``: its polygon collections) as the display
    pixels inside it and the axes, one every ``spacing`` pixels each way."""
    from matplotlib.collections import PolyCollection

    frame, areas = _box(ax.get_window_extent()), []
    for collection in (c for c in ax.collections if c.get_visible()):
        if not isinstance(collection, PolyCollection):
            continue
        for path in collection.get_paths():
            outline = path.transformed(collection.get_transform())
            low = np.maximum(outline.vertices.min(axis=0), frame[:2])
            high = np.minimum(outline.vertices.max(axis=0), frame[2:])
            if (high <= low).any():
                continue
            grid = np.stack(np.meshgrid(*(np.arange(a, b, spacing) for a, b in zip(low, high))), -1)
            inside = grid.reshape(-1, 2)[outline.contains_points(grid.reshape(-1, 2))]
            if len(inside):
                areas.append(inside)
    return areas


# ---- measurements ----

def data_under(boxes: list, samples: list) -> list[dict]:
    """Every line or set of markers (``samples`` from :func:`_data_samples`) that lies partly
    under ``boxes``: its name (``artist``), ``markers``, ``count`` (pixels of a line, or
    markers) and ``fraction`` of it."""
    found = []
    for name, markers, points in samples:
        covered = np.zeros(len(points), dtype=bool)
        for box in boxes:
            covered |= _inside(points, box)
        if covered.any():
            found.append({"artist": name, "markers": markers, "count": int(covered.sum()),
                          "fraction": float(covered.mean())})
    return found


def _legend_boxes(legend) -> tuple[bool, list]:
    """Whether the legend hides what lies behind it, and the boxes that matter: its whole box
    when its frame is drawn and mostly opaque, else only its entries (texts and handles)."""
    frame = legend.get_frame()
    if legend.get_frame_on() and frame.get_visible() and frame.get_facecolor()[3] >= 0.5:
        return True, [_box(legend.get_window_extent())]
    entries = list(legend.get_texts()) + list(legend.legend_handles) + [legend.get_title()]
    return False, [_box(a.get_window_extent()) for a in entries
                   if a is not None and a.get_visible() and not (hasattr(a, "get_text")
                                                                and not a.get_text().strip())]


def legend_cover(legend, ax, samples: list | None = None) -> dict:
    """What ``legend`` hides of ``ax``: whether it is ``opaque``, the lines and markers
    ``covered`` (:func:`data_under`), ``bar_fraction``, the largest share of one bar under it,
    and ``fill_fraction``, the largest share of one filled area under it.
    ``samples``: ``_data_samples(ax)``, when already at hand."""
    opaque, boxes = _legend_boxes(legend)
    bar_fraction = max((sum(_overlap_area(bar, box) for box in boxes)
                        / max((bar[2] - bar[0]) * (bar[3] - bar[1]), 1e-9)
                        for bar in _bar_boxes(ax)), default=0.0)
    fill_fraction = max((item["fraction"] for item in data_under(boxes, [
        ("fill", False, area) for area in _fill_areas(ax)])), default=0.0)
    samples = _data_samples(ax) if samples is None else samples
    return {"opaque": opaque, "covered": data_under(boxes, samples), "bar_fraction": bar_fraction,
            "fill_fraction": fill_fraction}


def text_on_data(ax, samples: list | None = None) -> list[dict]:
    """Each text placed in ``ax`` (``ax.text``, ``annotate``; its arrow aside) with the lines and
    markers ``covered`` by its box (:func:`data_under`)."""
    samples = _data_samples(ax) if samples is None else samples
    return [{"text": text.get_text()[:40], "covered": data_under([_text_box(text)], samples)}
            for text in ax.texts if _drawn(text)]


def _all_texts(fig) -> list[tuple[str, object]]:
    """(description, text) of every text ``fig`` draws outside legends."""
    texts = [(f"axes {fig.axes.index(ax)} {kind} {t.get_text()!r}", t)
             for ax in _shown_axes(fig) for kind, t in _axes_texts(ax)]
    return texts + [(f"figure text {t.get_text()!r}", t)        # suptitle, supxlabel, fig.text
                    for sub in _subfigures(fig) for t in sub.texts if _drawn(t)]


def text_collisions(fig, min_area: float = 4.0) -> list[str]:
    """Pairs of drawn texts whose boxes overlap by more than ``min_area`` square pixels: titles,
    axis labels, tick labels (crowded ticks), annotations and figure texts, and every legend's
    box (a text under a legend is hidden). Two rotated texts are not compared."""
    entries = [(name, _text_box(t), _upright(t)) for name, t in _all_texts(fig)]
    entries += [(f"legend of {owner}", _box(legend.get_window_extent()), True)
                for owner, legend in _legends(fig)]
    return [f"{a} overlaps {b} ({_overlap_area(p, q):.0f} px^2)"
            for i, (a, p, upright_a) in enumerate(entries) for b, q, upright_b in entries[i + 1:]
            if (upright_a or upright_b) and _overlap_area(p, q) > min_area]


def _is_number(tick: str) -> bool:
    """Whether a tick label is a number as matplotlib writes them ('0.5', '−2', '$10^{-3}$',
    '$2\\times10^{3}$'); not a date or a category."""
    plain = re.sub(r"\\mathdefault|[${}\s]", "", tick).replace("\u2212", "-").replace("^", "e")
    number = r"[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?"
    return all(re.fullmatch(number, part) for part in plain.split("\\times"))


def unlabelled_axes(fig) -> list[str]:
    """Axes with numbers on their x or y ticks that do not say what the numbers measure: no
    axis label on it, nor on an axes sharing that axis (panels side by side label one y axis).
    Ticks that name categories or dates, insets (child axes) and 3-D axes are not held to it."""
    missing = []
    for ax in _shown_axes(fig):
        if ax.name == "3d" or any(ax in a.child_axes for a in fig.axes):
            continue
        for along, name in enumerate("xy"):
            if not any(_is_number(t.get_text()) for t in _tick_labels(ax, along)):
                continue
            shared = (ax.get_shared_x_axes(), ax.get_shared_y_axes())[along]
            labels = [(a.xaxis, a.yaxis)[along].label for a in shared.get_siblings(ax)]
            if not any(_drawn(label) for label in labels):
                missing.append(f"axes {fig.axes.index(ax)} has {name} tick labels and no {name} label")
    return missing


def font_sizes(fig) -> list[tuple[float, str]]:
    """(size in points, text) of every drawn text of ``fig``, legends and 3-D ticks included,
    smallest first."""
    texts = [t for _, t in _all_texts(fig)]
    texts += [t for _, legend in _legends(fig) for t in legend.get_texts() + [legend.get_title()]]
    texts += [t for ax in _shown_axes(fig) if ax.name == "3d"
              for axis in (ax.xaxis, ax.yaxis, ax.zaxis) for t in axis.get_ticklabels() + [axis.label]]
    return sorted((float(t.get_fontsize()), t.get_text()[:40]) for t in texts if _drawn(t))


def _pad_inches() -> float:
    import matplotlib as mpl

    return float(mpl.rcParams["savefig.pad_inches"])


def measure(fig) -> dict:
    """Every measurement of one figure, laid out as it is drawn (a JSON-ready dict)."""
    fig.draw_without_rendering()
    sizes = font_sizes(fig)
    shown = [ax for ax in _shown_axes(fig) if ax.name != "3d"]
    samples = {ax: _data_samples(ax) for ax in shown}          # once per axes: the costly part
    covers = []
    for _, legend in _legends(fig):
        outline = _box(legend.get_window_extent())
        for ax in shown:                  # every axes it lies on: a twin's lines, say
            if _overlap_area(outline, _box(ax.get_window_extent())) > 0:
                covers.append({"axes": fig.axes.index(ax), **legend_cover(legend, ax, samples[ax])})
    return {
        # The PNG: the tight box plus savefig's padding on both sides.
        "width_px": float((fig.get_tightbbox().width + 2 * _pad_inches()) * fig.dpi),
        "dpi": float(fig.dpi),
        "smallest_font_pt": sizes[0][0] if sizes else None,
        "smallest_font_text": sizes[0][1] if sizes else None,
        "collisions": text_collisions(fig),
        "unlabelled": unlabelled_axes(fig),
        "texts_on_data": [{"axes": fig.axes.index(ax), **t} for ax in shown
                          for t in text_on_data(ax, samples[ax])],
        "legend_covers": covers,
        # A few titles, to name the figure in a failure message.
        "titles": [ax.get_title() for ax in fig.axes if ax.get_title()][:4],
    }


def install() -> None:
    """Record every figure an IPython kernel turns into an image (see the module docstring)."""
    from IPython import get_ipython
    from IPython.core import pylabtools

    original = pylabtools.print_figure
    shell = get_ipython()

    def probed_print_figure(fig, *args, **kwargs):
        if not fig.axes and not fig.lines:        # print_figure shows nothing for these
            return original(fig, *args, **kwargs)
        try:
            record = measure(fig)
        except Exception as error:                 # a probe bug must not break the chapter
            record = {"probe_error": f"{type(error).__name__}: {error}"}
        record["cell"] = shell.history_manager.input_hist_raw[-1]
        record["format"] = kwargs.get("fmt", args[0] if args else "png")
        with open(os.environ[PROBE_ENV], "a") as out:
            out.write(json.dumps(record) + "\n")
        return original(fig, *args, **kwargs)

    # select_figure_formats looks print_figure up when the inline backend starts, so the
    # formatters it registers for Figure call this wrapper.
    pylabtools.print_figure = probed_print_figure
