"""Check the files of a GPU session and move them into ``data/`` (Chapter 4, :ref:`ch4`).

A session (:mod:`sgd_escape.cifar.session`) hands back ``results-<preset>.tar`` and JSON
reports. ``unpack`` accepts a result only if its files are where a result's files belong and
the loader accepts it (schema, experiment, preset, and the config of the code that is
running); it writes the files byte for byte as the session wrote them. The reports go to
``data/benchmarks/<report>-<gpu>.json``. Nothing that exists is replaced unless asked.
"""
from __future__ import annotations

import json
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

from .experiments import EXPERIMENTS, PRESETS
from .results import CacheError, data_root, load_result

#: The report each step of a session writes (see :mod:`sgd_escape.cifar.session`).
STEP_REPORTS = {"environment": "environment.json", "determinism": "determinism.json",
                "benchmark": "cifar_trainer.json"}
REPORTS = tuple(STEP_REPORTS.values())
#: What every report records of where it came from, each a string.
PROVENANCE = ("command", "git_commit", "device_name", "started_utc")
_JSON_KINDS = {type(None): "null", list: "an array", str: "a string", int: "a number",
               float: "a number", bool: "true or false"}
MEMBER = re.compile(r"^(?P<experiment>[a-z0-9-]+)/(?P<preset>[a-z]+)/(?P<file>result\.json|curves\.npz)$")


def device_slug(device_name: str) -> str:
    """A GPU's name as a file name: ``"NVIDIA H100 80GB HBM3"`` -> ``"nvidia-h100-80gb-hbm3"`` (Chapter 4)."""
    return re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-") or "unknown-device"


def report_path(root: Path, report: str, device_name: str) -> Path:
    """Where ``data/`` keeps a report of one GPU: ``root/benchmarks/<report>-<gpu>.json`` (Chapter 4)."""
    return root / "benchmarks" / f"{Path(report).stem}-{device_slug(device_name)}.json"


def read_results_tar(path: Path) -> dict[tuple[str, str], dict[str, bytes]]:
    """``{(experiment, preset): {file name: bytes}}``, refusing any member out of place and a tar
    cut short (Chapter 4)."""
    try:
        tar = tarfile.open(path)
    except (tarfile.TarError, OSError) as error:
        raise ValueError(f"{path} is not a readable tar ({error.__class__.__name__}); copy it again "
                         "from the session's output folder") from None
    try:
        with tar:
            found = _read_members(path, tar)
            _require_end_marker(tar)
    except (tarfile.TarError, EOFError, OSError) as error:    # a copy cut short opens, then fails
        raise ValueError(f"{path} is truncated or damaged ({error}): copy it again from the "
                         "session's output folder") from None
    for (experiment, preset), files in found.items():
        if set(files) != {"result.json", "curves.npz"}:
            raise ValueError(f"{path}: {experiment}/{preset} is incomplete ({sorted(files)})")
    return found


def _read_members(path: Path, tar: tarfile.TarFile) -> dict[tuple[str, str], dict[str, bytes]]:
    found: dict[tuple[str, str], dict[str, bytes]] = {}
    for member in tar.getmembers():
        match = MEMBER.match(member.name)
        if not member.isfile() or not match or match["experiment"] not in EXPERIMENTS \
                or match["preset"] not in PRESETS:
            raise ValueError(f"{path}: unexpected member {member.name!r}; a results tar holds "
                             "only <experiment>/<preset>/result.json and curves.npz")
        files = found.setdefault((match["experiment"], match["preset"]), {})
        files[match["file"]] = tar.extractfile(member).read()
    return found


def _require_end_marker(tar: tarfile.TarFile) -> None:
    # tarfile reads a copy cut off between two members, or inside a header, as a shorter tar
    # without complaint; only the two zero blocks written on close show that it is whole.
    tar.fileobj.seek(tar.offset)
    if tar.fileobj.read(2 * tarfile.BLOCKSIZE) != tarfile.NUL * (2 * tarfile.BLOCKSIZE):
        raise tarfile.ReadError("it ends without the end-of-archive marker")


def read_results_tars(tars: list[Path]) -> dict[tuple[str, str], tuple[Path, dict[str, bytes]]]:
    """``{(experiment, preset): (tar, {file name: bytes})}`` of all ``tars``, refusing a result
    that two of them hold (Chapter 4)."""
    found: dict[tuple[str, str], tuple[Path, dict[str, bytes]]] = {}
    for tar in tars:
        for key, files in read_results_tar(tar).items():
            if key in found:
                raise ValueError(f"{found[key][0]} and {tar} both hold {'/'.join(key)}; "
                                 "move the one not to unpack out of the folder")
            found[key] = tar, files
    return found


def _same_files(folder: Path, files: dict[str, bytes]) -> bool:
    return all((folder / name).is_file() and (folder / name).read_bytes() == data
               for name, data in files.items())


