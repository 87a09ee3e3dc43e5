"""The proof of Theorem 1 on simulated data (Chapters 2-3): Step 1's chain, Step 3's martingale
bound, Step 4 and Lemma 5, the spiky quadratic, the large-step example and the explorer."""
import numpy as np
import pytest

from sgd_escape.bounded_noise import BoundedNoise
from sgd_escape.large_step import Flower, gd_path
from sgd_escape.proof_checks import STEP1_CHAIN, chain_slack, step1_chain, step4_factor, supermartingale
from sgd_escape.spiky_quadratic import SINC_MIN, SPURIOUS_MINIMA_RATIO, SpikyQuadratic
from sgd_escape.theory import Theorem1Setting
from sgd_escape.ysequence import simulate_y, starting_points


@pytest.fixture(scope="module", params=[("ball", 1), ("sphere", 20)], ids=["d1-ball", "d20-sphere"])
def trajectory_points(request):
    kind, d = request.param
    f = SpikyQuadratic(a=1.0, beta=3.0, k=10.0)
    eta, noise = 0.02, BoundedNoise(kind, 22.0 if d == 1 else 40.0, d)
    setting = Theorem1Setting(eta, f.one_point_constant(noise, eta), f.L, noise.r)
    rng = np.random.default_rng(7)
    run = simulate_y(f.grad, starting_points(64, d, 400.0, rng), eta, noise, 200, rng, snapshot_times=[0, 20, 200])
    points = np.concatenate(list(run.snapshots.values()))
    return f, noise, setting, points, rng


def test_step1_inequalities_hold_on_simulated_points(trajectory_points):
    f, noise, setting, points, rng = trajectory_points
    chain = step1_chain(f.grad, points, setting, noise, rng, draws=1000)
    assert set(STEP1_CHAIN) <= set(chain)
    for link, slack in chain_slack(chain).items():
        assert slack >= -1e-9 * np.max(chain["final"]), link
    assert np.all(chain["next"] <= chain["final"])


def test_step3_deviation_stays_below_its_bound(trajectory_points):
    f, noise, setting, points, rng = trajectory_points
    chain = step1_chain(f.grad, points, setting, noise, rng, draws=1000)
    assert np.all(chain["deviation"] <= chain["deviation_bound"])


def test_supermartingale_mean_does_not_increase(trajectory_points):
    f, noise, setting, _, _ = trajectory_points
    rng = np.random.default_rng(3)
    run = simulate_y(f.grad, starting_points(400, noise.d, 400.0, rng), setting.eta, noise, 150, rng)
    mean = supermartingale(run.sq_dist, setting).mean(axis=1)
    assert mean.shape == (151,)
    assert np.all(np.diff(mean) <= 0)


def test_spiky_quadratic_gradient_and_minima():
    f = SpikyQuadratic(1.0, 8.0, 20.0)
    x, h = np.array([[0.13, -0.4]]), 1e-6
    numeric = [(f.value(x + h * e) - f.value(x - h * e)) / (2 * h) for e in np.eye(2)]
    assert np.allclose(np.ravel(numeric), f.grad(x)[0], atol=1e-6)
    assert f.local_minima_per_coordinate() == 3
    with pytest.raises(ValueError, match="c must be <= L"):
        SpikyQuadratic.with_constants(2.0, 1.0, 10.0, BoundedNoise("ball", 1.0, 1), 0.1)


@pytest.mark.parametrize("kind, d, r", [("ball", 2, 35.0), ("sphere", 5, 12.0)])
def test_convolved_value_is_the_mean_of_f_over_the_noise_and_has_the_convolved_gradient(kind, d, r):
    f, eta, noise = SpikyQuadratic(1.0, 8.0, 10.0), 0.008, BoundedNoise(kind, r, d)
    y, h = np.random.default_rng(1).uniform(-2, 2, (3, d)), 1e-6
    omega = noise.sample((400_000,), np.random.default_rng(2), antithetic=True)
    sampled = [np.mean(f.value(point - eta * omega)) for point in y]
    np.testing.assert_allclose(f.convolved_value(y, noise, eta), sampled, rtol=2e-3)
    numeric = [(f.convolved_value(y + h * e, noise, eta) - f.convolved_value(y - h * e, noise, eta)) / (2 * h)
               for e in np.eye(d)]
    np.testing.assert_allclose(np.transpose(numeric), f.convolved_grad(y, noise, eta), atol=1e-6)


