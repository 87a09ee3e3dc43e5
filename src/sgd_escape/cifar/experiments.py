"""The experiments of Section 5 and their presets (Chapters 4-6).

``fig5-*`` (Chapter 4): several trials trained together; at every epoch start ``t`` the
inner product ``<-grad f(x_t), x_T - x_t>`` (Figure 5a), the same at random points of the
ball of radius 0.5 around ``x_t`` (Figure 5b) and at points one SGD step away (footnote 7),
and the stochastic gradient norms (Figure 5c).
``slope-*`` (Chapter 5, Section 5.3): one shared start, then many branches with different
seeds; inner products of every branch's negative gradients with the vectors to every final
point. ``spectrum-*`` (Chapter 6, Section 5.4, Figure 6): one long run at learning rate 0.1,
then restarts at 0.01 from several of its epochs. ``conditions-resnet-cifar10`` (Chapter 6) is the
ResNet one again, with Theorem 1's constants estimated along its restarts.
"""
from __future__ import annotations

import copy

from .models import describe_architecture

#: experiment -> (kind, network family, dataset)
EXPERIMENTS = {
    f"{kind}-{net}-{dataset}": (kind, net, dataset)
    for kind, datasets in (("fig5", ("cifar10", "cifar100")), ("slope", ("cifar10",)),
                           ("spectrum", ("cifar10", "cifar100")))
    for net in ("resnet", "densenet") for dataset in datasets
}
#: Section 5.1's side remark: Figure 5 with the rate shrunk smoothly, by 0.99 every epoch. These
#: runs are ``fig5`` runs whose schedule differs (see :func:`smooth_schedule`).
SMOOTH = {f"fig5smooth-{net}-cifar10": ("fig5", net, "cifar10") for net in ("resnet", "densenet")}
EXPERIMENTS.update(SMOOTH)
#: Footnote 6's side remark: Figure 5 for a VGG network, which the paper says did not show it.
VGG = {"fig5-vgg-cifar10": ("fig5", "vgg", "cifar10")}
EXPERIMENTS.update(VGG)
#: The side remarks' runs, which a GPU session runs after those of the paper's figures.
SIDE_REMARKS = {**SMOOTH, **VGG}
#: The exercises' runs, each an experiment of Section 5 with one setting changed. Exercise 5.3:
#: Section 5.3's branches started with zeroed momentum buffers instead of the shared run's (a
#: slope config without ``branch_momentum`` shares the buffer). Exercise 6.2: the restarts of
#: Section 5.4 keep the momentum buffer of the run at 0.1 (a spectrum config without
#: ``restart_momentum`` starts them with fresh buffers), and twins with fresh buffers run beside
#: them. Run by name only: not part of ``all`` or of a GPU session (:data:`SECTION5_CIFAR10`).
EXERCISE_RUNS = {"slopezero-resnet-cifar10": ("slope", "resnet", "cifar10"),
                 "spectrumkeep-resnet-cifar10": ("spectrum", "resnet", "cifar10")}
#: The setting each exercise's run changes (config key and value).
EXERCISE_SETTINGS = {"slopezero-resnet-cifar10": {"branch_momentum": "zeroed"},
                     "spectrumkeep-resnet-cifar10": {"restart_momentum": "kept"}}
