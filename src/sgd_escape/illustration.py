"""Figures 1 and 2: one noisy step leaves a sharp, narrow basin (Chapter 1).

The function is a wide quadratic bowl around ``x* = 0`` with one narrow Gaussian well at
``x_o`` (the paper's bad local minimum). One SGD step is split as in the paper:
``x_t -> y_t = x_t - eta*grad f(x_t) -> x_{t+1} = y_t - eta*omega_t``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bounded_noise import BoundedNoise
from .checks import require_choice, require_finite, require_int_at_least, require_nonnegative, require_positive
from .landscapes import sign_changes, uniform_average


@dataclass(frozen=True)
class SharpWellFunction:
    """``f(x) = bowl/2 * |x|^2 - depth * exp(-|x - well|^2 / (2 width^2))`` on ``R^d``;
    the last axis of ``x`` holds the coordinates (Chapter 1)."""

    well: tuple = (1.5,)     # position x_o of the sharp local minimum's well
    depth: float = 1.0       # depth of the well
    width: float = 0.12      # width (standard deviation) of the well: small = sharp
    bowl: float = 1.0        # curvature of the wide bowl around x* = 0

    def __post_init__(self):
        if np.ndim(self.well) != 1 or len(self.well) == 0:
            raise ValueError(f"well must be a non-empty sequence of coordinates, got {self.well!r}")
        for coordinate in self.well:
            require_finite("well", coordinate)
        for name in ("depth", "width", "bowl"):
            require_positive(name, getattr(self, name))

    @property
    def dim(self) -> int:
        """Number of coordinates ``d``."""
        return len(self.well)

    def _offset(self, x):
        return np.asarray(x, dtype=float) - np.asarray(self.well, dtype=float)

    def value(self, x):
        """f at points ``x`` of shape (..., d); returns shape (...)."""
        x = np.asarray(x, dtype=float)
        well = np.exp(-np.sum(self._offset(x) ** 2, axis=-1) / (2 * self.width ** 2))
        return self.bowl / 2 * np.sum(x ** 2, axis=-1) - self.depth * well

    def grad(self, x):
        """grad f at points ``x`` of shape (..., d); returns the same shape."""
        x = np.asarray(x, dtype=float)
        offset = self._offset(x)
        well = np.exp(-np.sum(offset ** 2, axis=-1, keepdims=True) / (2 * self.width ** 2))
        return self.bowl * x + self.depth * well * offset / self.width ** 2

    def hessian(self, x):
        """The Hessian of f at points ``x`` of shape (..., d); returns shape (..., d, d)."""
        x = np.asarray(x, dtype=float)
        offset = self._offset(x)
        well = np.exp(-np.sum(offset ** 2, axis=-1) / (2 * self.width ** 2))[..., None, None]
        eye = np.eye(self.dim)
        outer = offset[..., :, None] * offset[..., None, :]
        return self.bowl * eye + self.depth * well * (eye / self.width ** 2 - outer / self.width ** 4)

    @property
    def descent_step(self) -> float:
        """A GD step below ``1/L`` (``L <= bowl + depth / width^2``), so that GD never climbs."""
        return 0.5 / (self.bowl + self.depth / self.width ** 2)

    def _descend(self, start) -> np.ndarray:
        """GD from ``start`` with :attr:`descent_step`, long enough to settle in its basin."""
        x = np.asarray(start, dtype=float)
        for _ in range(2000):
            x = x - self.descent_step * self.grad(x)
        return x

    def well_minimum(self) -> np.ndarray:
        """The bad local minimum ``x_o``: GD from the well's centre (the bowl shifts it slightly).

        A well too wide or too deep for its distance from ``x* = 0`` swallows the bowl's
        minimum: ``f`` then has one minimum and no bad one, and this raises a ValueError
        naming ``width``, ``depth`` and ``well``."""
        x_o = self._descend(self.well)
        bowl_minimum = self._descend(np.zeros(self.dim))
        if np.linalg.norm(x_o - bowl_minimum) < self.width / 10:
            raise ValueError(
                f"f has a single local minimum, at {np.round(x_o, 4).tolist()}: the well (width="
                f"{self.width}, depth={self.depth}, well={self.well!r}) merges with the bowl, so there "
                f"is no bad local minimum; use a narrower or shallower well, or one farther from 0")
        return x_o


def _points(name: str, x, f: SharpWellFunction) -> np.ndarray:
    """``x`` as a float array whose last axis holds ``f.dim`` coordinates, else a ValueError naming it."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 0 or x.shape[-1] != f.dim:
        raise ValueError(f"{name} must have {f.dim} coordinate(s) on its last axis, like the well "
                         f"{f.well!r}; got shape {x.shape}")
    return x


