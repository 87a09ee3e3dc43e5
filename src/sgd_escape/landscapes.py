"""Test functions and their noise convolutions (introduced in Chapter 1).

The paper's alternative view: one SGD step ``x <- x - eta*(f'(x) + omega)`` with
``omega ~ Uniform[-r, r]`` makes the analysis sequence ``y_t = x_t - eta*f'(x_t)`` follow
gradient descent on the *convolved* function ``g(y) = E f(y - eta*omega)``, i.e. ``f``
averaged over the window ``[y - eta*r, y + eta*r]``. The window's half-width ``eta*r`` is
called ``half_width`` throughout this module.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .checks import require_finite, require_int_at_least, require_nonnegative, require_positive

#: The noise levels of Figure 3's row 2, which :class:`Figure3Setup` must name.
NOISE_LEVEL_NAMES = ("small", "medium", "large")
#: Quadrature nodes per period of the narrowest spike: about 1e-10 accuracy in the convolved f
#: (2e-10 where a window straddles x* = 0, where the spikes' period has a kink).
_NODES_PER_SPIKE = 24


@dataclass(frozen=True)
class SpikyFunction:
    """A convex valley ``slope*sqrt(x^2+eps^2)`` covered in spikes (Chapter 1, Figure 3).

    The spikes are ``depth(x) * sin^2(pi*phase(x))``: their period ``p(x) = period_at_zero
    + period_growth*|x|`` grows away from the target ``x* = 0``, and their depth is
    ``curvature_scale * p(x)^2``, so every spike has the same curvature
    ``2*pi^2*curvature_scale``. Narrow spikes near ``x*`` vanish under a small noise
    window; wide ones far away survive it. The convex part grows like ``|x|`` (not ``x^2``),
    so far from ``x*`` its slope cannot overwhelm the spikes.
    """

    slope: float = 0.03            # slope of the convex valley far from x*
    curvature_scale: float = 0.06  # spike depth / period^2; spike curvature = 2 pi^2 * this
    period_at_zero: float = 0.12   # spike period at x* (x units)
    period_growth: float = 0.15    # increase of the period per unit of |x|
    valley_smoothing: float = 0.1  # eps of sqrt(x^2 + eps^2): rounds the valley's kink at x*

    def __post_init__(self):
        for name in ("slope", "period_at_zero", "valley_smoothing"):
            require_positive(name, getattr(self, name))
        for name in ("curvature_scale", "period_growth"):
            require_nonnegative(name, getattr(self, name))

    # -- the function ----------------------------------------------------------------
    def period(self, x):
        """Spike period ``p(x) = period_at_zero + period_growth*|x|`` (x units), elementwise."""
        return self.period_at_zero + self.period_growth * np.abs(x)

    def phase(self, x):
        """Number of spike periods between 0 and ``x`` (signed); integers are spike bottoms."""
        x = np.asarray(x, dtype=float)
        if self.period_growth == 0:
            return x / self.period_at_zero
        ratio = self.period_growth * np.abs(x) / self.period_at_zero
        return np.sign(x) * np.log1p(ratio) / self.period_growth

    def value(self, x):
        """``f(x)``, elementwise on an array ``x`` of any shape."""
        x = np.asarray(x, dtype=float)
        valley = self.slope * np.sqrt(x * x + self.valley_smoothing ** 2)
        depth = self.curvature_scale * self.period(x) ** 2
        return valley + depth * np.sin(np.pi * self.phase(x)) ** 2

    def grad(self, x):
        """``f'(x)`` in closed form, elementwise on an array ``x`` of any shape."""
        x = np.asarray(x, dtype=float)
        p = self.period(x)
        angle = np.pi * self.phase(x)
        sin, cos = np.sin(angle), np.cos(angle)
        valley = self.slope * x / np.sqrt(x * x + self.valley_smoothing ** 2)
        depth_change = 2 * p * self.period_growth * np.sign(x) * sin * sin
        oscillation = 2 * np.pi * p * sin * cos  # = p^2 * d/dx sin^2(pi*phase), as phase' = 1/p
        return valley + self.curvature_scale * (depth_change + oscillation)

    def second_derivative(self, x):
        """``f''(x)``, in closed form: the valley's ``k eps^2 / (x^2 + eps^2)^(3/2)`` plus the
        spikes' ``a (2 pi^2 cos(2 pi phase) + 3 pi p1 sign(x) sin(2 pi phase) + 2 p1^2 sin^2(pi phase))``."""
        x = np.asarray(x, dtype=float)
        angle = np.pi * self.phase(x)
        valley = self.slope * self.valley_smoothing ** 2 / (x * x + self.valley_smoothing ** 2) ** 1.5
        g = self.period_growth
        spikes = (2 * np.pi ** 2 * np.cos(2 * angle) + 3 * np.pi * g * np.sign(x) * np.sin(2 * angle)
                  + 2 * g * g * np.sin(angle) ** 2)
        return valley + self.curvature_scale * spikes

    def max_second_derivative(self, low: float, high: float, resolution: float = 1e-4) -> float:
        """Largest ``f''`` on ``[low, high]`` (a grid of spacing ``resolution``, ``x = 0`` included
        when inside): GD is stable at every local minimum there when ``eta * this < 2``.

        For the default function it is reached next to ``x* = 0``, where the valley's ``k/eps``
        adds to the spikes' :attr:`spike_curvature` (Chapter 1)."""
        low, high = require_finite("low", low), require_finite("high", high)
        if high <= low:
            raise ValueError(f"high must be > low, got low={low}, high={high}")
        resolution = require_positive("resolution", resolution)
        grid = _grid(low, high, resolution)
        if low <= 0 <= high:
            grid = np.append(grid, 0.0)
        return float(np.max(self.second_derivative(grid)))

    @property
    def spike_curvature(self) -> float:
        """``2 pi^2 * curvature_scale``: the spikes' own second derivative at their bottoms.

        Not the largest ``f''``: the valley adds up to ``slope / valley_smoothing`` near ``x* = 0``
        and the growing period a little more elsewhere; see :meth:`max_second_derivative`."""
        return 2 * np.pi ** 2 * self.curvature_scale

    # -- the convolution -------------------------------------------------------------
    def convolved_value(self, x, half_width: float):
        """``E f(x - u)`` for ``u ~ Uniform[-half_width, half_width]``, by Gauss-Legendre quadrature."""
        return uniform_average(self.value, x, half_width, self.period_at_zero)

    def convolved_grad(self, x, half_width: float):
        """Derivative of :meth:`convolved_value` (the average of ``f'`` over the window)."""
        return uniform_average(self.grad, x, half_width, self.period_at_zero)

    def local_minima(self, low: float, high: float, half_width: float = 0.0, resolution: float = 1e-3):
        """Local minima of ``f`` (``half_width=0``) or of its convolution, in ``[low, high]``.

        Found as sign changes (- to +) of the derivative on a grid of spacing ``resolution``,
        then refined by bisection to ``resolution * 1e-3``.
        """
        return sign_changes(lambda x: self.convolved_grad(x, half_width), low, high, resolution, rising=True)

    def local_maxima(self, low: float, high: float, half_width: float = 0.0, resolution: float = 1e-3):
        """Local maxima (sign changes + to - of the derivative): the borders of the basins."""
        return sign_changes(lambda x: self.convolved_grad(x, half_width), low, high, resolution, rising=False)


