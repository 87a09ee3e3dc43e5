"""The text beside Figures 5 and 6 (Chapters 4-6, from :ref:`ch4`): the paper's numbers and ours
in comparison tables. Section 5.4's own tables are in :mod:`sgd_escape.cifar.spectrum_tables`;
where each result comes from and how each run departs from the paper is in
:mod:`sgd_escape.cifar.run_notes`.

Tables are :class:`Rich`: HTML on the website and in Jupyter, Markdown elsewhere.
"""
from __future__ import annotations

import html

import numpy as np

from ..assumption import hoeffding_lower_bound, hoeffding_samples_needed
from ..book import bound_text
from .probes import counted_ball_epochs, first_counted_epoch, not_positive

#: What Section 5 of the paper reports (numbers as printed there), for the comparison tables.
PAPER = {
    "fig5_count": "none (caption); the text excepts an unstated starting period of DenseNet on CIFAR-10",
    "fig5_claim": "positive for every epoch t >= 5 (caption)",
    "fig5b_claim": "positive at all 100 points, every epoch, every setting",
    "resnet_params": 1.2e6, "densenet_params": 0.8e6,
    "grad_norm_before": 5.0, "grad_norm_after": 15.0, "step_length": 0.5,
    "slope_densenet_fraction": 0.001, "slope_resnet_count": 2, "slope_resnet_total": 343_000,
    "slope_min_distance": 40.0,
}


class Rich:
    """Output shown as HTML on the website (and in Jupyter) and as Markdown elsewhere (Chapters 4-6)."""

    def __init__(self, html: str, markdown: str):
        self.html, self.markdown = html, markdown

    def _repr_html_(self) -> str:
        return self.html

    def _repr_markdown_(self) -> str:
        return self.markdown


