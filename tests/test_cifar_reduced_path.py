"""The `reduced` path before any GPU has run it (Chapters 4-6): the paper's networks go through
every phase of Figure 5, and a `reduced` result of every kind reaches the chapters' tables and
figures. The presets are shrunk to CPU size for the test; the networks and the structure stay."""
from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sgd_escape.cifar import figures, spectrum_tables, tables  # noqa: E402
from sgd_escape.cifar.experiments import KIND_PRESETS  # noqa: E402
from sgd_escape.cifar.pipeline import run_experiment  # noqa: E402

#: Smoke-sized settings that keep what the chapters read: epochs past 5, two ball epochs, restarts.
TINY = {
    "fig5": dict(trials=2, epochs=6, lr_milestones=[3, 5], train_examples=8, test_examples=8,
                 train_eval_examples=8, probe_examples=8, probe_batch_size=8, ball_points=2,
                 ball_every=3, ball_examples=8, ball_trials=1, batch_size=8),
    "slope": dict(KIND_PRESETS["slope"]["smoke"]),
    "spectrum": dict(KIND_PRESETS["spectrum"]["smoke"]),
}


def reduced_results(kind, tmp_path, monkeypatch) -> dict:
    monkeypatch.setitem(KIND_PRESETS[kind], "reduced", TINY[kind])
    for net in ("resnet", "densenet"):
        run_experiment(f"{kind}-{net}-cifar10", "reduced", data="synthetic", out=tmp_path / "data",
                       work=tmp_path / "work" / net, progress=False)
    monkeypatch.setenv("SGD_ESCAPE_DATA", str(tmp_path / "data"))
    results = figures.load_cached(kind)
    assert {label: r.preset for label, r in results.items()} == {"resnet": "reduced", "densenet": "reduced"}
    return results


@pytest.mark.slow
def test_figure5_with_the_papers_networks_reaches_the_chapter(tmp_path, monkeypatch):
    results = reduced_results("fig5", tmp_path, monkeypatch)
    assert [r.config["architecture"] for r in results.values()] == ["resnet34", "densenet100"]
    fig, axes = plt.subplots(1, 3)
    figures.plot_figure5(axes, results)
    plt.close(fig)
    rows = tables.figure5_rows(results)
    assert [row[0] for row in rows][:2] == ["resnet (reduced)", "densenet (reduced)"]
    verdict = tables.fig5_verdict(results)
    assert verdict["total"] == 2 * 2 * 1                  # epoch 5 of 6, two trials, two networks
    assert "epochs 6 (paper preset: 300)" in tables.protocol_gap(results).markdown
    failures = int(sum((r.curves["inner_raw"][5:] <= 0).sum() for r in results.values()))
    listed = [row for row in tables.nonpositive_rows(results) if row[0] != "none"]
    assert len(listed) == failures == verdict["nonpositive"]


@pytest.mark.slow
@pytest.mark.parametrize("kind, plot, rows", [("slope", figures.plot_slope, tables.slope_rows),
                                              ("spectrum", figures.plot_figure6, spectrum_tables.spectrum_rows)])
def test_reduced_slope_and_spectrum_results_reach_the_chapters(kind, plot, rows, tmp_path, monkeypatch):
    results = reduced_results(kind, tmp_path, monkeypatch)
    fig, axes = plt.subplots(1, 2)
    plot(axes, results)
    plt.close(fig)
    labels = {row[0] for row in rows(results)}
    assert {"resnet (reduced)", "densenet (reduced)"} <= labels
