"""Figure 3's criteria (Chapter 1) can fail, and the panels start where the plan says."""
from dataclasses import replace

import numpy as np
import pytest

from sgd_escape.figure3 import (CRITERIA, SEARCH_MARGIN, centre_region_shape, criteria_hold, criteria_over_seeds, figure3_criteria,
                                gd_orbit_width, panel_plan, simulate_figure3, stage_handoffs, stage_names,
                                trapped_in_spurious_basins)
from sgd_escape.landscapes import FIGURE3, SpikyFunction, figure3_function

F = figure3_function()
CHAPTER_SEEDS = range(5)
PLAIN_GD_STAGES = replace(FIGURE3, stage_noises=(0.0,) * len(FIGURE3.stage_noises))


def test_panels_start_uniformly_in_their_regions():
    """With one step of a zero gradient and no noise, the last iterates are the starts."""
    flat = replace(PLAIN_GD_STAGES, steps=1, trials=4000, noise_levels=dict.fromkeys(FIGURE3.noise_levels, 0.0))
    starts = simulate_figure3(_Flat(), flat, seed=0)
    plan = panel_plan(flat)
    for name, (_, half) in plan.items():
        x0 = starts[name]
        assert np.max(np.abs(x0)) <= half and np.max(np.abs(x0)) > 0.98 * half
        assert abs(np.mean(np.abs(x0) <= half / 2) - 0.5) < 0.04  # uniform, not clustered


class _Flat:
    """A function with zero gradient: one step leaves every noiseless start in place."""

    def grad(self, x):
        return np.zeros_like(x)


@pytest.mark.parametrize("seed", CHAPTER_SEEDS)
def test_stages_converge_with_noise_and_not_without(seed):
    """Criterion 5 holds for the book's stages and fails for plain GD from the same starts."""
    assert criteria_hold(figure3_criteria(F, simulate_figure3(F, FIGURE3, seed)))["5 stages converge"]
    gd = figure3_criteria(F, simulate_figure3(F, PLAIN_GD_STAGES, seed), PLAIN_GD_STAGES)
    assert not criteria_hold(gd)["5 stages converge"]


def test_criteria_over_seeds_gives_one_row_per_seed_from_its_own_run():
    rows = criteria_over_seeds(F, [0, 1])
    assert [row["seed"] for row in rows] == [0, 1]
    for row, seed in zip(rows, [0, 1]):
        assert row == {"seed": seed, **figure3_criteria(F, simulate_figure3(F, FIGURE3, seed))}
    assert rows[0]["small_outside_max_distance"] != rows[1]["small_outside_max_distance"]


def test_last_stage_target_is_narrower_than_its_start_region():
    """Otherwise the starts alone could meet criterion 5."""
    start_share = CRITERIA.target_half_width / FIGURE3.stage_half_widths[-1]
    assert start_share < CRITERIA.last_stage_min_fraction / 2


def test_stages_depend_on_noise():
    """Row 3 with noise ends far more tightly around x* than GD from the same starts."""
    noisy = simulate_figure3(F, FIGURE3, 0)
    plain = simulate_figure3(F, PLAIN_GD_STAGES, 0)
    last = stage_names(FIGURE3)[-1]
    assert np.std(noisy[last]) < np.std(plain[last]) / 3


def test_gd_stuck_fails_without_spikes():
    """Criterion 1: on the bare valley GD reaches x* from everywhere."""
    valley = SpikyFunction(curvature_scale=0.0)
    verdict = criteria_hold(figure3_criteria(valley, simulate_figure3(valley, FIGURE3, 0)))
    assert not verdict["1 GD stuck"]


def test_small_noise_trapped_fails_when_small_noise_is_medium():
    """Criterion 2: the medium window has no spurious basins, so no trial outside the centre
    can sit in one."""
    setup = replace(FIGURE3, noise_levels={**FIGURE3.noise_levels, "small": FIGURE3.noise_levels["medium"]})
    verdict = criteria_hold(figure3_criteria(F, simulate_figure3(F, setup, 0), setup))
    assert not verdict["2 small noise trapped"]


@pytest.mark.parametrize("seed", CHAPTER_SEEDS)
def test_each_stage_ends_inside_the_next_stage_start_region(seed):
    handoffs = stage_handoffs(simulate_figure3(F, FIGURE3, seed))
    assert len(handoffs) == len(FIGURE3.stage_half_widths) - 1
    assert min(handoffs) >= 0.95


