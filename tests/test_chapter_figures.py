"""What the chapters' figure helpers draw, checked against the numbers they are drawn from.

The book build only shows that these helpers run; these tests check their content: each point,
curve and band sits where an independent computation puts it. Inputs are small versions of the
chapters' own calls.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402

from sgd_escape import book, figure3, illustration  # noqa: E402
from sgd_escape import theory_plots as plots  # noqa: E402
from sgd_escape.assumption import OnePointEstimate  # noqa: E402
from sgd_escape.cifar import figures  # noqa: E402
from sgd_escape.escape_plots import plot_convexity_constant  # noqa: E402
from sgd_escape.landscapes import Figure3Setup, figure3_function  # noqa: E402
from sgd_escape.large_step import Flower  # noqa: E402
from sgd_escape.plotting import use_book_style  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _annotations(ax) -> dict:
    """Annotations with text, by their text: ``{text: annotated point}``."""
    return {t.get_text(): np.array(t.xy, dtype=float) for t in ax.texts if hasattr(t, "xy") and t.get_text()}


def _band(collection, x):
    """Lower and upper edge at each ``x`` of a band drawn by ``fill_between``."""
    vertices = collection.get_paths()[0].vertices
    edges = [vertices[np.isclose(vertices[:, 0], xi), 1] for xi in x]
    return np.array([e.min() for e in edges]), np.array([e.max() for e in edges])


# -- Chapter 1: Figures 1 and 2 ---------------------------------------------------------------

FIG1 = dict(x_t=1.35, step_size=0.04, omega=8.0)    # the chapter's x_t, eta and omega_t


def _figure1_points(f):
    """x_t, y_t and x_{t+1} of the chapter's step, computed here."""
    x_t, eta, omega = FIG1["x_t"], FIG1["step_size"], FIG1["omega"]
    y_t = x_t - eta * float(f.grad(np.array([x_t]))[0])
    return {"$x_t$": x_t, "$y_t$": y_t, "$x_{t+1}$": y_t - eta * omega}


def test_figure1_draws_f_across_x_star_and_the_well():
    f = illustration.SharpWellFunction()
    ax = illustration.plot_figure1(f, **FIG1)
    curve = ax.lines[0]
    np.testing.assert_allclose(curve.get_ydata(), f.value(curve.get_xdata()[:, None]))
    assert curve.get_xdata().min() < 0 < f.well_minimum()[0] < curve.get_xdata().max()


def test_figure1_puts_x_t_y_t_and_x_next_on_the_curve_where_the_step_moves_them():
    f = illustration.SharpWellFunction()
    ax = illustration.plot_figure1(f, **FIG1)
    expected = _figure1_points(f)
    dots = [line.get_xydata()[0] for line in ax.lines if line.get_marker() == "o"]
    on_curve = [(x, float(f.value([x]))) for x in expected.values()]
    np.testing.assert_allclose(dots, on_curve)
    labels = _annotations(ax)
    for name, point in zip(expected, on_curve):
        np.testing.assert_allclose(labels[name], point)


def test_figure1_arrows_go_from_x_t_to_y_t_then_from_y_t_to_x_next():
    f = illustration.SharpWellFunction()
    ax = illustration.plot_figure1(f, **FIG1)
    p = _figure1_points(f)
    arrows = [(t.xyann[0], t.xy[0]) for t in ax.texts if hasattr(t, "xy") and t.get_text() == ""]
    np.testing.assert_allclose(arrows, [(p["$x_t$"], p["$y_t$"]), (p["$y_t$"], p["$x_{t+1}$"])])


def _figure2():
    """The chapter's 2-D call, and the path x_t, y_t, x_{t+1} computed here."""
    f = illustration.SharpWellFunction(well=(1.2, 0.9))
    x_t, eta, omega = 0.9 * np.array([1.2, 0.9]), 0.04, 8.0 * np.array([1.2, 0.9]) / 1.5
    y_t = x_t - eta * f.grad(x_t)
    fig = illustration.plot_figure2(f, x_t, eta, omega)
    return f, fig.axes[0], np.array([x_t, y_t, y_t - eta * omega])


def test_figure2_draws_the_path_and_its_three_points_just_above_the_surface():
    f, ax, path = _figure2()
    x, y, z = ax.lines[0].get_data_3d()
    np.testing.assert_allclose(np.column_stack([x, y]), path)
    assert np.all((z > f.value(path)) & (z < f.value(path) + 0.2))
    dots = [np.ravel(np.column_stack(c._offsets3d)) for c in ax.collections[1:]]
    np.testing.assert_allclose(dots, np.column_stack([path, z]))
    labels = {t.get_text(): t.get_position_3d()[:2] for t in ax.texts}
    np.testing.assert_allclose([labels[n] for n in ("$x_t$", "$y_t$", "$x_{t+1}$")], path)


