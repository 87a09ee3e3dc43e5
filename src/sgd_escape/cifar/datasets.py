"""CIFAR-10/100 as uint8 arrays: official archives, the offline JPEG copy, or synthetic data.

Introduced in Chapter 4 (:ref:`ch4`). Every loader returns a :class:`CifarArrays` whose
``source`` says where the pixels came from; every cached result records it.

Sources, in the order :func:`load_cifar` tries them when no ``data`` is given:

1. an already decoded copy in the dataset cache (official archive preferred);
2. the official python archive, downloaded and checked against its published md5;
3. for CIFAR-10 only, the offline JPEG re-encoding named by ``$SGD_ESCAPE_CIFAR10_JPEG``
   (checked against its sha256).
"""
from __future__ import annotations

import codecs
import dataclasses
import hashlib
import http.client
import io
import os
import pickle
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from ..checks import require_choice, require_int_at_least

#: Environment variable naming the offline CIFAR-10 JPEG archive (``.ci/run`` sets it).
JPEG_ENV = "SGD_ESCAPE_CIFAR10_JPEG"
#: Environment variable naming the folder where decoded datasets are cached.
DATASETS_ENV = "SGD_ESCAPE_DATASETS"
#: sha256 of ``cifar10-jpeg.tar.xz`` (see ``shared/data/README.md``).
CIFAR10_JPEG_SHA256 = "18ee257832403cf6f3f79ff7db1e971124c3f510d031eb5c9213eee4dab66e51"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
#: The official python archives and their published md5 (torchvision uses the same).
OFFICIAL = {
    "cifar10": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "c58f30108f718f92721af3b95e74349a"),
    "cifar100": ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                 "eb9058c3a382ffc7106e4002c42a8d85"),
}
DATASETS = ("cifar10", "cifar100")
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}


@dataclasses.dataclass(frozen=True)
class CifarArrays:
    """Images as uint8 ``[N, 32, 32, 3]`` (HWC), labels as int64, and where they came from (Chapter 4).

    ``train_images`` ``[N, 32, 32, 3]`` and ``train_labels`` ``[N]``, ``test_images``
    ``[M, 32, 32, 3]`` and ``test_labels`` ``[M]``; ``source`` is a line naming the origin of
    the pixels, which every cached result records.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str

    @property
    def num_classes(self) -> int:
        """Number of classes: the largest label (training or test) plus one."""
        return int(max(self.train_labels.max(), self.test_labels.max())) + 1


class DatasetError(RuntimeError):
    """The dataset is missing or fails its checksum (Chapter 4; the command line reports it)."""


def file_digest(path: str | Path, algorithm: str) -> str:
    """Hex digest (a string) of a file under hash ``algorithm``, read in chunks (Chapter 4)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(path: str | Path, algorithm: str, expected: str) -> None:
    """Raise :class:`DatasetError` unless the file's digest is ``expected``; returns None (Chapter 4)."""
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise DatasetError(
            f"{path}: {algorithm} checksum mismatch (expected {expected}, got {actual}); "
            "the file is corrupt or not the expected archive; provide a good copy.")


def decode_jpeg_archive(path: str | Path, expected_sha256: str = CIFAR10_JPEG_SHA256) -> CifarArrays:
    """Decode the CIFAR-10 JPEG re-encoding (``train|test/<class>/NNNN.jpg``) after checking it
    (Chapter 4). Returns its :class:`CifarArrays`."""
    from PIL import Image

    verify_checksum(path, "sha256", expected_sha256)
    splits = {"train": ([], []), "test": ([], [])}
    with tarfile.open(path, "r:*") as archive:
        members = sorted((m for m in archive.getmembers() if m.isfile() and m.name.endswith(".jpg")),
                         key=lambda m: m.name)
        for member in members:
            split, label = _split_and_label(member.name)
            image = Image.open(io.BytesIO(archive.extractfile(member).read())).convert("RGB")
            splits[split][0].append(np.asarray(image, dtype=np.uint8))
            splits[split][1].append(label)
    if not splits["train"][0] or not splits["test"][0]:
        raise DatasetError(f"{path}: no train/ or test/ images found (expected train|test/<class>/*.jpg)")
    arrays = {split: (np.stack(images), np.asarray(labels, dtype=np.int64))
              for split, (images, labels) in splits.items()}
    source = f"CIFAR-10 JPEG re-encoding, quality 75 ({Path(path).name}, sha256 {expected_sha256[:12]}...)"
    return CifarArrays(*arrays["train"], *arrays["test"], source=source)