@pytest.mark.parametrize("a, k", [(1.0, 10.0), (0.5, 3.0)])
def test_spurious_minima_appear_at_beta_over_a_equal_to_one_over_min_sinc(a, k):
    threshold = SPURIOUS_MINIMA_RATIO * a
    assert 4.5 < SPURIOUS_MINIMA_RATIO < 4.7
    assert SpikyQuadratic(a, 0.99 * threshold, k).local_minima_per_coordinate() == 1
    assert SpikyQuadratic(a, 1.01 * threshold, k).local_minima_per_coordinate() > 1
    assert SpikyQuadratic(a, 2.0 * a, k).local_minima_per_coordinate() == 1  # non-convex, no spurious minimum


@pytest.mark.parametrize("half_width", [0.0, -1.0])
def test_minima_count_rejects_a_non_positive_half_width(half_width):
    with pytest.raises(ValueError, match="half_width must be > 0"):
        SpikyQuadratic(1.0, 8.0, 10.0).local_minima_per_coordinate(half_width)


def test_with_constants_reproduces_c_and_L():
    noise, eta = BoundedNoise("ball", 20.0, 1), 0.02
    f = SpikyQuadratic.with_constants(0.5, 3.0, 10.0, noise, eta)
    assert f.L == pytest.approx(3.0)
    assert f.one_point_constant(noise, eta) == pytest.approx(0.5)


def test_simulate_y_validates_shapes():
    f, noise = SpikyQuadratic(1.0, 1.0, 1.0), BoundedNoise("ball", 1.0, 3)
    with pytest.raises(ValueError, match=r"y0 must have shape \(trials, 3\)"):
        simulate_y(f.grad, np.zeros((4, 2)), 0.1, noise, 5, np.random.default_rng(0))


def test_simulate_y_names_snapshot_times_outside_the_run():
    f, noise, rng = SpikyQuadratic(1.0, 1.0, 1.0), BoundedNoise("ball", 1.0, 1), np.random.default_rng(0)
    for times in ([6], [-1], [2.5]):
        with pytest.raises(ValueError, match="snapshot_times"):
            simulate_y(f.grad, np.ones((4, 1)), 0.1, noise, 5, rng, snapshot_times=times)
    assert set(simulate_y(f.grad, np.ones((4, 1)), 0.1, noise, 5, rng, snapshot_times=[0, 5]).snapshots) == {0, 5}


@pytest.mark.parametrize("d", [0, -2, 1.5])
def test_starting_points_names_a_bad_dimension(d):
    with pytest.raises(ValueError, match="d must be an integer >= 1"):
        starting_points(3, d, 1.0, np.random.default_rng(0))


def test_step1_chain_names_a_mismatched_radius_or_odd_draws(trajectory_points):
    f, noise, setting, points, rng = trajectory_points
    other = BoundedNoise(noise.kind, 2 * noise.r, noise.d)
    with pytest.raises(ValueError, match="noise radius"):
        step1_chain(f.grad, points, setting, other, rng, draws=10)
    with pytest.raises(ValueError, match="draws must be even"):
        step1_chain(f.grad, points, setting, noise, rng, draws=11)


def test_large_step_moves_gd_away_and_small_step_does_not():
    f = Flower(0.3)
    assert f.smallest_hessian_eigenvalue() < 0  # not convex
    x0 = np.array([1.0, 0.5])
    far = np.linalg.norm(gd_path(f.grad, x0, 3.0, 5), axis=-1)
    near = np.linalg.norm(gd_path(f.grad, x0, 0.5, 5), axis=-1)
    assert np.all(np.diff(far) > 0) and np.all(np.diff(near) < 0)


