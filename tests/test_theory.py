"""Theorem 1, Corollary 2 and Lemma 5 constants (Chapters 2-3): hand-computed values and bad input."""
import math

import numpy as np
import pytest

from sgd_escape.proof_checks import lemma5_grid
from sgd_escape.theory import (Corollary2Setting, Theorem1Setting, conditions_hold,
                               exact_large_step_threshold, large_step_threshold, lemma5_ratio)

# eta = 0.01, c = 1, L = 2, r = 3: lambda = 0.02 - 0.0004 = 0.0196, b = 0.0009 * 1.02^2.
SETTING = Theorem1Setting(eta=0.01, c=1.0, L=2.0, r=3.0)


def test_lambda_and_b_match_hand_computation():
    assert SETTING.lam == pytest.approx(0.0196)
    assert SETTING.b == pytest.approx(0.0009 * 1.0404)
    assert SETTING.floor == pytest.approx(0.0009 * 1.0404 / 0.0196)
    assert SETTING.markov_radius_sq == pytest.approx(20 * 0.0009 * 1.0404 / 0.0196)


def test_t1_lower_bound_brings_the_envelope_to_2b_over_lambda():
    d0 = 100.0
    t1 = SETTING.t1_lower_bound(d0)
    assert t1 == pytest.approx(math.log(0.0196 * 100 / (0.0009 * 1.0404)) / 0.0196)
    assert SETTING.envelope(d0, math.ceil(t1)) <= 2 * SETTING.floor
    assert SETTING.t1_lower_bound(SETTING.floor / 2) == 0.0


def test_tail_constants_match_hand_computation():
    tail = SETTING.tail(T2=1000)
    zeta = 9 * 1000 / 4
    mu = 42 * math.sqrt(math.log(zeta))
    delta = mu * math.sqrt(SETTING.floor)
    assert (tail.zeta, tail.mu, tail.delta) == pytest.approx((zeta, mu, delta))
    assert tail.M == pytest.approx(3.5 * 0.0001 * 9 + 7 * 0.01 * 3 * delta)
    assert tail.radius_sq == pytest.approx(mu**2 * SETTING.floor)
    assert tail.lemma5_ratio <= 1


def test_mu_floor_of_8_never_binds_for_integer_windows():
    assert SETTING.tail(T2=1).mu == pytest.approx(42 * math.sqrt(math.log(9 / 4)))
    assert SETTING.tail(T2=1).mu > 8


@pytest.mark.parametrize("kwargs, condition", [
    (dict(eta=0.3, c=0.1, L=2.0, r=1.0), r"eta < 1/\(2L\)"),
    (dict(eta=0.1, c=0.1, L=2.0, r=1.0), r"eta < c/L\^2"),
    (dict(eta=0.2, c=3.0, L=0.5, r=1.0), r"eta < 1/\(2c\)"),
    (dict(eta=0.01, c=0.0, L=1.0, r=1.0), r"c must be > 0"),
    (dict(eta=0.01, c=-1.0, L=1.0, r=1.0), r"c must be > 0"),
    (dict(eta=0.01, c=1.0, L=2.0, r=0.0), r"r must be > 0"),
    (dict(eta=0.0, c=1.0, L=2.0, r=1.0), r"eta must be > 0"),
    (dict(eta=0.01, c=1.0, L=float("nan"), r=1.0), r"L must be a finite"),
])
def test_each_violated_condition_is_named(kwargs, condition):
    with pytest.raises(ValueError, match=condition):
        Theorem1Setting(**kwargs)


def test_condition_message_gives_the_numbers():
    with pytest.raises(ValueError, match=r"eta = 0.1 >= c/L\^2 = 0.025 \(c = 0.1, L = 2\)"):
        Theorem1Setting(eta=0.1, c=0.1, L=2.0, r=1.0)


def test_window_and_initial_distance_are_validated():
    with pytest.raises(ValueError, match="T2 must be an integer >= 1"):
        SETTING.tail(T2=0)
    with pytest.raises(ValueError, match="initial_sq_distance must be > 0"):
        SETTING.t1_lower_bound(0.0)


def _constructor_accepts(eta, c, L) -> bool:
    try:
        Theorem1Setting(eta, c, L, r=1.0)
    except ValueError:
        return False
    return True


