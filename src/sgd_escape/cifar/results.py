"""Cached results in ``data/<experiment>/<preset>/``: writing them with provenance, and the
loader the chapters use, which refuses a cache whose schema or config does not match
(Chapter 4, :ref:`ch4`).

A result is ``result.json`` (scalars, config, provenance) and ``curves.npz`` (arrays). It is
written into a temporary folder and renamed into place, so a cache is complete or absent.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

from .experiments import estimates_conditions, keeps_restart_momentum

#: Result format version per experiment kind, bumped when what a kind's results hold changes
#: (spectrum 2: the whole-trajectory probe; 3: the distance moved in each epoch), so that older
#: results are refused, never half read.
SCHEMA_VERSIONS = {"fig5": 2, "slope": 1, "spectrum": 3}
#: Presets from the most to the least faithful; chapters show the first one cached.
PRESET_PREFERENCE = ("paper", "reduced", "cpu", "mini")
DATA_ENV = "SGD_ESCAPE_DATA"


class CacheError(RuntimeError):
    """A cached result is absent, malformed or computed with another config (Chapters 4-6).

    ``reason`` says what is wrong; ``advice``, where there is one, how to get a good result
    (``recompute it with: ...``). The message is both; :mod:`~sgd_escape.cifar.unpack` gives
    its own advice for a result it has not yet written into ``data/``."""

    def __init__(self, reason: str, advice: str = ""):
        super().__init__(f"{reason}; {advice}" if advice else reason)
        self.reason, self.advice = reason, advice


@dataclasses.dataclass(frozen=True)
class CachedResult:
    """One experiment's cached result, as :func:`load_result` returns it (Chapters 4-6).

    Fields:

    - ``experiment``, ``preset``: names, e.g. ``"slope-resnet-cifar10"`` and ``"mini"``;
    - ``config``: the full configuration it was computed with (:func:`~sgd_escape.cifar.experiments.preset_config`);
    - ``scalars``: the headline numbers (:func:`~sgd_escape.cifar.pipeline.scalars_of`);
    - ``provenance``: command, code version, device, software, data and time (:func:`provenance`);
    - ``curves``: ``{name: numpy array}``, float64 except the int64 epoch lists;
    - ``folder``: the folder it was read from, ``data/<experiment>/<preset>/``.

    Layout of ``curves`` by ``config["kind"]``; the shapes of the curves named in
    :func:`expected_shapes` are checked on loading. Evaluations (``*_loss``, ``*_accuracy``) are
    taken at the start of every epoch and after the last one (BatchNorm in evaluation mode);
    ``train_loss_running`` and ``grad_norm_mean|min|max`` summarise the SGD steps of each epoch.

    ``fig5`` (E = ``epochs``, K = ``trials``, NB = ``len(range(0, E, ball_every))``):

    - ``train_loss``, ``train_accuracy``, ``test_loss``, ``test_accuracy``: (epoch, trial), ``(E + 1, K)``;
    - ``train_loss_running``, ``grad_norm_mean``, ``grad_norm_min``, ``grad_norm_max``: ``(E, K)``;
    - ``inner_raw``: (epoch t, trial k), ``(E, K)``: ``<-grad f(x_t), x_T - x_t>`` at the start of
      epoch t, ``x_T`` the trial's final point; ``inner_cosine``, ``inner_grad_norm``
      (``||grad f(x_t)||``) and ``inner_distance`` (``||x_T - x_t||``) alike;
    - ``ball_raw_mean|min|max``, ``ball_cosine_mean|min|max``: (ball epoch, trial), ``(NB, ball_trials)``
      (the first ``ball_trials`` trials): over the ``ball_points`` points w of the ball of radius
      ``ball_radius`` around ``x_t``, ``<-grad f(w), x_T - x_t>``;
    - ``step_raw_mean|min|max``, ``step_cosine_mean|min|max``: as the ball's, over ``step_points``
      points ``w = x_t - eta_t g`` one plain SGD step away (``g`` the gradient on one augmented
      training minibatch, ``eta_t`` the learning rate of epoch t; footnote 7), and
      ``step_length_mean|min|max``, the lengths ``||w - x_t||``;
    - ``ball_epochs``: ``(NB,)``, the epochs t probed with a ball and with SGD steps.

    ``slope`` (L = ``branch_epochs``, N = ``branches``):

    - the evaluations ``(L + 1, N)`` and the per-epoch summaries ``(L, N)`` of the branches, as above;
    - ``inner_raw``, ``inner_cosine``: (epoch t, branch i, branch j), ``(L, N, N)``:
      ``<-grad f(x_{t,i}), x_{T,j} - x_{t,i}>`` (the diagonal is each branch towards its own end);
    - ``final_distances``: (branch i, branch j), ``(N, N)``: ``||x_{T,i} - x_{T,j}||``.

    ``spectrum`` (E0 = ``base_epochs``, R = ``len(restart_epochs)``, L = ``restart_length``,
    S = ``max(restart_epochs)``):

    - ``restart_*``: the evaluations ``(L + 1, R)`` and per-epoch summaries ``(L, R)`` of the restarts;
    - ``base_*``: the same of the run at 0.1, ``(E0 + 1, 1)`` and ``(E0, 1)``;
    - ``inner_raw``, ``inner_cosine``, ``inner_grad_norm``, ``inner_distance``: (epoch t of the
      restart, restart k), ``(L, R)``, towards restart k's own end;
    - ``path_inner_raw``, ``path_inner_cosine``: (epoch t of the run at 0.1, restart k), ``(S, R)``,
      towards restart k's end; only ``t < restart_epochs[k]`` lies on its way
      (:func:`~sgd_escape.cifar.pipeline.whole_trajectory_mask`);
    - ``restart_epochs``: ``(R,)``; ``restart_distance_from_init``: ``(R,)``, ``||x_{T,k} - x_0||``;
      ``base_distance_from_init``: ``(E0 + 1,)``, ``||x_t - x_0||`` along the run at 0.1;
    - ``base_epoch_distance``: ``(E0,)``, ``||x_{t+1} - x_t||`` along the run at 0.1, and
      ``restart_epoch_distance``: ``(L, R)``, the same along each restart (schema 3);
    - only where the restarts kept the buffer (Exercise 6.2's run, config ``restart_momentum``):
      ``twin_*``, the evaluations and summaries of their twins with fresh buffers, as the
      restarts'; ``twin_distance``: ``(L + 1, R)``, ``||x_{t,k} - x'_{t,k}||`` between restart k
      and its twin at the start of epoch t; ``restart_momentum_norm`` and
      ``restart_momentum_cosine``: ``(R,)``, the kept buffer's length and its cosine with the
      restart's way (:func:`~sgd_escape.cifar.pipeline.fresh_twins`);
    - only where the run estimates Theorem 1's constants (``conditions-resnet-cifar10``, config
      ``conditions``): ``cond_epochs`` ``(E,)``, the restart epochs probed, and at each of them, per
      restart, ``cond_sharpness`` ``(E, R)``, the top Hessian eigenvalue of ``f`` by power iteration
      (``cond_sharpness_trace`` ``(E, I, R)``: its Rayleigh quotient after each of the I iterations),
      and ``cond_noise_max``, ``cond_noise_mean`` ``(E, R)``: the largest and the mean minibatch
      noise norm ``||grad f_B - grad f||`` (:func:`~sgd_escape.cifar.conditions.conditions_curves`).
    """

    experiment: str
    preset: str
    config: dict
    scalars: dict
    provenance: dict
    curves: dict
    folder: Path


def find_repository_root(start: str | Path | None = None, required: bool = True) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working directory) holding
    ``_config.yml`` and ``src/sgd_escape``; chapters run from ``chapters/`` and find it this way
    (Chapters 4-6). Without one: ``CacheError`` if ``required``, else None."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file() and (folder / "src" / "sgd_escape").is_dir():
            return folder
    if required:
        raise CacheError(f"no repository root (a folder with _config.yml and src/sgd_escape) at or "
                         f"above {here}; run from inside a clone of the book, or set ${DATA_ENV}")
    return None


def data_root(start: str | Path | None = None) -> Path:
    """The results folder: ``$SGD_ESCAPE_DATA`` if set, else ``data/`` of the repository (Chapters 4-6)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    return find_repository_root(start) / "data"


