"""A GPU session in one command: check the GPU, benchmark the trainer and run the CIFAR
experiments inside a time budget, then pack what is done into a few files (Chapter 4, :ref:`ch4`).

Made for GPUs lent for short spells (a Colab runtime, a rented machine, a job with a time
limit). Each command continues where the last one on the same machine stopped (the state folder
keeps finished steps, the runs keep their own resume state); on another machine, work whose
results are already in ``data/`` is not redone. After every step, everything finished so far
is copied into ``--out`` as at most five files:

- ``environment.json``: the GPU, its driver and the software;
- ``determinism.json``: the experiments at the ``smoke`` preset, run three times (the second
  time stopped after one unit and resumed, the third with the experiments' autotuned cuDNN
  kernels), compared number by number;
- ``cifar_trainer.json``: ``benchmarks/cifar_trainer.py`` (the trainer against a plain DataLoader
  pipeline, and each experiment's projected GPU-hours);
- ``results-<preset>.tar``: every finished ``<experiment>/<preset>/`` folder, byte for byte;
- ``session.json``: what each step did, and how long it took.

A determinism or benchmark step still running at the end of the budget is stopped, and the
command ends with the step marked failed (:func:`run_child`).

Back on a machine with the repository, ``python -m sgd_escape unpack FOLDER`` checks these files
and moves them into ``data/`` (see :mod:`sgd_escape.cifar.unpack`).
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from ..checks import require_positive
from .experiments import EXPERIMENTS, SECTION5_CIFAR10, SIDE_REMARKS, check_names, check_preset, require_real_data
from .provenance import code_and_machine, utc_now
from .results import data_root, find_repository_root, is_cached, load_result, result_differences
from .runner import EXIT_BUDGET
from .training import DETERMINISTIC_ENV
from .unpack import STEP_REPORTS, report_path

STEPS = ("environment", "determinism", "benchmark", "run")
#: The report each step writes into the state folder (the run step writes results instead).
REPORTS = {**STEP_REPORTS, "run": None}
#: Minutes a step needs at least to be worth starting (on an H100; the run step resumes).
STEP_MINUTES = {"environment": 0.0, "determinism": 2.5, "benchmark": 3.0, "run": 1.0}
#: Minutes kept free at the end of the budget for packing and copying.
RESERVE_MINUTES = 0.5
CHEAP_FIRST = ("spectrum", "slope", "fig5")


def environment_report(device: str, command: str) -> dict:
    """The GPU as the driver and PyTorch report it, and the software around it, as a JSON dict
    (``environment.json``; Chapter 4)."""
    import os

    import torch

    report = {"command": command, "started_utc": utc_now(), **code_and_machine(device),
              "cpu_count": os.cpu_count()}
    if torch.device(device).type == "cuda":
        props = torch.cuda.get_device_properties(device)
        report.update(gpu_memory_gib=round(props.total_memory / 2**30, 1),
                      multiprocessors=props.multi_processor_count,
                      compute_capability=f"{props.major}.{props.minor}")
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
        report["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    except (OSError, subprocess.SubprocessError) as error:
        report["nvidia_smi"] = f"not available ({error.__class__.__name__})"
    return report


def sgd_escape_command(*args: str) -> list[str]:
    """The command line ``python -m sgd_escape *args`` with this interpreter, as a list (Chapter 4)."""
    return [sys.executable, "-m", "sgd_escape", *args]


def run_child(command: list[str], deadline: float | None = None, check: bool = True,
              env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``command`` in a child process, stopped at the ``time.monotonic()`` ``deadline`` (Chapter 4).
    A child still running then raises a RuntimeError naming it, so that a step which overruns
    the budget ends the command cleanly instead of the machine's own time limit killing it.
    ``env``: the child's environment (default: this process's)."""
    timeout = None if deadline is None else max(1.0, deadline - time.monotonic())
    try:
        return subprocess.run(command, check=check, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{shlex.join(command[1:])} was stopped after {timeout:.0f} s, at the end of "
                           "the budget; run the session again with more --minutes") from None


