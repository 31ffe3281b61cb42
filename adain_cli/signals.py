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

__all__ = ["PipeClosed", "Terminated", "deferred", "describe", "exit_status", "interrupts_as_keyboard"]

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


_deferring = 0  # how deep the main thread is in `deferred` blocks
_pending: KeyboardInterrupt | None = None  # the interrupt a `deferred` block holds back


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within the block, an interrupt taken over by `interrupts_as_keyboard` (SIGTERM, SIGHUP, Ctrl-C) is
    raised at the block's end instead of inside it: a record of a finished output is written whole and marked
    as written, or not at all. Outside `interrupts_as_keyboard` (the library) it changes nothing."""
    global _deferring, _pending
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending is not None:
            interrupt, _pending = _pending, None
            raise interrupt


def _raise_or_defer(interrupt: KeyboardInterrupt) -> None:
    global _pending
    if not _deferring:
        raise interrupt
    _pending = _pending or interrupt


@contextlib.contextmanager
def interrupts_as_keyboard() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `Terminated` in the main thread (and Ctrl-C, as ever,
    KeyboardInterrupt), except inside a `deferred` block, which raises it at its end.

    Only signals left at their default action are taken over: one the parent chose to ignore
    (`nohup` ignores SIGHUP) stays ignored. After the first, repeats of SIGTERM and SIGHUP are ignored so
    that a second SIGTERM cannot cut short the cleanup the first one started (a second Ctrl-C still
    interrupts). Previous handlers come back on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal raised
        if not raised:
            raised = True
            _raise_or_defer(Terminated(signum))

    def keyboard(signum: int, frame: FrameType | None) -> None:
        _raise_or_defer(KeyboardInterrupt())

    previous = {}
    for signum in HANDLED:
        if signal.getsignal(signum) is signal.SIG_DFL:
            previous[signum] = signal.signal(signum, handler)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, keyboard)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
