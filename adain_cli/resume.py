"""What a job's files on disk say before any work: which outputs of this shard are finished (with
--skip-existing), which grid pages are due, and whether anything is left to do. Answered from the files alone
(the outputs' marks, the pages' records), so the command plans, dry-runs and skips a finished job without
importing torch or loading a network; the run then takes the same survey instead of reading every mark again."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from adain_cli.job import Job, Output
from adain_cli.report import Event, ProgressFn, Reporter, Summary
from adain_cli.sheets.manifest import manifest_path
from adain_cli.sheets.names import page_paths, wants_grids
from adain_cli.sheets.records import PagePlan, plan_pages, remove_stale


@dataclass(frozen=True)
class Survey:
    """A job's state on disk, decided once: this shard's outputs by content row, those already finished, and
    the grid pages with the ones this run draws."""

    work: dict[int, list[Output]]
    total: int  # the outputs of the whole job, every shard's
    finished: set[Path]
    pages: PagePlan
    manifest_needed: bool  # a shard's grids need its manifest, and it is not there yet

    @property
    def nothing_due(self) -> bool:
        """No output left to make, no page to draw, and the manifest a shard's grids need is there."""
        left = any(output.path not in self.finished for outputs in self.work.values() for output in outputs)
        return not (left or self.pages.due or self.manifest_needed)


def survey(job: Job) -> Survey:
    """Refuse a job that would lose a file (`Job.check_outputs`), then read what is already done."""
    pages = page_paths(job)
    job.check_outputs(pages)
    work = job.shard_outputs()
    finished = job.finished(work)
    needs_manifest = wants_grids(job) and not job.styles_per_content and bool(work)
    manifest_needed = needs_manifest and not manifest_path(job).is_file()
    return Survey(work, len(job.every_output), finished, plan_pages(job, finished), manifest_needed)


def skipped_summary(job: Job, state: Survey, progress: ProgressFn, started: float | None = None) -> Summary:
    """The summary of a run that keeps every output as it is (and removes pages of an earlier paging)."""
    started = time.perf_counter() if started is None else started
    summary = Summary(total=sum(len(outputs) for outputs in state.work.values()))
    reporter = Reporter(summary, progress)
    progress(Event("start", total=summary.total, count=0))
    remove_stale(state.pages, reporter)
    for row, outputs in sorted(state.work.items()):
        for output in outputs:
            record = job.record(row, output, "skipped")
            reporter.skipped(record)
    summary.seconds = time.perf_counter() - started
    return summary