def test_chapter2_settings_meet_theorem1_and_corollary2():
    from sgd_escape.theorem_experiments import HIGH_DIM, ONE_DIM, SECOND_STAGE_ETA, shrinking_schedule
    from sgd_escape.theory import Corollary2Setting

    for experiment in (ONE_DIM, HIGH_DIM):
        s = experiment.setting                          # the constructor enforces the conditions;
        assert s.eta <= 0.9 * min(1 / (2 * s.L), s.c / s.L**2, 1 / (2 * s.c))   # these keep 10% to spare
        assert experiment.f.local_minima_per_coordinate() > 1  # spurious minima exist
    coro = Corollary2Setting(*shrinking_schedule(ONE_DIM, (SECOND_STAGE_ETA,)).stages)   # Chapter 2's two stages
    assert coro.second.c >= 1.1 * coro.first.c and coro.final_radius_sq < coro.first.markov_radius_sq


def test_explorer_names_the_violated_condition():
    import matplotlib

    matplotlib.use("Agg")
    from sgd_escape.theorem_explorer import draw_theorem

    for eta, condition in ((0.3, "eta < 1/(2L)"), (0.2, "eta < c/L^2")):
        fig = draw_theorem(eta=eta, r=10.0, c=0.5, L=2.0)
        assert any(condition in t.get_text() for t in fig.axes[0].texts)


def test_explorer_blames_its_function_family_not_the_theorem():
    """c = 1.5 > L = 1 meets every condition of Theorem1Setting, but no spiky quadratic has c > L."""
    import matplotlib

    matplotlib.use("Agg")
    from sgd_escape.theorem_explorer import draw_theorem
    from sgd_escape.theory import Theorem1Setting

    Theorem1Setting(0.001, 1.5, 1.0, 10.0)
    text = " ".join(t.get_text() for t in draw_theorem(eta=0.001, r=10.0, c=1.5, L=1.0).axes[0].texts)
    assert "Theorem 1 applies, but no spiky quadratic" in text and "does not apply" not in text


def test_explorer_shows_the_share_within_the_markov_radius_and_blames_itself_for_long_runs():
    import matplotlib

    matplotlib.use("Agg")
    from sgd_escape.theorem_explorer import DEFAULTS, MAX_STEPS, draw_theorem

    title = draw_theorem(**DEFAULTS, trials=40).axes[0].get_title()
    assert "% of 40 trials within 20b/lambda at T1" in title
    long = draw_theorem(eta=0.001, r=96.5, c=0.777, L=9.0)
    text = " ".join(t.get_text() for t in long.axes[0].texts)
    assert "Theorem 1 applies" in text and str(MAX_STEPS) in text and "does not apply" not in text


def test_state_dependent_noise_gives_a_one_point_constant_far_above_L():
    from sgd_escape.proof_checks import state_dependent_noise_example

    L, c = 1.0, 100.0
    example = state_dependent_noise_example(eta=0.9 / (2 * c), c=c, L=L, r=1.0)
    assert example["y"].size == 4000 and np.all(example["y"] != 0)
    c_of_y, y = example["c_of_y"], example["y"]
    assert c_of_y.min() >= c * (1 - 1e-12) and c > L                # Assumption 1 holds with c = 100 L ...
    edge = np.abs(y) == np.abs(y).max()
    assert c_of_y[edge].min() == pytest.approx(c)                   # ... on a neighbourhood no wider than it can be
    assert example["reach"] == pytest.approx(0.9 / (2 * c) / (2 * (1 + c)))
    assert np.all(example["c_outside"] < L)                          # one kick of eta r beyond it, c(y) < L < c
    with pytest.raises(ValueError, match="eta"):
        state_dependent_noise_example(eta=1.0, c=c, L=L, r=1.0)


