"""The command line of Chapters 4-6: list, run, budgets and resume, messages for bad input."""
from __future__ import annotations

import pytest
import torch

from sgd_escape.__main__ import main
from sgd_escape.cifar import datasets
from sgd_escape.cifar.experiments import EXPERIMENTS, PRESETS
from sgd_escape.cifar.results import load_result
from sgd_escape.cifar.runner import EXIT_BUDGET


def test_list_names_every_experiment_and_preset(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in EXPERIMENTS) and all(preset in out for preset in PRESETS)


@pytest.mark.parametrize("argv, listed", [
    (["run", "figure9", "--preset", "mini"], "valid experiments: fig5-resnet-cifar10"),
    (["run", "fig5-resnet-cifar10", "--preset", "huge"], "valid presets: smoke, mini, cpu, reduced, paper"),
])
def test_unknown_names_exit_2_listing_the_valid_ones(argv, listed, capsys):
    assert main(argv) == 2
    assert listed in capsys.readouterr().err


def test_missing_dataset_names_the_ways_to_provide_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(datasets.JPEG_ENV, raising=False)
    argv = ["run", "fig5-resnet-cifar10", "--preset", "smoke", "--offline", "--quiet",
            "--datasets-dir", str(tmp_path), "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "cifar-10-python.tar.gz" in err and datasets.JPEG_ENV in err


@pytest.mark.slow
def test_run_stops_at_the_budget_and_resumes_to_a_cache(tmp_path, capsys):
    argv = ["run", "spectrum-resnet-cifar10", "--preset", "smoke", "--data", "synthetic", "--quiet",
            "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"), "--threads", "1"]
    assert main(argv + ["--max-minutes", "0"]) == EXIT_BUDGET
    assert "run the same command to resume" in capsys.readouterr().err
    assert not (tmp_path / "out" / "spectrum-resnet-cifar10").exists()     # complete or absent
    assert main(argv) == 0
    result = load_result("spectrum-resnet-cifar10", "smoke", tmp_path / "out")
    assert result.provenance["command"].startswith("python -m sgd_escape run spectrum-resnet-cifar10")
    assert main(argv) == 0
    assert "already cached" in capsys.readouterr().out


def test_a_fresh_run_stopped_at_its_budget_says_to_resume_without_fresh(tmp_path, capsys):
    argv = ["run", "spectrum-resnet-cifar10", "--preset", "smoke", "--data", "synthetic", "--quiet", "--fresh",
            "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"), "--max-minutes", "0"]
    assert main(argv) == EXIT_BUDGET
    assert "resume, without --fresh" in capsys.readouterr().err


@pytest.mark.parametrize("option, value", [("--max-minutes", "-1"), ("--max-minutes", "nan"), ("--threads", "0")])
def test_bad_budget_or_thread_count_exits_2_naming_the_option(option, value, tmp_path, capsys):
    argv = ["run", "fig5-resnet-cifar10", "--preset", "smoke", "--data", "synthetic", "--quiet",
            "--out", str(tmp_path), option, value]
    assert main(argv) == 2
    assert option in capsys.readouterr().err


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


@pytest.mark.parametrize("command", ["run", "session"])
@pytest.mark.parametrize("device, message", [("gpu", "device 'gpu' is not a device name"),
                                             pytest.param("cuda", "CUDA is not available here", marks=NO_CUDA)])
def test_a_device_that_is_unknown_or_absent_exits_2_naming_it(command, device, message, tmp_path, capsys):
    names = ["fig5-resnet-cifar10"] if command == "run" else ["--experiments", "fig5-resnet-cifar10"]
    argv = [command, *names, "--preset", "smoke", "--data", "synthetic", "--out", str(tmp_path / "out"),
            "--device", device] + (["--state", str(tmp_path / "state")] if command == "session" else [])
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "state").exists()


def test_run_experiment_rejects_a_negative_budget(tmp_path):
    from sgd_escape.cifar.pipeline import run_experiment

    with pytest.raises(ValueError, match="max_minutes"):
        run_experiment("fig5-resnet-cifar10", "smoke", data="synthetic", out=tmp_path, max_minutes=-1)


def test_several_experiments_run_in_the_order_given_without_repeats():
    from sgd_escape.__main__ import experiment_names

    assert experiment_names(["slope-resnet-cifar10", "fig5-resnet-cifar10"], EXPERIMENTS) == \
        ["slope-resnet-cifar10", "fig5-resnet-cifar10"]
    everything = experiment_names(["spectrum-resnet-cifar10", "all"], EXPERIMENTS)
    assert everything[0] == "spectrum-resnet-cifar10" and len(everything) == len(set(everything)) == 9
    assert all(name.endswith("cifar10") for name in everything)
    assert "slopezero-resnet-cifar10" not in everything          # an exercise's run is named, not implied
    assert experiment_names(["slopezero-resnet-cifar10"], EXPERIMENTS) == ["slopezero-resnet-cifar10"]