EXPERIMENTS.update(EXERCISE_RUNS)
#: Chapter 6's measurement of Theorem 1's constants (L, r) along the restarts of Section 5.4: the
#: ResNet spectrum run, trained exactly as ``spectrum-resnet-cifar10`` at the same preset, with
#: probes added (:mod:`~sgd_escape.cifar.conditions`). Run by name only, like the exercises' runs.
CONDITIONS_RUNS = {"conditions-resnet-cifar10": ("spectrum", "resnet", "cifar10")}
#: Its setting and the estimator's sizes per preset: the restart epochs probed, power iterations
#: for the top Hessian eigenvalue, reshuffles of the probe images into minibatches for the noise.
#: At ``mini`` the probe images make a single minibatch, so the noise measured there is zero: the
#: book caches ``cpu``, like the exercises' runs.
CONDITIONS = {
    "smoke": dict(conditions_epochs=[0, 2], power_iterations=2, noise_reshuffles=1),
    "mini": dict(conditions_epochs=[0, 3], power_iterations=4, noise_reshuffles=2),
    "cpu": dict(conditions_epochs=[0, 5, 10, 15], power_iterations=8, noise_reshuffles=3),
    "reduced": dict(conditions_epochs=[0, 5, 10], power_iterations=20, noise_reshuffles=4),
    "paper": dict(conditions_epochs=[0, 50, 100, 150], power_iterations=20, noise_reshuffles=4),
}
EXPERIMENTS.update(CONDITIONS_RUNS)
#: The runs that ``all`` and a GPU session leave out: each is named on the command line.
BY_NAME_ONLY = {**EXERCISE_RUNS, **CONDITIONS_RUNS}
#: The CIFAR-10 runs of Section 5 and its side remarks: what ``all`` and a GPU session run.
SECTION5_CIFAR10 = [name for name in EXPERIMENTS if name.endswith("cifar10") and name not in BY_NAME_ONLY]
#: The paper's smooth schedule: the learning rate times this factor every epoch, for 300 epochs.
PAPER_SMOOTH_FACTOR, PAPER_EPOCHS = 0.99, 300
PRESETS = ("smoke", "mini", "cpu", "reduced", "paper")
PRESET_NOTES = {
    "smoke": "seconds on a CPU, tiny subsets and tiny networks: for the tests only",
    "mini": "a 2-core CPU in minutes: small networks on a subset of the training set",
    "cpu": ("a CPU in about 2 hours for all nine: the small networks trained on 1,024 images long "
            "enough that their loss falls well below chance"),
    "reduced": ("one GPU, sized for about 20 H100-minutes (an estimate; each result records its own "
                "time): the paper's networks and schedule shape, fewer epochs, subsets, fewer probe points"),
    "paper": ("the paper's protocol where it states one (300 epochs, the full training set, a ball "
              "of 100 points every epoch); the book's choices where it does not (Chapter 4)"),
}
#: The paper's networks, and the "about 10K parameter" versions.
LARGE = {"resnet": "resnet34", "densenet": "densenet100", "vgg": "vgg9"}
SMALL = {"resnet": "resnet14", "densenet": "densenet34", "vgg": "vgg6"}

OPTIMIZER = dict(lr=0.1, momentum=0.9, weight_decay=1e-4, batch_size=128, seed=0)
#: Probe subsets are whole multiples of ``probe_batch_size`` (10,240 = 80 batches in the
#: ``paper`` preset), so that no image is dropped and every BatchNorm batch has one size. The
#: ``cpu`` preset probes its whole training subset: f is then the training loss itself, and the
#: signs it reports do not depend on which quarter of the images a smaller probe would take.
PROBES = dict(probe_batch_size=128, probe_loss="mean cross-entropy, no weight decay",
              probe_batchnorm="batch statistics, running buffers untouched")

