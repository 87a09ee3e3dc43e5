"""The cache that Chapters 4-6 read is checked before it is used: a result of another config,
schema, experiment or preset, a damaged or inconsistent one, is refused with what to run."""
from __future__ import annotations

import json
import shutil

import pytest

from cifar_fakes import write_fake_result
from sgd_escape.cifar.experiments import preset_config
from sgd_escape.cifar.results import CacheError, best_cached, load_result, refused_caches, write_result


def _fake_cache(root, experiment, preset, config=None):
    return write_fake_result(root, experiment, preset, config)


def test_a_cache_of_another_config_is_refused(tmp_path):
    folder = _fake_cache(tmp_path, "fig5-resnet-cifar10", "mini")
    record = json.loads((folder / "result.json").read_text())
    record["config"]["lr"] = 0.5
    (folder / "result.json").write_text(json.dumps(record))
    with pytest.raises(CacheError, match=r"another config.*\['lr'\]") as refused:
        load_result("fig5-resnet-cifar10", "mini", tmp_path)
    # the message says how to recompute it; the reason alone (what unpack rewords) does not
    assert refused.value.advice == "recompute it with: python -m sgd_escape run fig5-resnet-cifar10 --preset mini"
    assert str(refused.value) == f"{refused.value.reason}; {refused.value.advice}" and "recompute" not in refused.value.reason


def test_a_cache_of_another_schema_or_experiment_is_refused(tmp_path):
    folder = _fake_cache(tmp_path, "fig5-resnet-cifar10", "mini")
    record = json.loads((folder / "result.json").read_text())
    (folder / "result.json").write_text(json.dumps(record | {"schema_version": 99}))
    with pytest.raises(CacheError, match="schema version 99"):
        load_result("fig5-resnet-cifar10", "mini", tmp_path)
    (folder / "result.json").write_text(json.dumps(record))
    shutil.copytree(folder, tmp_path / "slope-resnet-cifar10" / "mini")
    with pytest.raises(CacheError, match="holds fig5-resnet-cifar10/mini"):
        load_result("slope-resnet-cifar10", "mini", tmp_path)


@pytest.mark.parametrize("damaged, message", [("result.json", "result.json is not valid JSON"),
                                               ("curves.npz", "curves.npz cannot be read")])
def test_a_damaged_cache_is_refused_with_the_file_and_the_command(tmp_path, damaged, message):
    folder = _fake_cache(tmp_path, "slope-resnet-cifar10", "mini")
    (folder / damaged).write_bytes((folder / damaged).read_bytes()[:40])
    with pytest.raises(CacheError, match=f"{message}.*run slope-resnet-cifar10 --preset mini --fresh"):
        load_result("slope-resnet-cifar10", "mini", tmp_path)
    assert best_cached("slope-resnet-cifar10", tmp_path) is None


def test_refused_caches_name_each_refused_preset_and_why(tmp_path):
    _fake_cache(tmp_path, "slope-resnet-cifar10", "mini")
    _fake_cache(tmp_path, "slope-resnet-cifar10", "reduced", preset_config("slope-resnet-cifar10", "mini"))
    refused = refused_caches("slope-resnet-cifar10", tmp_path)
    assert list(refused) == ["reduced"] and "another config" in refused["reduced"]


def test_a_missing_cache_names_the_command_that_makes_it(tmp_path):
    with pytest.raises(CacheError, match="python -m sgd_escape run slope-resnet-cifar10 --preset paper"):
        load_result("slope-resnet-cifar10", "paper", tmp_path)


def test_best_cached_prefers_paper_then_reduced_then_mini(tmp_path):
    assert best_cached("spectrum-resnet-cifar10", tmp_path) is None
    _fake_cache(tmp_path, "spectrum-resnet-cifar10", "mini")
    assert best_cached("spectrum-resnet-cifar10", tmp_path).preset == "mini"
    _fake_cache(tmp_path, "spectrum-resnet-cifar10", "reduced")
    assert best_cached("spectrum-resnet-cifar10", tmp_path).preset == "reduced"


def test_a_result_of_an_older_format_is_refused_and_not_counted_as_cached(tmp_path):
    from sgd_escape.cifar.results import is_cached

    folder = _fake_cache(tmp_path, "spectrum-resnet-cifar10", "mini")
    record = json.loads((folder / "result.json").read_text())
    assert record["schema_version"] == 3             # the distance moved per epoch made version 3
    (folder / "result.json").write_text(json.dumps(record | {"schema_version": 2}))
    with pytest.raises(CacheError, match="schema version 2, this code reads 3.*--fresh"):
        load_result("spectrum-resnet-cifar10", "mini", tmp_path)
    assert not is_cached("spectrum-resnet-cifar10", "mini", tmp_path)


def _edit_cache(folder, change):
    record = json.loads((folder / "result.json").read_text())
    change(record)
    (folder / "result.json").write_text(json.dumps(record))


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.update(scalars={}), "its scalars are not those its curves give"),
    (lambda r: r["scalars"].update(nonpositive_to_other_finals=1), "its scalars are not those its curves give"),
])
def test_a_result_whose_scalars_disagree_with_its_curves_is_refused(tmp_path, edit, message):
    folder = _fake_cache(tmp_path, "slope-resnet-cifar10", "mini")
    load_result("slope-resnet-cifar10", "mini", tmp_path)
    _edit_cache(folder, edit)
    with pytest.raises(CacheError, match=f"{message}.*--fresh"):
        load_result("slope-resnet-cifar10", "mini", tmp_path)


def test_a_result_with_curves_of_the_wrong_shape_is_refused(tmp_path):
    from cifar_fakes import consistent_curves
    from sgd_escape.cifar.pipeline import scalars_of

    config = preset_config("fig5-resnet-cifar10", "mini")
    curves = consistent_curves(config)
    curves["inner_raw"] = curves["inner_raw"][:3]            # a truncated probe
    write_result(tmp_path / "fig5-resnet-cifar10" / "mini", "fig5-resnet-cifar10", "mini", config,
                 scalars_of(config, curves), curves, {"command": "test"})
    with pytest.raises(CacheError, match=r"inner_raw should have shape \(10, 2\), holds \(3, 2\)"):
        load_result("fig5-resnet-cifar10", "mini", tmp_path)


def test_a_result_file_that_is_not_a_record_is_refused(tmp_path):
    folder = _fake_cache(tmp_path, "fig5-resnet-cifar10", "mini")
    (folder / "result.json").write_text("5")
    with pytest.raises(CacheError, match="holds a int, not a result.*--fresh"):
        load_result("fig5-resnet-cifar10", "mini", tmp_path)
    with pytest.raises(ValueError, match="unknown experiment 'fig5-mobilenet-cifar10'"):
        load_result("fig5-mobilenet-cifar10", "mini", tmp_path)


def test_a_result_copied_into_another_presets_folder_is_refused_naming_what_it_holds(tmp_path):
    folder = _fake_cache(tmp_path, "slope-resnet-cifar10", "mini")
    shutil.copytree(folder, tmp_path / "slope-resnet-cifar10" / "reduced")
    with pytest.raises(CacheError, match="holds slope-resnet-cifar10/mini, not slope-resnet-cifar10/reduced"):
        load_result("slope-resnet-cifar10", "reduced", tmp_path,
                    expected_config=preset_config("slope-resnet-cifar10", "mini"))
