"""Interactive explorer of Chapter 1: rerun SGD on the spiky function live.

In Jupyter or Colab, :func:`figure3_explorer` returns sliders for the noise radius, step
size, number of steps and trials; every change reruns the (vectorised) simulation and
redraws one Figure-3 panel. On the static website the book shows :func:`draw_sgd_panel`
at the default values instead (see ``sgd_escape.book.show_explorer``).
"""
from __future__ import annotations

import numpy as np

from .checks import require_int_at_least, require_nonnegative, require_positive
from .landscapes import FIGURE3, Figure3Setup, SpikyFunction
from .sgd import run_sgd

#: Largest noise radius the explorer offers.
MAX_NOISE = 1.5


def draw_sgd_panel(f: SpikyFunction, noise: float = FIGURE3.noise_levels["medium"],
                   step_size: float = FIGURE3.step_size, steps: int = FIGURE3.steps,
                   trials: int = FIGURE3.trials, seed: int = 0, ax=None, setup: Figure3Setup = FIGURE3):
    """One Figure-3 panel for any parameters: the convolved ``f``, last iterates, counts (Chapter 1).

    Trials start uniformly in ``setup``'s initial region; the title reports the share that
    ends in its centre region.
    """
    import matplotlib.pyplot as plt
    from .figure3 import PLOT_MARGIN, _draw_last_iterates

    noise = require_nonnegative("noise", noise)
    step_size = require_positive("step_size", step_size)
    steps = require_int_at_least("steps", steps, 1)
    trials = require_int_at_least("trials", trials, 1)
    rng = np.random.default_rng(require_int_at_least("seed", seed, 0))
    x0 = rng.uniform(-setup.init_half_width, setup.init_half_width, trials)
    last = run_sgd(f.grad, x0, step_size, noise, steps, rng)
    ax = ax or plt.subplots(figsize=(7, 3.4))[1]
    if not np.all(np.isfinite(last)):
        span = setup.init_half_width + PLOT_MARGIN
        largest = f.max_second_derivative(-span, span)
        ax.set_title(f"eta = {step_size:g}: the iterates diverged (eta x max f'' = {step_size * largest:.2f})")
        return ax
    _draw_last_iterates(ax, f, last, step_size * noise, setup.init_half_width + PLOT_MARGIN)
    centre = setup.centre_half_width
    inside = np.mean(np.abs(last) <= centre)
    ax.set_title(f"r = {noise:g}, eta = {step_size:g}, {steps} steps: {inside:.0%} of {trials} trials end in [-{centre:g}, {centre:g}]")
    return ax


def figure3_explorer(f: SpikyFunction, setup: Figure3Setup = FIGURE3):
    """Sliders for (noise, step size, steps, trials) that rerun :func:`draw_sgd_panel` live,
    starting at ``setup``'s medium-noise panel (Chapter 1)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    sliders = {
        "noise": widgets.FloatSlider(value=setup.noise_levels["medium"], min=0.0, max=MAX_NOISE, step=0.05,
                                     description="noise r"),
        "step_size": widgets.FloatSlider(value=setup.step_size, min=0.1, max=2.0, step=0.1, description="step size"),
        "steps": widgets.IntSlider(value=setup.steps, min=10, max=5000, step=10, description="steps"),
        "trials": widgets.IntSlider(value=setup.trials, min=1, max=1000, step=1, description="trials"),
    }
    output = widgets.Output()

    def redraw(_change=None):
        with output:
            output.clear_output(wait=True)
            draw_sgd_panel(f, **{name: slider.value for name, slider in sliders.items()}, setup=setup)
            plt.show()

    for slider in sliders.values():
        slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox(list(sliders.values())[:2]), widgets.HBox(list(sliders.values())[2:]), output])