def test_smallest_mu_constant_is_where_lemma5_stops_holding():
    from sgd_escape.proof_checks import lemma5_grid, smallest_mu_constant

    axes = dict(eta_fractions=[0.5, 0.99], c_values=[0.1, 1.0], L_values=[1.0, 10.0], r_values=[1.0],
                T2_values=[10, 10**6])
    K, ratio = smallest_mu_constant(axes)
    assert 1.0 < K < 42.0 and ratio <= 1.0
    assert np.nanmax(lemma5_grid(**axes, mu_constant=0.99 * K)["ratio"]) > 1.0   # a little less fails
    with pytest.raises(ValueError, match="high"):
        smallest_mu_constant(axes, low=1.0, high=0.5 * K)


def test_step1_link_split_adds_up_and_c_multiplier_is_where_the_link_fails(trajectory_points):
    from dataclasses import replace

    from sgd_escape.proof_checks import c_multiplier_to_fail, gap_shares

    f, noise, setting, points, _ = trajectory_points
    chain = step1_chain(f.grad, points, setting, noise, np.random.default_rng(5), draws=1000)
    np.testing.assert_allclose(chain["assume"] - chain["smooth"], chain["part_assumption"] + chain["part_lipschitz"],
                               rtol=1e-9, atol=1e-9 * np.max(chain["final"]))
    assert min(gap_shares(chain).values()) > 0
    m = c_multiplier_to_fail(chain, setting)
    assert m > 1
    exact = c_multiplier_to_fail(chain, setting, f.convolved_grad(points, noise, setting.eta))
    assert exact > 1 and exact != m        # the sampling error of the mean gradient moves the factor
    assert c_multiplier_to_fail(chain, setting, np.zeros_like(points)) < 1   # no pull to x*: the link fails
    for factor, holds in ((0.99, True), (1.01, False)):
        other = step1_chain(f.grad, points, replace(setting, c=factor * m * setting.c), noise,
                            np.random.default_rng(5), draws=1000)
        assert (chain_slack(other)["smooth <= assume"] >= 0) == holds, factor


def test_step1_check_catches_a_doubled_c_in_the_chapter_settings():
    from dataclasses import replace

    from sgd_escape.theorem_experiments import HIGH_DIM, ONE_DIM

    for experiment, seed in ((ONE_DIM, 10), (HIGH_DIM, 11)):
        rng = np.random.default_rng(seed)
        y0 = starting_points(10, experiment.noise.d, experiment.initial_sq_distance, rng)
        run = simulate_y(experiment.f.grad, y0, experiment.eta, experiment.noise, 600, rng, snapshot_times=[0, 50, 600])
        points = np.concatenate(list(run.snapshots.values()))
        s = experiment.setting
        honest = step1_chain(experiment.f.grad, points, s, experiment.noise, rng, draws=1000)
        doubled = step1_chain(experiment.f.grad, points, replace(s, c=2 * s.c), experiment.noise, rng, draws=1000)
        assert chain_slack(honest)["smooth <= assume"] >= 0
        assert chain_slack(doubled)["smooth <= assume"] < 0


def test_azuma_deviation_matches_the_direct_sum():
    from sgd_escape.proof_checks import azuma_deviation

    setting = Theorem1Setting(0.02, 0.5, 3.0, 20.0)
    tail, steps = setting.tail(500), np.array([1, 2, 17, 500])
    q = (1 - setting.lam) ** -2.0
    direct = [np.sqrt(2) * tail.M * np.sqrt(sum(q**tau for tau in range(1, t + 1))) * np.sqrt(np.log(tail.zeta))
              for t in steps]
    np.testing.assert_allclose(azuma_deviation(setting, 500, steps), direct, rtol=1e-10)