def test_conditions_hold_agrees_with_the_constructor():
    # the last three each break one condition: eta < c/L^2, eta < 1/(2L), eta < 1/(2c)
    eta, c, L = np.array([0.01, 0.04, 0.3, 0.45]), np.array([1.0, 0.1, 1.5, 1.2]), np.array([2.0, 2.0, 2.0, 1.0])
    expected = [_constructor_accepts(*p) for p in zip(eta, c, L)]
    assert expected == [True, False, False, False]
    assert conditions_hold(eta, c, L).tolist() == expected


CORO = dict(first=Theorem1Setting(eta=0.02, c=0.5, L=3.0, r=2.0))


def test_corollary2_stage_lengths_and_radius():
    second = Theorem1Setting(eta=0.01, c=0.8, L=3.0, r=2.0)
    coro = Corollary2Setting(second=second, **CORO)
    t1, t2 = coro.stage_lengths(50.0)
    assert t1 == pytest.approx(CORO["first"].t1_lower_bound(50.0))
    assert t2 == pytest.approx(math.log(second.lam * CORO["first"].markov_radius_sq / second.b) / second.lam)
    assert coro.final_radius_sq < CORO["first"].markov_radius_sq


@pytest.mark.parametrize("second, condition", [
    (Theorem1Setting(eta=0.02, c=0.8, L=3.0, r=2.0), r"eta' < eta"),
    (Theorem1Setting(eta=0.01, c=0.5, L=3.0, r=2.0), r"c' > c"),
    (Theorem1Setting(eta=0.01, c=0.8, L=3.0, r=1.0), r"keeps L and r"),
    (Theorem1Setting(eta=0.01, c=0.8, L=2.9, r=2.0), r"keeps L and r"),
])
def test_corollary2_rejects_each_violated_condition(second, condition):
    with pytest.raises(ValueError, match=condition):
        Corollary2Setting(second=second, **CORO)


def test_lemma5_holds_over_a_grid_of_valid_parameters():
    grid = lemma5_grid(np.linspace(0.05, 0.99, 6), np.geomspace(1e-3, 1, 5), np.geomspace(0.5, 100, 5),
                       np.geomspace(1e-2, 100, 4), np.array([1, 10, 1000, 10**6]))
    assert grid["valid"].all()                    # fractions in (0, 1) of the bound always meet the conditions
    ratios = grid["ratio"][grid["valid"]]
    assert ratios.size > 1000
    assert np.all(ratios <= 1)
    assert 0.3 < grid["tightest"]["ratio"] < 0.4  # each of the three summands is at most 1/3


def test_lemma5_grid_keeps_points_with_c_above_L():
    grid = lemma5_grid(np.array([0.5, 0.99]), np.array([0.5, 4.0]), np.array([1.0]), np.array([1.0]), np.array([10]))
    assert grid["valid"].all()  # c = 4 > L = 1 meets Theorem 1's conditions too
    assert np.all(np.isfinite(grid["ratio"])) and np.all(grid["ratio"] <= 1)


def test_vectorised_lemma5_ratio_matches_the_tail_constants():
    expected = SETTING.tail(T2=50).lemma5_ratio
    assert lemma5_ratio(SETTING.eta, SETTING.c, SETTING.L, SETTING.r, 50) == pytest.approx(expected)


def test_theorem3_threshold_is_never_below_the_exact_one():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 3))
    grad = x * np.array([1.0, 2.0, 4.0])  # f = (x1^2 + 2 x2^2 + 4 x3^2) / 2, so c' = 4
    assert np.all(large_step_threshold(grad, x, 0.0, 4.0) >= exact_large_step_threshold(grad, x, 0.0) - 1e-12)
    with pytest.raises(ValueError, match="c_upper must be > 0"):
        large_step_threshold(grad, x, 0.0, 0.0)


