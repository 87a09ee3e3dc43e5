"""GPU sessions in one command (Chapter 4): steps, budget and resume, packing, and unpacking
into data/ with every check. Run here on a CPU at the smoke preset with synthetic data."""
from __future__ import annotations

import json
import tarfile

import pytest

from sgd_escape.__main__ import main
from sgd_escape.cifar import session as session_module
from sgd_escape.cifar.pipeline import run_experiment
from sgd_escape.cifar.results import CacheError, load_result
from sgd_escape.cifar.runner import EXIT_BUDGET
from sgd_escape.cifar.session import experiments_to_run, pack_results, report_in_data, run_order, run_session
from sgd_escape.cifar.training import DETERMINISTIC_ENV
from sgd_escape.cifar.unpack import device_slug, unpack

EXPERIMENT = "spectrum-resnet-cifar10"


def session(tmp_path, out="out", **options):
    # A generous budget: on a loaded 2-core machine the determinism step alone has taken minutes.
    settings = dict(out=tmp_path / out, data="synthetic", minutes=60, preset="smoke", device="cpu",
                    experiments=[EXPERIMENT], state=tmp_path / "state",
                    steps=("environment", "determinism", "run"))
    return run_session(**{**settings, **options})


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """A folder with one finished smoke result, as a session's state holds them."""
    root = tmp_path_factory.mktemp("results")
    run_experiment(EXPERIMENT, "smoke", data="synthetic", out=root, work=root / "work", progress=False)
    return root


@pytest.mark.slow
def test_a_session_checks_runs_packs_and_its_files_unpack_into_data(tmp_path):
    assert session(tmp_path) == 0
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["determinism.json", "environment.json",
                                                     "results-smoke.tar", "session.json"]
    determinism = json.loads((out / "determinism.json").read_text())
    assert determinism["identical"] and determinism["experiments"][EXPERIMENT]["max_rel"] == 0.0
    assert "resumed" in determinism["second_copy"]   # stopped after one unit, resumed: still the same numbers
    assert determinism["repeat"]["identical"] and determinism["repeat"]["max_abs"] == 0.0   # a CPU repeats
    lines = unpack(out, tmp_path / "data")
    assert lines[0].startswith(f"{EXPERIMENT}/smoke: added")
    written = tmp_path / "state" / "data" / EXPERIMENT / "smoke"
    for name in ("result.json", "curves.npz"):        # byte for byte as the run wrote them
        assert (tmp_path / "data" / EXPERIMENT / "smoke" / name).read_bytes() == (written / name).read_bytes()
    assert load_result(EXPERIMENT, "smoke", tmp_path / "data").provenance["device"] == "cpu"
    slug = device_slug(determinism["device_name"])
    assert (tmp_path / "data" / "benchmarks" / f"determinism-{slug}.json").is_file()
    assert session(tmp_path, out="again") == 0                     # nothing is done twice
    steps = json.loads((tmp_path / "state" / "session.json").read_text())["commands"][-1]["steps"]
    assert steps["determinism"]["outcome"].startswith("done already")


@pytest.mark.slow
def test_a_session_stopped_by_its_budget_goes_on_in_the_next_command(tmp_path, monkeypatch):
    monkeypatch.setattr(session_module, "RESERVE_MINUTES", 0.0)
    monkeypatch.setattr(session_module, "STEP_MINUTES", dict.fromkeys(session_module.STEPS, 0.0))
    assert session(tmp_path, minutes=1e-4, steps=("run",)) == EXIT_BUDGET
    assert not (tmp_path / "out" / "results-smoke.tar").exists()      # complete or absent
    assert session(tmp_path, steps=("run",)) == 0
    with tarfile.open(tmp_path / "out" / "results-smoke.tar") as tar:
        assert tar.getnames() == [f"{EXPERIMENT}/smoke/result.json", f"{EXPERIMENT}/smoke/curves.npz"]