def test_lemma5_supremum_is_approached_at_the_edge_of_the_conditions():
    from sgd_escape.proof_checks import lemma5_supremum, smallest_mu_constant_all
    from sgd_escape.theory import lemma5_ratio

    edge = dict(eta=0.4999999 / 10, c=10.0, L=1e-5, T2=1)          # eta c -> 1/2, eta L -> 0, T2 = 1
    for K in (16.0, 16.1, 42.0):
        assert lemma5_ratio(r=1.0, mu_constant=K, **edge) == pytest.approx(lemma5_supremum(K), rel=1e-5)
    assert lemma5_ratio(r=1.0, mu_constant=16.1, **edge) <= 1 < lemma5_ratio(r=1.0, mu_constant=16.0, **edge)
    assert lemma5_ratio(r=37.0, mu_constant=16.0, **edge) == pytest.approx(lemma5_ratio(r=1.0, mu_constant=16.0, **edge))
    K = smallest_mu_constant_all()
    assert 16.0 < K < 16.1 and lemma5_supremum(K) == pytest.approx(1.0)
    rng = np.random.default_rng(0)                                # no allowed point beats the supremum
    c, L = 10 ** rng.uniform(-3, 2, 5000), 10 ** rng.uniform(-3, 2, 5000)
    eta = rng.uniform(0, 1, 5000) * np.minimum(np.minimum(1 / (2 * L), c / L**2), 1 / (2 * c))
    T2 = rng.integers(1, 10**6, 5000)
    assert np.max(lemma5_ratio(eta, c, L, 1.0, T2, K)) <= 1.0


def test_segment_slopes_are_minus_the_curvature_of_a_quadratic_and_refuse_bad_input():
    from sgd_escape.proof_checks import segment_slopes

    starts = np.array([[3.0, 0.0], [1.0, -2.0], [0.5, 0.5]])
    t = np.linspace(0, 1, 50, endpoint=False)
    slopes = segment_slopes(lambda z: 0.7 * z, starts, t)      # g(z) = 0.35 ||z||^2
    assert slopes.shape == (50, 3) and np.allclose(slopes, -0.7)
    curved = segment_slopes(lambda z: 0.7 * z + 0.1 * z ** 3, starts, t)
    assert np.all(curved <= -0.7 + 1e-12) and curved.min() < -0.7 - 0.1   # steeper than the quadratic
    with pytest.raises(ValueError, match="starts"):
        segment_slopes(lambda z: z, np.ones(3), t)
    with pytest.raises(ValueError, match="t must"):
        segment_slopes(lambda z: z, starts, np.array([0.5, 1.0]))


def test_segment_drops_read_the_fall_of_g_and_catch_a_rise_on_the_way():
    from sgd_escape.proof_checks import segment_drops

    starts = np.array([[3.0, 0.0], [1.0, -2.0]])
    t = np.linspace(0, 1, 50, endpoint=False)
    quadratic = segment_drops(lambda z: 0.35 * np.sum(z**2, axis=-1) + 4.0, starts, t)  # g = 0.35||z||^2 + 4
    assert quadratic.shape == (50, 2) and np.allclose(quadratic, 0.35)           # exactly c / 2 with c = 0.7
    bumpy = segment_drops(lambda z: np.sum(z**2 - 2.5 * np.exp(-4 * (z - 1.5) ** 2), axis=-1), starts[:1], t)
    assert bumpy.min() < 0                        # a dip on the way lies below g(x*): no longer a fall
    with pytest.raises(ValueError, match="t must"):
        segment_drops(lambda z: z, starts, np.array([1.0]))


def test_lemma5_terms_add_up_to_the_ratio_and_each_stays_within_its_third():
    from sgd_escape.proof_checks import lemma5_grid
    from sgd_escape.theory import lemma5_ratio, lemma5_terms

    terms = lemma5_terms(0.01, 0.5, 3.0, 2.0, 100)
    assert sum(terms.values()) == pytest.approx(lemma5_ratio(0.01, 0.5, 3.0, 2.0, 100), rel=1e-12)
    grid = lemma5_grid(np.linspace(0.05, 0.99, 6), np.geomspace(1e-2, 5, 5), np.geomspace(0.1, 50, 5), [1.0],
                       np.array([1, 100, 10**6]))
    for name, term in grid["terms"].items():                     # Appendix B: each at most 1/3
        assert np.nanmax(term) <= 1 / 3, name
    assert np.nanmax(grid["terms"]["delta"]) > 0.3 > np.nanmax(grid["terms"]["start"])   # the binding one


