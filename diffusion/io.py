"""Atomic file output: a result file is either complete or absent.

Every file the package writes for a user (samples, data, reports, checkpoints)
goes through ``atomic_write``: the content is written to a temporary file in the
target's own folder and moved into place with ``os.replace``, which is atomic on
POSIX file systems. A crash or an exception halfway leaves the old file (or no
file) and removes the temporary one, so a script never reads a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["atomic_write", "write_text", "write_json", "save_npy", "save_npz"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write_fn: Callable[[Path], object]) -> Path:
    """Write ``path`` atomically: ``write_fn(tmp)`` fills a temporary file, then it replaces path.

    ``tmp`` is a Path in the same folder whose name ends with the target's suffix
    (so writers that add a missing '.npy' or '.npz' leave the name alone). The folder
    must exist. On any exception the temporary file is deleted and the exception
    propagates; the target is untouched. Returns the final path.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder {str(folder)!r} does not exist")
    fd, tmp_name = tempfile.mkstemp(
        dir=folder, prefix=f".{path.name}.", suffix=".tmp" + path.suffix
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write_fn(tmp)
        if not tmp.exists():
            raise RuntimeError(f"writer for {path} did not write its temporary file")
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a text file (UTF-8) atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, obj: object) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return write_text(path, json.dumps(obj, indent=2) + "\n")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """np.save atomically, to exactly ``path`` (no '.npy' appended)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(array), allow_pickle=False)

    return atomic_write(path, write)


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """np.savez atomically, to exactly ``path`` (no '.npz' appended)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})

    return atomic_write(path, write)