def code_html(text: str) -> str:
    """``text`` escaped for HTML, with its `backquoted` parts as ``<code>`` (Chapters 4-6)."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def show_table(header: list[str], rows: list[list]) -> Rich:
    """A table for display in a chapter (HTML on the website, Markdown elsewhere; Chapters 4-6).

    ``rows`` are lists of cells, as long as ``header`` (else a ValueError naming ``rows``).
    Returns it as :class:`Rich`.
    """
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"rows must have {len(header)} cells, one per header, got {len(row)}: {row!r}")
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return Rich(f'<table class="table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>',
                "\n".join(lines))


def figure5_rows(results: dict) -> list[list]:
    """Rows of the Figure 5 comparison table (Chapter 4): our numbers, one row per network of
    :func:`~sgd_escape.cifar.figures.load_cached`, then the paper's claim; seven cells per row, for
    :func:`show_table`. The smallest inner product and the smallest cosine are minimised
    separately: they need not come from the same epoch and trial."""
    rows = []
    for net, result in results.items():
        if result is None:
            rows.append([net, "not cached", "", "", "", "", ""])
            continue
        s = result.scalars
        rows.append([f"{net} ({result.preset})",
                     f"{s['negative_inner_from_epoch_5']} of {s['inner_products_from_epoch_5']}",
                     f"{s['min_inner_from_epoch_5']:.3g}", f"{s['min_cosine_from_epoch_5']:.3g}",
                     f"{s['min_ball_inner_from_epoch_5']:.3g}",
                     f"{s['max_grad_norm_before_first_drop']:.3g}", f"{s['max_grad_norm_after_first_drop']:.3g}"])
    rows.append(["paper", PAPER["fig5_count"], PAPER["fig5_claim"], "", PAPER["fig5b_claim"],
                 f"< {PAPER['grad_norm_before']:g}", f"< {PAPER['grad_norm_after']:g}"])
    return rows


def fig5_verdict(results: dict) -> dict:
    """Totals over the cached Figure 5 runs (Chapter 4), from epoch 5 on: non-positive inner
    products at the trajectory; probed balls whose smallest, and whose mean, value is not
    positive; of the latter, how many also have a positive value (``ball_mean_mixed``) and their
    largest radius over the distance still to go (``ball_mean_reach``); and the largest learning
    rate times stochastic gradient norm."""
    from .training import learning_rate

    cached = [r for r in results.values() if r is not None]
    if not cached:
        return {"nonpositive": 0, "total": 0, "ball_nonpositive": 0, "ball_mean_nonpositive": 0,
                "ball_probed": 0, "ball_mean_mixed": 0, "ball_mean_reach": float("nan"), "max_step": float("nan")}
    steps = []
    for r in cached:
        rates = np.array([learning_rate(e, r.config["lr"], r.config["lr_milestones"],
                                        per_epoch=r.config.get("lr_per_epoch"))
                          for e in range(r.curves["grad_norm_max"].shape[0])])
        steps.append(float((rates[:, None] * r.curves["grad_norm_max"]).max()))
    balls = [(r.curves, _ball_from_epoch_5(r)) for r in cached]
    failed = [not_positive(c["ball_raw_mean"]) & f[:, None] for c, f in balls]     # mean <= 0, epoch >= 5
    reach = [r.config["ball_radius"] / r.curves["inner_distance"][r.curves["ball_epochs"], :bad.shape[1]][bad]
             for r, bad in zip(cached, failed)]
    return {"ball_mean_mixed": int(sum((bad & (c["ball_raw_max"] > 0)).sum() for (c, _), bad in zip(balls, failed))),
            "ball_mean_reach": max((float(x.max()) for x in reach if x.size), default=float("nan")),
            "nonpositive": sum(r.scalars["negative_inner_from_epoch_5"] for r in cached),
            "total": sum(r.scalars["inner_products_from_epoch_5"] for r in cached),
            "ball_nonpositive": int(sum(not_positive(c["ball_raw_min"][f]).sum() for c, f in balls)),
            "ball_mean_nonpositive": int(sum(not_positive(c["ball_raw_mean"][f]).sum() for c, f in balls)),
            "ball_probed": int(sum(c["ball_raw_min"][f].size for c, f in balls)),
            "max_step": max(steps)}


def gradient_norm_growth(results: dict) -> dict:
    """Figure 5c's remark that the gradient norm grows after the first learning-rate drop
    (Chapter 4): for each network with a drop, ``{"mean": (before, after), "largest": (before,
    after), "largest_epoch": e, "window": k}``, the stochastic gradient norms over the last
    ``k`` epochs at the initial rate and the first ``k`` after the drop, ``k`` as many epochs as
    run at the second rate (up to the next drop or the end) but no more than precede the drop.
    Equal windows keep the climb from the initialisation out of a long run's comparison;
    ``e`` is the epoch of the largest norm after the drop, and ``"largest_later"`` the largest
    from the second epoch after the drop on (nan for a one-epoch window)."""
    growth = {}
    for net, result in results.items():
        if result is None or not result.config["lr_milestones"]:
            continue
        first, *later = result.config["lr_milestones"]
        end = later[0] if later else result.config["epochs"]
        k = min(first, end - first)
        mean, top = result.curves["grad_norm_mean"], result.curves["grad_norm_max"]
        top_after = top[first:first + k].reshape(k, -1).max(axis=1)    # per epoch, over trials
        growth[net] = {"mean": (float(mean[first - k:first].mean()), float(mean[first:first + k].mean())),
                       "largest": (float(top[first - k:first].max()), float(top_after.max())),
                       "largest_epoch": first + int(top_after.argmax()), "window": k,
                       "largest_later": float(top_after[1:].max()) if k > 1 else float("nan")}
    return growth


def gradient_norm_rows(results: dict) -> list[list]:
    """Rows of :func:`gradient_norm_growth`'s table (Chapter 4): per network the mean and the
    largest norm before and after the first drop (with the epoch of the largest after it) and
    whether each grew, then the paper's row. Five cells per row, for :func:`show_table`."""
    rows = []
    for net, norms in gradient_norm_growth(results).items():
        (mean_before, mean_after), (top_before, top_after) = norms["mean"], norms["largest"]
        rows.append([f"{net} ({results[net].preset})", f"{mean_before:.3g} → {mean_after:.3g}",
                     "yes" if mean_after > mean_before else "no",
                     f"{top_before:.3g} → {top_after:.3g} (epoch {norms['largest_epoch']})",
                     "yes" if top_after > top_before else "no"])
    rows.append(["paper", "", "yes (after epoch 150)", f"< {PAPER['grad_norm_before']:g} → < {PAPER['grad_norm_after']:g}", ""])
    return rows


