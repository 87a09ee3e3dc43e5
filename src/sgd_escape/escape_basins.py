"""Sharp versus flat minima: where SGD ends, and what the convolved function keeps (Chapter 7).

:class:`SharpFlatLandscape` is a one-dimensional function with two Gaussian wells of equal
depth, a sharp (narrow) one and a flat (wide) one, inside a weak quadratic bowl. Convolved
with Gaussian noise of standard deviation ``radius`` it stays in closed form: a Gaussian
well of width ``w`` becomes one of width ``sqrt(w^2 + radius^2)`` and depth scaled by
``w / sqrt(w^2 + radius^2)``. A narrow well therefore flattens out at a much smaller
radius than a wide one, which is the mechanism behind the paper's Assumption 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .checks import require_finite, require_int_at_least, require_nonnegative, require_positive

#: Where minima and the barrier are located: [-3, 3] in steps of ``GRID_STEP``.
GRID = np.linspace(-3.0, 3.0, 6001)
GRID_STEP = float(GRID[1] - GRID[0])
#: Each well's centre must lie this many of its widths inside ``GRID``, where its minimum is found.
GRID_MARGIN_WIDTHS = 3.0
#: The domain D on which :func:`one_point_convexity_constant` asks Assumption 1 by default.
ASSUMPTION_DOMAIN = (-2.0, 2.0)


@dataclass(frozen=True)
class SharpFlatLandscape:
    """``f(x) = -h exp(-(x-a)^2/(2 w_s^2)) - h exp(-(x-b)^2/(2 w_f^2)) + q x^2 / 2`` (Chapter 7)."""

    depth: float = 1.0
    sharp_center: float = -1.0
    sharp_width: float = 0.1
    flat_center: float = 1.0
    flat_width: float = 0.5
    bowl: float = 0.1

    def __post_init__(self):
        for name in ("depth", "sharp_width", "flat_width"):
            require_positive(name, getattr(self, name))
        require_finite("sharp_center", self.sharp_center)
        require_finite("flat_center", self.flat_center)
        require_nonnegative("bowl", self.bowl)
        if not self.sharp_center < self.flat_center:
            raise ValueError("sharp_center must be < flat_center")
        if not self.sharp_width < self.flat_width:
            raise ValueError("sharp_width must be < flat_width")
        for name, width in (("sharp_center", self.sharp_width), ("flat_center", self.flat_width)):
            _require_on_grid(name, getattr(self, name), width)

    def _wells(self, radius: float):
        radius = require_nonnegative("radius", radius)
        for center, width in ((self.sharp_center, self.sharp_width), (self.flat_center, self.flat_width)):
            spread = np.hypot(width, radius)
            yield center, spread, self.depth * width / spread

    def value(self, x, radius: float = 0.0) -> np.ndarray:
        """``f`` convolved with ``N(0, radius^2)``, ``E f(x - radius * z)``; ``radius = 0`` gives ``f``."""
        x = np.asarray(x, dtype=float)
        total = self.bowl * (x ** 2 + radius ** 2) / 2
        for center, spread, depth in self._wells(radius):
            total = total - depth * np.exp(-((x - center) ** 2) / (2 * spread ** 2))
        return total

    def gradient(self, x, radius: float = 0.0) -> np.ndarray:
        """Derivative of :meth:`value` with respect to ``x``."""
        x = np.asarray(x, dtype=float)
        total = self.bowl * x
        for center, spread, depth in self._wells(radius):
            well = np.exp(-((x - center) ** 2) / (2 * spread ** 2))
            total = total + depth * (x - center) / spread ** 2 * well
        return total

    def barrier(self) -> float:
        """The local maximum of ``f`` between the two wells: the border of their basins."""
        inside = GRID[(GRID > self.sharp_center) & (GRID < self.flat_center)]
        return float(inside[np.argmax(self.value(inside))])

    def local_minima(self, radius: float = 0.0) -> np.ndarray:
        """Positions of the local minima of the convolved function on ``GRID`` ([-3, 3], step 0.001)."""
        slope = self.gradient(GRID, radius)
        crossing = (slope[:-1] < 0) & (slope[1:] >= 0)
        return GRID[:-1][crossing]


def _require_on_grid(name: str, center: float, width: float) -> None:
    """Minima and the barrier are searched on ``GRID`` only: a well near or past its ends is lost."""
    low, high = GRID[0] + GRID_MARGIN_WIDTHS * width, GRID[-1] - GRID_MARGIN_WIDTHS * width
    if not low <= center <= high:
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}] ({GRID_MARGIN_WIDTHS:g} widths inside "
                         f"GRID = [{GRID[0]:g}, {GRID[-1]:g}]), got {center!r}")


def critical_radius(landscape: SharpFlatLandscape, upper: float = 3.0, tolerance: float = 1e-4) -> float:
    """Smallest noise radius at which the convolved function has lost the sharp minimum (Chapter 7).

    Found by bisection on the number of local minima (two below it, one above); raises
    ``ValueError`` if the sharp minimum survives up to ``upper``.
    """
    upper = require_positive("upper", upper)
    require_positive("tolerance", tolerance)
    if len(landscape.local_minima(upper)) > 1:
        raise ValueError(f"upper must be a radius at which the sharp minimum is gone, got {upper} "
                         "(it survives there)")
    low, high = 0.0, upper
    while high - low > tolerance:
        middle = (low + high) / 2
        low, high = (middle, high) if len(landscape.local_minima(middle)) > 1 else (low, middle)
    return high


def one_point_convexity_constant(landscape: SharpFlatLandscape, radius: float,
                                 domain: tuple[float, float] = ASSUMPTION_DOMAIN) -> float:
    """Largest ``c`` with ``g'(y) (y - x*) >= c (y - x*)^2`` on ``domain`` (Chapter 7).

    ``g`` is ``f`` convolved with ``N(0, radius^2)`` and ``x*`` its global minimiser: this is
    the paper's Assumption 1 in one dimension. A positive value means it holds with that
    ``c``; zero or negative means it fails (for instance while ``g`` keeps a second minimum).
    """
    low, high = require_finite("domain[0]", domain[0]), require_finite("domain[1]", domain[1])
    if not low < high:
        raise ValueError(f"domain must satisfy domain[0] < domain[1], got {domain}")
    grid = np.linspace(low, high, 4001)
    target = grid[np.argmin(landscape.value(grid, radius))]
    offset = grid - target
    keep = np.abs(offset) > 1e-9
    return float(np.min(landscape.gradient(grid[keep], radius) / offset[keep]))


class BasinFractions(NamedTuple):
    """For each noise level: fraction of trials ending in the sharp basin and in the flat one
    (Chapter 7). Each field has shape (noise levels,); ``radii`` are ``step_size * noise_std``."""

    radii: np.ndarray
    sharp: np.ndarray
    flat: np.ndarray


def basin_fractions(landscape: SharpFlatLandscape, step_size: float, noise_stds, start: float,
                    trials: int, steps: int, settle_steps: int, seed: int = 0) -> BasinFractions:
    """Where SGD started at ``start`` ends, for each noise level (Chapter 7).

    SGD ``x <- x - step_size (f'(x) + noise_std z)``, ``z ~ N(0, 1)``, runs ``steps`` steps,
    then plain GD with the same step size ``settle_steps`` steps, which carries each trial away
    from the barrier into the basin the noisy phase left it in (the barrier is known to 0.001). All noise levels and trials advance together
    as one ``(levels, trials)`` array. A trial ends in the sharp basin if it lies left of
    :meth:`SharpFlatLandscape.barrier`. ``radii`` are the convolution radii ``step_size * noise_std``.
    """
    step_size = require_positive("step_size", step_size)
    stds = np.asarray(noise_stds, dtype=float)
    if stds.ndim != 1 or stds.size == 0 or not (np.isfinite(stds).all() and (stds >= 0).all()):
        raise ValueError("noise_stds must be a non-empty 1-D array of finite values >= 0")
    start = require_finite("start", start)
    require_int_at_least("trials", trials, 1)
    require_int_at_least("steps", steps, 1)
    require_int_at_least("settle_steps", settle_steps, 0)
    require_int_at_least("seed", seed, 0)
    rng = np.random.default_rng(seed)
    x = np.full((stds.size, trials), start)
    for _ in range(steps):
        x -= step_size * (landscape.gradient(x) + stds[:, None] * rng.standard_normal(x.shape))
    for _ in range(settle_steps):
        x -= step_size * landscape.gradient(x)
    in_sharp = (x < landscape.barrier()).mean(axis=1)
    return BasinFractions(step_size * stds, in_sharp, 1.0 - in_sharp)


def half_escape_radius(fractions: BasinFractions) -> float:
    """Smallest radius at which at most half of the trials end in the sharp basin (Chapter 7).

    Interpolated linearly in ``log(radius)`` between the two levels around the crossing (in
    the radius itself where the lower level has radius 0); NaN if the fraction never falls to
    one half.
    """
    below = np.flatnonzero(fractions.sharp <= 0.5)
    if below.size == 0:
        return float("nan")
    i = below[0]
    if i == 0:
        return float(fractions.radii[0])
    (r0, r1), (f0, f1) = fractions.radii[i - 1:i + 1], fractions.sharp[i - 1:i + 1]
    weight = (f0 - 0.5) / (f0 - f1)
    if r0 == 0:                      # no logarithm at radius 0 (plain GD): linear in the radius
        return float(weight * r1)
    return float(np.exp(np.log(r0) + weight * (np.log(r1) - np.log(r0))))


def stationary_sharp_fraction(landscape: SharpFlatLandscape, temperature: float, wells: bool = True,
                              border: float | None = None) -> float:
    """Mass left of ``border`` under the Gibbs density ``exp(-f/temperature)`` (Chapter 7).

    This is where a diffusion ``dX = -f'(X) dt + sqrt(2 temperature) dW`` settles in the long run;
    SGD with step size ``eta`` and noise radius ``rho`` behaves like one with temperature
    ``rho^2 / (2 eta)``. With ``wells=False`` the wells are left out and only the bowl
    ``bowl x^2 / 2`` remains: the Gaussian ``N(0, temperature / bowl)``, the fraction that noise
    alone puts left of ``border`` (the null against which a preference for a basin is measured).
    ``border`` defaults to :meth:`SharpFlatLandscape.barrier`. The bowl's Gaussian integral is
    exact; the wells' correction, which vanishes a few widths away from them, is integrated on
    a fine grid.
    """
    temperature = require_positive("temperature", temperature)
    if landscape.bowl <= 0:
        raise ValueError(f"landscape must have bowl > 0 for a stationary distribution, "
                         f"got bowl = {landscape.bowl!r}")
    border = landscape.barrier() if border is None else require_finite("border", border)
    spread = math.sqrt(temperature / landscape.bowl)
    bowl_left = 0.5 * (1.0 + math.erf(border / (spread * math.sqrt(2.0))))
    if not wells:
        return bowl_left
    reach = 12 * max(landscape.sharp_width, landscape.flat_width)
    grid = np.linspace(min(landscape.sharp_center - reach, border),
                       max(landscape.flat_center + reach, border), 40001)
    bowl_exponent = -landscape.bowl * grid ** 2 / (2 * temperature)
    exponent = -landscape.value(grid) / temperature
    shift = max(0.0, float(exponent.max()))                 # all weights below carry exp(-shift)
    correction = np.exp(exponent - shift) - np.exp(bowl_exponent - shift)
    cumulative = np.concatenate([[0.0], np.cumsum((correction[1:] + correction[:-1]) / 2 * np.diff(grid))])
    gaussian = math.exp(-shift) * math.sqrt(2 * math.pi) * spread
    left = gaussian * bowl_left + float(np.interp(border, grid, cumulative))
    return left / (gaussian + cumulative[-1])


def binomial_standard_error(fraction, trials: int):
    """Standard error ``sqrt(p (1 - p) / n)`` of a fraction ``p`` of ``n`` trials (Chapter 7)."""
    fraction = np.asarray(fraction, dtype=float)
    if not np.all((fraction >= 0) & (fraction <= 1)):       # NaN included
        raise ValueError(f"fraction must lie in [0, 1], got {fraction!r}")
    return np.sqrt(fraction * (1 - fraction) / require_int_at_least("trials", trials, 1))


def flat_basin_preference(from_sharp: dict, from_flat: dict, bowl_only: dict, gibbs: dict,
                          radii, trials: int) -> dict:
    """The reading of the sharp-and-flat experiment, against its two baselines (Chapter 7).

    ``from_sharp`` and ``from_flat`` map each step size to the :class:`BasinFractions` of the
    two starts at the noise radii ``radii``; ``bowl_only`` and ``gibbs`` map it to the fractions
    left of the barrier for the bowl alone (the null) and for the Gibbs density. A radius shows
    a *clear* preference for the flat basin where, for some step size, both starts end in the
    sharp basin more than three binomial standard errors below the null. The trials have
    *forgotten* their start where the two starts differ by less than three standard errors of
    their difference. Returns ``flat_window_low`` and ``flat_window_high`` (the range of the
    clear radii); ``forgot_points`` of ``all_points`` pairs of step size and radius where the
    trials have forgotten their start; ``gibbs_gap``, the largest distance there of the two
    starts' mean from the Gibbs fraction, and ``gibbs_gap_se``, the same in standard errors; and,
    at radii above the window, ``beyond_null_se`` (the largest distance of either start from
    the null, in standard errors), ``beyond_null_low`` and ``beyond_null_high`` (the null's
    range there), ``beyond_radius_low`` and ``beyond_radius_high`` (the radii there). NaN where a
    quantity has nothing to range over.
    """
    steps = list(from_sharp)
    null, gib = (np.array([d[s] for s in steps]) for d in (bowl_only, gibbs))
    sharp, flat = (np.array([d[s].sharp for s in steps]) for d in (from_sharp, from_flat))
    radii = np.asarray(radii, dtype=float)
    if not (null.shape == gib.shape == sharp.shape == flat.shape == (len(steps), radii.size)):
        raise ValueError(f"radii must give one value per fraction, got {radii.size} radii and "
                         f"fractions of shape {sharp.shape}")
    se_null = binomial_standard_error(null, trials)
    clear = np.maximum(sharp, flat) < null - 3 * se_null
    agree = np.abs(sharp - flat) < 3 * np.sqrt(2) * binomial_standard_error(gib, trials)
    gap = np.abs((sharp + flat) / 2 - gib)[agree]
    window = radii[clear.any(axis=0)]
    above = np.broadcast_to(radii > (window.max() if window.size else np.inf), null.shape)
    beyond = (np.abs(np.stack([sharp, flat]) - null) / se_null)[:, above]
    nan = float("nan")
    return {"flat_window_low": float(window.min()) if window.size else nan,
            "flat_window_high": float(window.max()) if window.size else nan,
            "forgot_points": int(agree.sum()), "all_points": int(agree.size),
            "gibbs_gap": float(gap.max()) if gap.size else nan,
            "gibbs_gap_se": float((gap / binomial_standard_error(gib[agree], 2 * trials)).max()) if gap.size else nan,
            "beyond_null_se": float(beyond.max()) if beyond.size else nan,
            "beyond_null_low": float(null[above].min()) if above.any() else nan,
            "beyond_null_high": float(null[above].max()) if above.any() else nan,
            "beyond_radius_low": float(radii[above[0]].min()) if above.any() else nan,
            "beyond_radius_high": float(radii[above[0]].max()) if above.any() else nan}
