"""Atomic file output: a result file is either complete or absent.

Every file the package writes for a user (samples, data, reports, checkpoints)
goes through ``atomic_write``: the content is written to a temporary file in the
target's own folder and moved into place with ``os.replace``, which is atomic on
POSIX file systems. A crash or an exception halfway leaves the old file (or no
file) and removes the temporary one, so a script never reads a half-written file.

Output targets are checked before any work (``check_output_file``,
``check_output_dir``): not a symbolic link, not a folder (or not a file), in a
folder that exists or can be created, and that accepts a new file (probed with a
real temporary file, which also catches read-only file systems). Folders created
for an output are recorded, and ``cleanup`` removes them again when the command
fails, if they are still empty. ``terminate_cleanly`` installs a SIGTERM handler
that removes every temporary file being written and turns the signal into
``SystemExit(143)``, so a killed command leaves nothing behind either.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "atomic_write",
    "check_output_dir",
    "check_output_file",
    "cleanup",
    "save_npy",
    "save_npz",
    "terminate_cleanly",
    "write_json",
    "write_text",
]

_LIVE: set[Path] = set()
"""Temporary files being written right now (removed by the SIGTERM handler)."""
_CREATED: list[Path] = []
"""Folders created for an output by this command (removed on failure when empty)."""


def _probe(folder: Path, option: str) -> None:
    """Create and remove a temporary file in ``folder``: the folder accepts new files."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".write-probe.", suffix=".tmp")
    except OSError as err:
        raise PermissionError(
            f"cannot write in folder {str(folder)!r} (for {option}): {err.strerror or err}"
        ) from None
    os.close(fd)
    os.unlink(name)


def _make_folder(folder: Path, option: str) -> None:
    """Create ``folder`` and its missing parents, recording each one created."""
    missing = []
    p = folder
    while not p.exists() and not p.is_symlink() and p != p.parent:
        missing.append(p)
        p = p.parent
    if p.exists() and not p.is_dir():
        raise NotADirectoryError(f"{str(p)!r} is not a folder (for {option})")
    for d in reversed(missing):
        try:
            d.mkdir()
        except OSError as err:
            raise PermissionError(
                f"cannot create folder {str(d)!r} (for {option}): {err.strerror or err}"
            ) from None
        _CREATED.append(d)


def _output_path(path: str | os.PathLike, option: str, what: str) -> tuple[str, Path]:
    """The text and Path of an output ``what`` ("file" or "folder"): a non-empty name
    without a NUL character that is not a symbolic link."""
    text = os.fspath(path)
    if not text.strip():
        raise ValueError(f"{option} is empty; give a {what} name")
    if "\0" in text:
        raise ValueError(f"{option} contains a NUL character")
    out = Path(text)
    if out.is_symlink():
        raise ValueError(f"{option} {text} is a symbolic link; give the real {what}'s path")
    return text, out


def check_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """Check, before any work, that ``path`` can be written as a new or replaced file:
    a non-empty name, not a symbolic link, not a folder or device, in a folder that
    exists (or is created now, recorded for ``cleanup``) and accepts a new file."""
    text, out = _output_path(path, option, "file")
    if out.is_dir():
        raise ValueError(f"{option} {text} is a folder; give a file name")
    if out.exists() and not out.is_file():
        raise ValueError(f"{option} {text} exists and is not a regular file")
    folder = out.parent if str(out.parent) else Path(".")
    _make_folder(folder, option)
    _probe(folder, option)
    return out


def check_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Like ``check_output_file`` for an output folder: a folder (or nothing yet, in a
    folder that can be created), not a symbolic link, accepting new files. The folder
    itself is created only by the caller when results exist (``make_output_dir``)."""
    text, out = _output_path(path, option, "folder")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{option} {text} exists and is not a folder")
    if out.is_dir():
        _probe(out, option)
        return out
    parent = out.parent if str(out.parent) else Path(".")
    _make_folder(parent, option)
    _probe(parent, option)
    return out


def make_output_dir(path: Path) -> Path:
    """Create an output folder checked by ``check_output_dir`` (recorded for ``cleanup``)."""
    if not path.is_dir():
        path.mkdir()
        _CREATED.append(path)
    return path


def cleanup() -> None:
    """Remove the temporary files being written and, newest first, the folders this
    command created that are empty (called when a command fails or is terminated)."""
    for tmp in list(_LIVE):
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        _LIVE.discard(tmp)
    while _CREATED:
        d = _CREATED.pop()
        for stray in d.glob(".*.tmp*") if d.is_dir() else ():
            with contextlib.suppress(OSError):
                stray.unlink()
        # a folder that is not empty holds finished results (e.g. earlier distillation rounds)
        with contextlib.suppress(OSError):
            d.rmdir()


def forget_created() -> None:
    """The command succeeded: its folders stay."""
    _CREATED.clear()


class terminate_cleanly:
    """Context manager: while active (in the main thread), SIGTERM removes the
    temporary files being written and raises SystemExit(143) in the main thread, so
    ``finally`` blocks run and the caller can clean up the rest."""

    def __enter__(self) -> terminate_cleanly:
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    @staticmethod
    def _handle(signum, frame) -> None:
        for tmp in list(_LIVE):
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        raise SystemExit(128 + signum)

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


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
    _LIVE.add(tmp)
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
    finally:
        _LIVE.discard(tmp)
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
