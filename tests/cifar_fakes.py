"""Small, self-consistent results for the tests of the CIFAR loaders and chapters: curves of the
shapes a preset's config implies, with the scalars the pipeline would compute from them."""
from __future__ import annotations

import numpy as np

from sgd_escape.cifar.experiments import preset_config
from sgd_escape.cifar.pipeline import scalars_of
from sgd_escape.cifar.results import expected_shapes, write_result

PROVENANCE = {"command": "test", "device_name": "test", "wall_seconds": 1.0, "dataset_source": "test",
              "git_commit": "0"}


def consistent_curves(config: dict, seed: int = 0) -> dict:
    """Positive random curves of the right shapes, plus what the headline numbers read."""
    rng = np.random.default_rng(seed)
    curves = {name: rng.uniform(0.1, 1.0, shape) for name, shape in expected_shapes(config).items()}
    kind = config["kind"]
    if kind == "fig5":
        curves["inner_cosine"] = curves["inner_raw"] / 10
        curves["test_accuracy"] = rng.uniform(0.1, 1.0, curves["train_loss"].shape)
        curves["ball_epochs"] = np.arange(0, config["epochs"], config["ball_every"])
        low, shape = curves["step_raw_min"], curves["step_raw_min"].shape
        curves.update(step_raw_mean=low + 0.5, step_raw_max=low + 1.0, step_cosine_mean=(low + 0.5) / 10,
                      step_length_min=rng.uniform(0.01, 0.1, shape), step_length_mean=np.full(shape, 0.2),
                      step_length_max=rng.uniform(0.3, 0.5, shape))
    elif kind == "slope":
        curves["inner_cosine"] = curves["inner_raw"] / 10
    else:
        curves["restart_epochs"] = np.asarray(config["restart_epochs"])
    return curves


def write_fake_result(root, experiment: str, preset: str, config: dict | None = None, seed: int = 0):
    """A result the loader accepts (when ``config`` is the preset's); returns its folder."""
    config = config or preset_config(experiment, preset)
    curves = consistent_curves(config, seed)
    return write_result(root / experiment / preset, experiment, preset, config, scalars_of(config, curves),
                        curves, PROVENANCE)
