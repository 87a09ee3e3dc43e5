"""Where the results of Chapters 4-6 come from (from :ref:`ch4`): the cached preset each one
is read from and its provenance, what recomputing them on a CPU took, what each preset runs,
and how the shown runs depart from the paper's protocol.

The comparison tables themselves are in :mod:`sgd_escape.cifar.tables`.
"""
from __future__ import annotations

import html

from .experiments import EXPERIMENTS, PRESET_NOTES, PRESETS, preset_config
from .results import PRESET_PREFERENCE, best_cached, cached_or_none, make_command, refused_caches
from .tables import Rich, code_html, show_table, value_range

#: The settings of each experiment kind that a chapter's settings table shows and in which a
#: preset may depart from the paper's protocol (:func:`settings_table`, :func:`protocol_gap`).
PROTOCOL_KEYS = {
    "fig5": ["architecture", "trials", "epochs", "lr_milestones", "train_examples", "probe_examples",
             "ball_points", "step_points", "ball_every", "ball_examples"],
    "slope": ["architecture", "branches", "shared_epochs", "branch_epochs", "train_examples",
              "probe_examples"],
    # Figure 6 plots a training loss (on train_eval_examples images) and a validation loss
    "spectrum": ["architecture", "base_epochs", "restart_epochs", "restart_length", "train_examples",
                 "train_eval_examples", "test_examples"],
}
#: Settings the paper does not state: their ``paper`` preset values are the book's choice.
BOOK_CHOICES = {"probe_examples", "ball_examples", "step_points", "restart_epochs", "lr_per_epoch",
                "train_eval_examples"}


def cache_notice(kind: str) -> tuple[list[str], bool]:
    """One line per experiment of ``kind``: the preset its result comes from, or how to make
    it; a line more for each more faithful result that is cached but refused. Also whether
    anything is missing or refused (the note is then a warning). Returns ``(lines, warn)``;
    :func:`provenance_note` shows them (Chapters 4-6)."""
    lines, warn = [], False
    for name in (n for n in EXPERIMENTS if n.startswith(kind + "-")):
        result = best_cached(name)
        if result is None:
            need = " (it needs the official CIFAR-100 archive, so an online machine)" if name.endswith("100") else ""
            lines.append(f"`{name}`: not cached{need}. Compute it (a GPU helps) with "
                         f"`{make_command(name, 'reduced')}`, then rebuild the page.")
            warn = warn or name.endswith("cifar10")
        else:
            prov = result.provenance
            on_cpu = prov["device"] == "cpu" and "cpu_model" in prov     # older results do not name it
            processor = f", {prov['cpu_model']} ({prov['cpu_capability']})" if on_cpu else ""
            lines.append(f"`{name}`: preset {result.preset} ({PRESET_NOTES[result.preset]}); "
                         f"computed on {prov['device_name']}{processor} in {prov['wall_seconds'] / 60:.1f} min "
                         f"from the {prov['dataset_source']}; commit `{prov['git_commit'][:10]}`.")
        shown = PRESET_PREFERENCE.index(result.preset) if result else len(PRESET_PREFERENCE)
        for preset, why in refused_caches(name).items():
            if PRESET_PREFERENCE.index(preset) < shown:
                lines.append(f"`{name}`: its cached {preset} result is not shown: {why}")
                warn = True
    return lines, warn


def provenance_note(kind: str) -> Rich:
    """Where a chapter's results come from: a note, or a warning when a CIFAR-10 result is
    missing or a cached one is refused (Chapters 4-6). Returns it as :class:`~sgd_escape.cifar.tables.Rich`."""
    lines, warn = cache_notice(kind)
    title = "Missing or refused results" if warn else "Where these results come from"
    items = "".join(f"<li>{code_html(line)}</li>" for line in lines)
    block = (f'<div class="admonition {"warning" if warn else "note"}">'
             f'<p class="admonition-title">{title}</p><ul>{items}</ul></div>')
    return Rich(block, f"**{title}**\n\n" + "\n".join(f"- {line}" for line in lines))


