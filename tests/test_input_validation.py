"""Invalid input is refused with a ValueError that names the argument ("<arg> must ..."), where it
used to run on and return wrong numbers, NaN, or a numpy error that names nothing (the review of
the package, findings 2-12, 15, 16 and 18). Valid input is covered by the modules' own tests."""
from __future__ import annotations

import http.client
import importlib
import inspect
import pkgutil
import re

import numpy as np
import pytest
import torch

import sgd_escape
from sgd_escape.bounded_noise import BoundedNoise
from sgd_escape.escape_basins import (SharpFlatLandscape, basin_fractions, binomial_standard_error,
                                      critical_radius, stationary_sharp_fraction)
from sgd_escape.escape_saddles import (QuarticSaddle, SaddleMethod, escape_time_versus_dimension,
                                       perturbed_gradient_descent, simulate_saddle_escape,
                                       stable_manifold_start, stochastic_gradient_descent, uniform_ball)
from sgd_escape.theory import Theorem1Setting

BALL1 = BoundedNoise("ball", 1.0, 1)
SPHERE2 = BoundedNoise("sphere", 1.0, 2)
SETTING = Theorem1Setting(0.01, 1.0, 2.0, 1.0)
SGD = stochastic_gradient_descent(0.1, 0.1)
PGD = perturbed_gradient_descent(0.1, 0.01, 0.01, 10)


def rng():
    return np.random.default_rng(0)


def identity(x):
    return np.asarray(x, dtype=float)


def raises(argument: str, call) -> None:
    with pytest.raises(ValueError, match=rf"^{re.escape(argument)} must"):
        call()


def check(cases) -> None:
    for argument, call in cases:
        raises(argument, call)


# -- finding 2: NaN or negative eta built the wrong test function -----------------------------
def test_characteristic_function_and_family_refuse_nan_and_negative_step_sizes():
    from sgd_escape.spiky_quadratic import SpikyQuadratic

    check([
        ("s", lambda: BoundedNoise("sphere", 1, 2).coordinate_characteristic(np.nan)),
        ("s", lambda: BALL1.coordinate_characteristic([0.5, np.inf])),
        ("eta", lambda: SpikyQuadratic.with_constants(0.5, 2.0, 10.0, BALL1, float("nan"))),
        ("eta", lambda: SpikyQuadratic.with_constants(0.5, 2.0, 10.0, BALL1, -0.01)),
    ])


# -- finding 3: mismatched shapes broadcast into wrong numbers --------------------------------
def test_thresholds_refuse_grad_and_x_of_different_shapes_and_a_misshapen_x_star():
    from sgd_escape.theory import exact_large_step_threshold, large_step_threshold, noisy_large_step_threshold

    check([
        ("grad and x", lambda: large_step_threshold([[1, 0, 3]], [[1, 1]], [0, 0], 1.0)),
        ("grad and x", lambda: exact_large_step_threshold(np.ones((3, 2)), np.ones(2), 0.0)),
        ("grad and x", lambda: noisy_large_step_threshold(np.ones(2), np.ones((1, 2)), 0.0, 1.0)),
        ("x_star", lambda: large_step_threshold(np.ones((2, 2)), np.ones((2, 2)), [0, 0, 0], 1.0)),
        ("x", lambda: exact_large_step_threshold(1.0, 1.0, 0.0)),
    ])


def test_y_sequence_and_step1_chain_refuse_points_of_another_dimension():
    from sgd_escape.proof_checks import step1_chain
    from sgd_escape.ysequence import simulate_y

    check([
        ("x_star", lambda: simulate_y(identity, [[1.0]], 0.01, BALL1, 3, rng(), x_star=[1, 2, 3])),
        ("y", lambda: step1_chain(identity, [[1.0, 2.0]], SETTING, BALL1, rng(), draws=4)),
        ("y", lambda: step1_chain(identity, [1.0, 2.0], SETTING, BALL1, rng(), draws=4)),
        ("y", lambda: step1_chain(identity, np.empty((0, 1)), SETTING, BALL1, rng(), draws=4)),
        ("x_star", lambda: step1_chain(identity, [[1.0]], SETTING, BALL1, rng(), draws=4, x_star=[0, 0])),
    ])