def determinism_check(experiments: list[str], data: str, device: str, folder: Path, command: str,
                      deadline: float | None = None) -> dict:
    """Run ``experiments`` at the smoke preset three times, in separate processes, and compare
    every number (Chapter 4). Returns the report (``determinism.json``).

    The resume test: a first copy, and a second that stops after its first unit of work and
    resumes in a new process (the path every long GPU run takes), both with deterministic cuDNN
    kernels (``SGD_ESCAPE_DETERMINISTIC=1``), so that a resume which breaks or changes the numbers
    shows as a difference (``identical``, ``max_abs``, ``max_rel``, ``experiments``). The
    tolerance: a third copy, uninterrupted and with cuDNN's autotuned kernels as the experiments
    run, against the first (``repeat``): how far two runs of one seed can differ on this GPU.
    A run still going at ``deadline`` (see :func:`run_child`) raises a RuntimeError."""
    began, started = time.monotonic(), utc_now()
    deterministic = {**os.environ, DETERMINISTIC_ENV: "1"}
    common = ["--preset", "smoke", "--device", device, "--data", data, "--quiet", "--offline"]

    def whole_copy(name: str, env: dict) -> None:
        run_child(sgd_escape_command("run", *experiments, *common, "--out", str(folder / name),
                                     "--work", str(folder / f"work-{name}"), "--fresh"), deadline, env=env)

    whole_copy("first", deterministic)
    second = [*common, "--out", str(folder / "second"), "--work", str(folder / "work-second")]
    for name in experiments:
        stopped = run_child(sgd_escape_command("run", name, *second, "--fresh", "--max-minutes", "0"),
                            deadline, check=False, env=deterministic)
        if stopped.returncode not in (0, EXIT_BUDGET):
            raise RuntimeError(f"{name} at the smoke preset exited with status {stopped.returncode}")
        run_child(sgd_escape_command("run", name, *second), deadline, env=deterministic)   # the resume
    whole_copy("repeat", {k: v for k, v in os.environ.items() if k != DETERMINISTIC_ENV})
    report = {"command": command, "started_utc": started, "preset": "smoke", **code_and_machine(device),
              "second_copy": "each experiment stopped after its first unit of work and resumed",
              "kernels": "first and second copies: deterministic cuDNN kernels",
              **compare_copies(experiments, folder, "first", "second"),
              "repeat": {"copy": "uninterrupted, with cuDNN's autotuned kernels as the experiments run",
                         **compare_copies(experiments, folder, "first", "repeat")}}
    report["wall_seconds"] = round(time.monotonic() - began, 1)
    return report


def compare_copies(experiments: list[str], folder: Path, one: str, other: str) -> dict:
    """The largest differences between two copies of the smoke runs in ``folder`` (Chapter 4):
    per experiment, and overall (``max_abs``, ``max_rel``, ``identical``), as a dict."""
    rows = {}
    for name in experiments:
        first, second = (load_result(name, "smoke", folder / copy) for copy in (one, other))
        differences = result_differences(first, second)
        rows[name] = {k: v for k, v in differences.items() if k != "per_key"}
    return {"experiments": rows, "max_abs": max(r["max_abs"] for r in rows.values()),
            "max_rel": max(r["max_rel"] for r in rows.values()),
            "identical": all(r["identical"] for r in rows.values())}


def run_benchmark(data: str, device: str, target: Path, deadline: float | None = None) -> None:
    """Run ``benchmarks/cifar_trainer.py`` on ``device``, its report written to ``target``; returns
    None (Chapter 4). A benchmark still going at ``deadline`` (see :func:`run_child`) raises a
    RuntimeError and writes no report."""
    root = find_repository_root(required=False)
    script = root and root / "benchmarks" / "cifar_trainer.py"
    if not script or not script.is_file():
        raise RuntimeError("benchmarks/cifar_trainer.py not found: run the session from a clone of the book")
    partial = target.with_name(target.name + ".part")     # complete or absent, as every report
    run_child([sys.executable, str(script), "--device", device, "--data", data, "--out", str(partial)],
              deadline)
    partial.replace(target)


