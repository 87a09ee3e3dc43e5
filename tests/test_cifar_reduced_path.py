"""The `reduced` path before any GPU has run it (Chapters 4-6): the paper's networks go through
every phase of Figure 5, and a `reduced` result of every kind reaches the chapters' tables and
figures. The presets are shrunk to CPU size for the test; the networks and the structure stay."""
from __future__ import annotations

import shutil

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sgd_escape.cifar import figures, run_notes, side_remarks, spectrum_tables, tables  # noqa: E402
from sgd_escape.cifar.experiments import KIND_PRESETS  # noqa: E402
from sgd_escape.cifar.pipeline import run_experiment  # noqa: E402
from sgd_escape.cifar.results import load_result  # noqa: E402

#: Smoke-sized settings that keep what the chapters read: epochs past 5, two ball epochs (one from
#: epoch 5 on), restarts.
TINY = {
    "fig5": dict(trials=2, epochs=6, lr_milestones=[3, 5], train_examples=8, test_examples=8,
                 train_eval_examples=8, probe_examples=8, probe_batch_size=8, ball_points=2,
                 step_points=2, ball_every=5, ball_examples=8, ball_trials=1, batch_size=8),
    "slope": dict(KIND_PRESETS["slope"]["smoke"]),
    "spectrum": dict(KIND_PRESETS["spectrum"]["smoke"]),
}


@pytest.fixture(scope="module")
def reduced_data(tmp_path_factory):
    """A data folder with a `reduced` result of every kind and network, trained once (TINY sizes),
    and the committed `cpu` pairs of Exercises 5.3 and 6.2 and Chapter 6's estimates of Theorem 1's
    constants, which Chapters 5 and 6 read at that preset and which a GPU session leaves in place."""
    from conftest import ROOT

    root = tmp_path_factory.mktemp("reduced")
    with pytest.MonkeyPatch.context() as patch:
        for kind, tiny in TINY.items():
            patch.setitem(KIND_PRESETS[kind], "reduced", tiny)
            for net in ("resnet", "densenet"):
                run_experiment(f"{kind}-{net}-cifar10", "reduced", data="synthetic", out=root / "data",
                               work=root / "work" / kind / net, progress=False)
    for twin in ("slope-resnet-cifar10", "slopezero-resnet-cifar10", "spectrum-resnet-cifar10",
                 "spectrumkeep-resnet-cifar10", "conditions-resnet-cifar10"):
        shutil.copytree(ROOT / "data" / twin / "cpu", root / "data" / twin / "cpu")
    return root / "data"


def reduced_results(kind, data, monkeypatch) -> dict:
    for each, tiny in TINY.items():                   # the loader checks a cache against its preset
        monkeypatch.setitem(KIND_PRESETS[each], "reduced", tiny)
    monkeypatch.setenv("SGD_ESCAPE_DATA", str(data))
    results = figures.load_cached(kind)
    assert {label: r.preset for label, r in results.items()} == {"resnet": "reduced", "densenet": "reduced"}
    return results


@pytest.mark.slow
def test_figure5_with_the_papers_networks_reaches_the_chapter(reduced_data, monkeypatch):
    results = reduced_results("fig5", reduced_data, monkeypatch)
    assert [r.config["architecture"] for r in results.values()] == ["resnet34", "densenet100"]
    fig, axes = plt.subplots(1, 3)
    figures.plot_figure5(axes, results)
    plt.close(fig)
    rows = tables.figure5_rows(results)
    assert [row[0] for row in rows][:2] == ["resnet (reduced)", "densenet (reduced)"]
    verdict = tables.fig5_verdict(results)
    assert verdict["total"] == 2 * 2 * 1                  # epoch 5 of 6, two trials, two networks
    assert "epochs 6 (paper preset: 300)" in run_notes.protocol_gap(results).markdown
    fig, axes = plt.subplots(1, 2)
    figures.plot_step_probe(axes, results)                # footnote 7, the paper's networks
    plt.close(fig)
    assert side_remarks.step_verdict(results)["probed"] == 2   # ball epochs 0 and 5: one per network counts
    failures = int(sum((r.curves["inner_raw"][5:] <= 0).sum() for r in results.values()))
    listed = [row for row in tables.nonpositive_rows(results) if row[0] != "none"]
    assert len(listed) == failures == verdict["nonpositive"]


@pytest.mark.slow
@pytest.mark.parametrize("kind, plot, rows", [("slope", figures.plot_slope, tables.slope_rows),
                                              ("spectrum", figures.plot_figure6, spectrum_tables.spectrum_rows)])
def test_reduced_slope_and_spectrum_results_reach_the_chapters(kind, plot, rows, reduced_data, monkeypatch):
    results = reduced_results(kind, reduced_data, monkeypatch)
    fig, axes = plt.subplots(1, 2)
    plot(axes, results)
    plt.close(fig)
    labels = {row[0] for row in rows(results)}
    assert {"resnet (reduced)", "densenet (reduced)"} <= labels