# -- finding 4: azuma_deviation's steps ----------------------------------------------------------
def test_azuma_deviation_refuses_negative_and_fractional_steps():
    from sgd_escape.proof_checks import azuma_deviation, step4_factor

    setting = Theorem1Setting(0.01, 1, 2, 1)
    check([("steps", lambda: azuma_deviation(setting, 10, [-3, 0, 1])),
           ("T2", lambda: step4_factor(setting, 0)),
           ("steps", lambda: azuma_deviation(setting, 10, [2.7])),
           ("steps", lambda: azuma_deviation(setting, 10, [[1, 2]]))])
    assert azuma_deviation(setting, 10, [2.0]) == azuma_deviation(setting, 10, [2])   # whole floats pass


# -- finding 5: the vectorised Lemma 5 functions and conditions_hold ------------------------------
def test_vectorised_lemma5_refuses_invalid_parameters():
    from sgd_escape.proof_checks import lemma5_grid
    from sgd_escape.theory import lemma5_ratio, lemma5_terms

    check([
        ("eta", lambda: lemma5_ratio(-0.1, 1, 1, 1, 10)),
        ("T2", lambda: lemma5_ratio(0.1, 1, 1, 1, 0)),
        ("T2", lambda: lemma5_terms(0.1, 1, 1, 1, 2.5)),
        ("c", lambda: lemma5_terms(0.1, [1.0, np.nan], 1, 1, 10)),
        ("mu_constant", lambda: lemma5_terms(0.1, 1, 1, 1, 10, mu_constant=0.0)),
        ("T2_values", lambda: lemma5_grid([0.5], [1], [1], [1], [0])),
        ("c_values", lambda: lemma5_grid([0.5], [], [1], [1], [10])),
        ("eta_fractions", lambda: lemma5_grid([2.0], [1], [1], [1], [10])),    # no point meets the conditions
    ])


def test_conditions_hold_agrees_with_the_constructor_on_L():
    from sgd_escape.theory import conditions_hold

    assert not conditions_hold(0.1, 1, 0)              # Theorem1Setting(0.1, 1, 0, 1) raises "L must be > 0"
    assert not conditions_hold(0.1, 1, -1.0)
    assert conditions_hold(0.1, 1, 1)


# -- finding 6: the saddle API -------------------------------------------------------------------
def test_saddle_methods_refuse_parameters_they_would_ignore_or_miss():
    check([
        ("noise_std", lambda: SaddleMethod("gd", 0.1, noise_std=1.0)),
        ("noise_std", lambda: SaddleMethod("sgd", 0.1)),
        ("perturbation_radius", lambda: SaddleMethod("sgd", 0.1, noise_std=1.0, perturbation_radius=0.1)),
        ("perturbation_interval", lambda: SaddleMethod("perturbed_gd", 0.1, perturbation_radius=0.1,
                                                       gradient_threshold=0.1)),
        ("noise_std", lambda: SaddleMethod("perturbed_gd", 0.1, noise_std=1.0, perturbation_radius=0.1,
                                           gradient_threshold=0.1, perturbation_interval=5)),
    ])


def test_saddle_sweeps_and_helpers_refuse_invalid_dimensions_and_radii():
    check([
        ("dims", lambda: escape_time_versus_dimension(QuarticSaddle, SGD, [2.5], 2, 10)),
        ("dims", lambda: escape_time_versus_dimension(QuarticSaddle, SGD, [], 2, 10)),
        ("dims", lambda: escape_time_versus_dimension(QuarticSaddle, SGD, [1], 2, 10)),
        ("dim", lambda: stable_manifold_start(1, 2, rng())),
        ("radius", lambda: stable_manifold_start(3, 2, rng(), radius=0.0)),
        ("radius", lambda: uniform_ball(rng(), 2, 2, -1.0)),
        ("dim", lambda: uniform_ball(rng(), 2, 0, 1.0)),
    ])