def test_figure2_surface_reaches_down_to_the_bad_minimum_where_it_lies():
    f, ax, _ = _figure2()
    heights = ax.collections[0].get_array()      # the colour of each face: its height
    assert heights.min() == pytest.approx(float(f.value(f.well_minimum())), abs=0.01)
    # Faces come row by row from a square grid spanning the data limits (the path lies inside).
    cells = math.isqrt(heights.size)
    assert cells**2 == heights.size
    row, column = divmod(int(np.argmin(heights)), cells)
    (x0, x1), (y0, y1) = ax.xy_dataLim.intervalx, ax.xy_dataLim.intervaly
    centre = [x0 + (column + 0.5) * (x1 - x0) / cells, y0 + (row + 0.5) * (y1 - y0) / cells]
    np.testing.assert_allclose(centre, f.well_minimum(), atol=1.5 * max(x1 - x0, y1 - y0) / cells)


# -- Chapter 1: Figure 3 ----------------------------------------------------------------------

# eta = 0.5, not the book's 1, so that a window drawn without eta shows.
SETUP3 = Figure3Setup(step_size=0.5, trials=20)


@pytest.fixture(scope="module")
def figure3_drawn():
    f, rng = figure3_function(), np.random.default_rng(0)
    results = {name: rng.uniform(-half, half, SETUP3.trials)
               for name, (_, half) in figure3.panel_plan(SETUP3).items()}
    fig = figure3.plot_figure3(f, results, SETUP3)
    panels = {ax.get_title().split(":")[0]: ax for ax in fig.axes if ax.get_title()}
    twins = [ax for ax in fig.axes if ax.get_ylabel() == "count"]
    yield f, results, panels, twins
    plt.close(fig)


def _row2_and_3_panels(results):
    """Panel title -> (name of its results, noise radius), in the order of the paper."""
    titles = ("F(2,1)", "F(2,2)", "F(2,3)", "F(2,4)", "F(3,2)", "F(3,3)", "F(3,4)")
    radii = (0.0, *SETUP3.noise_levels.values(), *SETUP3.stage_noises)
    return dict(zip(titles, zip(results, radii)))


def test_figure3_row1_draws_f_then_its_convolutions_with_windows_eta_times_r(figure3_drawn):
    f, _, panels, _ = figure3_drawn
    for title, name in [("F(1,2)", "small"), ("F(1,3)", "medium"), ("F(1,4)", "large")]:
        grey, convolved = panels[title].lines
        window = SETUP3.step_size * SETUP3.noise_levels[name]
        np.testing.assert_allclose(grey.get_ydata(), f.value(grey.get_xdata()))
        np.testing.assert_allclose(convolved.get_ydata(), f.convolved_value(convolved.get_xdata(), window))


def test_figure3_panel_31_draws_one_convolution_per_restart_stage(figure3_drawn):
    f, _, panels, _ = figure3_drawn
    curves = panels["F(3,1)"].lines[1:]           # after f itself
    assert len(curves) == len(SETUP3.stage_noises)
    for curve, noise in zip(curves, SETUP3.stage_noises):
        np.testing.assert_allclose(curve.get_ydata(), f.convolved_value(curve.get_xdata(), SETUP3.step_size * noise))


def test_figure3_red_dots_are_each_panels_last_iterates_on_its_convolved_curve(figure3_drawn):
    f, results, panels, _ = figure3_drawn
    for title, (name, radius) in _row2_and_3_panels(results).items():
        (dots,) = [line for line in panels[title].lines if line.get_marker() == "o"]
        np.testing.assert_allclose(dots.get_xdata(), results[name], err_msg=title)
        on_curve = f.convolved_value(results[name], SETUP3.step_size * radius)
        np.testing.assert_allclose(dots.get_ydata(), on_curve, err_msg=title)


def test_figure3_count_bars_are_the_histogram_of_each_panels_last_iterates(figure3_drawn):
    _, results, panels, twins = figure3_drawn
    for title, (name, _) in _row2_and_3_panels(results).items():
        (twin,) = [t for t in twins if t.get_shared_x_axes().joined(t, panels[title])]
        bars = twin.patches
        edges = [bar.get_x() for bar in bars] + [bars[-1].get_x() + bars[-1].get_width()]
        heights = [bar.get_height() for bar in bars]
        np.testing.assert_array_equal(heights, np.histogram(results[name], edges)[0], err_msg=title)


# -- Chapter 2 --------------------------------------------------------------------------------

def _figure4():
    flower, x_t, eta = Flower(a=0.3), np.array([np.cos(0.3), np.sin(0.3)]), 1.0     # the chapter's call
    fig, ax = plt.subplots(figsize=(4, 4))
    plots.figure4(ax, flower, x_t, eta)
    return flower, ax, x_t, x_t - eta * flower.grad(x_t)