def _ball_from_epoch_5(result) -> np.ndarray:
    return counted_ball_epochs(result.curves["ball_epochs"], result.config["epochs"])


def ball_nonpositive_rows(results: dict) -> list[list]:
    """Every ball probed from epoch 5 on whose smallest value is not positive (Chapter 4): the
    network (with the preset and the ball's number of points), epoch, trial, the smallest, mean
    and largest ``<-grad f(w), x_T - x_t>`` over the ball, the same at ``x_t`` itself (panel a),
    and the radius over ``||x_T - x_t||``: above 1, the ball reaches past the path still to go."""
    rows = []
    for net, result in results.items():
        if result is None:
            continue
        c, radius = result.curves, result.config["ball_radius"]
        for index in np.nonzero(_ball_from_epoch_5(result))[0]:
            epoch = int(c["ball_epochs"][index])
            for trial in np.nonzero(not_positive(c["ball_raw_min"][index]))[0]:
                setting = f"{net} ({result.preset}, {result.config['ball_points']} points)"
                rows.append([setting, epoch, int(trial)]
                            + [f"{c[f'ball_raw_{k}'][index, trial]:.2g}" for k in ("min", "mean", "max")]
                            + [f"{c['inner_raw'][epoch, trial]:.2g}",
                               f"{radius / c['inner_distance'][epoch, trial]:.3g}"])
    return rows or [["none"] + [""] * 7]


def ball_cosines_from_epoch_5(results: dict) -> np.ndarray:
    """The mean cosine of every ball probed from epoch 5 on, over all cached networks (Chapter 4)."""
    cosines = [r.curves["ball_cosine_mean"][_ball_from_epoch_5(r)].ravel() for r in results.values() if r is not None]
    return np.concatenate(cosines) if cosines else np.empty(0)


def hoeffding_ball_rows(results: dict, confidence: float = 0.95) -> list[list]:
    """Lemma 6 applied to Figure 5b's balls from epoch 5 on (Chapter 4), one row per network: the
    balls, the points in each, how many balls the bound certifies to have a positive mean over the
    whole ball at ``confidence`` (taking each ball's smallest and largest observed value as the
    range that Lemma 6 assumes known), how many have a mean that is not positive (never certified;
    a NaN from a diverged probe counts here), the largest range over mean among the balls with a
    positive mean (the paper's "small variances", measured; rounded up, so that it stays an upper
    bound), and the most points any of them would need."""
    rows = []
    for net, result in results.items():
        if result is None:
            continue
        keep = _ball_from_epoch_5(result)
        mean, low, high = (result.curves[f"ball_raw_{k}"][keep] for k in ("mean", "min", "max"))
        finite = np.isfinite(mean) & np.isfinite(low) & np.isfinite(high)
        mean, low, high, points = mean[finite], low[finite], high[finite], result.config["ball_points"]
        certified = hoeffding_lower_bound(mean, low, high, points, confidence) > 0
        needed = hoeffding_samples_needed(mean, low, high, confidence)
        needed = needed[np.isfinite(needed)]
        spread = ((high - low) / mean)[mean > 0]
        rows.append([f"{net} ({result.preset})", finite.size, points, int(certified.sum()),
                     int(finite.size - (mean > 0).sum()), bound_text(spread.max(), "upper") if spread.size else "none",
                     int(needed.max()) if needed.size else "none"])
    return rows or [["none"] + [""] * 6]


