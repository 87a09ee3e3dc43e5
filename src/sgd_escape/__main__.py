"""Command line of the book's GPU experiments (Chapters 4-6).

    python -m sgd_escape list
    python -m sgd_escape run EXPERIMENT [EXPERIMENT ...]|all --preset PRESET [--device DEVICE]
                             [--out DIR] [--data PATH] [--max-minutes M] [--work DIR] [--fresh]
    python -m sgd_escape session --out DIR --data PATH [--minutes M] [--preset PRESET] ...
    python -m sgd_escape unpack FOLDER [--data-root DIR] [--replace]

A run that reaches ``--max-minutes`` saves its state and exits with status 75; the same
command resumes it. A finished run writes ``<out>/<experiment>/<preset>/`` (default ``data/``).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sgd-escape", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the experiments, the presets and what is cached")
    run = commands.add_parser("run", help="run (or resume) an experiment and cache its result")
    run.add_argument("experiments", nargs="+", metavar="experiment",
                     help="experiment names from `list`, run in the order given, or `all` (every CIFAR-10 one)")
    run.add_argument("--preset", required=True, help="smoke, mini, cpu, reduced or paper (see `list`)")
    run.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    run.add_argument("--out", default=None, help="results root (default: the repository's data/)")
    run.add_argument("--data", default=None,
                     help="dataset: an official .tar.gz, the CIFAR-10 JPEG .tar.xz, or 'synthetic'")
    run.add_argument("--datasets-dir", default=None, help="where decoded datasets are cached")
    run.add_argument("--work", default=None,
                     help="root of the work folders (state, snapshots); default: .cache/runs")
    run.add_argument("--max-minutes", type=float, default=None,
                     help="stop cleanly (exit 75) before this budget runs out; rerun to resume")
    run.add_argument("--offline", action="store_true", help="never try to download a dataset")
    run.add_argument("--fresh", action="store_true", help="discard saved progress and start over")
    run.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    session = commands.add_parser("session", help="on a GPU lent for a while: check it, benchmark, "
                                  "run within a budget, pack the results into --out")
    session.add_argument("--out", required=True, help="folder for the packed files (at most five)")
    session.add_argument("--data", required=True, help="the dataset, as for `run --data`")
    session.add_argument("--minutes", type=float, default=9.0, help="budget of this command (default 9)")
    session.add_argument("--preset", default="reduced", help="preset of the runs (default reduced)")
    session.add_argument("--device", default="cuda", help="torch device (default cuda)")
    session.add_argument("--experiments", nargs="+", default=None, help="default: every CIFAR-10 one")
    session.add_argument("--steps", nargs="+", default=None,
                         help="some of: environment determinism benchmark run (default: all)")
    session.add_argument("--state", default=None, help="state kept between commands (default .cache/gpu-session)")
    unpack = commands.add_parser("unpack", help="check a session's files and move them into data/")
    unpack.add_argument("folder", help="the folder holding results-*.tar and the JSON reports")
    unpack.add_argument("--data-root", default=None, help="default: the repository's data/")
    unpack.add_argument("--replace", action="store_true", help="overwrite results that differ")
    return parser


def list_experiments() -> str:
    """A table of experiments with the presets cached for each (Chapters 4-6)."""
    from sgd_escape.cifar.experiments import EXPERIMENTS, PRESET_NOTES, PRESETS
    from sgd_escape.cifar.results import CacheError, data_root, is_cached, refused_caches

    lines = ["presets:"] + [f"  {name:8s} {PRESET_NOTES[name]}" for name in PRESETS] + [""]
    try:
        root = data_root()
    except CacheError as error:         # outside a clone: say why nothing can be listed as cached
        return "\n".join(lines + [f"results: none found ({error})", "", "experiments:"]
                         + [f"  {name}" for name in EXPERIMENTS])
    lines += [f"results in {root}", "", "experiments:"]
    for name in EXPERIMENTS:
        cached = [preset for preset in PRESETS if is_cached(name, preset, root)]
        refused = [f"{preset} (refused: see `run --fresh`)" for preset in refused_caches(name, root)]
        lines.append(f"  {name:28s} cached: {', '.join(cached + refused) or '-'}")
    return "\n".join(lines)


def run_command(args, argv) -> int:
    """``run``: each named experiment at ``--preset``, skipping cached ones; returns the exit status,
    :data:`~sgd_escape.cifar.runner.EXIT_BUDGET` when ``--max-minutes`` runs out (Chapters 4-6)."""
    import torch

    from sgd_escape.checks import require_int_at_least, require_nonnegative
    from sgd_escape.cifar.experiments import EXPERIMENTS, check_names, require_real_data
    from sgd_escape.cifar.pipeline import run_experiment
    from sgd_escape.cifar.results import data_root, is_cached, refused_caches
    from sgd_escape.cifar.runner import EXIT_BUDGET, BudgetExhausted

    names = experiment_names(args.experiments, EXPERIMENTS)
    for name in names:
        check_names(name, args.preset)
    require_real_data(args.data, args.preset)      # before any training
    if args.max_minutes is not None:
        require_nonnegative("--max-minutes", args.max_minutes)       # NaN too
    out = Path(args.out) if args.out else data_root()      # before any training: outside a clone, stop now
    if args.threads is not None:
        torch.set_num_threads(require_int_at_least("--threads", args.threads, 1))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    began, ran = time.monotonic(), False
    for name in names:
        if not args.fresh and is_cached(name, args.preset, out):
            print(f"{name}: already cached for preset {args.preset} (pass --fresh to recompute)")
            continue
        refused = refused_caches(name, out).get(args.preset)
        if refused and not args.fresh:        # never overwrite a result without being asked
            raise ValueError(f"{name}: {out / name / args.preset} holds a result the loader refuses "
                             f"({refused}); pass --fresh to replace it")
        left = None if args.max_minutes is None else args.max_minutes - (time.monotonic() - began) / 60
        if left is not None and left <= 0 and ran:   # each command still does at least one unit
            print(f"{name}: not started, the {args.max_minutes:g}-minute budget is used up; "
                  "run the same command to go on", file=sys.stderr)
            return EXIT_BUDGET
        try:
            folder = run_experiment(name, args.preset, data=args.data, device=device, out=out,
                                    work=args.work and Path(args.work) / name / args.preset,
                                    max_minutes=left and max(0.0, left), datasets_dir=args.datasets_dir,
                                    download=not args.offline, progress=not args.quiet,
                                    fresh=args.fresh, command="python -m sgd_escape " + shlex.join(argv))
        except BudgetExhausted as stop:
            hint = ", without --fresh (which starts over)" if args.fresh else ""
            print(f"{name}: {stop}{hint}", file=sys.stderr)
            return EXIT_BUDGET
        print(f"{name}: wrote {folder}")
        ran = True
    return 0


def session_command(args, argv) -> int:
    """``session``: :func:`~sgd_escape.cifar.session.run_session` with the command's options;
    returns its exit status (Chapter 4)."""
    from sgd_escape.cifar.experiments import EXPERIMENTS
    from sgd_escape.cifar.session import STEPS, run_session

    return run_session(out=args.out, data=args.data, minutes=args.minutes, preset=args.preset,
                       device=args.device, state=args.state, steps=tuple(args.steps or STEPS),
                       experiments=args.experiments and experiment_names(args.experiments, EXPERIMENTS),
                       command="python -m sgd_escape " + shlex.join(argv))


def experiment_names(requested: list[str], known) -> list[str]:
    """The experiments to run, in order: ``all`` stands for every CIFAR-10 one of Section 5 (not
    the exercises' runs, which are named one by one); no repeats (Chapters 4-6)."""
    from sgd_escape.cifar.experiments import SECTION5_CIFAR10

    names, every = [], [n for n in known if n in SECTION5_CIFAR10]
    for name in requested:
        for expanded in (every if name == "all" else [name]):
            if expanded not in names:
                names.append(expanded)
    return names


def main(argv=None) -> int:
    """The command line (Chapters 4-6): parse ``argv`` (default: ``sys.argv[1:]``), run the command,
    and return its exit status; 2 with a one-line ``error:`` for what the user can fix."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    from sgd_escape.cifar.datasets import DatasetError

    try:
        if args.command == "list":
            print(list_experiments())
            return 0
        if args.command == "session":
            return session_command(args, argv)
        if args.command == "unpack":
            from sgd_escape.cifar.unpack import unpack

            print("\n".join(unpack(args.folder, args.data_root, args.replace)))
            return 0
        return run_command(args, argv)
    except (ValueError, DatasetError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:      # a run saves after every unit: nothing finished is lost
        print("interrupted: run the same command to go on from the last finished unit", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
