"""The rich console that progress and messages use (imported only once a command runs)."""

from __future__ import annotations

from rich.console import Console

from adain_cli.cli.streams import STDERR, STDOUT, mute
from adain_cli.signals import PipeClosed


class FilterConsole(Console):
    """A rich console on standard error that ends the job as a filter does when its reader goes away
    (rich's own answer is SystemExit(1), which skips the interrupt's cleanup and says nothing true)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        mute(STDERR if self.stderr else STDOUT)
        raise PipeClosed()
