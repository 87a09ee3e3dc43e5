"""Chapter 2's explorer: Theorem 1's bounds and a simulation, for chosen (eta, r, c, L).

For given constants the explorer builds the one-dimensional spiky quadratic that has exactly
one-point constant ``c`` and smoothness ``L`` under noise uniform on [-r, r]
(:meth:`SpikyQuadratic.with_constants`), runs equation (1) and draws it with the bounds.
Parameters that break a condition of Theorem 1 show the condition that fails instead; those that
no function of the family can realise (``c > L``, say) say so, without blaming the theorem.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from sgd_escape.bounded_noise import BoundedNoise
from sgd_escape.spiky_quadratic import SpikyQuadratic
from sgd_escape.theorem_experiments import ONE_DIM, Experiment, run_theorem1
from sgd_escape.theory import Theorem1Setting
from sgd_escape.theory_plots import distance_runs

DEFAULTS = dict(eta=ONE_DIM.eta, r=ONE_DIM.noise.r, c=round(ONE_DIM.setting.c, 3), L=ONE_DIM.f.L)
SPIKE_FREQUENCY = ONE_DIM.f.k
MAX_STEPS = 4000


def draw_theorem(eta: float, r: float, c: float, L: float, trials: int = 200, T2: int = 500):
    """Draw the bounds of Theorem 1 and ``trials`` runs of equation (1) for these constants (Chapter 2).

    Returns the matplotlib figure. Its title gives the share of trials within ``20 b / lambda``
    at ``T1`` (Exercise 5 of Chapter 2). Where a condition of Theorem 1 fails, it shows which;
    where the run would exceed ``MAX_STEPS`` steps, it says so.
    """
    fig, ax = plt.subplots(figsize=(7, 3.6))
    try:
        Theorem1Setting(eta, c, L, r)  # names the violated condition, if any
    except ValueError as error:
        return _message(fig, ax, f"Theorem 1 does not apply:\n{error}")
    try:  # the theorem applies; what may fail now is our family of test functions
        noise = BoundedNoise("ball", r, 1)
        f = SpikyQuadratic.with_constants(c, L, SPIKE_FREQUENCY, noise, eta)
        experiment = Experiment(f, noise, eta, ONE_DIM.initial_sq_distance)
    except ValueError as error:
        return _message(fig, ax, f"Theorem 1 applies, but no spiky quadratic of the explorer's "
                                 f"family has these constants:\n{error}")
    if experiment.T1 + T2 > MAX_STEPS:   # a limit of the explorer, not of the theorem
        return _message(fig, ax, f"Theorem 1 applies, but T1 + T2 = {experiment.T1 + T2} steps is more "
                                 f"than the explorer simulates ({MAX_STEPS}): raise eta or c")
    result = run_theorem1(experiment, T2, trials)
    distance_runs(ax, result)
    ax.set_title(f"eta={eta:.3g}, r={r:.3g}, c={c:.3g}, L={L:.3g}: T1={experiment.T1}; "
                 f"{result.within_markov_radius:.0%} of {trials} trials within 20b/lambda at T1", fontsize=9)
    return fig


def _message(fig, ax, text: str):
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def build_widget():
    """The live explorer (Chapter 2), for Jupyter and Colab: returns an ``ipywidgets.interactive``."""
    import ipywidgets as widgets

    sliders = dict(
        eta=widgets.FloatLogSlider(value=DEFAULTS["eta"], base=10, min=-4, max=-1, step=0.05, description="eta"),
        r=widgets.FloatLogSlider(value=DEFAULTS["r"], base=10, min=0, max=3, step=0.05, description="r"),
        c=widgets.FloatSlider(value=DEFAULTS["c"], min=0.05, max=2.0, step=0.01, description="c"),
        L=widgets.FloatSlider(value=DEFAULTS["L"], min=0.5, max=20.0, step=0.1, description="L"),
    )
    return widgets.interactive(lambda **kw: plt.show(draw_theorem(**kw)), **sliders)


def draw_static():
    """The default-parameter figure that stands in for the explorer on the website (Chapter 2);
    returns the matplotlib figure."""
    return draw_theorem(**DEFAULTS)
