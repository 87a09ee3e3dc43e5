"""Where the results of Chapters 4-6 come from (``sgd_escape.cifar.run_notes``): the note on
each cached result, what recomputing took, the settings tables and the caution box on how the
shown runs depart from the paper's protocol."""
from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest

from conftest import ROOT
from sgd_escape.cifar import figures, results, run_notes


def test_missing_results_show_the_command_that_makes_them(tmp_path, monkeypatch):
    monkeypatch.setenv("SGD_ESCAPE_DATA", str(tmp_path))
    note = run_notes.provenance_note("slope")
    assert "Missing or refused results" in note.html
    assert "python -m sgd_escape run slope-resnet-cifar10 --preset reduced" in note.markdown


def test_a_refused_result_more_faithful_than_the_one_shown_is_a_warning(tmp_path, monkeypatch):
    for net in ("resnet", "densenet"):
        shutil.copytree(ROOT / "data" / f"slope-{net}-cifar10" / "mini", tmp_path / f"slope-{net}-cifar10" / "mini")
    monkeypatch.setenv("SGD_ESCAPE_DATA", str(tmp_path))
    shown = run_notes.provenance_note("slope")
    assert "Where these results come from" in shown.html
    prov = json.loads((tmp_path / "slope-resnet-cifar10" / "mini" / "result.json").read_text())["provenance"]
    assert f"computed on {prov['device_name']}, {prov['cpu_model']} ({prov['cpu_capability']}) in" in shown.markdown
    stale = shutil.copytree(tmp_path / "slope-resnet-cifar10" / "mini", tmp_path / "slope-resnet-cifar10" / "reduced")
    record = json.loads((stale / "result.json").read_text())
    (stale / "result.json").write_text(json.dumps(record | {"preset": "reduced"}))
    note = run_notes.provenance_note("slope")
    assert "Missing or refused results" in note.html and 'class="admonition warning"' in note.html
    assert "its cached reduced result is not shown" in note.markdown and "another config" in note.markdown
    assert "preset mini" in note.markdown                 # what is shown instead is still named


def test_protocol_gap_lists_exactly_the_settings_that_differ_from_the_paper(monkeypatch):
    monkeypatch.chdir(ROOT / "chapters")
    results = figures.load_cached("fig5")
    note = run_notes.protocol_gap(results)
    for label, result in results.items():
        line = next(l for l in note.markdown.splitlines() if l.startswith(f"- {label}, preset {result.preset}"))
        assert ("epochs 300" not in line) and (f"epochs {result.config['epochs']} (paper preset: 300)" in line)
        assert ("trials" in line) == (result.config["trials"] != 5)
        assert "probe_examples" not in line or "probe_examples" in line and "(paper preset, the book's choice: 10240)" in line


@pytest.mark.parametrize("kind", ["fig5", "slope", "spectrum"])
def test_the_settings_table_shows_what_the_protocol_gap_compares(kind, monkeypatch):
    """A chapter's settings table and its caution box read the same settings: the box names
    exactly those whose shown preset's column differs from the paper preset's."""
    monkeypatch.chdir(ROOT / "chapters")
    label, result = next((l, r) for l, r in figures.load_cached(kind).items() if r is not None)
    lines = run_notes.settings_table(result.experiment).markdown.splitlines()
    header, *rows = ([cell.strip() for cell in line.strip("| ").split(" | ")] for line in lines if "---" not in line)
    assert [row[0] for row in rows] == run_notes.PROTOCOL_KEYS[kind]
    shown, paper = header.index(result.preset), header.index("paper")
    differ = {row[0] for row in rows if row[shown] != row[paper]}
    gap = next(l for l in run_notes.protocol_gap({label: result}).markdown.splitlines() if l.startswith("- "))
    named = {part.split(" ")[0] for part in gap.split(": ", 1)[1].split("; ")}
    assert named == (differ or {"as"})                   # "as the paper preset" when none differs
    with pytest.raises(ValueError, match="experiment must"):
        run_notes.settings_table(f"{kind}-vgg-cifar1000")


def test_the_config_table_has_a_column_per_cached_network():
    run = SimpleNamespace(preset="cpu", config={"epochs": 40, "lr": 0.1})
    table = run_notes.config_table({"resnet": run, "densenet": None}, ["lr", "epochs"])
    assert table.markdown.splitlines() == ["| setting | resnet (cpu) |", "| --- | --- |",
                                           "| lr | 0.1 |", "| epochs | 40 |"]


def test_cpu_run_times_read_the_provenance_of_the_runs_a_cpu_made(tmp_path, monkeypatch):
    """What the chapters say recomputing costs: each preset's range of minutes, and no GPU run in it."""
    root = ROOT / "data"
    for experiment, preset in [("slope-resnet-cifar10", "cpu"), ("slope-densenet-cifar10", "cpu"),
                               ("slope-resnet-cifar10", "mini")]:
        shutil.copytree(root / experiment / preset, tmp_path / experiment / preset)
    record_file = tmp_path / "slope-densenet-cifar10" / "cpu" / "result.json"
    record = json.loads(record_file.read_text())
    record["provenance"]["device"] = "cuda"                          # as a GPU session writes it
    record_file.write_text(json.dumps(record))
    monkeypatch.setenv(results.DATA_ENV, str(tmp_path))
    minutes = {preset: json.loads((tmp_path / "slope-resnet-cifar10" / preset / "result.json").read_text())
               ["provenance"]["wall_seconds"] / 60 for preset in ("mini", "cpu")}
    assert run_notes.cpu_run_times("slope") == f"{minutes['mini']:.2g} min per mini run and {minutes['cpu']:.2g} min per cpu run"
    assert run_notes.cpu_run_times("slope", ("cpu",)) == f"{minutes['cpu']:.2g} min per cpu run"
    assert run_notes.cpu_run_times("spectrum") == ""
    assert run_notes.cpu_times_phrase("slope") == "the cached runs made on a CPU took " + run_notes.cpu_run_times("slope")
    assert run_notes.cpu_times_phrase("spectrum") == "no cached run was made on a CPU"
