"""CIFAR-10 from the official python tarball (Krizhevsky 2009).

The tarball ``cifar-10-python.tar.gz`` holds six pickled batches
(``data_batch_1..5``, ``test_batch``), each a dict with b"data": uint8 (10000, 3072)
in channel-major order (1024 red, 1024 green, 1024 blue) and b"labels": 10000 ints.

Pickle can run arbitrary code, so the batches are read with a restricted
unpickler that accepts only the few numpy constructors an ndarray needs, and a
downloaded tarball must first match the official md5. The first load converts the
batches into a plain ``.npz`` cache (no pickle) next to the tarball; later loads
read that. Every file is written to a temporary name and moved into place, so an
interrupted download or conversion leaves nothing half-written.

Cache folder: $DIFFUSION_CACHE, else $XDG_CACHE_HOME/diffusion, else ~/.cache/diffusion.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import pickle
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..io import atomic_write

try:  # numpy >= 2 moved the array internals to numpy._core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

__all__ = [
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "CLASSES",
    "cache_dir",
    "download_file",
    "load_cifar10",
    "read_cifar10_tarball",
    "to_model_range",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
TARBALL = "cifar-10-python.tar.gz"
CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def cache_dir() -> Path:
    """The download/cache folder: $DIFFUSION_CACHE or the XDG cache folder."""
    env = os.environ.get("DIFFUSION_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "diffusion"


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_file(url: str, dest: str | os.PathLike, md5: str | None = None) -> Path:
    """Download ``url`` to ``dest`` atomically; with ``md5``, verify before moving it
    into place (a mismatch raises ValueError and leaves no file)."""
    dest = Path(dest)

    def write(tmp: Path) -> None:
        with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
            while chunk := r.read(1 << 20):
                f.write(chunk)
        if md5 is not None and _md5(tmp) != md5:
            raise ValueError(f"download of {url} has the wrong md5 (expected {md5}); try again")

    try:
        return atomic_write(dest, write)
    except OSError as e:  # network errors: one clear line, the cache untouched
        raise FileNotFoundError(
            f"could not download {url} ({e}); place the file at {dest} by hand"
        ) from e


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes, numbers and numpy arrays; refuses anything else,
    so a tampered batch cannot call os.system or the like."""

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):
            # protocol-2 pickles written by Python 3 store bytes as codecs.encode(str)
            return codecs.encode
        if (module, name) in self._ALLOWED:
            return getattr(np, name) if module == "numpy" else _reconstruct
        raise ValueError(f"CIFAR-10 batch refers to {module}.{name}: not a plain data batch")


def _load_batch(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    d = _ArrayOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        raise ValueError("CIFAR-10 batch is not a dict with b'data' and b'labels'")
    data = np.asarray(d[b"data"], dtype=np.uint8)
    labels = np.asarray(d[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(f"CIFAR-10 batch has data of shape {data.shape}, expected (N, 3072)")
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar10_tarball(
    path: str | os.PathLike, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Read one split from the official tarball: (images uint8 (N, 3, 32, 32), labels (N,))."""
    if split not in _SPLITS:
        raise ValueError(f"unknown CIFAR-10 split {split!r}; choose train or test")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 tarball not found at {path}")
    images, labels = [], []
    with tarfile.open(path, "r:gz") as tar:
        members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
        for name in _SPLITS[split]:
            if name not in members:
                raise ValueError(f"{path} has no {name}: not the CIFAR-10 python tarball")
            x, y = _load_batch(tar.extractfile(members[name]).read())
            images.append(x)
            labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


def load_cifar10(
    split: str = "train",
    *,
    root: str | os.PathLike | None = None,
    download: bool = True,
    verify_md5: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 ``split`` as (images uint8 (N, 3, 32, 32), labels int64 (N,)).

    ``root`` is a folder holding (or to receive) ``cifar-10-python.tar.gz``, or the
    tarball itself; default: ``cache_dir()``. A missing tarball is downloaded from
    the official address when ``download`` is true. ``verify_md5`` checks a tarball
    found on disk against the official md5 too (switch off only for test fixtures).
    """
    if split not in _SPLITS:
        raise ValueError(f"unknown CIFAR-10 split {split!r}; choose train or test")
    root = Path(root) if root is not None else cache_dir()
    tarball = root if root.suffix == ".gz" else root / TARBALL
    cached = tarball.with_name(f"cifar10-{split}.npz")
    if cached.exists():
        with np.load(cached, allow_pickle=False) as z:
            return z["images"], z["labels"]
    if not tarball.exists():
        if not download:
            raise FileNotFoundError(f"{tarball} does not exist and download is off")
        tarball.parent.mkdir(parents=True, exist_ok=True)
        download_file(CIFAR10_URL, tarball, md5=CIFAR10_MD5)
    elif verify_md5 and _md5(tarball) != CIFAR10_MD5:
        raise ValueError(f"{tarball} does not match the official CIFAR-10 md5 {CIFAR10_MD5}")
    images, labels = read_cifar10_tarball(tarball, split)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, images=images, labels=labels)

    atomic_write(cached, write)
    return images, labels


def to_model_range(images: np.ndarray | Tensor) -> Tensor:
    """uint8 images in [0, 255] -> float32 in [-1, 1], the range the UNet models."""
    x = torch.as_tensor(np.asarray(images))
    return x.float().div(127.5).sub(1.0)
