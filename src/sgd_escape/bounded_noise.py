"""Gradient noise with bounded norm, as Theorem 1 assumes: max ||omega|| <= r (Chapters 2-3).

Two distributions, both symmetric with mean zero:

- ``"sphere"``: uniform direction, norm exactly ``r`` (in one dimension: +r or -r);
- ``"ball"``: uniform in the ball of radius ``r`` (in one dimension: uniform on [-r, r]).

Samples can be *antithetic* (each draw comes with its negative), so that a sample mean of
omega is exactly zero and the proof's identities that use E[omega] = 0 hold on the sample.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from sgd_escape import checks

NOISE_KINDS = ("sphere", "ball")
#: Above this log of Gamma(nu + 1) (2/s)^nu the Bessel product loses its precision (J_nu(s) nears
#: the smallest double), and the characteristic function is integrated instead.
_LOG_SCALE_MAX = 600.0


@dataclass(frozen=True)
class BoundedNoise:
    """Noise uniform on the sphere or in the ball of radius ``r`` in ``d`` dimensions (Chapter 2)."""

    kind: str
    r: float
    d: int

    def __post_init__(self):
        checks.require_choice("kind", self.kind, set(NOISE_KINDS))
        object.__setattr__(self, "r", checks.require_positive("r", self.r))
        object.__setattr__(self, "d", checks.require_int_at_least("d", self.d, 1))

    def sample(self, shape, rng: np.random.Generator, antithetic: bool = False) -> np.ndarray:
        """Draws of shape ``(*shape, d)``; with ``antithetic`` the first axis pairs draws with negatives."""
        shape = tuple(shape)
        if antithetic:
            if not shape or shape[0] % 2:
                raise ValueError(f"shape must start with an even size (antithetic sampling needs an even "
                                 f"first dimension), got shape {shape}")
            half = self.sample((shape[0] // 2, *shape[1:]), rng)
            return np.concatenate([half, -half], axis=0)
        direction = rng.standard_normal((*shape, self.d))
        direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
        if self.kind == "sphere":
            return self.r * direction
        radius = rng.random((*shape, 1)) ** (1.0 / self.d)
        return self.r * radius * direction

    def coordinate_characteristic(self, s) -> np.ndarray:
        """E cos(s omega_1 / r): the characteristic function of one coordinate of omega / r.

        For the sphere in R^d it is Gamma(d/2) (2/s)^(d/2-1) J_(d/2-1)(s); the ball in R^d has
        the coordinate law of the sphere in R^(d+2) (Archimedes). Where that product's first
        factor would overflow (high dimension, small s), it is integrated against the
        coordinate's density instead.
        """
        dim = self.d if self.kind == "sphere" else self.d + 2
        nu = dim / 2 - 1
        s = np.abs(checks.require_finite_array("s", s))   # NaN would pass as s = 0, no smoothing
        safe = np.where(s > 0, s, 1.0)
        log_scale = special.gammaln(nu + 1) + nu * np.log(2 / safe)
        with np.errstate(over="ignore", invalid="ignore"):
            value = np.exp(np.minimum(log_scale, _LOG_SCALE_MAX)) * special.jv(nu, safe)
        far = (s > 0) & (log_scale > _LOG_SCALE_MAX)
        if far.any():
            value = np.where(far, _integrated_characteristic(np.where(far, s, 0.0), dim), value)
        return np.where(s > 0, value, 1.0)

    @property
    def mean_sq_norm(self) -> float:
        """E||omega||^2: r^2 on the sphere, d r^2 / (d + 2) in the ball."""
        return self.r**2 if self.kind == "sphere" else self.d * self.r**2 / (self.d + 2)


def _integrated_characteristic(s: np.ndarray, dim: int) -> np.ndarray:
    """E cos(s t) for t a coordinate of the unit sphere in R^dim (dim >= 4): the integral of
    cos(s t) against t's density (1 - t^2)^alpha / B(1/2, alpha + 1), alpha = (dim - 3)/2, on [-1, 1]."""
    from scipy import integrate

    alpha = (dim - 3) / 2
    log_norm = special.betaln(0.5, alpha + 1)

    def one(value: float) -> float:
        density = lambda t: np.cos(value * t) * np.exp(alpha * np.log1p(-t * t) - log_norm)  # noqa: E731
        return 2 * integrate.quad(density, 0.0, 1.0, limit=500, epsabs=1e-13)[0]

    return np.vectorize(one, otypes=[float])(s)
