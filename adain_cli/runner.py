"""Running a job: load each style once, stream contents through background loading, hand each to the
content runner (`content_runner.py`: encode, decode its looks × alphas in batches, save in background threads,
atomically), fill one grid per α, and report progress through a callback."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import torch

from adain_cli import images
from adain_cli.clips import load_clip
from adain_cli.content_runner import ContentRunner, Load, encode_groups, is_small
from adain_cli.device import Launch, io_thread_count, process_group
from adain_cli.errors import AdainError
from adain_cli.files import batched_folder_syncs, ensure_writable_folder
from adain_cli.images import LoadedImage
from adain_cli.inputs import Source
from adain_cli.job import Job, Output
from adain_cli.job_styles import JobStyles
from adain_cli.prefetch import loaded_ahead
from adain_cli.report import Event, ProgressFn, Reporter, Summary, Totals
from adain_cli.resume import Survey, skipped_summary, survey
from adain_cli.sheets.manifest import manifest_path
from adain_cli.sheets.names import wants_grids
from adain_cli.sheets.pages import Sheets
from adain_cli.sheets.rebuild import grids_of_manifest
from adain_cli.stylizer import Stylizer
from adain_cli.video.read import ClipInfo


def _styles_used(job: Job, work: dict[int, list[Output]], finished: set[Path]) -> set[int]:
    """The styles this shard's outputs with work left need (in dataset mode, only those its contents drew)."""
    looks = {col for outputs in work.values() for output in outputs if output.path not in finished
             for col, _ in output.renders}  # fmt: skip
    return {k for col in looks for k in job.looks[col].styles}


def run_job(
    stylizer: Stylizer,
    job: Job,
    *,
    progress: ProgressFn = lambda event: None,
    launch: Launch | None = None,
    io_threads: int | None = None,
    state: Survey | None = None,
) -> Summary:
    """Run every (content, look, α) of `job` (of its shard); never raises for a bad input, only reports it.

    Grids are filled in memory by a whole job (`sheets/`); a shard instead leaves the manifest from which
    `sheets.rebuild.grids_from_manifest` builds them once every shard is done. With --skip-existing, a grid
    page that would come out the same is kept, and a job with nothing left to do does nothing. Each file is
    fsynced before its rename; the folders' fsyncs are batched (at most once a second each, and at the end).

    Under torchrun (`launch` of several ranks, e.g. `device.torchrun_launch()`), each rank does its own slice
    of the job; once all are done the summary counts every rank's outputs (`Summary.totals`) and rank 0
    builds the grids from the files on disk.

    `io_threads` threads load (decode and resize) the contents ahead, and as many encode and save the outputs;
    None: half the cores this process may use, at least 2 and at most 16 (`device.io_thread_count`).

    `state`: the job's `resume.survey`, when the caller has taken it already (the command does, to skip a
    finished job without loading a network); the run then reads no output's mark again.
    """
    if launch is None or launch.world <= 1:
        with batched_folder_syncs():
            return _run_job(stylizer, job, progress, io_threads, state)
    if state is not None and job.shard != (launch.rank, launch.world):
        state = None  # a survey of another slice of the job
    job = replace(job, shard=(launch.rank, launch.world))
    # Only a barrier and a sum are needed between the ranks, so gloo serves on any device.
    with process_group(launch, "gloo"):
        with batched_folder_syncs():
            summary = _run_job(stylizer, job, progress, io_threads, state)
        summary.all_ranks = _every_rank(summary.totals())  # also the barrier before rank 0 builds the grids
        if launch.rank == 0 and wants_grids(job) and manifest_path(job).is_file():
            summary.grids = grids_of_manifest(manifest_path(job))
    return summary