def uniform_average(func, x, half_width: float, finest_period: float):
    """Average of ``func(x + u)`` over ``u ~ Uniform[-half_width, half_width]`` (composite
    Gauss-Legendre, panels no wider than ``finest_period``): the smoothed function (Chapter 1)."""
    half_width = require_nonnegative("half_width", half_width)
    finest_period = require_positive("finest_period", finest_period)   # else one panel, silently coarse
    x = np.asarray(x, dtype=float)
    if half_width == 0:
        return func(x)
    panels = max(1, int(np.ceil(2 * half_width / finest_period)))
    nodes, weights = np.polynomial.legendre.leggauss(_NODES_PER_SPIKE)
    edges = np.linspace(-half_width, half_width, panels + 1)
    centres, halves = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
    offsets = (centres[:, None] + halves[:, None] * nodes[None, :]).ravel()
    panel_weights = (halves[:, None] * weights[None, :]).ravel() / (2 * half_width)
    values = func(x[..., None] + offsets)
    return values @ panel_weights


def _grid(low: float, high: float, resolution: float) -> np.ndarray:
    """``low, low + resolution, ...`` up to ``high``, and ``high`` itself: never past ``high``."""
    grid = np.arange(low, high, resolution)
    return np.append(grid[grid < high], high)         # arange itself may reach high by rounding


