"""The README's results table states what data/ holds: every CIFAR number there is recomputed
here from the cached results and the GPU reports, so a new cache cannot leave it stale."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ROOT
from sgd_escape.book import bound_text
from sgd_escape.cifar import figures, reports, side_remarks, spectrum_tables, tables
from sgd_escape.cifar.pipeline import whole_trajectory_mask
from sgd_escape.cifar.probes import not_positive

README = (ROOT / "README.md").read_text()
NETWORK_NAMES = {"resnet": "ResNet", "densenet": "DenseNet"}


def _row(start: str) -> str:
    rows = [line for line in README.splitlines() if line.startswith(f"| {start}")]
    assert len(rows) == 1, f"the README's results table has {len(rows)} rows starting with {start!r}"
    return rows[0]


def _cifar10(kind: str) -> dict:
    return {net: result for net, result in figures.load_cached(kind).items() if "CIFAR-100" not in net}


@pytest.mark.parametrize("kind, start", [("fig5", "Figure 5a-c (CIFAR-10"), ("slope", "Section 5.3 (CIFAR-10"),
                                         ("spectrum", "Figure 6 (CIFAR-10")])
def test_each_cifar10_row_names_the_presets_it_shows(kind, start):
    row, results = _row(start), _cifar10(kind)
    if any(result is None for result in results.values()):
        assert "not cached" in row, f"a network of {kind} is not cached, and the README's row does not say so"
    for result in filter(None, results.values()):
        assert f"`{result.preset}`" in row, f"the README's {kind} row does not name the preset {result.preset}"
        assert f"data/{kind}-*-cifar10/{result.preset}/" in row


def test_figure5_row_states_the_cached_counts():
    row, verdict = _row("Figure 5a-c (CIFAR-10"), tables.fig5_verdict(_cifar10("fig5"))
    assert f"{verdict['nonpositive']} of {verdict['total']} inner products from epoch 5 not positive" in row
    assert f"{verdict['ball_mean_nonpositive']} of {verdict['ball_probed']} balls probed from epoch 5" in row
    assert f"learning rate times gradient norm {verdict['max_step']:.2g}" in row
    certified = sum(line[3] for line in tables.hoeffding_ball_rows(_cifar10("fig5")) if line[0] != "none")
    assert f"certifies a positive mean for {certified} of the {verdict['ball_probed']} at 95% confidence" in row


def test_figure5_row_states_the_one_step_probe_of_footnote_7():
    row, step = _row("Figure 5a-c (CIFAR-10"), side_remarks.step_verdict(_cifar10("fig5"))
    assert (f"points one SGD step away (footnote 7): {step['step_mean_nonpositive']} of {step['probed']} "
            "epochs probed from epoch 5 have a non-positive mean") in row
    assert f"steps at most {bound_text(step['longest'], 'upper')} long" in row       # rounded up: a bound
    assert ("the same epochs as the balls" in row) == (step["same_sign"] == step["probed"])


def test_figure5_row_states_the_smooth_schedule_of_section_51():
    row, smooth = _row("Figure 5a-c (CIFAR-10"), _cifar10("fig5smooth")
    verdict, presets = tables.fig5_verdict(smooth), sorted({r.preset for r in smooth.values() if r is not None})
    assert (f"smooth schedule (Section 5.1, {', '.join(f'`{p}`' for p in presets)}): {verdict['nonpositive']} of "
            f"{verdict['total']} inner products from epoch 5 not positive, {verdict['ball_mean_nonpositive']} of "
            f"{verdict['ball_probed']} balls with a non-positive mean") in row


def test_figure5_row_states_the_vgg_of_footnote_6():
    from sgd_escape.cifar.models import parameter_count
    from sgd_escape.cifar.results import best_cached

    row, result = _row("Figure 5a-c (CIFAR-10"), best_cached("fig5-vgg-cifar10")
    verdict = tables.fig5_verdict({"vgg": result})
    params = parameter_count(result.config["architecture"]) / 1000
    assert (f"VGG (footnote 6, `{result.preset}`, {params:.1f}K parameters): {verdict['nonpositive']} of "
            f"{verdict['total']} inner products from epoch 5 not positive, {verdict['ball_mean_nonpositive']} of "
            f"{verdict['ball_probed']} balls with a non-positive mean") in row


def test_section53_row_states_the_cached_counts():
    row = _row("Section 5.3 (CIFAR-10")
    scalars = [result.scalars for result in _cifar10("slope").values() if result is not None]
    counted = sum(s["nonpositive_to_other_finals"] for s in scalars), sum(s["inner_products_to_other_finals"] for s in scalars)
    assert f"{counted[0]:,} of {counted[1]:,} not positive" in row
    closest = min(s["min_pairwise_final_distance"] for s in scalars)
    assert f"final points >= {bound_text(closest, 'lower')} apart" in row                # rounded down: a bound


def test_figure6_row_claims_all_observations_only_when_they_all_hold():
    row, trends = _row("Figure 6 (CIFAR-10"), spectrum_tables.spectrum_trends(_cifar10("spectrum"))
    everything = bool(trends) and all(all(trend.values()) for trend in trends.values())
    claim = f"all {len(spectrum_tables.SPECTRUM_OBSERVATIONS)} observations hold"
    assert (claim in row) == everything, f"README says {claim!r}: {claim in row}; the caches: {everything}"


def test_figure6_row_states_where_the_distance_trend_comes_from():
    row, origins = _row("Figure 6 (CIFAR-10"), spectrum_tables.origin_summary(_cifar10("spectrum"))
    assert f"distance from x_0 by {tables.value_range(origins['own_change'], '.2g')}" in row
    assert (f"consecutive start points lie {tables.value_range(origins['start_gap'], '.2g')} farther from x_0"
            " than the one before") in row
    assert ("the distance trend is the run at 0.1 travelling" in row) == origins["distance_inherited"]


def _missing_gpu_rows(readme: str, root=None) -> list:
    """The rows of the GPU report tables (from ``root``'s benchmarks, default data/) that ``readme`` lacks;
    none when no report exists (a table is then one line saying so)."""
    tables = (reports.benchmark_table(root), reports.determinism_table(root))
    return [line for table in tables for line in table.markdown.splitlines()[2:] if line not in readme]


def test_gpu_row_shows_the_reports_or_says_none_exist():
    row = _row("`reduced` / `paper` presets on a GPU")
    measured = reports.load_reports("cifar_trainer") + reports.load_reports("determinism")
    assert ("not computed yet" in row) == (not measured)
    assert _missing_gpu_rows(README) == [], "the README lacks these measured rows"


def test_a_measured_gpu_row_missing_from_the_readme_is_found(tmp_path):
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "determinism-gpu-a.json").write_text(json.dumps({
        "device_name": "GPU A", "preset": "smoke", "experiments": {"x": {}}, "identical": True,
        "max_abs": 0.0, "max_rel": 0.0}))
    row = "| GPU A | smoke | 1 | uninterrupted | yes | 0 | - | - |"
    assert _missing_gpu_rows("| Device | ... |", tmp_path) == [row]
    assert _missing_gpu_rows(f"the table:\n{row}\n", tmp_path) == []


@pytest.mark.parametrize("preset, claim", [("mini", "~{:.0f} CPU-minutes"), ("cpu", "about {:.0f} CPU-hours")])
def test_readme_states_the_cpu_time_the_cached_runs_took(preset, claim):
    from sgd_escape.cifar.experiments import SECTION5_CIFAR10
    from sgd_escape.cifar.results import load_result

    seconds = sum(load_result(name, preset).provenance["wall_seconds"] for name in SECTION5_CIFAR10)
    assert claim.format(seconds / (60 if preset == "mini" else 3600)) in README


@pytest.mark.parametrize("where, claim", [("README.md", "`cpu` (a CPU, about {} hours in all"),
                                          ("chapters/intro.md", "the `cpu` preset about {} hours"),
                                          ("PRESET_NOTES", "a CPU in about {} hours for all {}")])
def test_every_other_statement_of_the_cpu_presets_time_agrees_with_the_cached_runs(where, claim):
    from sgd_escape.cifar.experiments import PRESET_NOTES, SECTION5_CIFAR10
    from sgd_escape.cifar.results import load_result

    hours = sum(load_result(name, "cpu").provenance["wall_seconds"] for name in SECTION5_CIFAR10) / 3600
    count = {9: "nine"}.get(len(SECTION5_CIFAR10), str(len(SECTION5_CIFAR10)))
    text = PRESET_NOTES["cpu"] if where == "PRESET_NOTES" else (ROOT / where).read_text()
    assert claim.format(f"{hours:.0f}", count) in " ".join(text.split())

def test_figure5_row_states_where_the_failures_lie():
    row, results = _row("Figure 5a-c (CIFAR-10"), _cifar10("fig5")
    failures = [(net, r.curves["inner_cosine"][e, t], int(e), int(t), r) for net, r in results.items() if r is not None
                for e, t in zip(*np.nonzero(not_positive(r.curves["inner_raw"]))) if e >= 5]
    if failures:
        epochs = [f[2] for f in failures]
        config = failures[0][4].config
        assert f"epochs {min(epochs)}-{max(epochs)} of {config['epochs']}" in row
        assert f"cosines {tables.value_range([f[1] for f in failures], '.2g')})" in row
        one_trial = len({(f[0], f[3]) for f in failures}) == 1
        assert ("all in one ResNet trial" in row) == (one_trial and failures[0][0] == "resnet")
        assert ("after the second rate drop" in row) == (min(epochs) >= config["lr_milestones"][1])
    balls = [(net, int(r.curves["ball_epochs"][i]), r) for net, r in results.items() if r is not None
             for i in np.nonzero(not_positive(r.curves["ball_raw_mean"][:, 0]))[0] if r.curves["ball_epochs"][i] >= 5]
    if balls:
        assert f"({', '.join(sorted({NETWORK_NAMES[b[0]] for b in balls}))}, epochs {' and '.join(str(b[1]) for b in balls)}" in row
        every = all((b[2].curves["ball_raw_max"][b[2].curves["ball_epochs"] == b[1], 0] <= 0).all() for b in balls)
        assert ("every point negative" in row) == every
        assert f"the balls use {balls[0][2].config['ball_examples']} images" in row


@pytest.mark.parametrize("kind, start, sizes", [
    ("fig5", "Figure 5a-c (CIFAR-10", "{trials} trials of {epochs} epochs"),
    ("slope", "Section 5.3 (CIFAR-10", "{branches} branches of {branch_epochs} epochs after {shared_epochs} shared"),
    ("spectrum", "Figure 6 (CIFAR-10", "{base_epochs} epochs at {lr:g}, {restarts} restarts of {restart_length} epochs at {restart_lr:g}")])
def test_each_cifar10_row_states_the_size_of_its_runs(kind, start, sizes):
    row = _row(start)
    for result in filter(None, _cifar10(kind).values()):
        config = dict(result.config, restarts=len(result.config.get("restart_epochs", [])))
        assert sizes.format(**config) in row


def test_section53_row_states_the_ratios_to_the_papers_fractions():
    row, results = _row("Section 5.3 (CIFAR-10"), _cifar10("slope")
    ratios = tables.slope_against_paper(results)
    for net, name, spec in (("densenet", "DenseNet", ".2g"), ("resnet", "ResNet", ".3g")):
        if net in ratios:
            s = results[net].scalars
            counts = f"{name} {s['nonpositive_to_other_finals']} of {s['inner_products_to_other_finals']}"
            assert f"{counts}, {ratios[net]:{spec}} times" in row
    if "resnet" in ratios:
        single = 1 / results["resnet"].scalars["inner_products_to_other_finals"] / tables.paper_slope_fraction("resnet")
        assert f"a single pair in {results['resnet'].scalars['inner_products_to_other_finals']} would already be {single:.3g} times" in row


def test_figure6_row_states_the_losses_and_the_failing_restart():
    row, results = _row("Figure 6 (CIFAR-10"), _cifar10("spectrum")
    cached = {net: r for net, r in results.items() if r is not None}
    ends = np.concatenate([r.curves["restart_train_loss"][-1] for r in cached.values()])
    assert f"restarts end at training losses {tables.value_range(ends, '.3g')} (chance: {np.log(10):.2f})" in row
    for net, r in cached.items():
        c, scalars = r.curves, r.scalars
        on_the_way = whole_trajectory_mask(c["path_inner_raw"].shape[0], c["restart_epochs"])
        for k, convex in enumerate(scalars["whole_trajectory_one_point_convex"]):
            if not convex:
                values = np.concatenate([c["path_inner_raw"][on_the_way[:, k], k], c["inner_raw"][:, k]])
                assert (f"its restart from epoch {c['restart_epochs'][k]} is not one-point convex "
                        f"({scalars['nonpositive_inner_whole_trajectory']} of the "      # counts over all restarts
                        f"{scalars['inner_products_whole_trajectory']} whole-trajectory inner products of all "
                        f"{len(c['restart_epochs'])} {NETWORK_NAMES[net]} restarts, {values.min():.2g})") in row


@pytest.mark.parametrize("kind, start, failing", [
    ("fig5", "Figure 5a-c (CIFAR-10", tables.fig5_failing_cosines),
    ("slope", "Section 5.3 (CIFAR-10", tables.slope_failing_cosines)])
def test_rows_call_failures_narrow_only_when_every_failing_cosine_is_within_the_random_band(kind, start, failing):
    row, cosines = _row(start), failing(_cifar10(kind))
    count = sum(c.size for c, _ in cosines)
    narrow = count > 0 and all(np.all(np.abs(c) < tables.RANDOM_BAND * scale) for c, scale in cosines)
    claim = f"all {count} {'failing values ' if kind == 'fig5' else ''}have cosines within {tables.RANDOM_BAND}/√P of zero"
    assert (claim in row) == narrow, f"README: {claim!r} {'missing' if narrow else 'present'}; the caches: narrow={narrow}"


def test_theorem1_conditions_row_states_the_cached_estimates():
    from sgd_escape.cifar import conditions_tables
    from sgd_escape.cifar.results import best_cached, cached_or_none

    row, estimates = _row("Theorem 1's conditions at 0.01 (CIFAR-10"), best_cached("conditions-resnet-cifar10")
    measured = conditions_tables.per_restart(estimates)
    assert f"`{estimates.preset}`" in row and f"data/conditions-resnet-cifar10/{estimates.preset}/" in row
    assert f"the ResNet's {len(measured['start'])} restarts" in row
    *first, last = estimates.config["conditions_epochs"]
    assert f"at restart epochs {', '.join(map(str, first))} and {last}" in row
    for symbol, key in (("c̄", "c_up"), ("L̲", "L_low"), ("r̲", "r_low")):
        assert f"{symbol} {tables.value_range(measured[key], '.3g')}" in row, symbol
    factors = measured["c_L2_factor"]
    assert f"η is {tables.value_range(factors, '.2g')} times c̄/L̲²" in row
    assert f"so η < c/L² {conditions_tables.condition_verdict(factors)}" in row
    assert ("λ = 2ηc − η²L² ≤ 0 for every restart" in row) == bool((measured["lam"] <= 0).all())
    assert f"η is {tables.value_range(measured['half_L_factor'], '.2g')} times 1/(2L̲)" in row
    plain = cached_or_none("spectrum-resnet-cifar10", estimates.preset)
    same = plain is not None and conditions_tables.repetition_gap(plain, estimates) == 0
    assert ("run repeated bit for bit" in row) == same