def _refuse_overwrite(target: Path, replace: bool) -> None:
    if target.exists() and not replace:
        raise ValueError(f"{target} exists and differs; pass replace=True (--replace) to overwrite it")


def stage_result(root: Path, scratch: Path, experiment: str, preset: str, files: dict[str, bytes],
                 replace: bool, tar: Path) -> tuple[Path | None, str]:
    """Write one result of ``tar`` into ``scratch`` and load it as the chapters would. Returns the
    staged folder (None when ``root`` holds the same files already) and a line saying what it is
    (Chapter 4)."""
    target = root / experiment / preset
    if _same_files(target, files):
        return None, f"{experiment}/{preset}: already there, identical"
    _refuse_overwrite(target, replace)
    folder = scratch / experiment / preset
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    try:
        prov = load_result(experiment, preset, scratch).provenance
    except CacheError as error:
        raise CacheError(refusal_in_tar(error.reason, folder, tar, f"{experiment}/{preset}",
                                        _commit_of(files))) from None
    return folder, (f"{experiment}/{preset}: added (computed on {prov.get('device_name', '?')}, "
                    f"commit {prov.get('git_commit')})")


def refusal_in_tar(reason: str, staged: Path, tar: Path, member: str, commit: str) -> str:
    """The loader's ``reason`` for refusing a result staged in ``staged``, reworded for the one
    who unpacks ``tar`` (Chapter 4): it names ``tar:member``, not the scratch folder (deleted by
    the time it is read), and gives unpack's advice instead of the loader's ``run``."""
    where = f"{tar}:{member}"
    reason = reason.replace(str(staged), where) if str(staged) in reason else f"{where}: {reason}"
    return (f"{reason}; nothing was written. Unpack it in a checkout of the commit that computed "
            f"it ({commit}), or run the session again with this checkout; if the tar may be "
            "damaged, copy it again")


def _commit_of(files: dict[str, bytes]) -> str:
    try:
        return str(json.loads(files["result.json"])["provenance"]["git_commit"])
    except (ValueError, KeyError, TypeError):      # the refusal says why; the commit is a hint
        return "unknown"


def check_report(root: Path, path: Path, replace: bool) -> tuple[Path | None, str]:
    """Where a JSON report goes (``root/benchmarks/<name>-<gpu>.json``), after checking that it
    records its provenance; None when the same file is there already. Returns ``(target, line)``
    (Chapter 4)."""
    record = read_report(path)
    target = report_path(root, path.name, record["device_name"])
    if target.is_file() and target.read_bytes() == path.read_bytes():
        return None, f"benchmarks/{target.name}: already there, identical"
    _refuse_overwrite(target, replace)
    return target, f"benchmarks/{target.name}: added"


def read_report(path: Path) -> dict:
    """A session's JSON report (a dict), refused unless it records its provenance as strings
    (Chapter 4)."""
    try:
        record = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); copy it again from the session's "
                         "output folder") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} holds {_JSON_KINDS.get(type(record), 'a value')}, not a report "
                         "(an object); copy it again from the session's output folder")
    missing = [key for key in PROVENANCE if key not in record]
    if missing:
        raise ValueError(f"{path} lacks its provenance {missing}")
    wrong = {key: record[key] for key in PROVENANCE if not isinstance(record[key], str)}
    if wrong:
        raise ValueError(f"{path}: provenance {wrong} should be strings; copy it again from the "
                         "session's output folder")
    return record


def unpack(folder: str | Path, root: str | Path | None = None, replace: bool = False) -> list[str]:
    """Move a session's results and reports from ``folder`` into ``root`` (default ``data/``;
    Chapter 4, ``python -m sgd_escape unpack``).

    Every file is checked before any is written; returns a line per result or report.
    """
    folder, root = Path(folder), Path(root or data_root())
    if not folder.is_dir():
        raise ValueError(f"folder {folder} does not exist")
    tars = sorted(folder.glob("results-*.tar"))
    reports = [folder / name for name in REPORTS if (folder / name).is_file()]
    if not tars and not reports:
        raise ValueError(f"folder {folder} holds no results-*.tar and none of {', '.join(REPORTS)}")
    results = read_results_tars(tars)
    checked = [check_report(root, path, replace) for path in reports]
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".unpack-") as scratch:
        staged = [stage_result(root, Path(scratch), *key, files, replace, tar)
                  for key, (tar, files) in sorted(results.items())]
        for folder_staged, _ in staged:
            if folder_staged is not None:
                target = root / folder_staged.relative_to(scratch)
                shutil.rmtree(target, ignore_errors=True)
                target.parent.mkdir(parents=True, exist_ok=True)
                folder_staged.rename(target)
        for path, (target, _) in zip(reports, checked):
            if target is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
    return [line for _, line in staged + checked]
