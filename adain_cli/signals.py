"""SIGTERM and SIGHUP handled like Ctrl-C.

`timeout`, Slurm, Kubernetes and `docker stop` send SIGTERM; a closed terminal sends SIGHUP. Inside
`interrupts_as_keyboard()` both raise `Terminated`, a KeyboardInterrupt, so the cleanup written for
Ctrl-C (temporary files removed, a training checkpoint saved) runs for them too. The exit status is
then 128 + the signal number, as a shell reports for a process killed by that signal.

A reader that closes the pipe (`adain … --json-lines | head -1`) is the same kind of end: Python ignores
SIGPIPE, so the front end turns the failed write into `PipeClosed`, another KeyboardInterrupt, and the job
stops as it does for Ctrl-C (exit 141, 128 + SIGPIPE).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from adain_cli.exits import SIGNALLED

__all__ = ["PipeClosed", "Terminated", "describe", "exit_status", "interrupts_as_keyboard"]

HANDLED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """A termination signal, raised where Ctrl-C would raise KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


SIGPIPE = getattr(signal, "SIGPIPE", 13)


class PipeClosed(KeyboardInterrupt):
    """Standard output or error lost its reader (EPIPE): raised where SIGPIPE would have ended the process."""

    signum = SIGPIPE

    def __init__(self) -> None:
        super().__init__("SIGPIPE")


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal number: 143 for SIGTERM, 129 for SIGHUP, 141 for a closed pipe, 130 for Ctrl-C."""
    return SIGNALLED + getattr(interrupt, "signum", signal.SIGINT)


def describe(interrupt: KeyboardInterrupt) -> str:
    """The signal's name: SIGTERM, SIGHUP or SIGINT."""
    return signal.Signals(getattr(interrupt, "signum", signal.SIGINT)).name


@contextlib.contextmanager
def interrupts_as_keyboard() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `Terminated` in the main thread.

    Only signals left at their default action are taken over: one the parent chose to ignore
    (`nohup` ignores SIGHUP) stays ignored. After the first, repeats are ignored so that a second
    SIGTERM cannot cut short the cleanup the first one started. Previous handlers come back on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise Terminated(signum)

    previous = {}
    for signum in HANDLED:
        if signal.getsignal(signum) is signal.SIG_DFL:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
