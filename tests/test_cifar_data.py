"""CIFAR sources of Chapter 4: the JPEG archive, the official archives, checksums, messages."""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sgd_escape.cifar import datasets
from sgd_escape.cifar.datasets import (CIFAR10_CLASSES, DatasetError, decode_jpeg_archive,
                                       decode_official_archive, load_cifar, synthetic_cifar)


def _add(archive: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    archive.addfile(info, io.BytesIO(payload))


def make_jpeg_archive(path: Path, per_class: int = 2) -> np.ndarray:
    """A tiny archive in the layout of cifar10-jpeg.tar.xz (smooth images survive JPEG well)."""
    ramp = np.linspace(0, 255, 32, dtype=np.uint8)
    image = np.stack([np.add.outer(ramp, ramp) // 2, np.tile(ramp, (32, 1)), np.full((32, 32), 90, np.uint8)], -1)
    with tarfile.open(path, "w:xz") as archive:
        for split in ("train", "test"):
            for label in (0, 3):
                for i in range(per_class):
                    buffer = io.BytesIO()
                    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
                    _add(archive, f"cifar10/{split}/{CIFAR10_CLASSES[label]}/{i:04d}.jpg", buffer.getvalue())
    return image


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_jpeg_archive_decodes_to_uint8_images_with_labels(tmp_path):
    path = tmp_path / "fake.tar.xz"
    image = make_jpeg_archive(path)
    arrays = decode_jpeg_archive(path, expected_sha256=sha256(path))
    assert arrays.train_images.shape == (4, 32, 32, 3) and arrays.train_images.dtype == np.uint8
    assert sorted(arrays.train_labels) == [0, 0, 3, 3] and len(arrays.test_labels) == 4
    assert np.abs(arrays.train_images[0].astype(int) - image).mean() < 3     # JPEG loss only
    assert "JPEG" in arrays.source


def test_corrupted_jpeg_archive_is_refused_by_its_checksum(tmp_path):
    path = tmp_path / "fake.tar.xz"
    make_jpeg_archive(path)
    expected = sha256(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="sha256 checksum mismatch"):
        decode_jpeg_archive(path, expected_sha256=expected)


def batch_pickle(batch: dict) -> bytes:
    """A batch as the official archive stores it: pickle protocol 2, numpy arrays named by
    numpy 1's module path (GLOBAL opcodes hold the names as text, so they can be swapped)."""
    return pickle.dumps(batch, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def make_official_archive(path: Path, extra: dict | None = None) -> None:
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as archive:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {b"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8), b"labels": [1, 2, 9],
                     b"batch_label": b"training batch", **(extra or {})}
            _add(archive, f"cifar-10-batches-py/{name}", batch_pickle(batch))


def use_official_md5_of(path: Path, monkeypatch) -> None:
    monkeypatch.setitem(datasets.OFFICIAL, "cifar10", ("https://x/cifar-10-python.tar.gz",
                                                       hashlib.md5(path.read_bytes()).hexdigest()))


def test_official_archive_decodes_in_torchvision_layout(tmp_path, monkeypatch):
    path = tmp_path / "cifar-10-python.tar.gz"
    make_official_archive(path)
    use_official_md5_of(path, monkeypatch)
    arrays = decode_official_archive(path, "cifar10")
    assert arrays.train_images.shape == (15, 32, 32, 3) and arrays.test_images.shape == (3, 32, 32, 3)
    with tarfile.open(path) as archive:
        first = pickle.loads(archive.extractfile("cifar-10-batches-py/data_batch_1").read())
    np.testing.assert_array_equal(arrays.train_images[0], first[b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0))
    assert "official" in arrays.source


class RunsCode:
    def __reduce__(self):
        return (os.getenv, ("HOME",))


def test_official_archive_refuses_pickles_that_name_code(tmp_path, monkeypatch):
    path = tmp_path / "cifar-10-python.tar.gz"
    make_official_archive(path, extra={b"payload": RunsCode()})
    use_official_md5_of(path, monkeypatch)        # even with a matching checksum
    with pytest.raises(DatasetError, match="refusing to unpickle os.getenv"):
        decode_official_archive(path, "cifar10")


def test_official_archive_with_wrong_md5_is_refused(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    make_official_archive(path)
    with pytest.raises(DatasetError, match="md5 checksum mismatch"):
        decode_official_archive(path, "cifar10")


def test_missing_dataset_message_names_every_way_to_provide_it(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.JPEG_ENV, raising=False)
    with pytest.raises(DatasetError) as error:
        load_cifar("cifar10", datasets_dir=tmp_path, download=False)
    message = str(error.value)
    assert "cifar-10-python.tar.gz" in message and datasets.JPEG_ENV in message and "--data" in message


def test_decoded_archive_is_cached_once(tmp_path, monkeypatch):
    path = tmp_path / "fake.tar.xz"
    make_jpeg_archive(path)
    monkeypatch.setattr(datasets, "CIFAR10_JPEG_SHA256", sha256(path))
    monkeypatch.setattr(datasets.decode_jpeg_archive, "__defaults__", (sha256(path),))
    first = load_cifar("cifar10", data=path, datasets_dir=tmp_path / "cache")
    assert (tmp_path / "cache" / "cifar10-jpeg.npz").exists()
    path.unlink()                                   # the second load reads the cache
    monkeypatch.setenv(datasets.JPEG_ENV, str(path))
    again = load_cifar("cifar10", datasets_dir=tmp_path / "cache", download=False)
    np.testing.assert_array_equal(first.train_images, again.train_images)


def test_synthetic_data_is_cifar_shaped_and_seeded():
    a, b = synthetic_cifar(seed=1), synthetic_cifar(seed=1)
    assert a.train_images.shape == (2000, 32, 32, 3) and a.num_classes == 10
    np.testing.assert_array_equal(a.train_images, b.train_images)
    with pytest.raises(ValueError, match="num_classes"):
        synthetic_cifar(num_classes=1)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isfile(os.environ.get(datasets.JPEG_ENV, "")),
                    reason=f"${datasets.JPEG_ENV} does not name the offline CIFAR-10 archive")
def test_the_real_jpeg_archive_passes_its_checksum_and_decodes(tmp_path):
    arrays = load_cifar("cifar10", data=os.environ[datasets.JPEG_ENV], datasets_dir=tmp_path)
    assert arrays.train_images.shape == (50000, 32, 32, 3) and arrays.test_images.shape == (10000, 32, 32, 3)
    assert np.bincount(arrays.train_labels).tolist() == [5000] * 10


@pytest.mark.parametrize("name, decoded", [("cifar10-jpeg.tar.xz", "cifar10-jpeg.npz"),
                                           ("cifar-10-python.tar.gz", "cifar10-official.npz")])
def test_a_named_archive_is_checked_even_when_a_decoded_copy_exists(tmp_path, name, decoded):
    from sgd_escape.cifar.datasets import DatasetError, load_cifar, save_arrays, synthetic_cifar

    save_arrays(tmp_path / decoded, synthetic_cifar())
    damaged = tmp_path / name
    damaged.write_bytes(b"not the archive that was decoded")
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_cifar("cifar10", damaged, tmp_path)
