"""One-line notes a command says before its work (on stderr, not under -q): kept apart from the job's planning."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adain_cli.job import Job

# What an interrupted command that knows better than the group's generic line (train: its run folder, the
# iteration of the checkpoint it kept) puts in its context's meta, which the group's context shares.
KEPT_AFTER_INTERRUPT = "adain.kept_after_interrupt"


def empty_shard(job: Job) -> str | None:
    """The note for a `--shard K/N` that has none of the job's outputs (N above the number of outputs)."""
    index, count = job.shard
    if count < 2 or job.shard_outputs():
        return None
    total = sum(len(job.outputs(content)) for content in job.contents)
    outputs = f"{total} output{'s' if total != 1 else ''}"
    return f"shard {index + 1}/{count} has nothing to do: the job has {outputs} for {count} shards"


def say(note: str | None, *, quiet: bool) -> None:
    """`note` as one line on stderr, unless there is none or the command is quiet."""
    if note is not None and not quiet:
        from adain_cli.cli.jobs import stderr_console

        stderr_console().print(f"note: {note}", markup=False)