def run_order(experiments: list[str], benchmark: dict | None, preset: str) -> list[str]:
    """``experiments`` sorted cheapest first: by the benchmark's projected hours when there is
    one, else by kind; the side remarks' runs (:data:`~sgd_escape.cifar.experiments.SIDE_REMARKS`)
    after all others, so that they never hold up the paper's figures (Chapter 4)."""
    hours = (benchmark or {}).get(f"projection_{preset}", {}).get("device_hours", {})
    if all(name in hours for name in experiments):
        return sorted(experiments, key=lambda name: (name in SIDE_REMARKS, hours[name]))
    return sorted(experiments, key=lambda name: (name in SIDE_REMARKS, CHEAP_FIRST.index(EXPERIMENTS[name][0])))


def pack_results(results_root: Path, preset: str, target: Path) -> list[str]:
    """Tar every complete ``<experiment>/<preset>/`` under ``results_root``; return their names
    (Chapter 4)."""
    done = sorted(name for name in EXPERIMENTS if (results_root / name / preset / "result.json").is_file())
    if not done:
        return []
    partial = target.with_name(target.name + ".part")
    with tarfile.open(partial, "w") as tar:
        for name in done:
            for file in ("result.json", "curves.npz"):
                tar.add(results_root / name / preset / file, arcname=f"{name}/{preset}/{file}")
    partial.replace(target)
    return done