def test_theorem3_threshold_values_by_hand():
    """f = (x1^2 + 2 x2^2 + 4 x3^2) / 2 with c' = 4: 2 c' ||x||^2 / ||grad||^2 along each axis and at
    (1, 1, 1), where ||x||^2 = 3 and ||grad||^2 = 1 + 4 + 16; the exact threshold there is 2 * 7 / 21."""
    x = np.array([[0.0, 0.0, 1.0], [2.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    grad = x * np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(large_step_threshold(grad, x, 0.0, 4.0), [0.5, 8.0, 24 / 21])
    np.testing.assert_allclose(exact_large_step_threshold(grad, x, 0.0), [0.5, 2.0, 14 / 21])
    np.testing.assert_allclose(large_step_threshold(grad, x + 1.0, 1.0, 4.0), [0.5, 8.0, 24 / 21])  # x* moved along


@pytest.mark.parametrize("kwargs, condition", [
    (dict(eta=0.25, c=1.5, L=2.0, r=1.0), r"eta < 1/\(2L\)"),    # eta = 1/(2L) exactly
    (dict(eta=0.1, c=0.4, L=2.0, r=1.0), r"eta < c/L\^2"),      # eta = c/L^2 exactly
    (dict(eta=0.2, c=2.5, L=1.0, r=1.0), r"eta < 1/\(2c\)"),    # eta = 1/(2c) exactly
])
def test_conditions_are_strict_inequalities(kwargs, condition):
    with pytest.raises(ValueError, match=condition):
        Theorem1Setting(**kwargs)


def test_envelope_matches_its_closed_form():
    d0, t = 100.0, np.array([0, 1, 10, 250])
    expected = SETTING.floor + (1 - SETTING.lam) ** t * d0
    np.testing.assert_allclose(SETTING.envelope(d0, t), expected, rtol=1e-12)
    assert SETTING.envelope(d0, 0) == pytest.approx(SETTING.floor + d0)   # starts at b/lambda + ||y0 - x*||^2


def test_conditions_hold_agrees_with_the_constructor_on_random_parameters():
    # Each of the three conditions (and eta > 0) binds somewhere in this sample.
    rng = np.random.default_rng(0)
    eta, c, L = rng.uniform(-0.05, 0.6, 2000), 10 ** rng.uniform(-1, 0.7, 2000), 10 ** rng.uniform(-1, 0.7, 2000)
    eta[:20] = 0.0
    expected = [_constructor_accepts(*p) for p in zip(eta, c, L)]
    binding = np.argmin(np.stack([1 / (2 * L), c / L**2, 1 / (2 * c)]), axis=0)
    assert set(binding[(eta > 0)].tolist()) == {0, 1, 2}
    assert conditions_hold(eta, c, L).tolist() == expected


def test_exact_large_step_threshold_is_where_gd_stops_getting_closer():
    # ||x - eta g - x*||^2 = ||x - x*||^2 - 2 eta <g, x - x*> + eta^2 ||g||^2: unchanged at the threshold.
    from sgd_escape.large_step import Flower

    f, rng = Flower(0.3), np.random.default_rng(1)
    x_star = np.array([0.0, 0.0])
    x = rng.standard_normal((50, 2))
    eta = exact_large_step_threshold(f.grad(x), x, x_star)
    for factor, moves_away in ((0.99, False), (1.0, None), (1.01, True)):
        before = np.linalg.norm(x - x_star, axis=1)
        after = np.linalg.norm(x - (factor * eta)[:, None] * f.grad(x) - x_star, axis=1)
        if moves_away is None:
            np.testing.assert_allclose(after, before, rtol=1e-10)
        else:
            assert np.all((after > before) == moves_away)


def test_distance_figure_draws_the_envelope_and_both_radii():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sgd_escape.theorem_experiments import ONE_DIM, Theorem1Result
    from sgd_escape.theory_plots import distance_runs, markov_histogram
    from sgd_escape.ysequence import YRun

    s, T2 = ONE_DIM.setting, 3
    result = Theorem1Result(ONE_DIM, T2, YRun(np.full((ONE_DIM.T1 + T2 + 1, 4), s.floor)))
    fig, (left, right) = plt.subplots(1, 2)
    distance_runs(left, result)
    lines = {line.get_label(): line for line in left.lines}
    t = np.arange(ONE_DIM.T1 + T2 + 1)
    np.testing.assert_allclose(lines[r"$b/\lambda + (1-\lambda)^t\|y_0-x^*\|^2$"].get_ydata(),
                               s.envelope(ONE_DIM.initial_sq_distance, t))
    assert lines[r"$20b/\lambda$"].get_ydata()[0] == pytest.approx(s.markov_radius_sq)
    assert lines[r"$\delta^2$ (window bound)"].get_ydata()[0] == pytest.approx(s.tail(T2).radius_sq)
    markov_histogram(right, np.array([1.0, 3.0, 30.0]) * s.floor, s.floor)
    assert sorted(line.get_xdata()[0] for line in right.lines) == [2, 20]
    filled = [bar for bar in right.patches if bar.get_height() > 0]          # one trial each, at 1, 3 and 30
    assert [bar.get_height() for bar in filled] == [1, 1, 1]
    assert all(bar.get_x() <= value <= bar.get_x() + bar.get_width() for bar, value in zip(filled, [1, 3, 30]))
    plt.close(fig)


def test_noisy_threshold_is_where_sgd_stops_getting_closer_in_expectation():
    # Antithetic draws on the sphere make the sample mean of ||x - eta (g + omega) - x*||^2 exact:
    # the cross term cancels and ||omega|| = r, so at the threshold it equals ||x - x*||^2.
    from sgd_escape.bounded_noise import BoundedNoise
    from sgd_escape.large_step import Flower
    from sgd_escape.theory import noisy_large_step_threshold

    f, noise = Flower(0.3), BoundedNoise("sphere", 1.5, 2)
    x = np.array([0.4, -0.9])
    omega = noise.sample((200, 1), np.random.default_rng(2), antithetic=True)[:, 0]
    eta = float(noisy_large_step_threshold(f.grad(x), x, 0.0, noise.mean_sq_norm))
    assert eta < float(exact_large_step_threshold(f.grad(x), x, 0.0))
    for factor, sign in ((0.99, -1), (1.0, 0), (1.01, 1)):
        after = np.mean(np.sum((x - factor * eta * (f.grad(x) + omega)) ** 2, axis=1))
        change = after - np.sum(x**2)
        assert change == pytest.approx(0.0, abs=1e-12) if sign == 0 else np.sign(change) == sign


def test_fraction_moving_away_counts_the_steps_that_land_farther():
    from sgd_escape.bounded_noise import BoundedNoise
    from sgd_escape.large_step import fraction_moving_away

    noise, x, grad = BoundedNoise("ball", 2.0, 3), np.array([1.0, -0.5, 0.2]), np.array([1.5, 0.3, -0.4])
    etas = np.array([0.05, 0.3, 0.6, 1.2])
    omega = noise.sample((500,), np.random.default_rng(9))
    steps = x - etas[:, None, None] * (grad + omega)[None]
    direct = np.mean(np.linalg.norm(steps - 0.1, axis=-1) > np.linalg.norm(x - 0.1), axis=1)
    got = fraction_moving_away(grad, x, 0.1, etas, noise, 500, np.random.default_rng(9))
    np.testing.assert_array_equal(got, direct)
    assert 0 < got[1] < 1 and got[0] < got[-1]


def test_high_dimension_makes_one_step_do_what_the_expectation_says():
    from sgd_escape.bounded_noise import BoundedNoise
    from sgd_escape.large_step import Flower, fraction_moving_away, radial_noise_share
    from sgd_escape.theory import noisy_large_step_threshold

    x2 = np.array([np.cos(0.3), np.sin(0.3)])
    g2 = Flower(0.3).grad(x2)
    rng, fractions = np.random.default_rng(4), {}
    for d in (2, 1000):
        noise = BoundedNoise("sphere", float(np.linalg.norm(g2)), d)
        x, g = np.pad(x2, (0, d - 2)), np.pad(g2, (0, d - 2))
        eta = float(noisy_large_step_threshold(g, x, 0.0, noise.mean_sq_norm))
        fractions[d] = fraction_moving_away(g, x, 0.0, [0.9 * eta, 1.1 * eta], noise, 4000, rng)
        share = radial_noise_share(noise, 3 * x, 4000, rng)         # any length: only the direction counts
        assert share == pytest.approx(1 / d, rel=0.1)
    assert fractions[1000][0] < 0.01 and fractions[1000][1] > 0.99
    assert 0.1 < fractions[2][0] < 0.5 < fractions[2][1] < 0.9


def test_shrinking_schedule_chains_the_stage_lengths_and_radii():
    from sgd_escape.theory import ShrinkingSchedule

    stages = (Theorem1Setting(0.02, 0.5, 3.0, 2.0), Theorem1Setting(0.01, 0.8, 3.0, 2.0),
              Theorem1Setting(0.005, 0.9, 3.0, 2.0))
    schedule = ShrinkingSchedule(stages)
    lengths = schedule.stage_lengths(50.0)
    assert lengths[0] == pytest.approx(stages[0].t1_lower_bound(50.0))
    for k in (1, 2):
        previous, stage = stages[k - 1], stages[k]
        expected = math.log(stage.lam * previous.markov_radius_sq / stage.b) / stage.lam
        assert lengths[k] == pytest.approx(expected)
    assert schedule.radii_sq[0] > schedule.radii_sq[1] > schedule.radii_sq[2]
    assert schedule.markov_lower_bound == pytest.approx(0.729)
    coro = Corollary2Setting(*stages[:2])
    assert coro.stage_lengths(50.0) == pytest.approx(lengths[:2])


@pytest.mark.parametrize("stages, message", [
    ((Theorem1Setting(0.02, 0.5, 3.0, 2.0),), "stages must hold at least 2"),
    ((Theorem1Setting(0.02, 0.5, 3.0, 2.0), Theorem1Setting(0.01, 0.8, 3.0, 2.0),
      Theorem1Setting(0.01, 0.9, 3.0, 2.0)), "stage 3 of the schedule needs eta' < eta"),
    ((Theorem1Setting(0.02, 0.5, 3.0, 2.0), Theorem1Setting(0.01, 0.4, 3.0, 2.0)), "stage 2 of the schedule needs c' > c"),
])
def test_shrinking_schedule_rejects_a_stage_that_does_not_shrink(stages, message):
    from sgd_escape.theory import ShrinkingSchedule

    with pytest.raises(ValueError, match=message):
        ShrinkingSchedule(stages)


def test_three_stage_run_restarts_each_stage_where_sgd_with_the_new_step_would():
    from sgd_escape.theorem_experiments import ONE_DIM, run_corollary2, run_shrinking, shrinking_numbers
    from sgd_escape.ysequence import simulate_y, starting_points, y_of_x

    run = run_shrinking(6, seed=3)
    _, sq2, lengths2 = run_corollary2(6, seed=3)
    assert len(run.lengths) == 3 and run.sq.shape == (sum(run.lengths) + 1, 6) and run.restart_sq.shape == (2, 6)
    assert run.lengths[:2] == lengths2
    np.testing.assert_array_equal(run.sq[:sum(lengths2) + 1], sq2)   # same seed, same first stages
    # Replay the three stages by hand: x carries over, y' = x_T - eta' grad f(x_T) starts the next stage.
    f, noise, rng = ONE_DIM.f, ONE_DIM.noise, np.random.default_rng(3)
    y, rows = starting_points(6, 1, ONE_DIM.initial_sq_distance, rng), []
    for k, (stage, steps) in enumerate(zip(run.schedule.stages, run.lengths)):
        if k:
            y = y_of_x(f.grad, part.final_x, stage.eta)
            np.testing.assert_allclose(run.restart_sq[k - 1], np.sum(y**2, axis=1), rtol=1e-12)
        part = simulate_y(f.grad, y, stage.eta, noise, steps, rng)
        rows.append(part.sq_dist if k == 0 else part.sq_dist[1:])
    np.testing.assert_allclose(run.sq, np.concatenate(rows), rtol=1e-12)
    numbers = shrinking_numbers(run)
    ends = np.cumsum(run.lengths)
    assert numbers["end_means"] == pytest.approx([run.sq[e].mean() for e in ends])


def test_shrinking_numbers_count_every_stage_all_together_and_the_restarts():
    from sgd_escape.theorem_experiments import ShrinkingRun, shrinking_numbers
    from sgd_escape.theory import ShrinkingSchedule

    schedule = ShrinkingSchedule((Theorem1Setting(0.02, 0.5, 3.0, 2.0), Theorem1Setting(0.01, 0.8, 3.0, 2.0)))
    r1, r2 = schedule.radii_sq
    sq = np.array([[9e9, 9e9, 9e9, 9e9], [r1 / 2, r1 * 2, r1 / 2, r1 / 2], [r2 / 2, r2 / 2, r2 * 2, r2 / 2]])
    restart = np.array([[r1 / 2, r1 * 3, r1 / 4, r1 / 2]])
    numbers = shrinking_numbers(ShrinkingRun(schedule, sq, (1, 1), restart))
    assert numbers["within"] == [75.0, 75.0] and numbers["within_all"] == 50.0
    assert numbers["restart_outside"] == [25.0] and numbers["restart_reach"] == pytest.approx([3.0])


def test_a_first_stage_that_starts_inside_its_radius_still_runs_one_step():
    from dataclasses import replace

    from sgd_escape.theorem_experiments import ONE_DIM, run_shrinking

    start_inside = replace(ONE_DIM, initial_sq_distance=1.0)          # below b/lambda
    run = run_shrinking(3, seed=0, experiment=start_inside)
    assert run.lengths[0] == 1 and np.isfinite(run.sq).all()


def test_stage_and_moving_away_figures_draw_one_line_per_stage_and_dimension():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sgd_escape.theory import ShrinkingSchedule
    from sgd_escape.theory_plots import moving_away_fractions, shrinking_stages

    schedule = ShrinkingSchedule((Theorem1Setting(0.02, 0.5, 3.0, 2.0), Theorem1Setting(0.01, 0.8, 3.0, 2.0),
                                  Theorem1Setting(0.005, 0.9, 3.0, 2.0)))
    fig, (left, right) = plt.subplots(1, 2)
    shrinking_stages(left, schedule, np.ones((10, 3)), (3, 3, 3))
    levels = sorted(line.get_ydata()[0] for line in left.lines if line.get_label().startswith("$20b"))
    assert levels == pytest.approx(sorted(schedule.radii_sq))
    vertical = [line.get_xdata()[0] for line in left.lines
                if len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]]
    assert sorted(vertical) == [3, 6]                                # the shrinks, not the run's end
    ratios = np.linspace(0.5, 2, 4)
    moving_away_fractions(right, ratios, {2: np.full(4, 0.5), 10: np.zeros(4), 100: np.ones(4)}, 2.0)
    assert [line.get_label() for line in right.lines][:3] == ["d = 2", "d = 10", "d = 100"]
    assert len({line.get_color() for line in right.lines[:3]}) == 3
    plt.close(fig)


def test_proof_figures_keep_every_point_and_the_first_steps_in_view():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sgd_escape.large_step import Flower, gd_path
    from sgd_escape.theory_plots import large_step_distances, lemma5_histogram, step1_gaps

    fig, (left, middle, right) = plt.subplots(1, 3)
    chain = {"next": np.full(5, 0.25), "drop": np.full(5, 0.5), "final": np.array([1.0, 2.0, 50.0, 120.0, 3.0])}
    step1_gaps(left, chain, ["next", "drop", "final"])
    drop, final = (points.get_offsets() for points in left.collections)
    np.testing.assert_allclose(drop[:, 1], chain["drop"] - chain["next"])       # every point, minus next
    np.testing.assert_allclose(final[:, 1], chain["final"] - chain["next"])
    assert np.round(drop[:, 0]).tolist() == [1] * 5 and np.round(final[:, 0]).tolist() == [2] * 5   # columns 1, 2
    assert left.get_ylim()[1] > 120.0                               # the top row is not clipped
    paths = {f"eta = {eta}": gd_path(Flower(0.3).grad, np.array([0.8, 0.6]), eta, 12) for eta in (0.6, 0.75, 3.0)}
    large_step_distances(middle, paths)
    inset = middle.child_axes[0]
    assert len([line for line in inset.lines if len(line.get_xdata()) == 5]) == 2   # not the diverging path
    lemma5_histogram(right, np.array([0.2, 0.3, 0.3]))
    assert right.get_ylim()[0] < 1                                   # single-point bins show
    plt.close(fig)