def test_an_unknown_name_among_several_stops_before_any_run(tmp_path, capsys):
    argv = ["run", "spectrum-resnet-cifar10", "figure9", "--preset", "smoke", "--data", "synthetic",
            "--quiet", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")]
    assert main(argv) == 2
    assert "figure9" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()


@pytest.fixture
def outside_a_clone(monkeypatch):
    """A fresh working folder with no clone of the book at or above it (pytest's own tmp_path
    may lie inside the clone: `make test` puts it under _build/)."""
    import tempfile
    from pathlib import Path

    from sgd_escape.cifar.results import find_repository_root

    with tempfile.TemporaryDirectory() as folder:
        if find_repository_root(folder, required=False) is not None:
            pytest.skip(f"{folder} lies inside a clone of the book")
        monkeypatch.chdir(folder)
        yield Path(folder)


def test_outside_a_clone_run_stops_before_training_and_list_says_why(outside_a_clone, monkeypatch, capsys):
    tmp_path = outside_a_clone
    monkeypatch.delenv("SGD_ESCAPE_DATA", raising=False)
    assert main(["run", "fig5-resnet-cifar10", "--preset", "smoke", "--data", "synthetic", "--quiet"]) == 2
    assert "no repository root" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []                 # no work folder, nothing trained
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "results: none found (no repository root" in out and "cached: -" not in out


@pytest.mark.parametrize("argv, message", [
    (["--data", "/no/such/archive.tar.xz"], "data must be 'synthetic' or a dataset archive; no file"),
    (["--data", "synthetic", "--preset", "smoke", "--minutes", "nan"], "minutes must be"),
    (["--data", "synthetic", "--preset", "reduced"], "data 'synthetic' is for the smoke preset only"),
])
def test_a_session_refuses_bad_input_before_any_step(argv, message, tmp_path, capsys):
    command = ["session", "--out", str(tmp_path / "out"), "--device", "cpu", "--state", str(tmp_path / "state")]
    assert main(command + argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_session_outside_a_clone_is_refused(outside_a_clone, capsys):
    tmp_path = outside_a_clone
    assert main(["session", "--out", "out", "--data", "synthetic", "--preset", "smoke", "--device", "cpu"]) == 2
    assert "inside a clone of the book" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def smoke_run(tmp_path, *options):
    """``run spectrum-resnet-cifar10`` at the smoke preset; its exit status and its saved state."""
    argv = ["run", "spectrum-resnet-cifar10", "--preset", "smoke", "--data", "synthetic", "--quiet",
            "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"), *options]
    code = main(argv)
    state = torch.load(tmp_path / "work" / "spectrum-resnet-cifar10" / "smoke" / "state.pt", weights_only=True)
    return code, state


def test_fresh_discards_the_saved_progress_of_a_run(tmp_path):
    assert smoke_run(tmp_path, "--max-minutes", "0")[1]["units"] == 1          # stops after one unit
    assert smoke_run(tmp_path, "--max-minutes", "0")[1]["units"] == 2          # resumed
    code, state = smoke_run(tmp_path, "--max-minutes", "0", "--fresh")
    assert code == EXIT_BUDGET and state["units"] == 1                        # started over


@pytest.mark.slow
def test_a_result_records_when_its_run_began_not_when_it_was_resumed(tmp_path):
    import time

    from sgd_escape.cifar.provenance import utc_now

    before = utc_now()
    code, state = smoke_run(tmp_path, "--max-minutes", "0")
    assert code == EXIT_BUDGET and before <= state["started_utc"] <= utc_now()
    time.sleep(1.1)                       # the resumed run starts and ends in later seconds
    assert smoke_run(tmp_path)[0] == 0
    assert load_result("spectrum-resnet-cifar10", "smoke", tmp_path / "out").provenance["started_utc"] \
        == state["started_utc"]


def _documented_commands() -> list[tuple[str, str]]:
    """Every ``python -m sgd_escape ...`` line of a fenced shell block in the README,
    CONTRIBUTING.md and the chapters' markdown, every inline one there with an option, and
    every inline one in ``reports.NOT_YET`` (what a chapter shows before a GPU session):
    (where, command)."""
    import json
    import re
    from pathlib import Path

    from sgd_escape.cifar.reports import NOT_YET

    root = Path(__file__).resolve().parents[1]
    texts = {name: (root / name).read_text() for name in ("README.md", "CONTRIBUTING.md")}
    for notebook in sorted((root / "chapters").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        texts[notebook.name] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    found = []
    for where, text in texts.items():
        for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, re.S):
            for line in re.sub(r"\s*\\\n\s*", " ", block).splitlines():   # a backslash continues a line
                command = re.sub(r"^(\w+=\S+ )*", "", line.split("#")[0].strip())
                if re.match(r"python3? -m sgd_escape\b", command):
                    found.append((where, command))
        # Inline commands with options are meant to be copied too (exercises, CONTRIBUTING's steps).
        found += [(where, c) for c in re.findall(r"`(?:\w+=\S+ )*(python3? -m sgd_escape [^`]*--[^`]*)`", text)]
    found += [("reports.NOT_YET", c) for c in re.findall(r"`(python3? -m sgd_escape [^`]*)`", NOT_YET)]
    return found


def test_every_documented_command_line_parses_and_names_real_experiments_and_presets(capsys):
    """A reader copies these commands: each must be accepted as written (placeholders such as
    OUT stand for a path). Usage synopses with ``[...]`` are not commands and are skipped."""
    import shlex

    from sgd_escape.__main__ import _parser, experiment_names

    commands = [(w, c) for w, c in _documented_commands() if "[" not in c and "..." not in c]
    assert len(commands) >= 10 and any(w == "reports.NOT_YET" for w, _ in commands)
    refused = []
    for where, command in commands:
        try:
            args = _parser().parse_args(shlex.split(command)[3:])
        except SystemExit:
            refused.append(f"{where}: {command}: {capsys.readouterr().err.strip().splitlines()[-1]}")
            continue
        names = experiment_names(getattr(args, "experiment", None) or getattr(args, "experiments", None) or [], EXPERIMENTS)
        unknown = [n for n in names if n not in EXPERIMENTS]
        if unknown or getattr(args, "preset", None) not in (None, *PRESETS):
            refused.append(f"{where}: {command}: unknown experiment or preset")
    assert not refused, "documented commands that do not run as written:\n" + "\n".join(refused)


def test_synthetic_data_is_refused_beyond_the_smoke_preset(tmp_path, capsys):
    argv = ["run", "fig5-resnet-cifar10", "--preset", "mini", "--data", "synthetic", "--quiet",
            "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")]
    assert main(argv) == 2
    assert "for the smoke preset only" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_a_run_resumed_on_other_data_is_refused(tmp_path):
    from sgd_escape.cifar.runner import Run

    config = {"experiment": "x"}
    Run(tmp_path, config, "cpu", None, 4, progress=False, dataset_source="CIFAR-10, sha256 aaa").save()
    with pytest.raises(RuntimeError, match=r"on other data \(CIFAR-10, sha256 aaa\).*--fresh"):
        Run(tmp_path, config, "cpu", None, 4, progress=False, dataset_source="synthetic (seed 0)")
    assert Run(tmp_path, config, "cpu", None, 4, progress=False, dataset_source="CIFAR-10, sha256 aaa").state


