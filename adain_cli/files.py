"""Writing files durably: a temporary name beside the target, fsync, rename, fsync the folder.

Every file adain creates (outputs, grids, manifests, checkpoints, cached weights) goes through
`atomic_path` (or `atomic_file`), so a file at its final name is always complete, even after a crash or a power loss,
and gets the permissions a plain `open()` would give it under the user's umask.

Within `batched_folder_syncs()` (a job's run) the folder fsync that makes a rename durable is batched: at most
once a second per folder, and for every folder at the end, so a job of many small files is not bound by fsync.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (where the platform can open a folder; not on Windows)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class _FolderSyncs:
    """Folders with renames not yet made durable, fsynced at most once per `interval` seconds each."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.lock = threading.Lock()
        self.synced_at: dict[Path, float] = {}
        self.dirty: set[Path] = set()

    def renamed_in(self, folder: Path) -> None:
        now = time.monotonic()
        with self.lock:
            due = now - self.synced_at.get(folder, float("-inf")) >= self.interval
            if due:
                self.synced_at[folder] = now
                self.dirty.discard(folder)
            else:
                self.dirty.add(folder)
        if due:
            fsync_folder(folder)

    def flush(self) -> None:
        with self.lock:
            folders, self.dirty = self.dirty, set()
        for folder in sorted(folders):
            fsync_folder(folder)


_batched: _FolderSyncs | None = None


@contextlib.contextmanager
def batched_folder_syncs(interval: float = 1.0) -> Iterator[None]:
    """Within the block, folder fsyncs after renames are batched (see the module); all are done at its end,
    also when it ends by an error or an interrupt."""
    global _batched
    outer, _batched = _batched, _FolderSyncs(interval)
    try:
        yield
    finally:
        batch, _batched = _batched, outer
        batch.flush()


def _renamed_in(folder: Path) -> None:
    batch = _batched
    if batch is None:
        fsync_folder(folder)
    else:
        batch.renamed_in(folder)


def ensure_writable_folder(folder: Path) -> None:
    """Create `folder` if needed and check that a file can be made in it (raises OSError if not)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass


# The temporary name is `.{name}.{8 random characters}{suffix}`, with `name` cut so that it is no longer than
# the final name (or than this many bytes): a final name a folder accepts, up to its 255-byte limit, never
# fails for its temporary name.
SHORT_NAME_BYTES = 64
_RANDOM_CHARACTERS = 8


def _temporary_prefix(name: str, suffix: str) -> str:
    encoded = os.fsencode(name)
    room = max(len(encoded), SHORT_NAME_BYTES) - len(os.fsencode(suffix)) - _RANDOM_CHARACTERS - 2
    # A cut through a multi-byte character leaves its start; errors="ignore" drops that part.
    kept = encoded[: max(room, 0)].decode("utf-8", errors="ignore") if room < len(encoded) else name
    return f".{kept}."


def _create_temporary(folder: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """A new file `{prefix}{8 random characters}{suffix}` in `folder`, open for writing. Created with mode
    0o666, which the kernel narrows by the umask (and the folder's default ACL) as for a plain open()."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = folder / (prefix + secrets.token_hex(_RANDOM_CHARACTERS // 2) + suffix)
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
        except FileNotFoundError:  # the folder is made on first use (not checked before every file)
            folder.mkdir(parents=True, exist_ok=True)
    raise FileExistsError(f"no free temporary name in {folder}")


@contextlib.contextmanager
def atomic_path(path: Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside `path` for the block to write by name; when the block succeeds, fsync
    it and rename it into place. Whatever happens inside (an error, Ctrl-C, SIGTERM), nothing is left at
    `path` or beside it."""
    with _temporary_beside(path, suffix) as (descriptor, tmp):
        os.close(descriptor)
        yield tmp
        with tmp.open("rb+") as written:
            os.fsync(written.fileno())


@contextlib.contextmanager
def atomic_file(path: Path, *, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """`atomic_path` for a writer that takes a file: yields the temporary file, open for binary writing, and
    fsyncs it through the same descriptor (no second open)."""
    with _temporary_beside(path, suffix) as (descriptor, _), os.fdopen(descriptor, "wb") as file:
        yield file
        file.flush()
        os.fsync(file.fileno())


@contextlib.contextmanager
def _temporary_beside(path: Path, suffix: str) -> Iterator[tuple[int, Path]]:
    """A temporary file beside `path` (its descriptor and path), renamed to `path` when the block succeeds
    (the block fsyncs it and closes the descriptor); removed whatever else happens."""
    descriptor, tmp = _create_temporary(path.parent, _temporary_prefix(path.name, suffix), suffix)
    renamed = False
    try:
        yield descriptor, tmp
        os.replace(tmp, path)
        renamed = True
        _renamed_in(path.parent)
    finally:
        if not renamed:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
