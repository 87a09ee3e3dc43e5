"""Helpers shared by the chapters: glue, and static figures on the website.

The book's chapters run in three places: the book build (Sphinx executes them), a
Jupyter or Colab kernel, and the test suite. These helpers behave sensibly in all three.
"""
from __future__ import annotations

import os

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