#: The only globals a CIFAR batch may name: numpy's array reconstruction (under its numpy 1
#: and numpy 2 module names), ndarray and dtype; and ``_codecs.encode``, which Python 3 writes
#: for bytes at pickle protocol 2 (a copy re-pickled by Python 3).
_ARRAY_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_BATCH_GLOBALS = {("numpy.core.multiarray", "_reconstruct"): _ARRAY_RECONSTRUCT,
                  ("numpy._core.multiarray", "_reconstruct"): _ARRAY_RECONSTRUCT,
                  ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                  ("_codecs", "encode"): codecs.encode}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles containers, strings, numbers and numpy arrays; any other global is refused,
    so no code named by the file runs, even if the checksum check were bypassed."""

    def find_class(self, module, name):
        try:
            return _BATCH_GLOBALS[module, name]
        except KeyError:
            raise DatasetError(f"refusing to unpickle {module}.{name} from a CIFAR batch: "
                               "only numpy arrays are expected") from None


def _load_batch(file) -> dict:
    return _BatchUnpickler(file, encoding="bytes").load()


def _split_and_label(name: str) -> tuple[str, int]:
    parts = Path(name).parts
    for i, part in enumerate(parts[:-2]):
        if part in ("train", "test") and parts[i + 1] in CIFAR10_CLASSES:
            return part, CIFAR10_CLASSES.index(parts[i + 1])
    raise DatasetError(f"unexpected file in the JPEG archive: {name}")


def decode_official_archive(path: str | Path, dataset: str) -> CifarArrays:
    """Decode an official ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` after its md5
    (Chapter 4). Returns its :class:`CifarArrays` (CIFAR-100: the 100 fine labels)."""
    require_choice("dataset", dataset, DATASETS)
    url, md5 = OFFICIAL[dataset]
    verify_checksum(path, "md5", md5)
    names = {"cifar10": ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels"),
             "cifar100": (["train"], ["test"], b"fine_labels")}[dataset]
    with tarfile.open(path, "r:gz") as archive:
        batches = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
        train = [_load_batch(archive.extractfile(batches[n])) for n in names[0]]
        test = [_load_batch(archive.extractfile(batches[n])) for n in names[1]]

    def images_labels(parts):
        images = np.concatenate([p[b"data"] for p in parts]).reshape(-1, 3, 32, 32)
        labels = np.concatenate([np.asarray(p[names[2]], dtype=np.int64) for p in parts])
        return np.ascontiguousarray(images.transpose(0, 2, 3, 1)), labels

    source = f"official {dataset.upper()} python archive ({Path(url).name}, md5 {md5})"
    return CifarArrays(*images_labels(train), *images_labels(test), source=source)


def synthetic_cifar(num_classes: int = 10, train_size: int = 2000, test_size: int = 500,
                    seed: int = 0) -> CifarArrays:
    """Random CIFAR-shaped images with a learnable class signal (a blurred template per class),
    as :class:`CifarArrays` with ``train_size`` and ``test_size`` images (Chapter 4).

    For tests and the ``smoke`` preset only: never presented as CIFAR results.
    """
    require_int_at_least("num_classes", num_classes, 2)
    require_int_at_least("train_size", train_size, 1)
    require_int_at_least("test_size", test_size, 1)
    rng = np.random.default_rng(require_int_at_least("seed", seed, 0))
    templates = rng.normal(0, 1, (num_classes, 8, 8, 3)).repeat(4, 1).repeat(4, 2)

    def draw(n):
        labels = rng.integers(0, num_classes, n)
        pixels = 128 + 40 * templates[labels] + rng.normal(0, 40, (n, 32, 32, 3))
        return np.clip(pixels, 0, 255).astype(np.uint8), labels.astype(np.int64)

    return CifarArrays(*draw(train_size), *draw(test_size),
                       source=f"synthetic CIFAR-shaped data (seed {seed}, not CIFAR)")


def default_datasets_dir() -> Path:
    """Where decoded datasets are cached (Chapter 4): ``$SGD_ESCAPE_DATASETS``, else ``.datasets/``
    of the repository, else ``~/.cache/sgd_escape/datasets``."""
    if os.environ.get(DATASETS_ENV):
        return Path(os.environ[DATASETS_ENV])
    from .results import find_repository_root

    root = find_repository_root(required=False)
    return root / ".datasets" if root else Path.home() / ".cache" / "sgd_escape" / "datasets"


def save_arrays(path: Path, arrays: CifarArrays) -> None:
    """Write ``arrays`` to the ``.npz`` file ``path`` atomically, for :func:`load_arrays` (Chapter 4)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{f.name: getattr(arrays, f.name) for f in dataclasses.fields(arrays)})
    tmp.replace(path)


#: What reading a damaged ``.npz`` raises: cut short, not a zip, a bad CRC, a member missing.
_DAMAGED_NPZ = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile)


def load_arrays(path: Path) -> CifarArrays:
    """The :class:`CifarArrays` that :func:`save_arrays` wrote to ``path`` (Chapter 4); raises
    :class:`DatasetError` if the file is damaged."""
    try:
        return _read_npz(path)
    except _DAMAGED_NPZ as error:
        raise DatasetError(f"{path}, the decoded copy of a dataset, cannot be read ({_reason(error)}); "
                           "delete it, and the next command decodes the archive again") from None


def _read_npz(path: Path) -> CifarArrays:
    with np.load(path, allow_pickle=False) as npz:
        return CifarArrays(**{f.name: (str(npz[f.name]) if f.name == "source" else npz[f.name])
                              for f in dataclasses.fields(CifarArrays)})


def _reason(error: Exception) -> str:
    return f"{error.__class__.__name__}: {error}"


def load_cifar(dataset: str, data: str | Path | None = None,
               datasets_dir: str | Path | None = None, download: bool = True) -> CifarArrays:
    """Load CIFAR-10 or CIFAR-100 (Chapter 4), decoding once into ``datasets_dir``.

    ``data`` may be ``"synthetic"``, a JPEG ``.tar.xz`` (CIFAR-10) or an official ``.tar.gz``.
    """
    require_choice("dataset", dataset, DATASETS)
    if data == "synthetic":
        return synthetic_cifar(NUM_CLASSES[dataset])
    cache = Path(datasets_dir) if datasets_dir else default_datasets_dir()
    if data is not None:
        return _load_explicit(dataset, Path(data), cache)
    for kind in ("official", "jpeg"):
        if (cache / f"{dataset}-{kind}.npz").exists():
            return load_arrays(cache / f"{dataset}-{kind}.npz")
    official = cache / Path(OFFICIAL[dataset][0]).name
    if not official.exists() and download:
        _try_download(OFFICIAL[dataset][0], official)
    if official.exists():
        return _load_explicit(dataset, official, cache)
    jpeg = os.environ.get(JPEG_ENV)
    if dataset == "cifar10" and jpeg and Path(jpeg).is_file():
        return _load_explicit(dataset, Path(jpeg), cache)
    raise DatasetError(missing_message(dataset, cache))


def missing_message(dataset: str, cache: Path) -> str:
    """The message of :class:`DatasetError` when ``dataset`` is not available: every way to
    provide it (Chapter 4)."""
    url = OFFICIAL[dataset][0]
    ways = [f"connect to the internet (the official archive {url} is downloaded and md5-checked)",
            f"or put {Path(url).name} into {cache} (or pass --data PATH/{Path(url).name})"]
    if dataset == "cifar10":
        ways.append(f"or point ${JPEG_ENV} (or --data) at the offline cifar10-jpeg.tar.xz")
    return f"{dataset} is not available. Ways to provide it: " + "; ".join(ways) + "."


def _load_explicit(dataset: str, path: Path, cache: Path) -> CifarArrays:
    if not path.is_file():
        raise DatasetError(f"--data {path}: no such file. " + missing_message(dataset, cache))
    if path.name.endswith(".tar.xz"):
        if dataset != "cifar10":
            raise DatasetError(f"{path} is the CIFAR-10 JPEG copy; it cannot provide {dataset}")
        target, decode = cache / f"{dataset}-jpeg.npz", lambda: decode_jpeg_archive(path)
        check = lambda: verify_checksum(path, "sha256", CIFAR10_JPEG_SHA256)  # noqa: E731
    else:
        target, decode = cache / f"{dataset}-official.npz", lambda: decode_official_archive(path, dataset)
        check = lambda: verify_checksum(path, "md5", OFFICIAL[dataset][1])  # noqa: E731
    if target.exists():
        check()         # the archive named is the one decoded earlier, not a damaged or other file
        try:
            return _read_npz(target)
        except _DAMAGED_NPZ as error:   # the archive passed its checksum: decoding it again loses nothing
            print(f"{target} cannot be read ({_reason(error)}); decoding {path} again",
                  file=sys.stderr, flush=True)
    arrays = decode()
    save_arrays(target, arrays)
    return arrays


def _try_download(url: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=10) as response, open(tmp, "wb") as handle:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                handle.write(chunk)
        tmp.replace(target)
    except (OSError, http.client.HTTPException) as error:   # no network, or a connection cut mid-file
        print(f"downloading {url} failed ({_reason(error)})", file=sys.stderr, flush=True)
    finally:        # no .part file left behind, whatever stopped the download
        tmp.unlink(missing_ok=True)