def test_a_refused_result_is_not_overwritten_without_fresh(tmp_path, capsys):
    run = ["run", "fig5-resnet-cifar10", "--preset", "mini", "--data", "/no/such.tar.xz", "--quiet",
           "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")]
    result = tmp_path / "out" / "fig5-resnet-cifar10" / "mini" / "result.json"
    result.parent.mkdir(parents=True)
    result.write_text("{not json")
    assert main(run) == 2
    assert "holds a result the loader refuses" in capsys.readouterr().err
    assert result.read_text() == "{not json"                  # untouched


def test_results_folder_that_is_a_file_stops_before_training(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    argv = ["run", "fig5-resnet-cifar10", "--preset", "smoke", "--data", "synthetic", "--quiet",
            "--out", str(tmp_path / "afile"), "--work", str(tmp_path / "work")]
    assert main(argv) == 2
    assert "is a file, not a folder" in capsys.readouterr().err and not (tmp_path / "work").exists()


def test_no_experiment_starts_once_the_budget_is_used_up(tmp_path, monkeypatch, capsys):
    """The first experiment runs whatever the budget (a command always makes progress); the next
    one does not start after the budget is spent, so a hard time limit is not overrun."""
    import time

    from sgd_escape.cifar import pipeline

    started = []

    def slow_experiment(name, preset, **kwargs):
        started.append(name)
        time.sleep(0.2)                                       # longer than the whole budget
        return tmp_path / name

    monkeypatch.setattr(pipeline, "run_experiment", slow_experiment)
    argv = ["run", "fig5-resnet-cifar10", "slope-resnet-cifar10", "--preset", "smoke", "--data", "synthetic",
            "--quiet", "--max-minutes", "0.001", "--out", str(tmp_path / "out")]
    assert main(argv) == EXIT_BUDGET
    assert started == ["fig5-resnet-cifar10"] and "slope-resnet-cifar10: not started" in capsys.readouterr().err


def test_an_interrupted_run_says_how_to_go_on(tmp_path, monkeypatch, capsys):
    from sgd_escape.cifar import pipeline

    def interrupted(name, preset, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run_experiment", interrupted)
    argv = ["run", "fig5-resnet-cifar10", "--preset", "smoke", "--data", "synthetic", "--quiet",
            "--out", str(tmp_path / "out")]
    assert main(argv) == 130
    assert "run the same command to go on" in capsys.readouterr().err
