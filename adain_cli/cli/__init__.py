"""The `adain` command: a click group of thin commands over the one engine.

Each command parses its options into plain dataclasses, builds a `Job`, and hands it to `jobs.run`.
Nothing here imports torch at module level, so `adain --version` and `--help` answer at once.
Every failure leaves as one line on stderr with a documented exit status; tracebacks only with
ADAIN_DEBUG=1.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from adain_cli import exits
from adain_cli.cli import streams
from adain_cli.cli.doctor import doctor
from adain_cli.cli.export import export
from adain_cli.cli.grid import grid_command
from adain_cli.cli.interpolate import interpolate
from adain_cli.cli.models import models, renamed_weights
from adain_cli.cli.notices import KEPT_AFTER_INTERRUPT
from adain_cli.cli.spatial import spatial
from adain_cli.cli.styles import styles
from adain_cli.cli.stylize import preserve_color, stylize
from adain_cli.cli.train import train_command
from adain_cli.errors import AdainError, UsageError
from adain_cli.version import __version__


class UserError(click.ClickException):
    """An `AdainError` on its way out: one line on stderr, exit 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"adain: error: {streams.shown(self.message)}", err=True)


class OneLineUsageError(click.UsageError):
    """A usage error as one line (what is wrong, and where the help is) instead of click's usage block."""

    def show(self, file: Any = None) -> None:
        command = self.ctx.command_path if self.ctx is not None else "adain"
        click.echo(f"{command}: error: {self.message} (see `{command} --help`)", err=True)


IMAGE_COMMANDS = ("stylize", "preserve-color", "interpolate", "spatial")


def after_interrupt(command: str | None) -> str:
    """What an interrupted `command` has kept, and how to go on from there."""
    if command == "train":
        return "the run's checkpoint is kept (resume with `adain train --resume RUN`, RUN being its folder)"
    if command == "styles":
        return "the styles encoded so far are kept beside the bank (BANK.partial): run the same command again to go on"
    if command in IMAGE_COMMANDS:
        return "finished outputs are kept (to resume, run the same command again with --skip-existing)"
    return "finished outputs are kept"


class InternalError(click.ClickException):
    exit_code = exits.INTERNAL

    def show(self, file: Any = None) -> None:
        click.echo(f"adain: internal error: {self.message}", err=True)


class AdainGroup(click.Group):
    """Turns every way a command can end into one line on stderr and its exit status."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            # Plain `adain`: the help on stderr, exit 2, as click 8.2 and later do it (click 8.1 exits 0).
            click.echo(ctx.get_help(), err=True, color=ctx.color)
            ctx.exit(2)
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            raise OneLineUsageError(error.format_message(), error.ctx or ctx) from None

    def invoke(self, ctx: click.Context) -> Any:
        from adain_cli import signals

        try:
            with signals.interrupts_as_keyboard():
                return super().invoke(ctx)
        except UsageError as error:
            raise OneLineUsageError(str(error), ctx) from None
        except AdainError as error:
            raise UserError(str(error)) from None
        except click.UsageError as error:
            raise OneLineUsageError(error.format_message(), error.ctx) from None
        except signals.PipeClosed as closed:  # the reader went away (`| head -1`): a filter's quiet end
            raise click.exceptions.Exit(signals.exit_status(closed)) from None
        except BrokenPipeError:  # a write that streams.writing did not guard: the same end
            streams.mute_both()
            raise click.exceptions.Exit(signals.exit_status(signals.PipeClosed())) from None
        except KeyboardInterrupt as interrupt:  # cleanup has run; exit 128 + the signal number
            kept = ctx.meta.get(KEPT_AFTER_INTERRUPT) or after_interrupt(ctx.invoked_subcommand)
            click.echo(f"adain: interrupted by {signals.describe(interrupt)}; {kept}", err=True)
            raise click.exceptions.Exit(signals.exit_status(interrupt)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            if os.environ.get("ADAIN_DEBUG") == "1":
                raise
            summary = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            raise InternalError(
                f"{summary} (this is a bug in adain: please report it with what the same command prints when run "
                "with ADAIN_DEBUG=1)"
            ) from None


@click.group(cls=AdainGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="adain")
def cli() -> None:
    """Arbitrary style transfer with Adaptive Instance Normalization (Huang & Belongie, 2017).

    \b
    adain stylize photos/ --style starry.jpg --alpha 0.5 -o out/
    adain stylize photos/ --style styles/ --alpha 0 .5 1 -o out/
    adain interpolate c.jpg s1.jpg s2.jpg --weights .3 .7 -o out/
    adain spatial me.jpg --mask person.png --style fg.jpg --style bg.jpg -o out/
    adain preserve-color photos/ --style ink.jpg --method luminance -o out/
    adain stylize clip.mp4 --style ink.jpg -o out/
    adain styles encode paintings/ -r -o paintings.bank   # then --style paintings.bank

    The pretrained models download on first use into $ADAIN_HOME (else
    $XDG_CACHE_HOME/adain, else ~/.cache/adain); see `adain models --help`.
    Exit status: 0 all done, 1 something failed, 2 usage error, 70 internal error,
    130 interrupted (Ctrl-C), 143 terminated (SIGTERM), 129 hung up (SIGHUP),
    141 output pipe closed (`| head -1`: stops quietly, finished outputs kept).
    """


def _usage_errors_in_own_context(command: click.Command) -> None:
    """A UsageError a command's body raises (a missing --decoder file, an unknown --style name) is reported with
    that command's prefix and help, as click's own usage errors are, not with the group's."""
    body = command.callback
    if body is not None:

        @functools.wraps(body)
        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                return body(*args, **kwargs)
            except UsageError as error:
                raise click.UsageError(str(error), click.get_current_context()) from None

        command.callback = checked
    for sub in getattr(command, "commands", {}).values():
        _usage_errors_in_own_context(sub)


for _command in (
    stylize,
    preserve_color,
    interpolate,
    spatial,
    styles,
    train_command,
    grid_command,
    models,
    renamed_weights,
    export,
    doctor,
):
    _usage_errors_in_own_context(_command)
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point."""
    from PIL import Image

    from adain_cli.allocator import keep_freed_memory

    # The command is a program, not a library: its --max-pixels, checked from each file's header before any
    # pixel is decoded, is its only pixel limit, so Pillow's own (lower) one is lifted for this process.
    Image.MAX_IMAGE_PIXELS = None
    keep_freed_memory()  # large tensors reuse freed memory rather than fault in fresh pages (allocator.py)
    streams.check_stdout_writes()
    try:
        try:
            cli.main(args=list(argv) if argv is not None else None, prog_name="adain")
        except SystemExit as end:
            if end.code in (0, None):
                streams.flush_stdout()  # exit 0 only once standard output has all of it (`> /dev/full` fails here)
            raise
    except AdainError as error:  # a write that failed outside a command (`adain --help > /dev/full`)
        click.echo(f"adain: error: {error}", err=True)
        sys.exit(exits.FAILED)
