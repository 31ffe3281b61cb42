"""The rich console that progress and messages use (imported only once a command runs)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from adain_cli.cli.streams import STDERR, STDOUT, mute, shown
from adain_cli.signals import PipeClosed


class FilterConsole(Console):
    """A rich console on standard error that ends the job as a filter does when its reader goes away
    (rich's own answer is SystemExit(1), which skips the interrupt's cleanup and says nothing true). Text names
    the image of standard input or output as that stream, not by its temporary file."""

    def print(self, *objects: Any, **options: Any) -> None:
        super().print(*(shown(item) if isinstance(item, str) else item for item in objects), **options)

    def on_broken_pipe(self) -> None:
        self.quiet = True
        mute(STDERR if self.stderr else STDOUT)
        raise PipeClosed()