def test_a_step_with_too_little_time_left_is_skipped_and_said(tmp_path):
    assert session(tmp_path, minutes=0.6, steps=("determinism",)) == EXIT_BUDGET
    steps = json.loads((tmp_path / "out" / "session.json").read_text())["commands"][-1]["steps"]
    assert steps["determinism"]["outcome"].startswith("skipped")


@pytest.mark.parametrize("options, message", [
    (dict(minutes=0), "minutes"), (dict(minutes=float("nan")), "minutes"), (dict(steps=("train",)), "valid steps: environment"),
    (dict(preset="huge"), "valid presets"), (dict(experiments=["figure9"]), "valid experiments"),
])
def test_invalid_session_arguments_raise_naming_them(options, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        session(tmp_path, **options)


def test_cheapest_experiments_run_first():
    names = ["fig5-resnet-cifar10", "slope-resnet-cifar10", "spectrum-resnet-cifar10"]
    assert run_order(names, None, "reduced") == names[::-1]
    hours = {"fig5-resnet-cifar10": 0.01, "slope-resnet-cifar10": 0.2, "spectrum-resnet-cifar10": 0.1}
    benchmark = {"projection_reduced": {"device_hours": hours}}
    assert run_order(names, benchmark, "reduced") == ["fig5-resnet-cifar10", "spectrum-resnet-cifar10",
                                                      "slope-resnet-cifar10"]


def test_the_side_remarks_run_after_the_papers_figures_however_cheap():
    names = ["fig5smooth-resnet-cifar10", "fig5-densenet-cifar10", "spectrum-resnet-cifar10"]
    hours = {"fig5smooth-resnet-cifar10": 0.01, "fig5-densenet-cifar10": 0.3, "spectrum-resnet-cifar10": 0.1}
    benchmark = {"projection_reduced": {"device_hours": hours}}
    assert run_order(names, benchmark, "reduced") == names[2:0:-1] + names[:1]
    assert run_order(names, None, "reduced") == names[2:0:-1] + names[:1]
    assert run_order(["fig5-vgg-cifar10", "slope-resnet-cifar10"], None, "reduced")[-1] == "fig5-vgg-cifar10"


def bundle(tmp_path, results_root, members=None):
    """A session's out folder holding a results tar (optionally with other members)."""
    out = tmp_path / "bundle"
    out.mkdir()
    pack_results(results_root, "smoke", out / "results-smoke.tar")
    if members:
        with tarfile.open(out / "results-smoke.tar", "a") as tar:
            for name, path in members.items():
                tar.add(path, arcname=name)
    return out


def test_unpack_refuses_a_member_out_of_place_and_writes_nothing(tmp_path, smoke_results):
    stray = tmp_path / "stray.txt"
    stray.write_text("x")
    out = bundle(tmp_path, smoke_results, {"../outside.txt": stray})
    with pytest.raises(ValueError, match="unexpected member '../outside.txt'"):
        unpack(out, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_unpack_refuses_a_result_of_another_config_and_writes_nothing(tmp_path, smoke_results):
    source = smoke_results / EXPERIMENT / "smoke" / "result.json"
    record = json.loads(source.read_text())
    record["config"]["lr"] = 0.5
    changed = tmp_path / "changed"
    (changed / EXPERIMENT / "smoke").mkdir(parents=True)
    (changed / EXPERIMENT / "smoke" / "result.json").write_text(json.dumps(record))
    (changed / EXPERIMENT / "smoke" / "curves.npz").write_bytes(
        (smoke_results / EXPERIMENT / "smoke" / "curves.npz").read_bytes())
    with pytest.raises(CacheError, match="another config"):
        unpack(bundle(tmp_path, changed), tmp_path / "data")
    assert not (tmp_path / "data" / EXPERIMENT).exists()


def test_unpack_replaces_a_different_result_only_when_asked(tmp_path, smoke_results):
    out = bundle(tmp_path, smoke_results)
    target = tmp_path / "data" / EXPERIMENT / "smoke"
    target.mkdir(parents=True)
    (target / "result.json").write_text("{}")
    with pytest.raises(ValueError, match="exists and differs"):
        unpack(out, tmp_path / "data")
    assert (target / "result.json").read_text() == "{}"
    unpack(out, tmp_path / "data", replace=True)
    assert load_result(EXPERIMENT, "smoke", tmp_path / "data").experiment == EXPERIMENT


def test_unpack_refuses_a_report_without_provenance(tmp_path):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "cifar_trainer.json").write_text(json.dumps({"device_name": "GPU"}))
    with pytest.raises(ValueError, match="lacks its provenance"):
        unpack(out, tmp_path / "data")


@pytest.mark.parametrize("name, message", [("results-reduced.tar", "is not a readable tar"),
                                           ("environment.json", "is not valid JSON")])
def test_unpack_command_names_a_damaged_file_and_writes_nothing(tmp_path, capsys, name, message):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / name).write_text("{damaged")
    assert main(["unpack", str(out), "--data-root", str(tmp_path / "data")]) == 2
    error = capsys.readouterr().err
    assert name in error and message in error and "copy it again" in error
    assert not (tmp_path / "data").exists()


