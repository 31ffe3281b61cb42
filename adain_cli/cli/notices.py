"""One-line notes a command says before its work (on stderr, not under -q): kept apart from the job's planning."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from adain_cli.job import Job
    from adain_cli.resume import Survey
    from adain_cli.sheets.records import PagePlan

# What an interrupted command that knows better than the group's generic line (train: its run folder, the
# iteration of the checkpoint it kept) puts in its context's meta, which the group's context shares.
KEPT_AFTER_INTERRUPT = "adain.kept_after_interrupt"


def empty_shard(job: Job, state: Survey) -> str | None:
    """The note for a `--shard K/N` that has none of the job's outputs (N above the number of outputs)."""
    index, count = job.shard
    if count < 2 or state.work:
        return None
    outputs = f"{state.total} output{'s' if state.total != 1 else ''}"
    return f"shard {index + 1}/{count} has nothing to do: the job has {outputs} for {count} shards"


def grid_pages(job: Job, plan: PagePlan) -> str | None:
    """The note for grids split into pages (more contents than --grid-rows, or over the image size limit): how
    many, said before the work so that a long job's user can still choose --no-grid or --grid-rows."""
    pages = [page for page in plan.pages if page.alpha == job.alphas[0]]
    if len(pages) < 2:
        return None
    alphas = "" if len(job.alphas) == 1 else f" for each of the {len(job.alphas)} α"
    rows = len(pages[0].rows)
    return f"grids: {len(pages):,} pages{alphas}, of up to {rows:,} of the {len(job.contents):,} contents each"


def before_work(job: Job, state: Survey, *, shard_given: bool, quiet: bool) -> None:
    """The notes said once the job is planned and surveyed, before any weights load (the dry run says them too)."""
    for note in (empty_shard(job, state) if shard_given else None, grid_pages(job, state.pages)):
        say(note, quiet=quiet)


def say(note: str | None, *, quiet: bool) -> None:
    """`note` as one line on stderr, unless there is none or the command is quiet."""
    if note is not None and not quiet:
        click.echo(f"note: {note}", err=True)