def test_trajectory_points_stack_the_runs_time_by_time():
    from sgd_escape.theorem_experiments import ONE_DIM, trajectory_points

    points = trajectory_points(ONE_DIM, 7, [0, 40, 300], seed=2)
    assert points.shape == (21, 1)
    assert np.allclose(np.sum(points[:7] ** 2, axis=1), ONE_DIM.initial_sq_distance)   # the start
    assert np.sum(points[14:] ** 2, axis=1).mean() < 0.1 * ONE_DIM.initial_sq_distance  # drawn in
    assert np.array_equal(points, trajectory_points(ONE_DIM, 7, [0, 40, 300], seed=2))
    with pytest.raises(ValueError, match="times"):
        trajectory_points(ONE_DIM, 7, [], seed=2)


def test_with_constants_at_c_equal_to_L_is_the_plain_quadratic():
    f = SpikyQuadratic.with_constants(3.0, 3.0, 10.0, BoundedNoise("ball", 20.0, 1), 0.02)
    assert (f.a, f.beta) == (3.0, 0.0)


@pytest.mark.parametrize("a", [0.0, 1.0])
def test_flower_parameter_must_lie_strictly_between_0_and_1(a):
    with pytest.raises(ValueError, match=r"a must lie in \(0.0, 1.0\)"):
        Flower(a=a)


def test_flower_gradient_and_one_point_constants():
    f = Flower(0.3)
    x, h = np.random.default_rng(0).normal(size=(20, 2)), 1e-6
    numeric = np.stack([(f.value(x + h * e) - f.value(x - h * e)) / (2 * h) for e in np.eye(2)], axis=-1)
    np.testing.assert_allclose(f.grad(x), numeric, atol=1e-6)
    theta = np.linspace(0, 2 * np.pi, 3601)
    ring = 1.7 * np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    ratio = np.sum(f.grad(ring) * ring, axis=-1) / 1.7**2      # <grad f(x), x - x*> / ||x - x*||^2
    assert ratio.min() == pytest.approx(f.c_lower, rel=1e-6) and ratio.max() == pytest.approx(f.c_upper, rel=1e-6)


def test_gd_path_starts_at_x0_and_holds_every_step():
    x0 = np.array([1.0, 0.5])
    path = gd_path(lambda x: 2 * x, x0, 0.1, 5)
    assert path.shape == (6, 2)
    np.testing.assert_allclose(path, 0.8 ** np.arange(6)[:, None] * x0)


def test_step3_deviation_bound_holds_and_is_within_a_factor_1_6_of_tight():
    # On the L-smooth concave f(z) = -L z^2 / 2, y_{t+1} = (1 + eta L)(y - eta omega): with eta L near 1/2 the
    # largest deviation is about (1 + eta L)^2 2 eta r ||y|| = 4.5 eta r ||y||, against the bound's 7 eta r ||y||.
    setting = Theorem1Setting(eta=0.499, c=0.75, L=1.0, r=1.0)
    noise, y = BoundedNoise("ball", 1.0, 1), np.array([[100.0], [-40.0]])
    chain = step1_chain(lambda z: -z, y, setting, noise, np.random.default_rng(0), draws=1000)
    assert np.all(chain["deviation"] <= chain["deviation_bound"])
    assert np.all(chain["deviation_bound"] < 1.6 * chain["deviation"])
    np.testing.assert_allclose(chain["deviation_bound"], 3.5 * 0.499**2 + 7 * 0.499 * np.array([100.0, 40.0]))