def test_unpack_command_exits_2_naming_a_missing_folder(tmp_path, capsys):
    assert main(["unpack", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_device_names_become_file_name_parts():
    assert device_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"


def test_a_failing_step_is_recorded_and_the_session_exits_1(tmp_path):
    damaged = tmp_path / "damaged.tar.xz"
    damaged.write_bytes(b"not an archive")
    assert session(tmp_path, data=str(damaged), steps=("run",)) == 1
    steps = json.loads((tmp_path / "out" / "session.json").read_text())["commands"][-1]["steps"]
    assert steps["run"]["outcome"].startswith("failed:") and "exited with status 2" in steps["run"]["outcome"]


def test_by_default_a_session_runs_only_what_the_results_folder_lacks(tmp_path, smoke_results):
    everything = experiments_to_run(None, "smoke", tmp_path)
    assert len(everything) == 9 and EXPERIMENT in everything      # six of the figures, three of the side remarks
    assert EXPERIMENT not in experiments_to_run(None, "smoke", smoke_results)
    assert experiments_to_run([EXPERIMENT], "smoke", smoke_results) == [EXPERIMENT]     # named: run anyway


def test_a_report_of_the_same_gpu_in_the_results_folder_counts_as_done(tmp_path):
    state, root = tmp_path / "state", tmp_path / "data"
    state.mkdir()
    assert report_in_data(state, "determinism.json", root) is None          # GPU not known yet
    (state / "environment.json").write_text(json.dumps({"device_name": "NVIDIA H100 80GB HBM3"}))
    assert report_in_data(state, "determinism.json", root) is None
    (root / "benchmarks").mkdir(parents=True)
    (root / "benchmarks" / "determinism-nvidia-h100-80gb-hbm3.json").write_text("{}")
    assert report_in_data(state, "determinism.json", root).name == "determinism-nvidia-h100-80gb-hbm3.json"
    assert report_in_data(state, "cifar_trainer.json", root) is None


def test_the_benchmark_step_runs_the_benchmark_script_and_keeps_its_report(tmp_path, monkeypatch):
    import importlib.util
    import subprocess

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("cifar_trainer", ROOT / "benchmarks" / "cifar_trainer.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    real_run = subprocess.run

    def run_tiny(command, *args, **kwargs):        # the session's own arguments, then CPU-sized ones
        if not str(command[1]).endswith("cifar_trainer.py"):
            return real_run(command, *args, **kwargs)
        benchmark.main(command[2:] + ["--train-examples", "256", "--architecture", "resnet14",
                                      "--members", "2", "--workers", "0", "--project"])

    monkeypatch.setattr(subprocess, "run", run_tiny)
    session_module.run_benchmark("synthetic", "cpu", tmp_path / "cifar_trainer.json")
    report = json.loads((tmp_path / "cifar_trainer.json").read_text())
    assert report["device"] == "cpu" and report["trainer_seconds_per_epoch"] > 0
    assert {"command", "git_commit", "started_utc", "device_name"} <= set(report)
    assert not (tmp_path / "cifar_trainer.json.part").exists()


def test_a_child_still_running_at_its_deadline_is_stopped_and_named():
    import sys
    import time

    began = time.monotonic()
    with pytest.raises(RuntimeError, match=r"time\.sleep\(60\).* was stopped after 1 s.*--minutes"):
        session_module.run_child([sys.executable, "-c", "import time; time.sleep(60)"], began + 1)
    assert time.monotonic() - began < 30
    assert session_module.run_child([sys.executable, "-c", "pass"], time.monotonic() + 60).returncode == 0


def test_a_benchmark_past_the_budget_ends_the_command_on_time_and_writes_no_report(tmp_path, monkeypatch):
    import subprocess
    import sys
    import time

    real_run = subprocess.run

    def slow_benchmark(command, *args, **kwargs):      # the real deadline, a benchmark that never ends
        if str(command[1]).endswith("cifar_trainer.py"):
            command = [sys.executable, "-c", "import time; time.sleep(60)"]
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", slow_benchmark)
    monkeypatch.setattr(session_module, "STEP_MINUTES", dict.fromkeys(session_module.STEPS, 0.0))
    began = time.monotonic()
    minutes = session_module.RESERVE_MINUTES + 0.05            # 3 s for the step itself
    assert session(tmp_path, minutes=minutes, steps=("environment", "benchmark")) == 1
    assert time.monotonic() - began < 30
    outcome = json.loads((tmp_path / "out" / "session.json").read_text())["commands"][-1]["steps"]["benchmark"]
    assert outcome["outcome"].startswith("failed:") and "cifar_trainer.py" in outcome["outcome"]
    assert (tmp_path / "out" / "environment.json").is_file()
    assert not list((tmp_path / "state").glob("cifar_trainer.json*"))


GPU = "NVIDIA H100 80GB HBM3"
GPU_REPORT = "benchmarks/environment-nvidia-h100-80gb-hbm3.json"


def with_report(out, name="environment.json"):
    """``out`` (created if needed) holding a report with its provenance, as a session writes it."""
    out.mkdir(exist_ok=True)
    record = {"command": "session", "git_commit": "0", "device_name": GPU, "started_utc": "2020-01-01T00:00:00+00:00"}
    (out / name).write_text(json.dumps(record))
    return out


def fake_results(tmp_path, *names, **configs):
    """A results folder with a result for each of ``names`` the loader accepts, and one for each
    of ``configs`` (experiment: config) computed with that config."""
    from cifar_fakes import write_fake_result

    root = tmp_path / "results"
    for name in names:
        write_fake_result(root, name, "smoke")
    for name, config in configs.items():
        write_fake_result(root, name, "smoke", config)
    return root


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_unpack_replaces_a_different_report_of_the_same_gpu_only_when_asked(tmp_path):
    out = with_report(tmp_path / "bundle")
    target = tmp_path / "data" / GPU_REPORT
    target.parent.mkdir(parents=True)
    target.write_text("{}")
    with pytest.raises(ValueError, match="exists and differs"):
        unpack(out, tmp_path / "data")
    assert target.read_text() == "{}"
    assert unpack(out, tmp_path / "data", replace=True) == [f"{GPU_REPORT}: added"]
    assert target.read_bytes() == (out / "environment.json").read_bytes()


def test_unpack_writes_no_report_when_a_result_is_refused(tmp_path):
    from sgd_escape.cifar.experiments import preset_config

    other = {**preset_config(EXPERIMENT, "smoke"), "lr": 0.5}
    out = with_report(bundle(tmp_path, fake_results(tmp_path, **{EXPERIMENT: other})))
    with pytest.raises(CacheError, match="another config"):
        unpack(out, tmp_path / "data")
    assert files_under(tmp_path / "data") == []


def test_unpack_writes_no_result_when_a_later_one_is_refused(tmp_path):
    from sgd_escape.cifar.experiments import preset_config

    other = {**preset_config(EXPERIMENT, "smoke"), "lr": 0.5}      # fig5-... sorts before spectrum-...
    out = bundle(tmp_path, fake_results(tmp_path, "fig5-resnet-cifar10", **{EXPERIMENT: other}))
    with pytest.raises(CacheError, match="another config"):
        unpack(out, tmp_path / "data")
    assert files_under(tmp_path / "data") == []


def test_unpacking_the_same_files_twice_says_they_are_there_already(tmp_path):
    out = with_report(bundle(tmp_path, fake_results(tmp_path, EXPERIMENT)))
    unpack(out, tmp_path / "data")
    assert unpack(out, tmp_path / "data") == [f"{EXPERIMENT}/smoke: already there, identical",
                                              f"{GPU_REPORT}: already there, identical"]


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, "unknown experiment"],
                         ids=["symlink", "hard link", "unknown experiment"])
def test_unpack_refuses_a_link_or_an_unknown_experiment_in_a_results_tar(tmp_path, kind):
    results = fake_results(tmp_path, "fig5-resnet-cifar10")
    out = bundle(tmp_path, results)
    real = "fig5-resnet-cifar10/smoke/curves.npz"
    name = "fig9-x-cifar10/smoke/result.json" if kind == "unknown experiment" else real
    with tarfile.open(out / "results-smoke.tar", "a") as tar:
        if kind == "unknown experiment":    # a complete result, named as the pattern allows, of no experiment
            for file in ("result.json", "curves.npz"):
                tar.add(results / "fig5-resnet-cifar10" / "smoke" / file, arcname=f"fig9-x-cifar10/smoke/{file}")
        else:                               # a link in place of a result's file
            member = tarfile.TarInfo(name)
            member.type, member.linkname = kind, "/etc/passwd" if kind == tarfile.SYMTYPE else real
            tar.addfile(member)
    with pytest.raises(ValueError, match=f"unexpected member '{name}'"):
        unpack(out, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_the_determinism_report_says_when_the_two_runs_differ(tmp_path, monkeypatch):
    import subprocess
    from pathlib import Path

    from cifar_fakes import write_fake_result

    real_run = subprocess.run
    environments = {}

    def fake_runs(command, *args, **kwargs):     # fig5 the same every time; spectrum differs on resume
        if command[1:3] != ["-m", "sgd_escape"]:
            return real_run(command, *args, **kwargs)
        copy = Path(command[command.index("--out") + 1])
        environments[copy.name] = kwargs["env"].get(DETERMINISTIC_ENV)
        write_fake_result(copy, "fig5-resnet-cifar10", "smoke")
        write_fake_result(copy, EXPERIMENT, "smoke", seed=1 if copy.name == "second" else 0)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_runs)
    report = session_module.determinism_check(["fig5-resnet-cifar10", EXPERIMENT], "synthetic", "cpu",
                                              tmp_path / "check", "test")
    same, differ = report["experiments"]["fig5-resnet-cifar10"], report["experiments"][EXPERIMENT]
    assert same["identical"] and same["max_abs"] == same["max_rel"] == 0.0
    assert report["identical"] is False and differ["identical"] is False
    assert report["max_abs"] == differ["max_abs"] > 0 and report["max_rel"] == differ["max_rel"] > 0
    assert report["repeat"]["identical"] and report["repeat"]["max_abs"] == 0.0   # the resume alone differs
    # the resume test runs with deterministic kernels, the tolerance's copy as the experiments run
    assert environments == {"first": "1", "second": "1", "repeat": None}


def test_the_determinism_report_gives_the_rerun_tolerance_apart_from_the_resume(tmp_path, monkeypatch):
    import subprocess
    from pathlib import Path

    from cifar_fakes import write_fake_result

    real_run = subprocess.run

    def fake_runs(command, *args, **kwargs):     # the autotuned rerun differs, the resume does not
        if command[1:3] != ["-m", "sgd_escape"]:
            return real_run(command, *args, **kwargs)
        copy = Path(command[command.index("--out") + 1])
        write_fake_result(copy, EXPERIMENT, "smoke", seed=1 if copy.name == "repeat" else 0)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_runs)
    report = session_module.determinism_check([EXPERIMENT], "synthetic", "cpu", tmp_path / "check", "test")
    assert report["identical"] and report["max_abs"] == 0.0
    assert not report["repeat"]["identical"] and report["repeat"]["max_abs"] > 0
    assert "autotuned" in report["repeat"]["copy"]


