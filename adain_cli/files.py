"""Writing files durably: a temporary name beside the target, fsync, rename, fsync the folder.

Every file adain creates (outputs, grids, manifests, checkpoints, cached weights) goes through
`atomic_path`, so a file at its final name is always complete, even after a crash or a power loss,
and gets the permissions a plain `open()` would give it under the user's umask.

Within `batched_folder_syncs()` (a job's run) the folder fsync that makes a rename durable is batched: at most
once a second per folder, and for every folder at the end, so a job of many small files is not bound by fsync.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask. os.umask can only be read by setting it, so the lock keeps two threads from
    reading it at once (one would see the other's temporary 0 and create files world-writable)."""
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


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


@contextlib.contextmanager
def atomic_path(path: Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block succeeds, fsync it, give it the umask's mode
    and rename it into place. Whatever happens inside (an error, Ctrl-C, SIGTERM), nothing is left at
    `path` or beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = _temporary_prefix(path.name, suffix)
    descriptor, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    os.close(descriptor)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; a plain open() would not
        with tmp.open("rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
        _renamed_in(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