def _every_rank(totals: Totals) -> Totals:
    """The counts of every rank added up (the slowest rank's time), known to each rank."""
    import torch.distributed as dist

    numbers = torch.tensor([totals.written, totals.skipped, totals.failed], dtype=torch.float64)
    slowest = torch.tensor([totals.seconds], dtype=torch.float64)
    dist.all_reduce(numbers)
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    written, skipped, failed = (int(n) for n in numbers.tolist())
    return Totals(written, skipped, failed, float(slowest.item()))


def _run_job(
    stylizer: Stylizer, job: Job, progress: ProgressFn, io_threads: int | None, state: Survey | None
) -> Summary:
    started = time.perf_counter()
    _check_output_dir(job.output_dir)
    state = state or survey(job)  # decided once, from the files alone
    if state.nothing_due:
        return skipped_summary(job, state, progress, started)
    work, finished, pages = state.work, state.finished, state.pages
    summary = Summary(total=sum(len(outputs) for outputs in work.values()))
    reporter = Reporter(summary, progress)
    progress(Event("start", total=summary.total, count=0))
    calls_before = stylizer.encoder_calls
    progress(Event("stage", message="encoding styles", count=0))
    headers = bool(pages.due) and not job.styles_per_content
    styles = JobStyles(stylizer, job, _styles_used(job, work, finished), headers=headers)
    grids = Sheets.start(job, pages, styles, reporter)
    bad_styles = BadStyles(job, work, reporter, grids)
    bad_styles.drop(styles.errors, first_row=0)  # styles from banks, or every style read for the grids' headers

    threads = io_thread_count(io_threads)
    loader = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="adain-load")
    saver = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="adain-save")
    runner = ContentRunner(stylizer, job, bad_styles.dropped, styles, reporter, grids, saver, finished, savers=threads)
    try:

        def load(source: Source) -> LoadedImage | ClipInfo:
            if source.clip:
                return load_clip(source)
            options = job.images
            return images.load(source.path, options.content_size, crop=options.crop, max_pixels=options.max_pixels,
                               enlarge=options.enlarge)  # fmt: skip

        try:
            prefetch = _prefetch_for(loader, load, ahead=max(4, threads + 2))
            _make_outputs(job, work, runner, grids, reporter, prefetch, _style_preparer(styles, bad_styles, runner))
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM (signals.Terminated): report what reached its name first
            runner.settle()
            grids.keep_records()
            raise
        grids.finish()
    finally:
        loader.shutdown(wait=True, cancel_futures=True)
        saver.shutdown(wait=True, cancel_futures=True)
    summary.encoder_calls = stylizer.encoder_calls - calls_before
    summary.seconds = time.perf_counter() - started
    return summary


def _prefetch_for(
    loader: ThreadPoolExecutor, load: Callable[[Source], LoadedImage | ClipInfo], *, ahead: int
) -> Callable[[list[Source]], Iterator[tuple[Source, Future]]]:
    return lambda sources: loaded_ahead(loader, sources, load, ahead=ahead, small=is_small)


def _style_preparer(job_styles: JobStyles, bad_styles: BadStyles, runner: ContentRunner) -> Callable[[list[int]], None]:
    """What readies the styles of some contents (rows) before they are made: their styles read and encoded (small
    ones of one size together), and the outputs of any style that fails reported at once, by name."""

    def prepare(rows: list[int]) -> None:
        styles = {k for row in rows for output in bad_styles.work.get(row, ()) if output.path not in runner.finished
                  for col, _ in output.renders for k in bad_styles.job.looks[col].styles}  # fmt: skip
        failed = job_styles.prepare(styles)
        if failed:
            bad_styles.drop(failed, first_row=min(rows))  # the runner leaves the looks it drops

    return prepare