def write_result(folder: Path, experiment: str, preset: str, config: dict, scalars: dict,
                 curves: dict, prov: dict) -> Path:
    """Write a complete result atomically into ``folder`` (replacing an older one); returns
    ``folder`` (Chapter 4)."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    record = {"schema_version": schema_version(experiment), "experiment": experiment, "preset": preset,
              "config": config, "scalars": scalars, "curves": sorted(curves), "provenance": prov}
    (tmp / "result.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    np.savez_compressed(tmp / "curves.npz", **{k: np.asarray(v) for k, v in curves.items()})
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def load_result(experiment: str, preset: str, root: str | Path | None = None,
                expected_config: dict | None = None) -> CachedResult:
    """Load and validate ``data/<experiment>/<preset>/`` (Chapter 4).

    Refuses (``CacheError``) a missing or malformed cache, another schema version, another
    experiment or preset, a config other than ``expected_config`` (by default, the preset's
    config in the code that is running), curves of other shapes than that config implies, or
    scalars that are not those the curves give. Unknown names raise ``ValueError``.
    """
    from .experiments import check_names, preset_config

    check_names(experiment, preset)
    folder = Path(root or data_root()) / experiment / preset
    if not (folder / "result.json").is_file():
        raise CacheError(f"no cached result in {folder}; make it with: {make_command(experiment, preset)}")
    try:
        record = json.loads((folder / "result.json").read_text())
    except (UnicodeDecodeError, ValueError) as error:
        raise CacheError(f"{folder}/result.json is not valid JSON ({error})",
                         _recompute(experiment, preset, fresh=True)) from None
    _check_record(record, experiment, preset, folder)
    expected = preset_config(experiment, preset) if expected_config is None else expected_config
    if record["config"] != expected:
        changed = sorted(k for k in set(record["config"]) | set(expected)
                         if record["config"].get(k) != expected.get(k))
        raise CacheError(f"{folder} was computed with another config than preset {preset!r} "
                         f"(differs in {changed})", _recompute(experiment, preset))
    try:
        with np.load(folder / "curves.npz", allow_pickle=False) as npz:
            curves = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise CacheError(f"{folder}/curves.npz cannot be read ({error})",
                         _recompute(experiment, preset, fresh=True)) from None
    if sorted(curves) != record["curves"]:
        raise CacheError(f"{folder}/curves.npz does not hold the arrays result.json lists")
    _check_content(record, curves, folder)
    return CachedResult(experiment, preset, record["config"], record["scalars"],
                        record["provenance"], curves, folder)


def _check_record(record: dict, experiment: str, preset: str, folder: Path) -> None:
    if not isinstance(record, dict):
        raise CacheError(f"{folder}/result.json holds a {type(record).__name__}, not a result",
                         _recompute(experiment, preset, fresh=True))
    required = {"schema_version", "experiment", "preset", "config", "scalars", "curves", "provenance"}
    missing = required - set(record)
    if missing:
        raise CacheError(f"{folder}/result.json lacks {sorted(missing)}")
    if (record["experiment"], record["preset"]) != (experiment, preset):
        raise CacheError(f"{folder} holds {record['experiment']}/{record['preset']}, "
                         f"not {experiment}/{preset}")
    if record["schema_version"] != schema_version(experiment):
        raise CacheError(f"{folder}: schema version {record['schema_version']}, this code reads "
                         f"{schema_version(experiment)}", _recompute(experiment, preset, fresh=True))


def expected_shapes(config: dict) -> dict:
    """The shapes of the main curves that a result of ``config`` must hold (Chapters 4-6).

    Returns ``{curve name: shape tuple}``: for ``fig5`` ``inner_raw`` and ``grad_norm_max``
    (epochs, trials), ``train_loss`` (epochs + 1, trials), ``ball_raw_min`` and ``step_raw_min`` (ball
    epochs, ball_trials); for ``slope`` ``inner_raw`` (branch_epochs, branches, branches) and
    ``final_distances`` (branches, branches); for ``spectrum`` ``inner_raw`` (restart_length,
    restarts), ``path_inner_raw`` (max(restart_epochs), restarts) and
    ``restart_distance_from_init`` (restarts,), ``base_epoch_distance`` (base_epochs,) and
    ``restart_epoch_distance`` (restart_length, restarts), and where the restarts kept the
    momentum buffer ``twin_train_loss`` and ``twin_distance`` (restart_length + 1, restarts),
    ``restart_momentum_norm`` and ``restart_momentum_cosine`` (restarts,), and where the run
    estimates Theorem 1's constants ``cond_sharpness``, ``cond_noise_max`` and ``cond_noise_mean``
    (probed epochs, restarts), ``cond_sharpness_trace`` (probed epochs, power_iterations, restarts)
    and ``cond_epochs`` (probed epochs,). :class:`CachedResult` describes every curve.
    """
    kind = config["kind"]
    if kind == "fig5":
        trials, epochs = config["trials"], config["epochs"]
        balls = len(range(0, epochs, config["ball_every"]))
        return {"inner_raw": (epochs, trials), "grad_norm_max": (epochs, trials),
                "train_loss": (epochs + 1, trials), "ball_raw_min": (balls, config["ball_trials"]),
                "step_raw_min": (balls, config["ball_trials"])}
    if kind == "slope":
        branches = config["branches"]
        return {"inner_raw": (config["branch_epochs"], branches, branches),
                "final_distances": (branches, branches)}
    restarts, length = len(config["restart_epochs"]), config["restart_length"]
    shapes = {"inner_raw": (length, restarts), "path_inner_raw": (max(config["restart_epochs"]), restarts),
              "restart_distance_from_init": (restarts,), "base_epoch_distance": (config["base_epochs"],),
              "restart_epoch_distance": (length, restarts)}
    if keeps_restart_momentum(config):
        shapes.update({"twin_train_loss": (length + 1, restarts), "twin_distance": (length + 1, restarts),
                       "restart_momentum_norm": (restarts,), "restart_momentum_cosine": (restarts,)})
    if estimates_conditions(config):
        probed = len(config["conditions_epochs"])
        shapes.update({f"cond_{key}": (probed, restarts) for key in ("sharpness", "noise_max", "noise_mean")})
        shapes.update({"cond_sharpness_trace": (probed, config["power_iterations"], restarts),
                       "cond_epochs": (probed,)})
    return shapes


def _check_content(record: dict, curves: dict, folder: Path) -> None:
    """The curves have the shapes the config implies, and the scalars are what they give (a
    hand-edited or truncated result is refused here, not half-drawn by a chapter)."""
    from .pipeline import scalars_of     # the pipeline writes results, so it imports this module

    config, recompute = record["config"], _recompute(record["experiment"], record["preset"], fresh=True)
    for name, shape in expected_shapes(config).items():
        if name not in curves or curves[name].shape != shape:
            found = curves[name].shape if name in curves else "nothing"
            raise CacheError(f"{folder}/curves.npz: {name} should have shape {shape}, holds {found}", recompute)
    try:
        scalars = json.dumps(scalars_of(config, curves), sort_keys=True)
    except (KeyError, IndexError, ValueError) as error:
        raise CacheError(f"{folder}/curves.npz lacks what the headline numbers need ({error!r})", recompute) from None
    if scalars != json.dumps(record["scalars"], sort_keys=True):
        raise CacheError(f"{folder}/result.json: its scalars are not those its curves give", recompute)


def _recompute(experiment: str, preset: str, fresh: bool = False) -> str:
    return f"recompute it with: {make_command(experiment, preset)}" + (" --fresh" if fresh else "")


def schema_version(experiment: str) -> int:
    """The result format version (an int) that this code writes and reads for ``experiment``
    (Chapters 4-6)."""
    from .experiments import EXPERIMENTS

    return SCHEMA_VERSIONS[EXPERIMENTS[experiment][0]]


def make_command(experiment: str, preset: str) -> str:
    """The shell command (a string) that computes the cache of ``experiment`` at ``preset``
    (Chapters 4-6)."""
    return f"python -m sgd_escape run {experiment} --preset {preset}"


def is_cached(experiment: str, preset: str, root: str | Path | None = None) -> bool:
    """Whether ``root`` (default ``data/``) holds a result of ``experiment`` at ``preset`` that
    the loader accepts for the code that is running (Chapter 4)."""
    return cached_or_none(experiment, preset, root) is not None


def cached_or_none(experiment: str, preset: str | None, root: str | Path | None = None) -> CachedResult | None:
    """The :class:`CachedResult` of ``experiment`` at ``preset``; None where none is cached, the
    loader refuses it, or ``preset`` is None (Chapters 4-6)."""
    if preset is None:
        return None
    try:
        return load_result(experiment, preset, root)
    except CacheError:
        return None


def best_cached(experiment: str, root: str | Path | None = None) -> CachedResult | None:
    """The most faithful cached preset of ``experiment`` (paper, else reduced, cpu, mini), as a
    :class:`CachedResult`; None when none is cached (Chapters 4-6)."""
    return next(filter(None, (cached_or_none(experiment, preset, root) for preset in PRESET_PREFERENCE)), None)


def refused_caches(experiment: str, root: str | Path | None = None) -> dict[str, str]:
    """``{preset: why}`` for every preset of ``experiment`` that has a result in ``root`` which
    the loader refuses (another config or format, a damaged file): chapters say so rather than
    quietly showing a less faithful preset (Chapters 4-6)."""
    refused = {}
    for preset in PRESET_PREFERENCE:
        if (Path(root or data_root()) / experiment / preset / "result.json").is_file():
            try:
                load_result(experiment, preset, root)
            except CacheError as error:
                refused[preset] = str(error)
    return refused


def result_differences(first: CachedResult, second: CachedResult) -> dict:
    """How far two results of one experiment and preset differ, number by number (Chapter 4).

    For every scalar and curve: the largest absolute difference and the largest relative one,
    ``|a - b| / max(|a|, |b|)`` (0 where both are 0). The GPU determinism check of Chapter 4's
    pipeline runs an experiment twice and reports these; on a CPU they are all 0.
    """
    if (first.experiment, first.preset) != (second.experiment, second.preset):
        raise ValueError(f"first and second must be one experiment and preset, got "
                         f"{first.experiment}/{first.preset} and {second.experiment}/{second.preset}")
    pairs = {f"scalar {k}": (first.scalars[k], second.scalars.get(k)) for k in first.scalars}
    pairs.update({f"curve {k}": (first.curves[k], second.curves.get(k)) for k in first.curves})
    per_key = {key: _difference(key, *values) for key, values in sorted(pairs.items())}
    worst_abs = max(per_key, key=lambda k: per_key[k]["abs"])
    worst_rel = max(per_key, key=lambda k: per_key[k]["rel"])
    return {"max_abs": per_key[worst_abs]["abs"], "max_abs_key": worst_abs,
            "max_rel": per_key[worst_rel]["rel"], "max_rel_key": worst_rel,
            "identical": all(d["abs"] == 0 for d in per_key.values()), "per_key": per_key}


def _difference(key: str, a, b) -> dict:
    if b is None:
        raise ValueError(f"second result lacks {key}")
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{key} has shape {a.shape} in the first result and {b.shape} in the second")
    same = (a == b) | (np.isnan(a) & np.isnan(b))          # NaN in both places counts as equal
    gap = np.where(same, 0.0, np.abs(a - b))
    gap[np.isnan(gap)] = np.inf                              # NaN in one result only
    scale = np.maximum(np.abs(a), np.abs(b))
    rel = np.divide(gap, scale, out=np.zeros_like(gap), where=scale > 0)
    return {"abs": float(gap.max(initial=0.0)), "rel": float(rel.max(initial=0.0))}
