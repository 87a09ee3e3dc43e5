"""Damaged files of Chapter 4 (a results tar cut short, a report of the wrong shape, a damaged
decoded dataset): each gets a clear error naming the file, and nothing is written or lost."""
from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
from cifar_fakes import write_fake_result

from sgd_escape.__main__ import main
from sgd_escape.cifar import datasets
from sgd_escape.cifar.datasets import DatasetError, load_cifar, save_arrays, synthetic_cifar
from sgd_escape.cifar.experiments import preset_config
from sgd_escape.cifar.session import pack_results
from sgd_escape.cifar.unpack import unpack

FIRST, SECOND = "fig5-resnet-cifar10", "spectrum-resnet-cifar10"     # in the order a tar holds them
PROVENANCE = {"command": "session", "git_commit": "0", "device_name": "GPU", "started_utc": "2020-01-01"}


def packed(tmp_path, results, name="bundle"):
    """A session's out folder holding ``results-smoke.tar`` of the results under ``results``."""
    out = tmp_path / name
    out.mkdir()
    pack_results(results, "smoke", out / "results-smoke.tar")
    return out


def two_results(tmp_path):
    for experiment in (FIRST, SECOND):
        write_fake_result(tmp_path / "results", experiment, "smoke")
    return tmp_path / "results"


def unpack_command(out, root, *options):
    return main(["unpack", str(out), "--data-root", str(root), *options])


def cut_at(tar_path, where: str) -> int:
    """A byte offset of a copy cut short: inside a member's data, inside a header, or exactly
    between the first result and the second (which tarfile alone reads as a shorter tar)."""
    with tarfile.open(tar_path) as tar:
        members = tar.getmembers()
    first_curves, second_json = members[1], members[2]
    return {"in a member's data": first_curves.offset_data + 10,
            "in a header": second_json.offset + 100,
            "between two results": second_json.offset}[where]


@pytest.mark.parametrize("where", ["in a member's data", "in a header", "between two results"])
def test_unpack_names_a_truncated_results_tar_and_writes_nothing(tmp_path, capsys, where):
    out = packed(tmp_path, two_results(tmp_path))
    tar = out / "results-smoke.tar"
    tar.write_bytes(tar.read_bytes()[:cut_at(tar, where)])
    assert unpack_command(out, tmp_path / "data") == 2
    error = capsys.readouterr().err
    assert f"{tar} is truncated or damaged" in error and "copy it again" in error
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("record, message", [
    (None, "holds null, not a report"),
    (list(PROVENANCE), "holds an array, not a report"),
    ({**PROVENANCE, "device_name": 5}, "provenance {'device_name': 5} should be strings"),
], ids=["null", "array", "number as device name"])
@pytest.mark.parametrize("name", ["environment.json", "determinism.json", "cifar_trainer.json"])
def test_unpack_names_a_report_of_the_wrong_shape_and_writes_nothing(tmp_path, capsys, name, record, message):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / name).write_text(json.dumps(record))
    assert unpack_command(out, tmp_path / "data") == 2
    error = capsys.readouterr().err
    assert f"{out / name}" in error and message in error
    assert not (tmp_path / "data").exists()


def test_a_result_of_another_config_is_named_by_its_tar_and_replaces_nothing(tmp_path, capsys):
    root = tmp_path / "data"
    write_fake_result(root, SECOND, "smoke")                        # what data/ holds now
    before = {p.name: p.read_bytes() for p in (root / SECOND / "smoke").iterdir()}
    other = {**preset_config(SECOND, "smoke"), "lr": 0.5}
    out = packed(tmp_path, write_fake_result(tmp_path / "results", SECOND, "smoke", other, seed=1).parents[1])
    assert unpack_command(out, root, "--replace") == 2
    error = capsys.readouterr().err
    assert f"{out / 'results-smoke.tar'}:{SECOND}/smoke was computed with another config" in error
    assert ".unpack-" not in error and "sgd_escape run" not in error   # a deleted folder; `run` makes no tar
    assert {p.name: p.read_bytes() for p in (root / SECOND / "smoke").iterdir()} == before
    assert sorted(p.name for p in root.iterdir()) == [SECOND]        # no scratch folder left


def test_a_result_that_two_tars_hold_is_refused(tmp_path):
    out = packed(tmp_path, two_results(tmp_path))
    (out / "results-copy.tar").write_bytes((out / "results-smoke.tar").read_bytes())
    with pytest.raises(ValueError, match=f"both hold {FIRST}/smoke"):
        unpack(out, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def damage(path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "a flipped byte":             # np.savez stores members uncompressed: the CRC fails
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])
    else:                                     # a member missing
        np.savez(path, train_images=np.zeros((1, 32, 32, 3), np.uint8))


DAMAGE = ["truncated", "empty", "a flipped byte", "a member missing"]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_decoded_dataset_is_named_with_what_to_do(tmp_path, monkeypatch, capsys, how):
    monkeypatch.delenv(datasets.JPEG_ENV, raising=False)
    cache = tmp_path / "cifar10-jpeg.npz"
    save_arrays(cache, synthetic_cifar(train_size=64, test_size=16))
    damage(cache, how)
    with pytest.raises(DatasetError, match="delete it, and the next command decodes the archive again") as error:
        load_cifar("cifar10", datasets_dir=tmp_path, download=False)
    assert str(cache) in str(error.value)
    argv = ["run", SECOND, "--preset", "smoke", "--offline", "--quiet", "--device", "cpu",
            "--datasets-dir", str(tmp_path), "--out", str(tmp_path / "out")]
    assert main(argv) == 2 and str(cache) in capsys.readouterr().err
    assert cache.exists()                     # the user decides; nothing is deleted behind their back


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_decoded_dataset_is_decoded_again_from_the_archive_named(tmp_path, monkeypatch, capsys, how):
    from test_cifar_data import make_jpeg_archive, sha256

    archive = tmp_path / "cifar10-jpeg.tar.xz"
    make_jpeg_archive(archive)
    monkeypatch.setattr(datasets, "CIFAR10_JPEG_SHA256", sha256(archive))
    monkeypatch.setattr(datasets.decode_jpeg_archive, "__defaults__", (sha256(archive),))
    first = load_cifar("cifar10", archive, tmp_path / "cache")
    damage(tmp_path / "cache" / "cifar10-jpeg.npz", how)
    again = load_cifar("cifar10", archive, tmp_path / "cache")    # checked against its sha256 first
    np.testing.assert_array_equal(first.train_images, again.train_images)
    assert f"{tmp_path / 'cache' / 'cifar10-jpeg.npz'} cannot be read" in capsys.readouterr().err
    np.testing.assert_array_equal(datasets.load_arrays(tmp_path / "cache" / "cifar10-jpeg.npz").train_images,
                                  first.train_images)


def test_a_results_tar_with_half_a_result_is_named_incomplete(tmp_path):
    folder = write_fake_result(tmp_path / "results", FIRST, "smoke")
    out = tmp_path / "bundle"
    out.mkdir()
    with tarfile.open(out / "results-smoke.tar", "w") as tar:
        tar.add(folder / "result.json", arcname=f"{FIRST}/smoke/result.json")     # no curves.npz
    with pytest.raises(ValueError, match=rf"{FIRST}/smoke is incomplete \(\['result.json'\]\)"):
        unpack(out, tmp_path / "data")
    assert not (tmp_path / "data").exists()