# -- finding 7: wells outside the grid ------------------------------------------------------------
def test_sharp_flat_landscape_refuses_wells_outside_its_grid():
    check([
        ("sharp_center", lambda: SharpFlatLandscape(sharp_center=-5, flat_center=5)),
        ("sharp_center", lambda: SharpFlatLandscape(sharp_center=3.5, flat_center=4.0)),
        ("flat_center", lambda: SharpFlatLandscape(flat_center=2.9)),
    ])


# -- finding 8: Figure3Setup's noise levels -----------------------------------------------------
def test_figure3_setup_requires_every_noise_level():
    from sgd_escape.landscapes import Figure3Setup

    raises("noise_levels", lambda: Figure3Setup(noise_levels={"small": 0.1}))


# -- finding 9: NaN or inf starting points --------------------------------------------------------
def test_starting_points_must_be_finite():
    from sgd_escape.assumption import estimate_one_point_constant, hoeffding_lower_bound, hoeffding_samples_needed
    from sgd_escape.large_step import fraction_moving_away, gd_path
    from sgd_escape.sgd import run_sgd
    from sgd_escape.ysequence import simulate_y

    check([
        ("x0", lambda: run_sgd(identity, [np.nan, 1.0], 0.1, 0.0, 3)),
        ("x0", lambda: gd_path(identity, [np.inf, 1], 0.1, 3)),
        ("y0", lambda: simulate_y(identity, [[np.nan]], 0.01, BALL1, 3, rng())),
        ("points", lambda: estimate_one_point_constant(identity, [[np.nan]], 0.01, BALL1, rng(), draws=4)),
        ("mean", lambda: hoeffding_lower_bound([np.nan], [0.0], [1.0], 4)),
        ("high", lambda: hoeffding_samples_needed([0.5], [1.0], [0.0])),
        ("confidence", lambda: hoeffding_lower_bound(0.5, 0.0, 1.0, 4, confidence=1.0)),
        ("samples", lambda: hoeffding_lower_bound(0.5, 0.0, 1.0, 0)),
        ("grad", lambda: fraction_moving_away([np.nan, 0], [1, 0], 0.0, [0.1], SPHERE2, 10, rng())),
        ("x", lambda: fraction_moving_away([1, 0], [1, np.nan], 0.0, [0.1], SPHERE2, 10, rng())),
    ])


# -- finding 10: to_device names its own arguments ------------------------------------------------
def test_to_device_names_the_example_counts_it_was_given():
    from sgd_escape.cifar.datasets import synthetic_cifar
    from sgd_escape.cifar.training import to_device

    arrays = synthetic_cifar(train_size=8, test_size=4)
    check([("train_examples", lambda: to_device(arrays, 10**6, None, torch.device("cpu"))),
           ("test_examples", lambda: to_device(arrays, None, 0, torch.device("cpu")))])


# -- finding 11: an interrupted download ----------------------------------------------------------
class _CutResponse:
    """A response whose connection breaks after the first chunk."""

    def __init__(self):
        self.chunks = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self, size):
        self.chunks += 1
        if self.chunks > 1:
            raise http.client.IncompleteRead(b"", 100)
        return b"part of an archive"