def _make_outputs(
    job: Job, work: dict[int, list[Output]], runner: ContentRunner, grids: Sheets, reporter: Reporter,
    prefetch: Callable[[list[Source]], Iterator[tuple[Source, Future]]], prepare_styles: Callable[[list[int]], None],
) -> None:  # fmt: skip
    """Every content in order: skip what exists, load ahead what is left, ready the styles it needs, stylize and
    save it; write each grid page once its rows are done."""
    # --skip-existing decides from the names (and a cheap completeness check) before anything is decoded:
    # a content all of whose outputs exist is never loaded.
    todo = {row: runner.split(outputs) for row, outputs in sorted(work.items())}
    prefetched = prefetch([job.contents[row] for row, (outputs, _) in todo.items() if outputs])
    loads = (Load(row, *next(prefetched)) if outputs else Load(row) for row, (outputs, _) in todo.items())
    for group in encode_groups(loads, runner.encode_group_size):
        prepare_styles([load.row for load in group])
        todo |= {load.row: runner.split(work[load.row]) for load in group}  # less the looks of styles just failed
        live = [load for load in group if todo[load.row][0]]
        prepared = runner.prepare_together(live, {load.row: todo[load.row][0] for load in live})
        for load in group:
            outputs, existing = todo[load.row]
            runner.skip(load.row, existing)
            if load.source is not None and load.future is not None and outputs:
                reporter.progress(Event("stage", load.source.path, "stylizing", count=0))
                runner.run(load.row, load.source, load.future, outputs, prepared.get(load.row))
            else:
                grids.put_row_header_from_file(load.row, job.contents[load.row])
            grids.flush(runner.oldest_pending_row(load.row + 1))
    runner.drain(0)


def _check_output_dir(folder: Path) -> None:
    """Fail once, clearly, when the output folder cannot be made or written (not once per image)."""
    try:
        ensure_writable_folder(folder)
    except OSError as error:
        raise AdainError(f"cannot write to the output folder {folder}: {error.strerror or error}") from None


class BadStyles:
    """The outputs spoiled by styles that did not load, each reported once, as failed, as its styles are met."""

    def __init__(self, job: Job, work: dict[int, list[Output]], reporter: Reporter, grids: Sheets) -> None:
        self.job, self.work, self.reporter, self.grids = job, work, reporter, grids
        self.dropped: set[int] = set()  # the looks with a style that did not load
        self._by_look: dict[int, list[tuple[int, int, Output]]] | None = None  # (row, position, output) of each look
        self._reported: set[Path] = set()

    def drop(self, errors: dict[int, str], *, first_row: int) -> set[int]:
        """The looks newly spoiled by the styles of `errors` (by style index); the outputs they spoil in the
        rows from `first_row` on are reported as failed, under the first bad style of each look."""
        bad_style = {}  # look index -> its first style that did not load
        for col, look in enumerate(self.job.looks):
            bad = next((k for k in look.styles if k in errors), None)
            if bad is not None and col not in self.dropped:
                bad_style[col] = bad
        self.dropped |= set(bad_style)
        affected: dict[int, list[tuple[int, Output]]] = {k: [] for k in sorted(errors)}
        spoiled_now = {(row, position): output for col in bad_style for row, position, output in self._outputs_of(col)
                       if row >= first_row}  # fmt: skip
        for (row, _), output in sorted(spoiled_now.items(), key=lambda item: item[0]):
            if output.path not in self._reported:
                self._reported.add(output.path)
                bad = next(bad_style[col] for col, _ in output.renders if col in bad_style)
                affected[bad].append((row, output))
        for k, spoiled in affected.items():
            error = errors[k]
            records = [self.job.record(row, output, "failed", error=error) for row, output in spoiled]
            self.reporter.failed(self.job.styles[k].path, error, records)
            for row, output in spoiled:
                self.grids.fail(row, output)
        return set(bad_style)

    def _outputs_of(self, col: int) -> list[tuple[int, int, Output]]:
        """The outputs with a render of look `col` (indexed once, when a style first fails)."""
        if self._by_look is None:
            self._by_look = {}
            for row, outputs in self.work.items():
                for position, output in enumerate(outputs):
                    for look in dict.fromkeys(look for look, _ in output.renders):
                        self._by_look.setdefault(look, []).append((row, position, output))
        return self._by_look.get(col, [])