def test_figure4_draws_x_t_and_its_gd_step_with_an_arrow_from_one_to_the_other():
    _, ax, x_t, x_next = _figure4()
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    np.testing.assert_allclose(dots[0].get_xydata(), [x_t, x_next])
    (arrow,) = [t for t in ax.texts if hasattr(t, "xy") and t.get_text() == ""]
    np.testing.assert_allclose([arrow.xyann, arrow.xy], [x_t, x_next])
    labels = _annotations(ax)
    np.testing.assert_allclose([labels["$x_t$"], labels["$x_{t+1}$"], labels["$x^*$"]], [x_t, x_next, [0, 0]])


def test_figure4_circle_through_x_t_is_centred_on_x_star():
    _, ax, x_t, _ = _figure4()
    (circle,) = [p for p in ax.patches if isinstance(p, Circle)]
    assert circle.get_radius() == pytest.approx(np.linalg.norm(x_t))
    np.testing.assert_allclose(circle.get_center(), [0, 0])
    (star,) = [line for line in ax.lines if line.get_marker() == "*"]
    np.testing.assert_allclose(star.get_xydata(), [[0, 0]])


def test_figure4_contours_are_level_sets_of_the_flower():
    flower, ax, _, _ = _figure4()
    contours = ax.collections[0]
    for level, path in zip(contours.levels, contours.get_paths()):
        if len(path.vertices):
            np.testing.assert_allclose(flower.value(path.vertices), level, atol=1e-3)


def _one_point_inputs():
    y = np.array([-2.0, -1.0, 1.0, 2.0])
    estimates = {name: OnePointEstimate(y[:, None], c_hat=shift + 0.1 * y, stderr=np.full(4, scale))
                 for name, shift, scale in (("small", 0.1, 0.01), ("medium", 0.2, 0.02))}
    exact = {"small": 0.11 + 0.1 * y, "medium": 0.19 + 0.1 * y}
    return y, estimates, exact


def test_one_point_estimates_draws_each_estimate_inside_a_band_of_three_standard_errors():
    y, estimates, exact = _one_point_inputs()
    fig, ax = plt.subplots()
    plots.one_point_estimates(ax, y, estimates, exact)
    for (name, est), band in zip(estimates.items(), ax.collections):
        (line,) = [line for line in ax.lines if line.get_label().startswith(f"{name}: Monte Carlo")]
        np.testing.assert_allclose(line.get_xydata(), np.column_stack([y, est.c_hat]))
        np.testing.assert_allclose(_band(band, y), [est.c_hat - 3 * est.stderr, est.c_hat + 3 * est.stderr])


def test_one_point_estimates_draws_every_exact_curve_dotted_and_labels_it_once():
    y, estimates, exact = _one_point_inputs()
    fig, ax = plt.subplots()
    plots.one_point_estimates(ax, y, estimates, exact)
    dotted = [line for line in ax.lines if line.get_linestyle() == ":"]
    np.testing.assert_allclose([line.get_ydata() for line in dotted], list(exact.values()))
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend.count("exact (quadrature)") == 1


# -- Chapter 3 --------------------------------------------------------------------------------

def test_supermartingale_mean_draws_the_mean_of_G_with_two_standard_errors_and_the_G0_line():
    G = np.random.default_rng(1).normal(size=(6, 5)).cumsum(axis=0) - 3.0    # (steps + 1, trials)
    fig, ax = plt.subplots()
    plots.supermartingale_mean(ax, G)
    mean, se = G.mean(axis=1), G.std(axis=1, ddof=1) / np.sqrt(5)
    curve, start = ax.lines
    np.testing.assert_allclose(curve.get_xydata(), np.column_stack([np.arange(6), mean]))
    np.testing.assert_allclose(_band(ax.collections[0], np.arange(6)), [mean - 2 * se, mean + 2 * se])
    np.testing.assert_allclose(start.get_ydata(), G[0].mean())


def test_deviation_scatter_puts_each_point_at_its_bound_and_deviation_under_the_diagonal():
    chain = {"deviation_bound": np.array([0.5, 1.0, 4.0]), "deviation": np.array([0.1, 0.7, 2.0])}
    fig, ax = plt.subplots()
    plots.deviation_scatter(ax, chain)
    points = np.column_stack([chain["deviation_bound"], chain["deviation"]])
    np.testing.assert_allclose(ax.collections[0].get_offsets(), points)
    np.testing.assert_allclose(ax.lines[0].get_xydata(), [[0, 0], [4, 4]])
    assert ax.get_xlabel().startswith("$3.5") and ax.get_ylabel() == "largest deviation over draws"