def test_a_session_hands_back_a_finished_report_before_the_next_step_ends(tmp_path, monkeypatch):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(session_module.Session, "determinism", interrupted)
    with pytest.raises(KeyboardInterrupt):
        session(tmp_path)
    assert json.loads((tmp_path / "out" / "environment.json").read_text())["device"] == "cpu"
    steps = json.loads((tmp_path / "out" / "session.json").read_text())["commands"][-1]["steps"]
    assert steps["environment"]["outcome"] == "done"


def test_each_finished_experiment_reaches_out_before_the_next_starts(tmp_path, smoke_results, monkeypatch):
    """A command killed in its second experiment (here: interrupted) has already handed back the first."""
    import shutil

    def run_one(self, name):
        if name != EXPERIMENT:
            raise KeyboardInterrupt                               # the hard limit strikes
        shutil.copytree(smoke_results / EXPERIMENT, self.state / "data" / EXPERIMENT)
        return 0

    monkeypatch.setattr(session_module.Session, "run_one", run_one)
    with pytest.raises(KeyboardInterrupt):
        session(tmp_path, steps=("run",), experiments=[EXPERIMENT, "slope-resnet-cifar10"])
    with tarfile.open(tmp_path / "out" / "results-smoke.tar") as tar:
        assert tar.getnames() == [f"{EXPERIMENT}/smoke/result.json", f"{EXPERIMENT}/smoke/curves.npz"]