def _executed_glue(notebook) -> dict:
    """``{name: text}`` of every value a chapter glued (myst-nb's scrapbook outputs)."""
    glued = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if record:
                glued[record["name"]] = output["data"].get("application/papermill.record/text/plain", "")
    return glued


#: Run first in every chapter kernel of the test below: the same TINY presets as in this process.
_KERNEL_STARTUP = """\
from sgd_escape.cifar.experiments import KIND_PRESETS
for _kind, _tiny in {tiny!r}.items():
    KIND_PRESETS[_kind]["reduced"] = _tiny
"""


def _run_chapters_4_to_6(data, tmp_path, monkeypatch) -> dict:
    """Execute Chapters 4-6 on the results in ``data`` (TINY `reduced` presets); their glue."""
    import nbformat
    from nbclient import NotebookClient

    from conftest import ROOT
    from tools.notebook import FOLD_TAG, prose_only_cells

    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-tiny-presets.py").write_text(_KERNEL_STARTUP.format(tiny=TINY))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("SGD_ESCAPE_DATA", str(data))
    monkeypatch.setenv("SGD_ESCAPE_STATIC", "1")
    glued = {}
    for chapter in ("ch04_one_point_convex_trajectory", "ch05_loss_surface_slope", "ch06_spectrum_of_minima"):
        notebook = nbformat.read(ROOT / "chapters" / f"{chapter}.ipynb", as_version=4)
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "chapters")}}).execute()
        glued.update(_executed_glue(notebook))
        folded = [index for index, cell in enumerate(notebook.cells) if FOLD_TAG in cell.metadata.get("tags", [])]
        assert prose_only_cells(notebook) == folded, f"{chapter}: on these results other cells show only glue"
    return glued


@pytest.mark.slow
def test_chapters_4_to_6_run_on_reduced_results(reduced_data, tmp_path, monkeypatch):
    """Once the GPU's `reduced` results replace the CPU ones, Chapters 4-6 must still run top to
    bottom: every glue cell, table and figure on results of the paper's networks and shapes."""
    glued = _run_chapters_4_to_6(reduced_data, tmp_path, monkeypatch)
    assert "paper's own" in glued["ch4_sol1_scale_clause"]      # resnet34 and densenet100 are shown
    assert glued["ch4_sol2_trials"] == "'2'"
    assert int(glued["ch6_restarts"]) == 2 * len(TINY["spectrum"]["restart_epochs"])
    assert glued["ch5_sol3_start"].startswith("'are the same to the last bit:")   # Exercise 5.3 reads its cpu pair
    assert glued["ch6_sol2_repeat"] == "'are the same to the last bit'"    # and Exercise 6.2 its own
    assert glued["ch6_cond_gap"] == "'is the same to the last bit'"       # Theorem 1's constants: cpu beside cpu
    assert "not that of the ResNet run shown above (reduced)" in glued["ch6_cond_shown"]
    pair = load_result("spectrumkeep-resnet-cifar10", "cpu", reduced_data).config       # its sizes, not reduced's
    assert glued["ch6_sol2_restart_steps"] == str(pair["restart_length"] * pair["train_examples"] // pair["batch_size"])


@pytest.mark.slow
def test_chapters_4_to_6_run_when_only_resnet_has_reduced_results(reduced_data, tmp_path, monkeypatch):
    """A GPU session may end after one network (each cache complete or absent): the chapters then
    show ResNet at `reduced` beside DenseNet at the committed CPU preset, and still run."""
    from conftest import ROOT

    mixed = tmp_path / "data"
    shutil.copytree(ROOT / "data", mixed)
    for kind in TINY:
        experiment = f"{kind}-resnet-cifar10"
        shutil.copytree(reduced_data / experiment / "reduced", mixed / experiment / "reduced")
    glued = _run_chapters_4_to_6(mixed, tmp_path, monkeypatch)
    densenet_fig5 = load_result("fig5-densenet-cifar10", "cpu", mixed)
    densenet_spectrum = load_result("spectrum-densenet-cifar10", "cpu", mixed)
    assert (glued["ch4_sol1_resnet_preset"], glued["ch4_sol1_densenet_preset"]) == ("'reduced'", "'cpu'")
    assert glued["ch4_sol2_resnet_trials"] == str(TINY["fig5"]["trials"])
    assert glued["ch4_sol2_densenet_trials"] == str(densenet_fig5.config["trials"])
    assert int(glued["ch6_restarts"]) == (len(TINY["spectrum"]["restart_epochs"])
                                          + len(densenet_spectrum.config["restart_epochs"]))
    # the side remarks (still at cpu) are compared with the step runs of their own preset, and say so
    step_cpu = [load_result(f"fig5-{net}-cifar10", "cpu", mixed).scalars for net in ("resnet", "densenet")]
    assert int(glued["ch4_twin_total"]) == sum(s["inner_products_from_epoch_5"] for s in step_cpu)
    assert "not the preset Figure 5 shows" in glued["ch4_twins_clause"]
    assert "not with the reduced run shown above" in glued["ch5_sol3_pair"]    # Exercise 5.3's pair is cpu
    assert "reduced" in glued["ch6_sol2_fresh_shown"]                            # and so is Exercise 6.2's
