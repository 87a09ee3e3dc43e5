"""Helpers shared by the chapters: glue, and static figures on the website.

The book's chapters run in three places: the book build (Sphinx executes them), a
Jupyter or Colab kernel, and the test suite. These helpers behave sensibly in all three.
"""
from __future__ import annotations

import os
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from .checks import require_choice, require_finite, require_int_at_least

#: Environment variable that the book build sets (see the Makefile). When it is set,
#: explorers draw a static figure instead of live widgets, which a static site cannot run.
STATIC_ENV = "SGD_ESCAPE_STATIC"


def is_static_build() -> bool:
    """True while the book is being built into a static website, where the explorers draw a
    static figure (see :func:`show_explorer`) (Chapters 1-2)."""
    return os.environ.get(STATIC_ENV, "") not in ("", "0")


def glue(name: str, value, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the prose (myst-nb glue; used in every chapter, Chapters 1-7).

    Returns nothing, so that a ``glue`` call ending a cell adds no output in the book. Without
    myst-nb (Colab, say) the prose shows each number by its name, so this prints
    ``name = value`` below the cell instead. Numbers in the prose always come through here,
    never typed.
    """
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy scalars: numpy 2 prints np.float64(...), which glue cannot format
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        print(f"{name} = {value:.6g}" if isinstance(value, float) else f"{name} = {value}")
        return
    myst_glue(name, value, display=display)


def glue_numbers(prefix: str, numbers: dict) -> None:
    """:func:`glue` every entry of ``numbers`` as ``<prefix>_<key>`` (Chapter 2 glues a
    setting's constants this way). Returns nothing."""
    for key, value in numbers.items():
        glue(f"{prefix}_{key}", value)


def bound_text(value: float, side: str, digits: int = 2, percent: bool = False) -> str:
    """``value`` as text, rounded outward to ``digits`` significant figures so that a bound stays
    true once printed: up for ``side="upper"`` ("at most 0.11" for 0.1027), down for
    ``side="lower"`` ("at least 1.4" for 1.458); rounding to the nearest would print "at most
    0.1" and "at least 1.5" (Chapters 1-7 glue bounds this way). ``percent``: as a percentage of
    ``value`` ("1.9%" for 0.01846). Values below 0.001 or from 100,000 on are written as
    ``2.08e-04``. Returns a str."""
    value = require_finite("value", value)
    rounding = {"upper": ROUND_CEILING, "lower": ROUND_FLOOR}[require_choice("side", side, ("upper", "lower"))]
    digits = require_int_at_least("digits", digits, 1)
    if value == 0:
        return "0%" if percent else "0"
    exact = Decimal(repr(float(value))) * (100 if percent else 1)   # repr: 1.8 stays 1.8, not 1.80000000000000004
    quantum = Decimal(1).scaleb(exact.adjusted() - digits + 1)
    rounded = exact.quantize(quantum, rounding=rounding)
    if rounded.adjusted() != exact.adjusted():               # 0.996 up to 1.0: one digit fewer
        rounded = rounded.quantize(quantum.scaleb(1), rounding=rounding)
    if Decimal("1e-3") <= abs(exact) < Decimal("1e5") or percent:   # float 1e-3 lies above Decimal 0.001
        text = f"{rounded:f}"
    else:
        text = f"{float(rounded):.{digits - 1}e}"
    return text + ("%" if percent else "")


def show_explorer(build_widget, draw_static):
    """Show a live ipywidgets explorer, or on the static site the figure that stands in for it
    (the explorers of Chapters 1 and 2).

    ``build_widget()`` returns the widget; ``draw_static()`` draws the default-parameter figure.
    Returns the widget (after displaying it), or on the static site what ``draw_static()``
    returns (the matplotlib figure, which the notebook then shows).
    """
    if is_static_build():
        return draw_static()
    from IPython.display import display

    widget = build_widget()
    display(widget)
    return widget