FIG5 = {
    "smoke": dict(trials=2, epochs=3, lr_milestones=[2], train_examples=128, test_examples=64,
                  train_eval_examples=64, probe_examples=64, probe_batch_size=32, ball_points=3,
                  step_points=3, ball_every=2, ball_examples=32, ball_trials=1, batch_size=32),
    "mini": dict(trials=2, epochs=10, lr_milestones=[5, 8], train_examples=1024, test_examples=256,
                 train_eval_examples=128, probe_examples=128, ball_points=4, step_points=4,
                 ball_every=2, ball_examples=64, ball_trials=1),
    "cpu": dict(trials=3, epochs=40, lr_milestones=[20, 30], train_examples=1024, test_examples=512,
                train_eval_examples=512, probe_examples=1024, ball_points=4, step_points=4,
                ball_every=2, ball_examples=128, ball_trials=1),
    "reduced": dict(trials=5, epochs=10, lr_milestones=[5, 8], train_examples=25000,
                    test_examples=5000, train_eval_examples=5000, probe_examples=2560,
                    ball_points=10, step_points=10, ball_every=2, ball_examples=1280, ball_trials=1),
    "paper": dict(trials=5, epochs=300, lr_milestones=[150, 225], train_examples=None,
                  test_examples=None, train_eval_examples=10000, probe_examples=10240,
                  ball_points=100, step_points=100, ball_every=1, ball_examples=2560, ball_trials=1),
}
SLOPE = {
    "smoke": dict(branches=3, shared_epochs=1, branch_epochs=2, train_examples=128, test_examples=64,
                  train_eval_examples=64, probe_examples=64, probe_batch_size=32, batch_size=32),
    "mini": dict(branches=4, shared_epochs=2, branch_epochs=4, train_examples=384,
                 test_examples=256, train_eval_examples=128, probe_examples=128),
    "cpu": dict(branches=6, shared_epochs=5, branch_epochs=20, train_examples=1024,
                test_examples=512, train_eval_examples=512, probe_examples=1024),
    "reduced": dict(branches=50, shared_epochs=2, branch_epochs=8, train_examples=10000,
                    test_examples=2000, train_eval_examples=2000, probe_examples=1280),
    "paper": dict(branches=50, shared_epochs=10, branch_epochs=140, train_examples=None,
                  test_examples=None, train_eval_examples=10000, probe_examples=10240),
}
SPECTRUM = {
    "smoke": dict(base_epochs=3, restart_epochs=[1, 3], restart_length=2, train_examples=128,
                  test_examples=64, train_eval_examples=64, probe_examples=64,
                  probe_batch_size=32, batch_size=32),
    "mini": dict(base_epochs=6, restart_epochs=[2, 4, 6], restart_length=3,
                 train_examples=512, test_examples=256, train_eval_examples=128, probe_examples=128),
    "cpu": dict(base_epochs=40, restart_epochs=[8, 16, 24, 32, 40], restart_length=15,
                train_examples=1024, test_examples=512, train_eval_examples=512, probe_examples=1024),
    "reduced": dict(base_epochs=20, restart_epochs=[4, 8, 12, 16, 20], restart_length=10,
                    train_examples=10000, test_examples=5000, train_eval_examples=2000,
                    probe_examples=1280),
    "paper": dict(base_epochs=300, restart_epochs=[30, 60, 90, 120, 150, 180, 210, 240, 270, 300],
                  restart_length=150, train_examples=None, test_examples=None,
                  train_eval_examples=10000, probe_examples=10240),
}
KIND_PRESETS = {"fig5": FIG5, "slope": SLOPE, "spectrum": SPECTRUM}


def require_real_data(data, preset: str) -> None:
    """Raise a ValueError unless ``data`` is real at this preset: ``synthetic`` is for the
    ``smoke`` preset only, so that its numbers never pass for CIFAR's (Chapter 4)."""
    if data == "synthetic" and preset != "smoke":
        raise ValueError(f"data 'synthetic' is for the smoke preset only, not {preset!r}: "
                         "its numbers are not CIFAR's")


def check_names(experiment: str, preset: str) -> None:
    """Raise ``ValueError`` listing the valid names when either is unknown; returns None (Chapters 4-6)."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of the valid experiments: {', '.join(EXPERIMENTS)}; "
                         f"got unknown experiment {experiment!r}")
    check_preset(preset)


def check_preset(preset: str) -> None:
    """Raise ``ValueError`` listing the valid presets when ``preset`` is unknown; returns None
    (Chapters 4-6). The list keeps :data:`PRESETS`' order, cheapest first, unlike
    :func:`~sgd_escape.checks.require_choice`'s sorted one."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of the valid presets: {', '.join(PRESETS)}; "
                         f"got unknown preset {preset!r}")


def preset_config(experiment: str, preset: str) -> dict:
    """The full configuration of ``experiment`` at ``preset`` (what its cache records; Chapters 4-6).

    Returns a new dict: the experiment's kind, dataset and architecture, the optimiser and
    probe settings, and the preset's sizes (``None`` for ``train_examples`` means the whole set).
    """
    check_names(experiment, preset)
    kind, net, dataset = EXPERIMENTS[experiment]
    large = preset in ("reduced", "paper") and kind == "fig5"
    config = {"experiment": experiment, "kind": kind, "dataset": dataset,
              "architecture": (LARGE if large else SMALL)[net], **OPTIMIZER, **PROBES}
    config["architecture_spec"] = describe_architecture(config["architecture"])
    if kind == "fig5":
        config["ball_radius"] = 0.5
    if kind == "spectrum":
        config["restart_lr"] = 0.01
    config.update(copy.deepcopy(KIND_PRESETS[kind][preset]))
    if experiment in SMOOTH:
        config.update(smooth_schedule(config["epochs"]))
    config.update(EXERCISE_SETTINGS.get(experiment, {}))
    if experiment in CONDITIONS_RUNS:
        config.update(conditions="estimated", **copy.deepcopy(CONDITIONS[preset]))
    return config