def test_supermartingale_is_constant_along_the_envelope():
    # ||y_t - x*||^2 = b/lambda + (1 - lambda)^t D makes G_t = D at every t (Step 2's equality case).
    setting, D = Theorem1Setting(eta=0.01, c=1.0, L=2.0, r=3.0), np.array([5.0, 50.0])
    t = np.arange(200)[:, None]
    G = supermartingale(setting.floor + (1 - setting.lam) ** t * D, setting)
    np.testing.assert_allclose(G, np.broadcast_to(D, G.shape), rtol=1e-9)


def test_normalised_supermartingale_mean_starts_at_minus_one():
    from sgd_escape.proof_checks import normalised_supermartingale_mean

    G = np.array([[-2.0, -4.0], [-1.0, -1.0], [0.5, 0.5]])
    np.testing.assert_allclose(normalised_supermartingale_mean(G), [-1.0, -1 / 3, 1 / 6])


def test_gap_shares_are_the_median_shares_of_final_minus_next():
    from sgd_escape.proof_checks import gap_shares

    # gap 3 - 1 = 2 at every point; shares (.5, .25, .1), (.1, .25, .5) and the rest (.4, .5, .4)
    chain = {"final": np.full(3, 3.0), "next": np.ones(3),
             "part_assumption": np.array([1.0, 0.5, 0.2]), "part_lipschitz": np.array([0.2, 0.5, 1.0])}
    assert gap_shares(chain) == pytest.approx({"assumption": 0.25, "lipschitz": 0.25, "other": 0.4})


def test_explorer_refuses_runs_longer_than_its_step_cap():
    import matplotlib

    matplotlib.use("Agg")
    from sgd_escape.theorem_explorer import MAX_STEPS, draw_theorem

    fig = draw_theorem(eta=1e-4, r=100.0, c=0.5, L=2.0)       # lambda ~ 1e-4: T1 in the tens of thousands
    texts = [t.get_text() for t in fig.texts + [t for ax in fig.axes for t in ax.texts]]
    assert any("T1 + T2" in text and str(MAX_STEPS) in text for text in texts)


@pytest.mark.parametrize("c", [1e-9, 0.5])
def test_smallest_step_size_is_where_sinc_falls_to_the_needed_value(c):
    from scipy import optimize

    f, noise = SpikyQuadratic(1.0, 8.0, 10.0), BoundedNoise("ball", 96.5, 1)   # uniform noise: phi = sin(v)/v
    needed = (f.a - c) / (f.beta * abs(SINC_MIN))                 # c = a + beta phi SINC_MIN while phi > 0
    v = optimize.brentq(lambda v: np.sin(v) / v - needed, 1e-9, np.pi)
    eta = f.smallest_step_size(noise, c, 0.008)
    assert eta == pytest.approx(v / (f.k * noise.r), abs=0.008 / 100_001 + 1e-12)
    assert f.one_point_constant(noise, eta) >= c > f.one_point_constant(noise, 0.99 * eta)
    if c < 1e-6:   # below the floor of any c > 0 the smoothed function (beta phi for beta) has spurious minima
        phi = f.smoothing_factor(noise, 0.99 * eta)
        assert SpikyQuadratic(f.a, f.beta * phi, f.k).local_minima_per_coordinate() > 1


def test_smallest_step_size_of_an_unreachable_constant_is_nan_and_bad_input_is_named():
    f, noise = SpikyQuadratic(1.0, 8.0, 10.0), BoundedNoise("ball", 96.5, 1)
    assert np.isnan(f.smallest_step_size(noise, 1.5 * f.a, 0.008))   # c never exceeds a in this family
    for name, kwargs in [("c", dict(c=0.0)), ("eta_max", dict(eta_max=-1.0)), ("points", dict(points=1))]:
        with pytest.raises(ValueError, match=name):
            f.smallest_step_size(noise, **({"c": 0.5, "eta_max": 0.008} | kwargs))


