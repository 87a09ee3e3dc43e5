"""The bounded noise of Theorem 1 (Chapter 2): samples stay in the ball or on the sphere, come in
antithetic pairs, and match the closed forms of their squared norm and characteristic function."""
import numpy as np
import pytest

from sgd_escape.bounded_noise import BoundedNoise


def test_noise_is_bounded_and_antithetic():
    rng = np.random.default_rng(0)
    for kind in ("sphere", "ball"):
        omega = BoundedNoise(kind, 2.0, 5).sample((1000, 3), rng, antithetic=True)
        assert omega.shape == (1000, 3, 5)
        assert np.all(np.linalg.norm(omega, axis=-1) <= 2.0 + 1e-12)
        assert np.allclose(omega.mean(axis=0), 0.0)
    with pytest.raises(ValueError, match="kind must be one of"):
        BoundedNoise("gaussian", 1.0, 1)
    with pytest.raises(ValueError, match="antithetic sampling needs an even"):
        BoundedNoise("ball", 1.0, 1).sample((3,), rng, antithetic=True)


def test_characteristic_function_matches_sampling():
    rng = np.random.default_rng(1)
    for kind, d in (("sphere", 1), ("ball", 1), ("ball", 2), ("ball", 3), ("sphere", 50)):  # ball, d = 2: Appendix A
        noise = BoundedNoise(kind, 1.0, d)
        omega = noise.sample((200_000,), rng)[:, 0]
        assert np.mean(np.cos(3.0 * omega)) == pytest.approx(noise.coordinate_characteristic(3.0), abs=0.01)


@pytest.mark.parametrize("kind, d", [("ball", 1), ("ball", 5), ("sphere", 5)])
def test_mean_squared_norm_matches_sampling(kind, d):
    noise = BoundedNoise(kind, 2.0, d)
    sq = np.sum(noise.sample((100_000,), np.random.default_rng(0)) ** 2, axis=-1)
    assert sq.mean() == pytest.approx(noise.mean_sq_norm, abs=4 * sq.std() / np.sqrt(sq.size) + 1e-12)


@pytest.mark.parametrize("kind, d", [("sphere", 1), ("ball", 1), ("sphere", 50), ("ball", 3)])
def test_characteristic_function_is_one_at_zero_and_continuous_there(kind, d):
    noise = BoundedNoise(kind, 1.0, d)
    values = noise.coordinate_characteristic(np.array([0.0, 1e-4, -1e-4]))
    np.testing.assert_allclose(values, 1.0, atol=1e-7)


@pytest.mark.parametrize("d, s", [(100, 1e-8), (250, 1e-3), (300, 1.0), (1000, 0.5)])
def test_characteristic_function_in_high_dimension_follows_its_series(d, s):
    # 0F1(; d/2; -s^2/4) = 1 - s^2/(2d) + s^4/(8 d (d + 2)) - ..., the Bessel product overflowing here
    value = BoundedNoise("sphere", 1.0, d).coordinate_characteristic(s)
    assert value == pytest.approx(1 - s**2 / (2 * d) + s**4 / (8 * d * (d + 2)), abs=1e-9)


def test_characteristic_function_is_the_same_by_bessel_product_and_by_integration():
    from sgd_escape.bounded_noise import _integrated_characteristic

    s = np.array([0.5, 3.0, 10.0, 40.0])
    noise = BoundedNoise("sphere", 1.0, 100)                   # the Bessel product is exact here
    np.testing.assert_allclose(_integrated_characteristic(s, 100), noise.coordinate_characteristic(s), atol=1e-11)