def test_a_results_tar_from_another_session_is_not_overwritten(tmp_path, smoke_results):
    out = tmp_path / "out"
    out.mkdir()
    pack_results(smoke_results, "smoke", out / "results-smoke.tar")
    before = (out / "results-smoke.tar").read_bytes()
    with pytest.raises(ValueError, match="comes from another session; unpack it first"):
        session(tmp_path, steps=("environment",))
    assert (out / "results-smoke.tar").read_bytes() == before


def test_a_damaged_session_log_is_named(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "session.json").write_text('{"commands": [{"star')
    with pytest.raises(ValueError, match=r"session\.json is damaged .*delete it"):
        session(tmp_path, steps=("environment",))


def test_only_the_steps_asked_for_decide_the_exit_status(tmp_path):
    assert session(tmp_path, steps=("environment",)) == 0          # no run asked: not a budget stop
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="out must be a folder"):
        session(tmp_path, out="afile", steps=("environment",))


def test_a_failing_experiment_does_not_stop_the_next_one(tmp_path, smoke_results, monkeypatch):
    import shutil

    def run_one(self, name):
        if name != EXPERIMENT:
            raise RuntimeError("exited with status 2")
        shutil.copytree(smoke_results / EXPERIMENT, self.state / "data" / EXPERIMENT)
        return 0

    monkeypatch.setattr(session_module, "run_order", lambda names, benchmark, preset: names)
    monkeypatch.setattr(session_module.Session, "run_one", run_one)
    assert session(tmp_path, steps=("run",), experiments=["slope-resnet-cifar10", EXPERIMENT]) == 1
    with tarfile.open(tmp_path / "out" / "results-smoke.tar") as tar:        # the one after the failure ran
        assert tar.getnames() == [f"{EXPERIMENT}/smoke/result.json", f"{EXPERIMENT}/smoke/curves.npz"]
    outcome = json.loads((tmp_path / "out" / "session.json").read_text())["commands"][-1]["steps"]["run"]["outcome"]
    assert "failed: slope-resnet-cifar10 (exited with status 2)" in outcome