def points_into_well(f: SharpWellFunction, x) -> np.ndarray:
    """Whether ``-grad f(x)`` has a positive inner product with ``x_o - x``: the paper's wording
    of still being in the bad basin (Chapter 1). In 1-D between ``x*`` and the well it is the
    basin test; in 2-D it is not (beside the crater ``-grad f`` can lean towards ``x_o`` while
    GD passes the crater by): :func:`in_bad_basin` is the test that holds in any dimension."""
    x = _points("x", x, f)
    towards_minimum = f.well_minimum() - x
    return np.sum(-f.grad(x) * towards_minimum, axis=-1) > 0


def in_bad_basin(f: SharpWellFunction, x, max_steps: int = 5000) -> np.ndarray:
    """Whether GD started at ``x`` ends at the bad minimum ``x_o``: the basin of ``x_o`` (Chapter 1).

    ``x`` has shape (..., d); returns booleans of shape (...). All points descend together with
    a step below ``1/L``, so ``f`` never rises along the way: a point below ``f(x_o)`` can no
    longer reach ``x_o``, and one within ``width/10`` of it, where ``f`` is convex, cannot leave.
    The descent stops once every point is one or the other (at most ``max_steps`` steps)."""
    x = _points("x", x, f)
    max_steps = require_int_at_least("max_steps", max_steps, 1)
    x_o = f.well_minimum()
    near, floor, step = f.width / 10, f.value(x_o), f.descent_step
    for _ in range(max_steps):
        settled = (np.linalg.norm(x - x_o, axis=-1) < near) | (f.value(x) < floor)
        if settled.all():
            break
        x = x - step * f.grad(x)
    return np.linalg.norm(x - x_o, axis=-1) < near


def noisy_step(f: SharpWellFunction, x_t, step_size: float, omega):
    """``(y_t, x_{t+1})`` for one SGD step from ``x_t`` with noise ``omega`` (Chapter 1, Figure 1)."""
    step_size = require_positive("step_size", step_size)
    x_t, omega = _points("x_t", x_t, f), _points("omega", omega, f)
    y_t = x_t - step_size * f.grad(x_t)
    return y_t, y_t - step_size * omega


ESCAPE_TESTS = {"basin": in_bad_basin, "gradient": points_into_well}


def escape_probability(f: SharpWellFunction, x_t, step_size: float, noise: float,
                       samples: int = 100_000, rng=None, test: str = "basin") -> float:
    """Probability over ``omega ~ Uniform(ball of radius noise)`` that one step from ``x_t``
    leaves the basin of the bad minimum ``x_o`` (Chapter 1).

    ``test="basin"``: GD from ``x_{t+1}`` no longer ends at ``x_o`` (:func:`in_bad_basin`);
    ``test="gradient"``: the paper's wording, ``-grad f(x_{t+1})`` no longer points to ``x_o``
    (:func:`points_into_well`), which counts fewer escapes in 2-D. ``x_t`` must itself be in
    the basin, else a ValueError naming it: from outside there is nothing to escape from."""
    x_t = _points("x_t", x_t, f)
    still_in = ESCAPE_TESTS[require_choice("test", test, ESCAPE_TESTS)]
    if not np.all(in_bad_basin(f, x_t)):
        raise ValueError(f"x_t must lie in the basin of the bad minimum x_o = "
                         f"{np.round(f.well_minimum(), 4).tolist()} (GD from it must end there); "
                         f"got x_t = {x_t.tolist()}")
    noise = require_nonnegative("noise", noise)
    samples = require_int_at_least("samples", samples, 1)
    rng = np.random.default_rng(rng)
    kicks = (BoundedNoise("ball", noise, f.dim).sample((samples,), rng) if noise > 0
             else np.zeros((samples, f.dim)))
    _, x_next = noisy_step(f, x_t, step_size, kicks)
    return float(np.mean(~still_in(f, x_next)))


def _smoothed_slope(f: SharpWellFunction, y, half_width: float):
    """Derivative of ``g(y)``, the average of ``f`` over ``[y - h, y + h]``: ``(f(y+h) - f(y-h)) / 2h``."""
    y = np.asarray(y, dtype=float)[..., None]
    if half_width == 0:
        return f.grad(y)[..., 0]
    return (f.value(y + half_width) - f.value(y - half_width)) / (2 * half_width)


def smoothed_minima(f: SharpWellFunction, half_width: float, resolution: float = 1e-3) -> np.ndarray:
    """All local minima, sorted, of a 1-D ``f`` averaged over the window ``[y - half_width,
    y + half_width]``: the smoothed function that SGD with uniform noise descends (Chapter 1).

    The well changes the slope of ``g`` by at most ``depth * min(1/(2 half_width), 1/(width sqrt(e)))``
    while the bowl's slope is ``bowl * y``, so every minimum lies within that bound over ``bowl``.
    """
    if f.dim != 1:
        raise ValueError(f"f must be one-dimensional (well with 1 coordinate), got well={f.well!r}")
    half_width = require_nonnegative("half_width", half_width)
    well_slope = f.depth / (f.width * np.sqrt(np.e))
    if half_width > 0:
        well_slope = min(well_slope, f.depth / (2 * half_width))
    reach = well_slope / f.bowl + resolution
    return sign_changes(lambda y: _smoothed_slope(f, y, half_width), -reach, reach, resolution, rising=True)