def slope_rows(results: dict) -> list[list]:
    """Rows of the Section 5.3 comparison table (Chapter 5)."""
    rows = []
    for net, result in results.items():
        if result is None:
            rows.append([net, "not cached", "", "", ""])
            continue
        s = result.scalars
        rows.append([f"{net} ({result.preset})",
                     f"{s['nonpositive_to_other_finals']:,} of {s['inner_products_to_other_finals']:,}",
                     f"{100 * s['fraction_nonpositive_to_other_finals']:.3g}%",
                     f"{s['nonpositive_to_any_final']:,} of {s['inner_products_to_any_final']:,}",
                     f"{s['min_pairwise_final_distance']:.3g}"])
    rows.append(["paper, DenseNet", "", f"{100 * PAPER['slope_densenet_fraction']:g}%", "", f"{PAPER['slope_min_distance']:g}"])
    rows.append(["paper, ResNet", f"{PAPER['slope_resnet_count']} of {PAPER['slope_resnet_total']:,}",
                 f"{100 * paper_slope_fraction('resnet'):.2g}%", "", f"{PAPER['slope_min_distance']:g}"])
    return rows


def paper_slope_fraction(net: str) -> float:
    """The fraction of non-positive pairs that Section 5.3 reports for ``net`` ("resnet" or
    "densenet"; Chapter 5)."""
    return {"densenet": PAPER["slope_densenet_fraction"],
            "resnet": PAPER["slope_resnet_count"] / PAPER["slope_resnet_total"]}[net]


def slope_against_paper(results: dict) -> dict:
    """Section 5.3 (Chapter 5): per cached network, its fraction of non-positive pairs towards
    other branches' ends over the paper's fraction for that network (1: as in the paper;
    above 1: more failures than the paper reports)."""
    return {net: result.scalars["fraction_nonpositive_to_other_finals"] / paper_slope_fraction(net)
            for net, result in results.items() if result is not None}


#: A cosine within ``RANDOM_BAND / sqrt(P)`` of zero is one that the cosine between two random
#: directions in ``P`` dimensions reaches easily (beyond it, on either side, only with probability
#: at most ``2 exp(-RANDOM_BAND**2 / 2)``), so its sign says little (Chapters 4-5; Exercise 4.1).
RANDOM_BAND = 3


def random_cosine_scale(config: dict) -> float:
    """``1 / sqrt(P)``, ``P`` the parameters of the network of a cached run's ``config``: the
    size of the cosine between two random directions (Chapters 4-5)."""
    from .models import parameter_count

    classes = 100 if config["dataset"] == "cifar100" else 10
    return float(1 / np.sqrt(parameter_count(config["architecture"], classes)))


def fig5_failing_cosines(results: dict) -> list[tuple[np.ndarray, float]]:
    """Per cached Figure 5 result (Chapter 4), the cosines of what :func:`fig5_verdict` counts
    as failures from epoch 5 on (the inner products at the trajectory that are not positive,
    then the mean cosine of each ball whose mean is not positive), with the network's
    :func:`random_cosine_scale`."""
    failing = []
    for r in (r for r in results.values() if r is not None):
        c, first = r.curves, first_counted_epoch(r.config["epochs"])
        at_trajectory = c["inner_cosine"][first:][not_positive(c["inner_raw"][first:])]
        balls = _ball_from_epoch_5(r)[:, None] & not_positive(c["ball_raw_mean"])
        failing.append((np.concatenate([at_trajectory, c["ball_cosine_mean"][balls]]),
                        random_cosine_scale(r.config)))
    return failing


def slope_failing_cosines(results: dict) -> list[tuple[np.ndarray, float]]:
    """Per cached Section 5.3 result (Chapter 5), the cosines of the inner products towards
    other branches' ends (``j != i``) that are not positive, with the network's
    :func:`random_cosine_scale`."""
    failing = []
    for r in (r for r in results.values() if r is not None):
        raw, cosine = r.curves["inner_raw"], r.curves["inner_cosine"]
        other = ~np.eye(raw.shape[1], dtype=bool)
        failing.append((cosine[:, other][not_positive(raw[:, other])], random_cosine_scale(r.config)))
    return failing