# -- Chapter 6 --------------------------------------------------------------------------------

def _trajectory_results():
    """One network with restarts from epochs 2 and 4 (of 5), one network not cached."""
    rng = np.random.default_rng(2)
    curves = {"restart_epochs": np.array([2, 4]), "path_inner_cosine": rng.uniform(-1, 1, (5, 2)),
              "inner_cosine": rng.uniform(-1, 1, (3, 2))}
    return {"resnet": SimpleNamespace(curves=curves, preset="mini"), "densenet": None}


def test_whole_trajectories_join_the_run_up_to_each_restart_to_the_restart_itself():
    results = _trajectory_results()
    fig, axes = plt.subplots(1, 2)
    figures.plot_whole_trajectories(axes, results)
    c = results["resnet"].curves
    curves = [line for line in axes[0].lines if line.get_label().startswith("restart from epoch")]
    assert [line.get_label() for line in curves] == ["restart from epoch 2", "restart from epoch 4"]
    for k, (line, start) in enumerate(zip(curves, c["restart_epochs"])):
        expected = np.concatenate([c["path_inner_cosine"][:start, k], c["inner_cosine"][:, k]])
        np.testing.assert_allclose(line.get_xydata(), np.column_stack([np.arange(expected.size), expected]))


def test_whole_trajectories_mark_each_restart_with_a_dotted_line_of_its_colour():
    fig, axes = plt.subplots(1, 2)
    figures.plot_whole_trajectories(axes, _trajectory_results())
    curves = [line for line in axes[0].lines if line.get_label().startswith("restart from epoch")]
    markers = [line for line in axes[0].lines if line.get_linestyle() == ":"]
    assert [m.get_xdata()[0] for m in markers] == [2, 4]
    assert [m.get_color() for m in markers] == [line.get_color() for line in curves]


def test_whole_trajectories_say_which_network_is_not_cached():
    fig, axes = plt.subplots(1, 2)
    figures.plot_whole_trajectories(axes, _trajectory_results())
    assert axes[0].get_title() == "resnet (mini)"
    assert [t.get_text() for t in axes[1].texts] == ["densenet: not cached"] and not axes[1].lines


# -- Chapter 7 --------------------------------------------------------------------------------

def test_convexity_constant_draws_c_against_the_radius_with_zero_and_the_critical_radius():
    radii, constants = np.linspace(0.0, 1.2, 7), np.array([-0.3, -0.2, -0.1, 0.05, 0.1, 0.2, 0.3])
    fig, ax = plt.subplots()
    plot_convexity_constant(ax, radii, constants, critical=0.5, domain=(-1.0, 2.0))
    curve, zero, critical = ax.lines
    np.testing.assert_allclose(curve.get_xydata(), np.column_stack([radii, constants]))
    assert list(zero.get_ydata()) == [0, 0] and list(critical.get_xdata()) == [0.5, 0.5]
    assert ax.get_title() == "Assumption 1 on [-1, 2]"


# -- book helpers -----------------------------------------------------------------------------

@pytest.mark.parametrize("value, static", [(None, False), ("", False), ("0", False), ("1", True), ("yes", True)])
def test_is_static_build_follows_SGD_ESCAPE_STATIC(monkeypatch, value, static):
    if value is None:
        monkeypatch.delenv("SGD_ESCAPE_STATIC", raising=False)
    else:
        monkeypatch.setenv("SGD_ESCAPE_STATIC", value)
    assert book.is_static_build() is static


def test_show_explorer_on_the_static_site_returns_the_static_figure_and_builds_no_widget(monkeypatch):
    monkeypatch.setenv("SGD_ESCAPE_STATIC", "1")
    built = []
    assert book.show_explorer(lambda: built.append("widget"), lambda: "static figure") == "static figure"
    assert built == []


def test_show_explorer_in_a_kernel_displays_and_returns_the_widget_without_drawing(monkeypatch):
    monkeypatch.delenv("SGD_ESCAPE_STATIC", raising=False)
    shown, drawn = [], []
    monkeypatch.setattr("IPython.display.display", shown.append)
    widget = object()
    assert book.show_explorer(lambda: widget, lambda: drawn.append("figure")) is widget
    assert shown == [widget] and drawn == []


def test_use_book_style_sets_the_book_defaults():
    with matplotlib.rc_context():                 # restores rcParams afterwards
        use_book_style()
        rc = matplotlib.rcParams
        assert (rc["figure.dpi"], rc["savefig.dpi"], rc["font.size"]) == (110, 110, 10)
        assert tuple(rc["figure.figsize"]) == (7.0, 3.6)
        assert not rc["axes.spines.top"] and not rc["axes.spines.right"] and not rc["legend.frameon"]
        assert rc["axes.grid"] and rc["grid.alpha"] == 0.25