def spurious_smoothed_minima(f: SharpWellFunction, half_width: float) -> np.ndarray:
    """The local minima of :func:`smoothed_minima` other than the global one: the bad minima
    that survive the smoothing (Chapter 1). Empty when the window has averaged the well away."""
    minima = smoothed_minima(f, half_width)
    values = uniform_average(lambda z: f.value(z[..., None]), minima, half_width, f.width)
    return np.delete(minima, np.argmin(values))


def _outlined():
    """Path effects that draw text with a white outline, readable over curves and surfaces."""
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=3, foreground="white")]


def plot_figure1(f: SharpWellFunction, x_t: float, step_size: float, omega: float, ax=None):
    """The 1-D picture of Figure 1 (Chapter 1): the curve, ``x_t``, ``y_t``, ``x_{t+1}`` and the
    steps between them, for a one-dimensional ``f``.

    Draws on ``ax`` (a new figure's axes when None) and returns that matplotlib Axes.
    """
    import matplotlib.pyplot as plt
    from .plotting import COLORS

    ax = ax or plt.subplots(figsize=(7, 3.6))[1]
    (y_t,), (x_next,) = noisy_step(f, [x_t], step_size, [omega])
    (x_o,) = f.well_minimum()
    xs = np.linspace(-0.4, 2.1, 1200)[:, None]
    ax.plot(xs[:, 0], f.value(xs), color=COLORS["f"])
    # Label offsets (points): x_t and x_{t+1} above right; y_t, at the well's bottom, just below
    # its dot (not under x_t), clear of the x_o label, which sits below right with a leader line.
    points = [(x_t, "$x_t$", "k", (6, 6)), (y_t, "$y_t$", "tab:blue", (-9, -17)),
              (x_next, "$x_{t+1}$", COLORS["iterate"], (2, 8))]
    for x, name, color, offset in points:
        ax.plot(x, float(f.value([x])), "o", color=color, zorder=3)
        ax.annotate(name, (x, float(f.value([x]))), textcoords="offset points", xytext=offset, color=color,
                    path_effects=_outlined(), zorder=4)
    ax.annotate("$x_o$", (x_o, float(f.value([x_o]))), textcoords="offset points", xytext=(30, -10),
                ha="left", va="center", path_effects=_outlined(),
                arrowprops=dict(arrowstyle="-", color="0.4", lw=0.8, shrinkB=5))
    for start, end, text, level in [(x_t, y_t, r"$-\eta\nabla f(x_t)$", -0.25), (y_t, x_next, r"$-\eta\omega_t$", -0.55)]:
        ax.annotate("", (end, level), (start, level), arrowprops=dict(arrowstyle="->"))
        ax.text(max(start, end) + 0.03, level - 0.05, text, fontsize=9)
    ax.axvline(0, color=COLORS["target"], lw=0.8, ls=":")
    ax.text(0.02, float(f.value([0.0])) + 0.6, "$x^*$")
    ax.set(xlabel="x", ylabel="f(x)", ylim=(-0.7, 2.2))
    return ax


def plot_figure2(f: SharpWellFunction, x_t, step_size: float, omega):
    """The 3-D surface of a 2-D sharp well with the same three points (Chapter 1, Figure 2).

    ``x_t`` and ``omega`` have shape (2,). Returns the new matplotlib Figure. The path and its
    points are drawn over the translucent surface, and their labels carry a white outline.
    """
    import matplotlib.pyplot as plt
    from .plotting import COLORS

    y_t, x_next = noisy_step(f, x_t, step_size, omega)
    u, v = np.meshgrid(np.linspace(0.7, 1.5, 160), np.linspace(0.5, 1.2, 160))
    z = f.value(np.stack([u, v], axis=-1))
    fig = plt.figure(figsize=(7, 5))
    # Fixed drawing order (surface, then path, points, labels): the 3-D depth sort would hide
    # y_t, at the crater's bottom, behind the surface.
    ax = fig.add_subplot(projection="3d", computed_zorder=False)
    ax.plot_surface(u, v, z, cmap="viridis", alpha=0.55, linewidth=0, rstride=1, cstride=1, zorder=1)
    path = np.array([x_t, y_t, x_next])
    heights = f.value(path) + 0.08
    ax.plot(path[:, 0], path[:, 1], heights, color="k", lw=1.5, zorder=2)
    for point, h, name, color in zip(path, heights, ["$x_t$", "$y_t$", "$x_{t+1}$"], ["k", "tab:blue", COLORS["iterate"]]):
        ax.scatter(*point, h, color=color, s=36, edgecolors="white", linewidths=0.8, depthshade=False, zorder=3)
        ax.text(*point, h + 0.15, name, color=color, zorder=4, fontsize=11, path_effects=_outlined())
    ax.set(xlabel="$x_1$", ylabel="$x_2$", zlabel="f")
    ax.view_init(elev=40, azim=-55)
    return fig