def failure_size_clause(failing: list[tuple[np.ndarray, float]]) -> str:
    """How far from zero the failures lie, a sentence for the prose (Chapters 4-5): their
    cosines, and whether each lies within :data:`RANDOM_BAND` ``/ sqrt(P)`` of zero, where a
    failure is narrow. ``failing`` is what :func:`fig5_failing_cosines` or
    :func:`slope_failing_cosines` return."""
    cosines = np.concatenate([np.ravel(c) for c, _ in failing] or [np.zeros(0)])
    if not cosines.size:
        return "There is no failure to measure."
    within = sum(int((np.abs(c) < RANDOM_BAND * scale).sum()) for c, scale in failing)
    span = value_range(cosines, ".2g")
    if within == cosines.size:
        return (f"All {cosines.size} failing values have cosines of {span}, within {RANDOM_BAND}/√P of "
                "zero: the claim fails, but only narrowly.")
    return (f"The failing values have cosines of {span}; {cosines.size - within} of the {cosines.size} lie "
            f"beyond {RANDOM_BAND}/√P of zero, clear failures, and {within} within it.")


def images_phrase(results: dict) -> str:
    """Where the shown runs train (Chapters 5-6 glue it): ``"on the whole training set"`` when
    every cached run of ``results`` uses all of it, else ``"on a subset of the images"``."""
    cached = [r for r in results.values() if r is not None]
    whole = cached and all(r.config["train_examples"] is None for r in cached)
    return "on the whole training set" if whole else "on a subset of the images"


def value_range(values, spec: str) -> str:
    """``"low to high"`` of ``values`` formatted with ``spec``, or one value where both read the
    same (Chapter 6 glues ranges over the shown networks this way). Returns a str."""
    low, high = (format(float(v), spec) for v in (np.min(values), np.max(values)))
    return low if low == high else f"{low} to {high}"


def trend_word(ratios, up: str, down: str, level: str | None = None, band: float = 0.1) -> str:
    """``up`` if every ratio exceeds 1, ``down`` if none does, else a mixed verdict naming both
    (Chapter 6 glues it into the prose, so a sentence stays true for any cached preset). With
    ``level``, ratios within ``band`` of 1 count as level rather than up or down."""
    ratios = np.asarray(ratios)
    words = ["level" if level and abs(r - 1) <= band else "up" if r > 1 else "down" for r in ratios]
    present = [{"up": up, "down": down, "level": level}[w] for w in ("up", "down", "level") if w in words]
    if len(present) == 1:
        return present[0]
    if len(present) == 2:
        return f"{present[0]} in some networks, {present[1]} in others"
    return f"{present[0]} in some networks, {present[1]} in others, {present[2]} in the rest"


def sgd_steps(result, epochs_key: str) -> int:
    """How many SGD steps a branch or restart of ``result`` took: epochs times batches per epoch
    (the last, partial batch is dropped; Chapters 5-6). ``epochs_key`` names the config entry,
    ``"branch_epochs"`` or ``"restart_length"``. Returns an int."""
    from .experiments import training_set_size

    return result.config[epochs_key] * (training_set_size(result.config) // result.config["batch_size"])


def nonpositive_rows(results: dict, first_epoch: int = 5) -> list[list]:
    """Every inner product at the trajectory from ``first_epoch`` on that is not positive
    (Chapter 4): network, epoch, trial, raw value, cosine, and the distance left to ``x_T``."""
    rows = []
    for net, result in results.items():
        if result is None:
            continue
        c = result.curves
        for epoch, trial in zip(*np.nonzero(not_positive(c["inner_raw"]))):
            if epoch >= first_epoch:
                rows.append([f"{net} ({result.preset})", int(epoch), int(trial), f"{c['inner_raw'][epoch, trial]:.3g}",
                             f"{c['inner_cosine'][epoch, trial]:.3g}", f"{c['inner_distance'][epoch, trial]:.3g}"])
    return rows or [["none", "", "", "", "", ""]]