class Session:
    """The steps of one command, its deadline, and the state folder that outlives the command
    (Chapter 4).

    Each step is a method of the same name; :func:`run_session` calls them in order.
    """

    def __init__(self, state: Path, out: Path, minutes: float, preset: str, data: str, device: str,
                 experiments: list[str], command: str):
        require_positive("minutes", minutes)          # NaN and infinity too: a session must end
        check_preset(preset)
        self.state, self.out, self.preset, self.data, self.device = state, out, preset, data, device
        self.experiments, self.command = experiments, command
        self.deadline, self.failed, self.out_of_time = time.monotonic() + 60 * minutes, False, False
        if out.exists() and not out.is_dir():
            raise ValueError(f"out must be a folder; {out} is a file")
        state.mkdir(parents=True, exist_ok=True)
        self.log_file = state / "session.json"
        self.log = read_log(self.log_file)
        self.require_no_foreign_results(out)
        out.mkdir(parents=True, exist_ok=True)
        self.log["commands"].append({"started_utc": utc_now(), "minutes": minutes, "steps": {}})

    def require_no_foreign_results(self, out: Path) -> None:
        """Raise a ValueError when ``out`` holds a results tar that this session's state did not
        write: copying ours over it would lose results (another state folder, another machine)."""
        theirs, ours = out / f"results-{self.preset}.tar", self.state / f"results-{self.preset}.tar"
        if theirs.is_file() and not (ours.is_file() and ours.read_bytes() == theirs.read_bytes()):
            raise ValueError(f"{theirs} comes from another session; unpack it first (python -m "
                             "sgd_escape unpack) and move it away, or give another --out")

    def step_deadline(self) -> float:
        """The ``time.monotonic()`` at which a step's child process is stopped: the end of the
        budget less the reserve for packing and copying."""
        return self.deadline - 60 * RESERVE_MINUTES

    def minutes_left(self) -> float:
        """Minutes to the deadline, less the reserve kept for packing and copying."""
        return (self.deadline - time.monotonic()) / 60 - RESERVE_MINUTES

    def record(self, step: str, outcome: str, began: float) -> None:
        """Log ``step``'s outcome and seconds since ``began`` in ``session.json``, then copy what
        is finished into ``out``."""
        print(f"[session] {step}: {outcome} ({time.monotonic() - began:.0f} s)", flush=True)
        self.log["commands"][-1]["steps"][step] = {"outcome": outcome,
                                                   "seconds": round(time.monotonic() - began, 1)}
        self.write_json(self.log_file.name, self.log)   # atomic: a command killed mid-write leaves the old log
        self.copy_out()         # after every step: a command killed later still hands this back

    def step(self, name: str, done: Path | None) -> None:
        """Do step ``name`` unless its report ``done`` exists already or too little time is left."""
        began = time.monotonic()
        if done is not None and done.is_file():
            return self.record(name, f"done already ({done})", began)
        if self.minutes_left() < STEP_MINUTES[name]:
            self.out_of_time = True
            return self.record(name, f"skipped: {self.minutes_left():.1f} minutes left", began)
        try:
            self.record(name, getattr(self, name)() or "done", began)
        except (subprocess.CalledProcessError, RuntimeError, ValueError, OSError) as error:
            self.failed = True
            self.record(name, f"failed: {error}", began)

    def write_json(self, name: str, record: dict) -> None:
        """Write ``record`` atomically to ``<state>/<name>``."""
        partial = self.state / (name + ".part")
        partial.write_text(json.dumps(record, indent=1) + "\n")
        partial.replace(self.state / name)

    def environment(self) -> None:
        """Step: write ``environment.json`` (:func:`environment_report`)."""
        self.write_json(REPORTS["environment"], environment_report(self.device, self.command))

    def determinism(self) -> None:
        """Step: write ``determinism.json`` (:func:`determinism_check`; by default on every
        CIFAR-10 experiment of Section 5)."""
        names = self.experiments or SECTION5_CIFAR10
        report = determinism_check(names, self.data, self.device, self.state / "determinism", self.command,
                                   self.step_deadline())
        self.write_json(REPORTS["determinism"], report)

    def benchmark(self) -> None:
        """Step: write ``cifar_trainer.json`` (:func:`run_benchmark`)."""
        run_benchmark(self.data, self.device, self.state / REPORTS["benchmark"], self.step_deadline())

    def run(self) -> str:
        """Step: run the experiments, cheapest first, within the minutes left, then pack the
        finished ones. Returns a line naming what is finished and what is still to run; an
        experiment that fails does not stop the next, and a RuntimeError naming it ends the step."""
        if not self.experiments:
            return f"nothing to run: every experiment has a result at preset {self.preset}"
        benchmark = self.state / REPORTS["benchmark"]
        order = run_order(self.experiments, json.loads(benchmark.read_text()) if benchmark.is_file() else None,
                          self.preset)
        failures = []
        for name in order:
            if self.minutes_left() < STEP_MINUTES["run"]:
                break
            try:
                if self.run_one(name) == EXIT_BUDGET:
                    break
            except RuntimeError as error:      # one broken experiment does not hold up the others
                failures.append(f"{name} ({error})")
                continue
            self.pack()
            self.copy_out()     # each finished experiment reaches OUT at once: a killed command keeps it
        done = self.pack()
        missing = [name for name in order if name not in done]
        line = f"finished: {', '.join(done) or 'none'}; still to run: {', '.join(missing) or 'none'}"
        if failures:             # the step is recorded as failed, and the session exits 1
            raise RuntimeError(f"{'; '.join(failures)}; {line}")
        return line

    def run_one(self, name: str) -> int:
        """Run (or resume) one experiment in a child process within the minutes left; returns its
        exit status, 0 or :data:`~sgd_escape.cifar.runner.EXIT_BUDGET`."""
        budget = f"{max(0.0, self.minutes_left()):.2f}"
        command = sgd_escape_command("run", name, "--preset", self.preset, "--device", self.device,
                                     "--data", self.data, "--out", str(self.state / "data"),
                                     "--work", str(self.state / "runs"), "--max-minutes", budget,
                                     "--offline")
        code = subprocess.run(command).returncode
        if code not in (0, EXIT_BUDGET):
            raise RuntimeError(f"{' '.join(command[1:])} exited with status {code}")
        return code

    def pack(self) -> list[str]:
        """Pack the finished results into ``results-<preset>.tar``; returns the experiments packed."""
        return pack_results(self.state / "data", self.preset, self.state / f"results-{self.preset}.tar")

    def copy_out(self) -> list[str]:
        """Copy the reports, the results tar and ``session.json`` that exist into ``out``; returns
        their names."""
        names = [*(r for r in REPORTS.values() if r), f"results-{self.preset}.tar", "session.json"]
        present = [name for name in names if (self.state / name).is_file()]
        for name in present:
            shutil.copyfile(self.state / name, self.out / name)
        return present