def test_stage_handoffs_see_a_stage_that_ends_outside_the_next_region():
    """Plain GD in stage 1 stays spread over its start region, mostly outside stage 2's."""
    handoffs = stage_handoffs(simulate_figure3(F, PLAIN_GD_STAGES, 0), PLAIN_GD_STAGES)
    assert handoffs[0] < 0.8


def test_panels_start_on_both_sides_of_the_target():
    flat = replace(PLAIN_GD_STAGES, steps=1, trials=4000, noise_levels=dict.fromkeys(FIGURE3.noise_levels, 0.0))
    for name, x0 in simulate_figure3(_Flat(), flat, seed=1).items():
        assert abs(np.mean(x0 < 0) - 0.5) < 0.04, name


def test_criteria_measure_the_regions_and_the_small_window_of_the_setup():
    """Hand-made last iterates; the centre region is [-1.5, 1.5]. The small window is step_size * r, so
    halving r and doubling the step size measures the same."""
    results = {name: np.zeros(5) for name in panel_plan(FIGURE3)}
    results["medium"] = np.array([0.0, 1.0, 1.5, 2.0, -2.9])          # 3 of 5 inside the centre
    results["small"] = np.array([0.0, 1.0, 2.0, -2.5, 4.0, -3.7])     # 4 outside the centre
    measured = figure3_criteria(F, results, FIGURE3)
    assert measured["medium_fraction_inside"] == pytest.approx(0.6)
    assert measured["small_outside_count"] == 4
    # with the window 0.15, x = 2.0 lies in the basin of x* = 0, 2 away from it: not trapped
    assert not measured["small_outside_all_trapped"]
    assert measured["small_outside_max_distance"] == pytest.approx(2.0, abs=1e-3)
    same_window = replace(FIGURE3, step_size=2 * FIGURE3.step_size,
                          noise_levels={**FIGURE3.noise_levels, "small": FIGURE3.noise_levels["small"] / 2})
    assert figure3_criteria(F, results, same_window) == measured


def _gd_verdict(gd_last):
    results = {name: np.linspace(-1.0, 1.0, 5) for name in panel_plan(FIGURE3)}  # only "gd" matters here
    results["gd"] = np.asarray(gd_last, dtype=float)
    measured = figure3_criteria(F, results, FIGURE3)
    return measured, criteria_hold(measured)["1 GD stuck"]


def test_gd_stuck_counts_the_distinct_minima_where_gd_stops():
    """Hand-made GD end points: each half of criterion 1 can fail on its own."""
    minima = F.local_minima(-7.0, 7.0)
    far = minima[np.abs(minima) > CRITERIA.gd_near_radius]
    assert len(far) >= 2 * CRITERIA.gd_min_distinct_minima
    spread = far[:CRITERIA.gd_min_distinct_minima]
    measured, stuck = _gd_verdict(np.concatenate([spread, spread + 1e-4, [0.3]]))  # repeats count once
    assert measured["gd_distinct_minima"] == CRITERIA.gd_min_distinct_minima
    assert measured["gd_fraction_near_target"] == pytest.approx(1 / 21) and stuck
    assert _gd_verdict(spread[:-1])[0]["gd_distinct_minima"] == CRITERIA.gd_min_distinct_minima - 1
    assert not _gd_verdict(spread[:-1])[1]                                  # too few minima
    assert _gd_verdict(np.concatenate([spread, spread + 0.01]))[0]["gd_distinct_minima"] == len(spread)  # off-minimum points do not count
    assert not _gd_verdict(np.concatenate([spread, np.zeros(4)]))[1]       # 4 of 14 near x*: too many


def test_gd_settles_below_the_curvature_threshold_and_cycles_above_it():
    span = FIGURE3.init_half_width + SEARCH_MARGIN
    threshold = 2 / F.max_second_derivative(-span, span)
    starts = [-0.08, -0.03, 0.02, 0.07]
    assert gd_orbit_width(F, 0.9 * threshold, starts) < 1e-9
    width = gd_orbit_width(F, 1.2 * threshold, starts)
    assert 0.01 < width < 0.1                       # a 2-cycle a few hundredths wide
    with pytest.raises(ValueError, match="steps"):
        gd_orbit_width(F, threshold, starts, steps=0)