def test_azuma_deviation_stays_accurate_for_a_tiny_lambda():
    # q - 1 is about 2 lambda: the plain formula q (q^t - 1) / (q - 1) loses about 1e-7 here.
    import math

    from sgd_escape.proof_checks import azuma_deviation

    setting = Theorem1Setting(eta=1e-9, c=0.5, L=1.0, r=1.0)
    tail, log_q = setting.tail(10), -2 * math.log1p(-setting.lam)
    steps = np.array([1, 10, 1000])
    direct = [np.sqrt(2) * tail.M * math.sqrt(math.fsum(math.exp(log_q * tau) for tau in range(1, t + 1)))
              * math.sqrt(math.log(tail.zeta)) for t in steps]
    np.testing.assert_allclose(azuma_deviation(setting, 10, steps), direct, rtol=1e-12)


def test_supermartingale_and_azuma_refuse_horizons_that_overflow():
    from sgd_escape.proof_checks import azuma_deviation

    setting = Theorem1Setting(eta=0.1, c=1.0, L=2.0, r=1.0)        # lambda = 0.16
    assert np.isfinite(supermartingale(np.ones((4000, 2)), setting)).all()   # lambda t about 700
    with pytest.raises(ValueError, match="sq_dist"):
        supermartingale(np.ones((5000, 2)), setting)
    with pytest.raises(ValueError, match="sq_dist"):                # the factor fits, G_t does not
        supermartingale(np.full((4000, 1), 1e6), setting)
    assert np.isfinite(azuma_deviation(setting, 10, [3900])).all()   # the square root halves the exponent
    with pytest.raises(ValueError, match="steps"):
        azuma_deviation(setting, 10, [1, 4100])


def test_azuma_deviation_stays_finite_where_q_to_the_t_alone_would_overflow():
    # lambda = 1e-5: q^t is near e^700 and 1 / (q - 1) about 5e4, so the plain product is inf.
    from sgd_escape.proof_checks import azuma_deviation

    setting = Theorem1Setting(eta=1e-5, c=0.5, L=1.0, r=1.0)
    log_q = -2 * np.log1p(-setting.lam)
    t = int(700 / log_q)
    deviation = azuma_deviation(setting, 10, [t // 2, t])
    tail = setting.tail(10)
    expected_log = np.log(np.sqrt(2) * tail.M * np.sqrt(np.log(tail.zeta))) + (log_q * (t + 1) - np.log(np.expm1(log_q))) / 2
    assert np.isfinite(deviation).all() and deviation[0] < deviation[1]
    assert np.log(deviation[1]) == pytest.approx(expected_log, rel=1e-9)


@pytest.mark.parametrize("eta, c, L", [(0.05, 1.0, 2.0), (0.01, 0.5, 5.0), (0.2, 2.0, 2.0)])
def test_step4_factor_is_below_one_and_reaches_its_geometric_limit(eta, c, L):
    setting = Theorem1Setting(eta, c, L, 1.0)
    lam = setting.lam
    limit = np.sqrt(eta * c / (lam * (2 - lam)))        # sum of (1 - lambda)^(2k) over k >= 0 is 1 / (lambda (2 - lambda))
    long_window = int(np.ceil(30 / lam))
    assert step4_factor(setting, long_window) == pytest.approx(limit, rel=1e-6)
    assert step4_factor(setting, 1) < step4_factor(setting, long_window) < 1


def test_step1_first_and_last_links_are_equalities_for_noise_on_the_sphere():
    # drop - next = eta^2 (r^2 - mean ||omega||^2) and final - assume = eta^4 L^2 (r^2 - mean ||omega||^2)
    # (module docstring): with ||omega|| = r exactly, both links hold with equality, at every point.
    f, noise = SpikyQuadratic(a=1.0, beta=3.0, k=10.0), BoundedNoise("sphere", 30.0, 3)
    setting = Theorem1Setting(0.02, f.one_point_constant(noise, 0.02), f.L, noise.r)
    points = np.random.default_rng(1).normal(size=(8, 3))
    chain = step1_chain(f.grad, points, setting, noise, np.random.default_rng(2), draws=200)
    np.testing.assert_allclose(chain["drop"], chain["next"], rtol=1e-10)
    np.testing.assert_allclose(chain["final"], chain["assume"], rtol=1e-10)