def read_log(log_file: Path) -> dict:
    """The session log in ``log_file``, a fresh one when there is none (Chapter 4). A damaged log
    raises a ValueError naming it: it only records what happened, so deleting it loses no result."""
    if not log_file.is_file():
        return {"commands": []}
    try:
        log = json.loads(log_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{log_file} is damaged ({error}); delete it (it is only the log) and "
                         "run the same command again") from None
    if not isinstance(log, dict) or not isinstance(log.get("commands"), list):
        raise ValueError(f"{log_file} is not a session log; delete it and run the same command again")
    return log


def experiments_to_run(experiments: list[str] | None, preset: str, root: Path) -> list[str]:
    """``experiments`` as given; by default every CIFAR-10 experiment whose result at ``preset``
    is not yet in ``root`` (a results folder such as ``data/``), so a later session, on
    another machine, does only what is missing (Chapter 4)."""
    if experiments is not None:
        return list(experiments)
    return [name for name in SECTION5_CIFAR10 if not is_cached(name, preset, root)]


def report_in_data(state: Path, report: str, root: Path) -> Path | None:
    """``root/benchmarks/<report>-<gpu>.json`` when this session's GPU (from its
    ``environment.json``) has that report in the results folder already, else None (Chapter 4)."""
    environment = state / "environment.json"
    if not environment.is_file():
        return None
    path = report_path(root, report, json.loads(environment.read_text())["device_name"])
    return path if path.is_file() else None


def run_session(*, out: str | Path, data: str, minutes: float, preset: str = "reduced",
                device: str = "cuda", experiments: list[str] | None = None,
                steps: tuple[str, ...] = STEPS, state: str | Path | None = None,
                command: str = "run_session", results_root: str | Path | None = None) -> int:
    """Do the session's ``steps`` within ``minutes`` (Chapter 4). Returns 0 when every experiment is
    finished, 1 when a step failed, else :data:`~sgd_escape.cifar.runner.EXIT_BUDGET` (the
    budget ran out: run the same command again to go on).

    Work already in ``results_root`` (default: the repository's ``data/``) is not redone:
    experiments cached at ``preset`` (unless named in ``experiments``) and the determinism and
    benchmark reports of the same GPU.
    """
    from .training import configure_backends, require_device

    for name in experiments or []:
        check_names(name, preset)
    device = str(require_device(device))
    configure_backends(device)       # so that the reports record the switches the runs use
    unknown = set(steps) - set(STEPS)
    if unknown:
        raise ValueError(f"steps must be some of the valid steps: {', '.join(STEPS)}; "
                         f"got unknown steps {sorted(unknown)}")
    if data != "synthetic" and not Path(data).is_file():
        raise ValueError(f"data must be 'synthetic' or a dataset archive; no file {data!r}")
    require_real_data(data, preset)
    repository = find_repository_root(required=False)
    if repository is None:
        raise ValueError(f"a session runs inside a clone of the book (it needs benchmarks/ and data/); "
                         f"none at or above {Path.cwd()}")
    root = Path(results_root) if results_root else data_root(repository)
    session = Session(Path(state or repository / ".cache" / "gpu-session"), Path(out), minutes, preset,
                      data, device, experiments_to_run(experiments, preset, root), command)
    for name in (name for name in STEPS if name in steps):
        report = REPORTS[name]
        elsewhere = name != "environment" and report and report_in_data(session.state, report, root)
        session.step(name, elsewhere or (session.state / report if report else None))
    finished = session.pack()
    print(f"[session] in {out}: {', '.join(session.copy_out())}", flush=True)
    if session.failed:
        return 1
    if session.out_of_time:
        return EXIT_BUDGET
    if "run" not in steps:   # nothing was asked to run: an unfinished experiment is not a budget stop
        return 0
    return 0 if set(session.experiments) <= set(finished) else EXIT_BUDGET
