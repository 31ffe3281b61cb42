"""A job with nothing left to do: with --skip-existing every output finished and every grid page as it
would be drawn. Answered from the files alone (the outputs' marks, the pages' records), so the command says
so without importing torch or loading a network."""

from __future__ import annotations

import time
from pathlib import Path

from adain_cli.job import Job, Output
from adain_cli.report import Event, ProgressFn, Reporter, Summary
from adain_cli.sheets.manifest import manifest_path
from adain_cli.sheets.names import wants_grids
from adain_cli.sheets.records import PagePlan, plan_pages, remove_stale


def nothing_due(job: Job, work: dict[int, list[Output]], finished: set[Path], pages: PagePlan) -> bool:
    """No output of `work` left to make, no page to draw, and the manifest a shard's grids need is there."""
    if any(output.path not in finished for outputs in work.values() for output in outputs) or pages.due:
        return False
    return not (wants_grids(job) and not job.styles_per_content and work) or manifest_path(job).is_file()


def skipped_summary(
    job: Job, work: dict[int, list[Output]], pages: PagePlan, progress: ProgressFn, started: float
) -> Summary:
    """The summary of a run that keeps every output of `work` as it is (and removes pages of an earlier paging)."""
    summary = Summary(total=sum(len(outputs) for outputs in work.values()))
    reporter = Reporter(summary, progress)
    progress(Event("start", total=summary.total, count=0))
    for row, outputs in sorted(work.items()):
        for output in outputs:
            reporter.skipped(job.record(row, output, "skipped"))
    remove_stale(pages, reporter)
    summary.seconds = time.perf_counter() - started
    return summary


def already_done(job: Job, progress: ProgressFn = lambda event: None) -> Summary | None:
    """With --skip-existing, the summary of a job (of its shard) with nothing left to do; None when there is work."""
    if not job.skip_existing:
        return None
    started = time.perf_counter()
    work = job.shard_outputs()
    # Output by output, so that a job with work stops at its first output to make (the run decides again).
    if not all(job.finished({row: [output]}) for row, outputs in work.items() for output in outputs):
        return None
    finished = {output.path for outputs in work.values() for output in outputs}
    pages = plan_pages(job, finished)
    return skipped_summary(job, work, pages, progress, started) if nothing_due(job, work, finished, pages) else None
