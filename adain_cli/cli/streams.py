"""Standard output and error treated as a Unix filter treats them.

A reader that closes the pipe (`adain … --json-lines | head -1`) is a normal end: the first write that
fails with EPIPE points that stream at /dev/null (so later writes, and the interpreter's last flush, go
nowhere instead of failing again) and raises `signals.PipeClosed`, which stops the job like Ctrl-C and
exits 141 without a word. A stream that cannot be written for another reason (`> /dev/full`) is one
line naming it, exit 1.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
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
        where = destination(fd)
        mute(fd)
        raise AdainError(f"cannot write to {where}: {error.strerror or error}") from None


def echo(text: str) -> None:
    """One line on standard output (a JSON record, a summary)."""
    with writing(STDOUT):
        click.echo(text)


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