def sign_changes(derivative, low, high, resolution, rising: bool, bisections: int = 10):
    """Points in ``[low, high]`` where ``derivative`` changes sign, upwards (local minima) if
    ``rising`` else downwards (maxima): a grid scan at ``resolution``, then bisection (Chapter 1)."""
    low, high = require_finite("low", low), require_finite("high", high)
    if high <= low:
        raise ValueError(f"high must be > low, got low={low}, high={high}")
    resolution = require_positive("resolution", resolution)
    bisections = require_int_at_least("bisections", bisections, 0)
    grid = _grid(low, high, resolution)
    slope = derivative(grid)
    crossing = (slope[:-1] < 0) & (slope[1:] >= 0) if rising else (slope[:-1] > 0) & (slope[1:] <= 0)
    left, right = grid[:-1][crossing], grid[1:][crossing]
    for _ in range(bisections):  # all roots refined together
        middle = (left + right) / 2
        below = derivative(middle) < 0
        go_right = below if rising else ~below
        left, right = np.where(go_right, middle, left), np.where(go_right, right, middle)
    return (left + right) / 2


@dataclass(frozen=True)
class Figure3Setup:
    """Every choice behind our Figure 3 (Chapter 1). Noise radii are those of ``omega``."""

    step_size: float = 1.0                 # eta, the same in every panel of rows 2 and 3
    init_half_width: float = 5.0           # row 2 starts uniformly in [-5, 5]
    noise_levels: dict = field(default_factory=lambda: {"small": 0.15, "medium": 0.35, "large": 1.0})
    stage_noises: tuple = (0.15, 0.08, 0.04)        # row 3: restarts with shrinking noise ...
    stage_half_widths: tuple = (1.5, 0.75, 0.4)     # ... from shrinking initial regions
    steps: int = 1500                      # SGD steps per panel
    trials: int = 100                      # independent trials per panel

    def __post_init__(self):
        require_positive("step_size", self.step_size)
        require_positive("init_half_width", self.init_half_width)
        require_int_at_least("steps", self.steps, 1)
        require_int_at_least("trials", self.trials, 1)
        missing = [name for name in NOISE_LEVEL_NAMES if name not in self.noise_levels]
        if missing:
            raise ValueError(f"noise_levels must hold the keys {', '.join(map(repr, NOISE_LEVEL_NAMES))}, "
                             f"got {sorted(self.noise_levels)} (missing {', '.join(map(repr, missing))})")
        for name, level in self.noise_levels.items():
            require_nonnegative(f"noise_levels[{name!r}]", level)
        if len(self.stage_half_widths) == 0:
            raise ValueError("stage_half_widths must hold at least one restart stage, got ()")
        if len(self.stage_noises) != len(self.stage_half_widths):
            raise ValueError("stage_noises and stage_half_widths must have the same length, got "
                             f"{len(self.stage_noises)} and {len(self.stage_half_widths)}")
        for noise, half in zip(self.stage_noises, self.stage_half_widths):
            require_nonnegative("stage_noises", noise)
            require_positive("stage_half_widths", half)

    @property
    def centre_half_width(self) -> float:
        """Half-width of the centre region around ``x* = 0``: where medium noise should gather
        the trials, and where the first restart stage begins, as in the paper (Chapter 1)."""
        return self.stage_half_widths[0]


#: The setup used for the book's Figure 3.
FIGURE3 = Figure3Setup()


def figure3_function() -> SpikyFunction:
    """The spiky function of the book's Figure 3 (Chapter 1)."""
    return SpikyFunction()
