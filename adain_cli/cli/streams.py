"""Standard output and error treated as a Unix filter treats them.

A reader that closes the pipe (`adain … --json-lines | head -1`) is a normal end: the first write that
fails with EPIPE points that stream at /dev/null (so later writes, and the interpreter's last flush, go
nowhere instead of failing again) and raises `signals.PipeClosed`, which stops the job like Ctrl-C and
exits 141 without a word. A stream that cannot be written for another reason (`> /dev/full`) is one
line naming it, exit 1.

An image on standard input (`-`) or for standard output (`-o -`) passes through a private temporary folder
(`stream_folder`); what the user reads names it "standard input" or "standard output", never that folder
(`shown`), and a folder left by a process killed with SIGKILL is removed by the next command that makes one.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import click

from adain_cli.errors import AdainError
from adain_cli.signals import PipeClosed

STDOUT, STDERR = 1, 2
_NAMES = {STDOUT: "standard output", STDERR: "standard error"}


def mute(fd: int) -> None:
    """Send what is still written to `fd` to /dev/null (a stream already closed is left as it is)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError):  # fd itself is closed (`>&-`): nothing is written there anyway
        os.dup2(devnull, fd)
    os.close(devnull)


def destination(fd: int) -> str:
    """`fd` by name and, where the system says, what it is open on: 'standard output (/dev/full)'."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return _NAMES[fd]
    return f"{_NAMES[fd]} ({target})"


@contextlib.contextmanager
def writing(fd: int) -> Iterator[None]:
    """Writes to `fd` in the block: a closed pipe raises PipeClosed, any other failure an AdainError that
    names the stream; either way the stream is muted, so nothing fails again at exit."""
    try:
        yield
    except BrokenPipeError:
        mute(fd)
        raise PipeClosed() from None
    except OSError as error:
        raise _failed(fd, error) from None


def echo(text: str) -> None:
    """One line on standard output (a JSON record, a summary)."""
    with writing(STDOUT):
        click.echo(shown(text))


# A stream's temporary file -> its name for the user ("standard input"); what `shown` puts in its place.
_SHOWN_AS: dict[str, str] = {}
_STREAM_FOLDER_PREFIX = "adain-std"
# A folder older than this whose process is gone is stale. A process of another pid namespace (a container
# sharing /tmp) may look gone: the age keeps the sweep off the folders of any job still running there.
STALE_AFTER_S = 6 * 3600


def stream_folder(stream: str, file_name: str) -> Path:
    """A private temporary folder for `stream` ("stdin" or "stdout"), removed when the command ends, and the path
    of `file_name` in it, which messages show as "standard input" / "standard output". The folder's name carries
    this process's id, so stale ones (their process gone, SIGKILL leaving no chance to clean) are swept first."""
    sweep_stale_stream_folders()
    folder = Path(tempfile.mkdtemp(prefix=f"{_STREAM_FOLDER_PREFIX}{stream.removeprefix('std')}-{os.getpid()}-"))
    click.get_current_context().call_on_close(lambda: shutil.rmtree(folder, ignore_errors=True))
    path = folder / file_name
    name = "standard input" if stream == "stdin" else "standard output"
    for spelling in {str(path), str(path.resolve())}:
        _SHOWN_AS[spelling] = name
    return path


def sweep_stale_stream_folders(now: float | None = None) -> list[Path]:
    """Remove the stream folders (`adain-stdin-PID-…`, `adain-stdout-PID-…`) in the temporary folder whose process
    is gone and that are older than STALE_AFTER_S; returns those removed. Anything else is left alone."""
    root = Path(tempfile.gettempdir())
    removed = []
    now = time.time() if now is None else now
    with contextlib.suppress(OSError):
        for folder in root.glob(f"{_STREAM_FOLDER_PREFIX}*-*-*"):
            pid = _owner(folder.name)
            with contextlib.suppress(OSError):
                stale = pid is not None and not _alive(pid) and now - folder.lstat().st_mtime > STALE_AFTER_S
                if stale and folder.is_dir() and not folder.is_symlink() and _mine(folder):
                    shutil.rmtree(folder)
                    removed.append(folder)
    return removed


def _owner(name: str) -> int | None:
    """The process id in a stream folder's name, or None for a name not made by `stream_folder`."""
    kind, _, rest = name.removeprefix(_STREAM_FOLDER_PREFIX).partition("-")
    pid, _, _ = rest.partition("-")
    return int(pid) if kind in ("in", "out") and pid.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (EPERM): alive
        return True
    return True


def _mine(folder: Path) -> bool:
    """Whether this user owns `folder` (a shared temporary folder holds other users' too)."""
    getuid = getattr(os, "getuid", None)
    return getuid is None or folder.lstat().st_uid == getuid()


def shown(text: str) -> str:
    """`text` as the user reads it: a stream's temporary file named as the stream."""
    for path, name in _SHOWN_AS.items():
        text = text.replace(path, name)
    return text


def binary_stdin() -> BinaryIO:
    """Standard input as bytes; an AdainError when the process has none (started with `<&-`)."""
    if sys.stdin is None:
        raise AdainError("standard input is closed")
    return sys.stdin.buffer


def write_bytes(data: bytes) -> None:
    """Bytes on standard output (`-o -`)."""
    if sys.stdout is None:
        raise AdainError("standard output is closed")
    stream = sys.stdout.buffer
    with writing(STDOUT):
        stream.write(data)
        stream.flush()


def mute_both() -> None:
    """Both streams to /dev/null, for a closed pipe found where it was not expected."""
    for fd in (STDOUT, STDERR):
        mute(fd)


class _CheckedText(io.TextIOWrapper):
    """Standard output for the program: a write or flush that fails for a reason other than a closed pipe (a full
    device, an I/O error) is an AdainError naming the stream, whatever did the writing (click, rich, print)."""

    def write(self, text: str) -> int:
        if isinstance(text, str) and not text:  # click's probe of the stream: nothing to hand on
            return 0
        try:
            return super().write(text)
        except BrokenPipeError:
            raise  # the callers' own handling of a closed pipe: signals.PipeClosed, click's quiet end
        except OSError as error:
            raise _failed(STDOUT, error) from None

    def flush(self) -> None:
        try:
            super().flush()
        except BrokenPipeError:
            raise
        except OSError as error:
            raise _failed(STDOUT, error) from None


def _failed(fd: int, error: OSError) -> AdainError:
    where = destination(fd)
    mute(fd)
    return AdainError(f"cannot write to {where}: {error.strerror or error}")


def check_stdout_writes() -> None:
    """From here on every text write to standard output is checked (the program calls this; a library never)."""
    stream = sys.stdout
    if isinstance(stream, io.TextIOWrapper) and not isinstance(stream, _CheckedText):
        with writing(STDOUT):
            stream.flush()  # what was printed before keeps its place ahead of what comes next
        sys.stdout = _CheckedText(stream.buffer, encoding=stream.encoding, errors=stream.errors,
                                  line_buffering=stream.line_buffering, write_through=stream.write_through)  # fmt: skip


def flush_stdout() -> None:
    """Everything written to standard output, handed to the system before the program says it succeeded."""
    if sys.stdout is not None:
        with writing(STDOUT):
            sys.stdout.flush()