def smooth_schedule(epochs: int) -> dict:
    """The smooth schedule of a run of ``epochs`` epochs (Chapter 4): no milestones, and the
    learning rate times ``lr_per_epoch`` every epoch, the factor that shrinks it over the run as
    much as 0.99 does over the paper's 300 epochs (0.99 itself at 300 epochs; the book's choice
    for shorter runs). Returns the config keys ``lr_milestones`` and ``lr_per_epoch``."""
    return {"lr_milestones": [], "lr_per_epoch": PAPER_SMOOTH_FACTOR ** (PAPER_EPOCHS / epochs)}


def total_units(config: dict) -> int:
    """Units of work of a run (epochs trained, epochs probed): the progress bar's length (Chapter 4)."""
    kind = config["kind"]
    if kind == "fig5":
        return 2 * config["epochs"] + 1 + 2 * len(range(0, config["epochs"], config["ball_every"]))
    if kind == "slope":
        return config["shared_epochs"] + 2 * config["branch_epochs"] + 2
    twins = config["restart_length"] + 1 if keeps_restart_momentum(config) else 0     # Exercise 6.2's twins
    probed = len(config["conditions_epochs"]) if estimates_conditions(config) else 0   # Theorem 1's constants
    return config["base_epochs"] + 2 * config["restart_length"] + 2 + max(config["restart_epochs"]) + twins + probed


def differs_only_in(config: dict, other: dict, key: str) -> bool:
    """Whether ``other`` is ``config`` with the setting ``key`` added, under another experiment's
    name: how an exercise's run relates to the run it varies (Chapters 5-6)."""
    rest = {**other, "experiment": config["experiment"]}
    return rest.pop(key, None) is not None and key not in config and rest == config


def keeps_restart_momentum(config: dict) -> bool:
    """Whether the restarts of a spectrum ``config`` keep the momentum buffer of the run at 0.1
    (Exercise 6.2's run, Chapter 6); False for every other config."""
    return config.get("restart_momentum", "fresh") == "kept"


def estimates_conditions(config: dict) -> bool:
    """Whether a spectrum ``config`` asks for Theorem 1's constants along its restarts
    (``conditions-resnet-cifar10``, Chapter 6); False for every other config."""
    return config.get("conditions") == "estimated"


#: Forward-and-backward passes that one Hessian-vector product costs, roughly (double backward).
HVP_PASSES = 3


def training_set_size(config: dict) -> int:
    """Training images a run of ``config`` uses: ``train_examples``, or all 50,000 when it is None
    (Chapters 4-6)."""
    return config["train_examples"] or 50_000


def image_passes(config: dict) -> dict:
    """Forward-and-backward passes of one image through one network, by architecture, that a
    run needs (evaluations count a third: forward only). Used to project run times (Chapter 4).

    Returns ``{"architecture": name, "members": networks trained at once, "passes": float}``.
    """
    n, evals = training_set_size(config), config["train_eval_examples"] + (config["test_examples"] or 10_000)
    kind, arch = config["kind"], config["architecture"]
    if kind == "fig5":
        members, epochs = config["trials"], config["epochs"]
        probed = len(range(0, epochs, config["ball_every"])) * config["ball_trials"]
        points = probed * (config["ball_points"] + config["step_points"])
        passes = members * epochs * (n + config["probe_examples"]) + points * config["ball_examples"]
        passes += probed * config["step_points"] * config["batch_size"]      # the steps' minibatches
        passes += members * (epochs + 1) * evals / 3
    elif kind == "slope":
        members, epochs = config["branches"], config["branch_epochs"]
        passes = config["shared_epochs"] * (n + evals / 3) + members * epochs * (n + config["probe_examples"])
        passes += members * (epochs + 1) * evals / 3
    else:
        members, epochs = len(config["restart_epochs"]), config["restart_length"]
        passes = config["base_epochs"] * (n + evals / 3) + members * epochs * (n + config["probe_examples"])
        passes += members * (epochs + 1) * evals / 3 + max(config["restart_epochs"]) * config["probe_examples"]
        if keeps_restart_momentum(config):           # the twins with fresh buffers
            passes += members * (epochs * n + (epochs + 1) * evals / 3)
        if estimates_conditions(config):             # power iteration, then the noise's gradients
            per_point = HVP_PASSES * config["power_iterations"] + config["noise_reshuffles"] + 1
            passes += members * len(config["conditions_epochs"]) * config["probe_examples"] * per_point
    return {"architecture": arch, "members": members, "passes": float(passes)}
