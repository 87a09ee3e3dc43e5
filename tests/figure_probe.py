"""Measure a figure's layout as the book shows it: text size, text collisions, legends on data.

Used in two ways:

- ``measure(fig)`` returns the measurements of one matplotlib figure (tests call it directly);
- in the book build of the tests, every notebook kernel runs :func:`install` at start-up
  (an IPython start-up file, see ``conftest._build_book``). It wraps IPython's
  ``print_figure``, through which the inline backend and ``glue`` turn every displayed figure
  into a PNG, and appends one JSON line per figure to the file named by
  ``SGD_ESCAPE_FIGURE_PROBE``. It only reads the figure; the PNG is made as before.

All lengths are in the pixels of the PNG (the figure's dpi); ``test_figure_layout.py`` turns
them into pixels on the page.
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

PROBE_ENV = "SGD_ESCAPE_FIGURE_PROBE"


def _box(extent) -> tuple[float, float, float, float]:
    return (float(extent.x0), float(extent.y0), float(extent.x1), float(extent.y1))


def _overlap_area(a, b) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(width, 0.0) * max(height, 0.0)


def _inside(points: np.ndarray, box) -> np.ndarray:
    return ((points[:, 0] >= box[0]) & (points[:, 0] <= box[2])
            & (points[:, 1] >= box[1]) & (points[:, 1] <= box[3]))


def _drawn(text) -> bool:
    return bool(text.get_visible() and text.get_text().strip())


def _sample_polyline(points: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """Points every ``spacing`` pixels along a polyline (display coordinates); NaN breaks it."""
    start, end = points[:-1], points[1:]
    finite = np.isfinite(start).all(axis=1) & np.isfinite(end).all(axis=1)
    start, end = start[finite], end[finite]
    if len(start) == 0:
        return points[np.isfinite(points).all(axis=1)]
    steps = np.maximum(np.ceil(np.hypot(*(end - start).T) / spacing), 1).astype(int)
    steps = np.minimum(steps, 100_000)             # a segment far off-axis (log scales): enough
    where = np.repeat(np.arange(len(start)), steps)
    fraction = (np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps)) / steps[where]
    return start[where] + fraction[:, None] * (end - start)[where]


def _data_samples(ax) -> list[tuple[str, bool, np.ndarray]]:
    """Each line and scatter of ``ax`` as (name, whether it is markers, display pixels inside the
    axes): a drawn line is sampled once per pixel along it, markers once per marker."""
    from matplotlib.collections import LineCollection, PathCollection

    samples = []
    for line in ax.lines:
        if not line.get_visible() or len(line.get_xydata()) == 0:
            continue
        points = line.get_transform().transform(line.get_xydata())
        drawn = line.get_linestyle() not in ("None", " ", "") and line.get_linewidth() > 0
        samples.append((f"line {line.get_label()!r}", not drawn,
                        _sample_polyline(points) if drawn else points))
    for collection in ax.collections:
        if not collection.get_visible():
            continue
        if isinstance(collection, LineCollection):
            transform = collection.get_transform()
            parts = [_sample_polyline(transform.transform(np.asarray(segment)))
                     for segment in collection.get_segments() if len(segment) > 1]
            if parts:
                samples.append((f"lines {collection.get_label()!r}", False, np.concatenate(parts)))
        elif isinstance(collection, PathCollection) and len(collection.get_offsets()):
            points = collection.get_offset_transform().transform(collection.get_offsets())
            samples.append((f"points {collection.get_label()!r}", True, points))
    frame = _box(ax.get_window_extent())
    return [(name, markers, points[_inside(points, frame)])
            for name, markers, points in ((n, m, p[np.isfinite(p).all(axis=1)])
                                          for n, m, p in samples)]


def data_under(boxes: list, ax) -> dict:
    """The line and the markers of ``ax`` most covered by ``boxes`` (display pixels): for lines,
    ``line`` (its name), ``line_pixels`` (pixels of it under a box) and ``line_fraction``; for
    markers, ``markers``, ``marker_count`` and ``marker_fraction``."""
    worst = {"line": None, "line_pixels": 0, "line_fraction": 0.0,
             "markers": None, "marker_count": 0, "marker_fraction": 0.0}
    for name, markers, points in _data_samples(ax):
        covered = np.zeros(len(points), dtype=bool)
        for box in boxes:
            covered |= _inside(points, box)
        keys = (("markers", "marker_count", "marker_fraction") if markers
                else ("line", "line_pixels", "line_fraction"))
        if covered.sum() > worst[keys[1]]:
            worst.update(zip(keys, (name, int(covered.sum()), float(covered.mean()))))
    return worst


def _bar_boxes(ax) -> list:
    """Bars of ``ax`` in display pixels; not spans (``axvspan``/``axhspan`` shade a band
    across the whole axes, and a legend on a shaded band hides nothing)."""
    from matplotlib.patches import Rectangle

    frame = _box(ax.get_window_extent())
    boxes = [_box(patch.get_window_extent()) for patch in ax.patches
             if isinstance(patch, Rectangle) and patch.get_visible()]
    return [b for b in boxes if b[3] - b[1] < 0.99 * (frame[3] - frame[1])
            and b[2] - b[0] < 0.99 * (frame[2] - frame[0])]


def _legend_boxes(legend) -> tuple[bool, list]:
    """Whether the legend hides what lies behind it, and the boxes that matter: its whole box
    when its frame is drawn (and mostly opaque), else only its entries (texts and handles)."""
    frame = legend.get_frame()
    if legend.get_frame_on() and frame.get_visible() and (frame.get_alpha() or 1.0) >= 0.5:
        return True, [_box(legend.get_window_extent())]
    entries = list(legend.get_texts()) + list(legend.legend_handles) + [legend.get_title()]
    return False, [_box(a.get_window_extent()) for a in entries
                   if a is not None and a.get_visible() and not (hasattr(a, "get_text")
                                                                and not a.get_text().strip())]


def legend_cover(legend, ax) -> dict:
    """What ``legend`` hides of ``ax``: :func:`data_under` its boxes (see
    :func:`_legend_boxes`), whether it is ``opaque``, and the share of bar area under it
    (``bar_fraction``)."""
    opaque, boxes = _legend_boxes(legend)
    bars = _bar_boxes(ax)
    bar_area = sum((b[2] - b[0]) * (b[3] - b[1]) for b in bars)
    hidden = sum(_overlap_area(b, box) for b in bars for box in boxes)
    return {"opaque": opaque, **data_under(boxes, ax),
            "bar_fraction": hidden / bar_area if bar_area > 0 else 0.0}


def _tick_labels(axis, frame, along: int) -> list:
    """The tick labels ``axis`` draws: the axis is shown and the tick lies within the axes
    (``get_ticklabels`` also lists the locator's ticks beyond the view limits)."""
    if not axis.get_visible():
        return []
    labels = [t for t in axis.get_ticklabels(which="both") if _drawn(t)]
    centre = [np.mean(_box(t.get_window_extent())[along::2]) for t in labels]
    return [t for t, c in zip(labels, centre) if frame[along] - 1 <= c <= frame[along + 2] + 1]


def text_on_data(ax) -> list[dict]:
    """Each text placed in ``ax`` (``ax.text``, ``annotate``) with :func:`data_under` its box."""
    return [{"text": text.get_text()[:40], **data_under([_box(text.get_window_extent())], ax)}
            for text in ax.texts if _drawn(text)]


def _axes_texts(ax) -> list[tuple[str, object]]:
    texts = [("title", t) for t in (ax.title, ax._left_title, ax._right_title)]  # no public list
    texts += [("text", t) for t in ax.texts]
    if ax.name != "3d":                    # 3-D axes place ticks and labels in projection
        frame = _box(ax.get_window_extent())
        texts += [("x label", ax.xaxis.label), ("y label", ax.yaxis.label)]
        texts += [("x tick", t) for t in _tick_labels(ax.xaxis, frame, 0)]
        texts += [("y tick", t) for t in _tick_labels(ax.yaxis, frame, 1)]
    return [(kind, t) for kind, t in texts if _drawn(t) and (kind == "text" or t.axes is None
                                                            or t.axes.get_visible())]


def _legends(fig) -> list[tuple[object, object | None]]:
    """Every drawn legend with the axes it belongs to (None for a figure legend)."""
    found = [(ax.get_legend(), ax) for ax in fig.axes if ax.get_legend() is not None]
    found += [(legend, None) for legend in fig.legends]
    return [(legend, ax) for legend, ax in found if legend.get_visible()]


def text_collisions(fig, min_area: float = 4.0) -> list[str]:
    """Pairs of drawn texts whose boxes overlap by more than ``min_area`` square pixels.

    Texts: every axes' titles, axis labels, tick labels and annotations, the figure's own texts
    (suptitle, ...), and every legend's box (a text under a legend is hidden). Tick labels of one
    axis may not touch either (crowded ticks)."""
    entries = []
    for index, ax in enumerate(fig.axes):
        entries += [(f"axes {index} {kind} {t.get_text()!r}", _box(t.get_window_extent()))
                    for kind, t in _axes_texts(ax)]
    entries += [(f"figure text {t.get_text()!r}", _box(t.get_window_extent()))
                for t in fig.texts + [fig._suptitle, fig._supxlabel, fig._supylabel]
                if t is not None and _drawn(t)]
    entries += [(f"legend of {'figure' if ax is None else f'axes {fig.axes.index(ax)}'}",
                 _box(legend.get_window_extent())) for legend, ax in _legends(fig)]
    return [f"{a} overlaps {b} ({_overlap_area(p, q):.0f} px^2)"
            for i, (a, p) in enumerate(entries) for b, q in entries[i + 1:]
            if _overlap_area(p, q) > min_area]


def _is_number(tick: str) -> bool:
    """Whether a tick label is a number as matplotlib writes them ('0.5', '−2', '$10^{-3}$')."""
    plain = re.sub(r"\\mathdefault|\\times|[${}^\s]", "", tick).replace("\u2212", "-")
    return re.fullmatch(r"[-+0-9.eE]+", plain) is not None and any(ch.isdigit() for ch in plain)


def unlabelled_axes(fig) -> list[str]:
    """Axes with numbers on their x or y ticks that do not say what the numbers measure: no
    axis label on it, nor on an axes sharing that axis (panels side by side label one y axis).
    Ticks that name categories, insets (child axes) and 3-D axes are not held to it."""
    missing = []
    for index, ax in enumerate(fig.axes):
        if ax.name == "3d" or not ax.get_visible() or any(ax in a.child_axes for a in fig.axes):
            continue
        frame = _box(ax.get_window_extent())
        for along, (name, axis, shared) in enumerate((("x", ax.xaxis, ax.get_shared_x_axes()),
                                                      ("y", ax.yaxis, ax.get_shared_y_axes()))):
            if not any(_is_number(t.get_text()) for t in _tick_labels(axis, frame, along)):
                continue
            labels = [(a.xaxis if along == 0 else a.yaxis).label for a in shared.get_siblings(ax)]
            if not any(_drawn(label) for label in labels):
                missing.append(f"axes {index} has {name} tick labels and no {name} label")
    return missing


def font_sizes(fig) -> list[tuple[float, str]]:
    """(size in points, text) of every drawn text of ``fig``, smallest first."""
    from matplotlib.text import Text

    texts = [t for t in fig.findobj(Text) if _drawn(t)]
    return sorted((float(t.get_fontsize()), t.get_text()[:40]) for t in texts)


def _pad_inches() -> float:
    import matplotlib as mpl

    return float(mpl.rcParams["savefig.pad_inches"])


def measure(fig) -> dict:
    """Every measurement of one figure, laid out as it is drawn (a JSON-ready dict)."""
    fig.draw_without_rendering()
    sizes = font_sizes(fig)
    covers = []
    for legend, ax in _legends(fig):
        for target in ([ax] if ax is not None else fig.axes):
            cover = legend_cover(legend, target)
            covers.append({"axes": fig.axes.index(target), **cover})
    return {
        # The PNG: the tight box plus savefig's padding on both sides.
        "width_px": float((fig.get_tightbbox().width + 2 * _pad_inches()) * fig.dpi),
        "dpi": float(fig.dpi),
        "smallest_font_pt": sizes[0][0] if sizes else None,
        "smallest_font_text": sizes[0][1] if sizes else None,
        "collisions": text_collisions(fig),
        "unlabelled": unlabelled_axes(fig),
        "texts_on_data": [{"axes": i, **t} for i, ax in enumerate(fig.axes) if ax.name != "3d"
                          for t in text_on_data(ax)],
        "legend_covers": covers,
        "titles": [ax.get_title() for ax in fig.axes if ax.get_title()][:4],
    }


def install() -> None:
    """Record every figure an IPython kernel turns into an image (see the module docstring)."""
    from IPython import get_ipython
    from IPython.core import pylabtools

    original = pylabtools.print_figure
    shell = get_ipython()

    def probed_print_figure(fig, *args, **kwargs):
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
