"""One plot style for the whole book, so that figures look alike across chapters."""
from __future__ import annotations

import matplotlib as mpl

#: Colours used with one meaning throughout the book.
COLORS = {
    "f": "0.25",            # the original function
    "convolved": "tab:orange",
    "iterate": "tab:red",   # last iterates (red dots, as in the paper's Figure 3)
    "count": "tab:blue",    # cumulative counts (blue bars, as in Figure 3)
    "bound": "tab:green",   # a theoretical bound
    "target": "black",      # x*
}


def use_book_style() -> None:
    """Apply the book's matplotlib defaults (call once at the top of a chapter; used in every
    chapter, Chapters 1-7). Changes ``matplotlib.rcParams`` in place; returns None."""
    mpl.rcParams.update({
        "figure.dpi": 110,
        "savefig.dpi": 110,
        "figure.figsize": (7.0, 3.6),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.25,
        "font.size": 10,
        "legend.frameon": False,
    })