def cpu_run_times(prefix: str, presets=("mini", "cpu")) -> str:
    """How long the cached runs of the experiments named ``prefix...`` took where a CPU made
    them, per preset, from their provenance: ``"0.13 to 0.8 min per mini run and 3.9 to 26 min
    per cpu run"``; ``""`` when no such run is cached (Chapters 4-6 say what recomputing costs)."""
    names = [name for name in EXPERIMENTS if name.startswith(prefix)]
    phrases = []
    for preset in presets:
        runs = filter(None, (cached_or_none(name, preset) for name in names))
        minutes = [run.provenance["wall_seconds"] / 60 for run in runs if run.provenance["device"] == "cpu"]
        phrases += [f"{value_range(minutes, '.2g')} min per {preset} run"] if minutes else []
    return " and ".join(phrases)


def cpu_times_phrase(prefix: str) -> str:
    """:func:`cpu_run_times` as a clause for a chapter's opening box (Chapters 4-6): ``"the
    cached runs made on a CPU took ..."``, or ``"no cached run was made on a CPU"``."""
    times = cpu_run_times(prefix)
    return f"the cached runs made on a CPU took {times}" if times else "no cached run was made on a CPU"


def config_table(results: dict, keys: list[str]) -> Rich:
    """The settings ``keys`` of the shown runs side by side, one column per network and its
    preset (Chapters 4-6). ``results`` is what :func:`~sgd_escape.cifar.figures.load_cached`
    returns; a network with no cached result has no column. Returns it as
    :class:`~sgd_escape.cifar.tables.Rich`."""
    shown = {net: result for net, result in results.items() if result is not None}
    header = ["setting"] + [f"{net} ({result.preset})" for net, result in shown.items()]
    return show_table(header, [[key] + [result.config[key] for result in shown.values()] for key in keys])


def preset_rows(experiment: str, keys: list[str]) -> list[list]:
    """One row per setting, one column per preset: what each preset of ``experiment`` runs
    (Chapters 4-6). Row ``[key, value at each preset of experiments.PRESETS]`` for each of ``keys``; ``"all"``
    stands for None (the whole training or test set)."""
    configs = [preset_config(experiment, preset) for preset in PRESETS]
    return [[key] + ["all" if c[key] is None else c[key] for c in configs] for key in keys]


def settings_table(experiment: str) -> Rich:
    """What each preset of ``experiment`` runs, one column per preset: the settings of its kind
    in :data:`PROTOCOL_KEYS`, the same ones :func:`protocol_gap` compares with the paper
    (Chapters 4-6). An unknown ``experiment`` is a ValueError naming it. Returns it as
    :class:`~sgd_escape.cifar.tables.Rich`."""
    keys = PROTOCOL_KEYS[preset_config(experiment, "paper")["kind"]]
    return show_table(["setting", *PRESETS], preset_rows(experiment, keys))


def protocol_gap(results: dict) -> Rich:
    """How each shown run departs from the paper's protocol, computed from the configs: the
    caveat to read the chapter's numbers with (Chapters 4-6). ``results`` is what
    :func:`~sgd_escape.cifar.figures.load_cached` returns; returns a caution box as
    :class:`~sgd_escape.cifar.tables.Rich`."""
    def shown(value):
        return "all" if value is None else value

    def source(key):
        return "paper preset, the book's choice" if key in BOOK_CHOICES else "paper preset"

    lines = []
    for label, result in results.items():
        if result is None:
            continue
        paper = preset_config(result.experiment, "paper")
        keys = PROTOCOL_KEYS[result.config["kind"]] + [k for k in ("lr_per_epoch",) if k in result.config]
        gaps = [f"{key} {shown(result.config[key])} ({source(key)}: {shown(paper[key])})"
                for key in keys if result.config[key] != paper[key]]
        lines.append(f"{label}, preset {result.preset}: " + ("; ".join(gaps) or "as the paper preset"))
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    title = "How these runs differ from the paper preset (the paper's protocol where it states one)"
    return Rich(f'<div class="admonition caution"><p class="admonition-title">{title}</p><ul>{items}</ul></div>',
                f"**{title}**\n\n" + "\n".join(f"- {line}" for line in lines))