def test_an_interrupted_download_leaves_no_partial_file_and_says_what_to_do(tmp_path, monkeypatch, capsys):
    from sgd_escape.cifar import datasets

    monkeypatch.delenv(datasets.JPEG_ENV, raising=False)
    monkeypatch.setattr(datasets.urllib.request, "urlopen", lambda url, timeout: _CutResponse())
    with pytest.raises(datasets.DatasetError, match="Ways to provide it"):
        datasets.load_cifar("cifar10", datasets_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert "IncompleteRead" in capsys.readouterr().err


# -- finding 12: messages in the "<arg> must" form, and no raw numpy errors ------------------------
def test_messages_name_the_argument_first():
    from sgd_escape.cifar.experiments import check_names
    from sgd_escape.cifar.session import Session
    from sgd_escape.cifar.training import epoch_plan
    from sgd_escape.proof_checks import smallest_mu_constant

    axes = dict(eta_fractions=[0.5], c_values=[1.0], L_values=[1.0], r_values=[1.0], T2_values=[10])
    check([
        ("shape", lambda: BALL1.sample((3,), rng(), antithetic=True)),
        ("batch_size", lambda: epoch_plan([0], 0, 10, 16, "cpu")),
        ("upper", lambda: critical_radius(SharpFlatLandscape(), upper=0.1)),
        ("landscape", lambda: stationary_sharp_fraction(SharpFlatLandscape(bowl=0.0), 1.0)),
        ("high", lambda: smallest_mu_constant(axes, low=1.0, high=2.0)),
        ("low and high", lambda: smallest_mu_constant(axes, low=0.0, high=42.0)),   # K = 0: no mu at all
        ("low and high", lambda: smallest_mu_constant(axes, low=5.0, high=2.0)),
        ("experiment", lambda: check_names("figure9", "mini")),
        ("preset", lambda: check_names("fig5-resnet-cifar10", "huge")),
        ("preset", lambda: Session(None, None, 1.0, "huge", "synthetic", "cpu", [], "test")),
    ])


def test_dataset_choice_uses_the_shared_check():
    from sgd_escape.cifar.datasets import synthetic_cifar
    from sgd_escape.cifar.training import to_device

    with pytest.raises(ValueError, match=r"^dataset must be one of \['cifar10', 'cifar100'\], got 'mnist'"):
        to_device(synthetic_cifar(train_size=8, test_size=4), 8, 4, torch.device("cpu"), dataset="mnist")


def test_negative_seeds_are_refused_by_name():
    from sgd_escape.cifar.datasets import synthetic_cifar
    from sgd_escape.cifar.training import subset_indices
    from sgd_escape.escape_exponential import escape_times
    from sgd_escape.figure3 import simulate_figure3
    from sgd_escape.landscapes import figure3_function
    from sgd_escape.theorem_experiments import ONE_DIM, run_shrinking, run_theorem1, trajectory_points
    from sgd_escape.widgets import draw_sgd_panel

    check([
        ("seed", lambda: simulate_saddle_escape(QuarticSaddle(3), PGD, 2, 10, seed=-1)),
        ("seed", lambda: escape_time_versus_dimension(QuarticSaddle, PGD, [3], 2, 10, seed=-1)),
        ("seed", lambda: basin_fractions(SharpFlatLandscape(), 0.1, [0.1], -1.0, 2, 2, 0, seed=-1)),
        ("seed", lambda: escape_times(1.0, 1.0, 1.0, 0.1, 2, 2, seed=-1)),
        ("seed", lambda: simulate_figure3(figure3_function(), seed=-1)),
        ("seed", lambda: subset_indices(10, 5, -1)),
        ("seed", lambda: synthetic_cifar(seed=-1)),
        ("seed", lambda: run_theorem1(ONE_DIM, 1, 2, seed=-1)),
        ("seed", lambda: trajectory_points(ONE_DIM, 2, [0], seed=-1)),
        ("seed", lambda: run_shrinking(2, seed=-1)),
        ("seed", lambda: draw_sgd_panel(figure3_function(), seed=-1)),
    ])


def test_numpy_errors_that_named_nothing_now_name_the_argument():
    from sgd_escape.assumption import estimate_one_point_constant
    from sgd_escape.cifar.training import probe_gradient
    from sgd_escape.escape_stats import fit_line
    from sgd_escape.large_step import Flower, fraction_moving_away
    from sgd_escape.theorem_experiments import ONE_DIM, run_theorem1, theorem1_numbers
    from sgd_escape.theory import TailConstants

    result = run_theorem1(ONE_DIM, 1, 2)
    check([
        ("T2", lambda: TailConstants.of(SETTING, 0)),
        ("early", lambda: theorem1_numbers(result, early=10**6)),
        ("early", lambda: theorem1_numbers(result, early=len(result.run.sq_dist))),   # one past the last step
        ("x", lambda: fit_line([1, 1, 1], [1, 2, 3])),
        ("points", lambda: estimate_one_point_constant(identity, np.empty((0, 1)), 0.01, BALL1, rng(), draws=4)),
        ("angles", lambda: Flower().smallest_hessian_eigenvalue(0)),
        ("x_star", lambda: fraction_moving_away([1, 0], [1, 0], [0, 0, 0], [0.1], SPHERE2, 10, rng())),
        ("labels", lambda: probe_gradient(None, torch.zeros(0, 32, 32, 3), torch.zeros(0), None, 32)),
    ])
    assert theorem1_numbers(result, early=len(result.run.sq_dist) - 1)["within"] >= 0   # the last step is fine


# -- finding 16: "(Chapter N)" in parentheses, __main__ included --------------------------------
PARENTHESISED = re.compile(r"\([^()]*Chapters? \d[^()]*\)")


def test_every_public_docstring_names_its_chapter_in_parentheses():
    names = [sgd_escape.__name__] + [info.name for info in pkgutil.walk_packages(sgd_escape.__path__, "sgd_escape.")]
    offenders = []
    for module in map(importlib.import_module, names):
        for name, obj in vars(module).items():
            public = not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
            if public and obj.__module__ == module.__name__ and not PARENTHESISED.search(obj.__doc__ or ""):
                offenders.append(f"{module.__name__}.{name}")
    assert "sgd_escape.__main__" in names
    assert not offenders, offenders


# -- finding 18: minor inputs that gave silent or odd results --------------------------------------
def test_minor_inputs_are_validated():
    from sgd_escape.cifar.pipeline import check_restart_epochs
    from sgd_escape.cifar.probes import first_counted_epoch
    from sgd_escape.escape_exponential import kramers_escape_steps
    from sgd_escape.landscapes import sign_changes, uniform_average
    from sgd_escape.proof_checks import lemma5_supremum, normalised_supermartingale_mean
    from sgd_escape.ysequence import YRun

    check([
        ("finest_period", lambda: uniform_average(np.sin, np.zeros(3), 0.5, finest_period=-1)),
        ("finest_period", lambda: uniform_average(np.sin, np.zeros(3), 0.5, finest_period=0)),
        ("steps", lambda: SETTING.envelope(1.0, [-5])),
        ("stop", lambda: YRun(np.zeros((11, 2))).window_max(3, 100)),
        ("stop", lambda: YRun(np.zeros((11, 2))).window_max(3, 11)),     # one past the last step t = 10
        ("stop", lambda: YRun(np.zeros((11, 2))).window_max(5, 3)),
        ("G", lambda: normalised_supermartingale_mean(np.zeros((3, 2)))),
        ("mu_constant", lambda: lemma5_supremum(0.0)),
        ("mu_constant", lambda: lemma5_supremum(-5.0)),
        ("fraction", lambda: binomial_standard_error(1.5, 10)),
        ("width", lambda: kramers_escape_steps(1, [], 0.1, 1.0)),
        ("restart_epochs", lambda: check_restart_epochs([2.5], 10)),
        ("epochs", lambda: first_counted_epoch(0)),
        ("bisections", lambda: sign_changes(np.sin, -1.0, 1.0, 0.1, rising=True, bisections=-3)),
    ])
    assert YRun(np.arange(22.0).reshape(11, 2)).window_max(3, 10).tolist() == [20.0, 21.0]