def test_a_minimum_a_few_spikes_from_the_target_is_spurious_and_the_target_is_not():
    minima = F.local_minima(-2.0, 2.0)                  # of f itself: spikes about 0.12 apart near x* = 0
    near = minima[(np.abs(minima) > 0.2) & (np.abs(minima) < 0.5)][0]
    spurious, distance = trapped_in_spurious_basins(F, np.array([near + 1e-3, 1e-3]), 0.0, 3.0)
    assert spurious.tolist() == [True, False]
    np.testing.assert_allclose(distance, 1e-3, atol=1e-5)


def test_spread_ratio_is_that_of_standard_deviations():
    results = {name: np.zeros(4) for name in panel_plan(FIGURE3)}
    results["medium"] = np.array([-1.0, 1.0, -1.0, 1.0])                # std 1, range 2
    results["large"] = np.array([-4.0, 4.0, 0.0, 0.0])                  # std sqrt(8), range 8
    assert figure3_criteria(F, results, FIGURE3)["spread_ratio_large_to_medium"] == pytest.approx(np.sqrt(8))


def test_small_noise_smooths_the_restart_region_into_one_point_convexity_without_convexity():
    span, centre = FIGURE3.init_half_width + SEARCH_MARGIN, FIGURE3.centre_half_width
    raw = centre_region_shape(F, 0.0, centre, span)
    assert raw["basin_edge"] < 0.2 and raw["one_point_c"] < 0          # f itself: spikes right next to x*
    small = centre_region_shape(F, FIGURE3.step_size * FIGURE3.noise_levels["small"], centre, span)
    assert small["basin_edge"] > centre and small["one_point_c"] > 0   # row 3's restart region is one basin
    assert 0.1 < small["nonconvex_share"] < 0.9                        # yet not convex there
    with pytest.raises(ValueError, match="centre"):
        centre_region_shape(F, 0.1, span, span)


def test_gd_orbit_width_is_the_distance_between_the_two_points_of_the_cycle():
    # Above 2 / max f'' GD falls into a 2-cycle: x_{T+2} = x_T, and the width is |x_{T+1} - x_T|.
    from sgd_escape.sgd import run_sgd

    span = FIGURE3.init_half_width + SEARCH_MARGIN
    eta, starts = 1.2 * 2 / F.max_second_derivative(-span, span), np.array([-0.08, -0.03, 0.02, 0.07])
    x_T, x_T1, x_T2 = (run_sgd(F.grad, starts, eta, 0.0, steps) for steps in (3000, 3001, 3002))
    np.testing.assert_allclose(x_T2, x_T, atol=1e-9)
    assert gd_orbit_width(F, eta, starts) == pytest.approx(np.max(np.abs(x_T1 - x_T)), rel=1e-6)


def test_centre_region_one_point_c_is_finite_when_the_grid_hits_x_star():
    # grid -0.5, -0.25, 0, 0.25, 0.5: x* = 0 itself is left out of g'(x) / x (0 / 0 there)
    shape = centre_region_shape(F, 0.15, 0.5, 3.0, resolution=0.25)
    points = np.array([-0.5, -0.25, 0.25, 0.5])
    assert shape["one_point_c"] == pytest.approx(np.min(F.convolved_grad(points, 0.15) / points))


def test_criteria_hold_at_their_thresholds_as_the_book_states():
    # criterion 1: *fewer* than 20% of GD trials near x*; criteria 3-5: *at least* the threshold.
    at = {"gd_fraction_near_target": CRITERIA.gd_max_fraction_near, "gd_distinct_minima": CRITERIA.gd_min_distinct_minima,
          "small_outside_count": 3, "small_outside_all_trapped": True,
          "medium_fraction_inside": CRITERIA.medium_min_fraction_inside,
          "spread_ratio_large_to_medium": CRITERIA.min_spread_ratio,
          "last_stage_fraction_near_target": CRITERIA.last_stage_min_fraction}
    assert criteria_hold(at) == {"1 GD stuck": False, "2 small noise trapped": True, "3 medium concentrates": True,
                                 "4 large spreads": True, "5 stages converge": True}
