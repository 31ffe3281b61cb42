"""Rendering progress: rich bars on a terminal, plain lines otherwise, nothing but errors with --quiet."""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from adain_cli.report import Event

_View = TypeVar("_View", bound="_LiveView")

if TYPE_CHECKING:
    from adain_cli.train import LogRecord, TrainCallbacks


class RateColumn(ProgressColumn):
    """Images per second since the task started (the rate the summary line gives too)."""

    def render(self, task: Task) -> Text:
        elapsed = task.fields.get("seconds") or task.finished_time or task.elapsed
        unit = task.fields.get("unit", "img")
        speed = task.completed / elapsed if elapsed else None
        return Text(f"{speed:.2f} {unit}/s" if speed else f"– {unit}/s", style="progress.data.speed")


class _LiveView:
    """A rich progress display shown while the `with` block runs, on a terminal and unless quiet.

    Subclasses give the columns and turn their events into `_start_task`, `_update` and `_print`.
    """

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console, self.quiet = console, quiet
        self.live = console.is_terminal and not quiet
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def columns(self) -> list[ProgressColumn]:
        raise NotImplementedError

    def __enter__(self: _View) -> _View:
        if self.live:
            self._progress = Progress(*self.columns(), console=self.console)
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def _start_task(self, total: int | None, **fields: Any) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task("", total=total, **fields)

    def _update(self, **changes: Any) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, **changes)

    def _print(self, line: str, style: str | None = None) -> None:
        """A line above the bar (or alone when there is none)."""
        target = self._progress.console if self._progress is not None else self.console
        target.print(line, style=style, markup=False, highlight=False, soft_wrap=True)


class JobProgress(_LiveView):
    """A callable that renders engine `Event`s; use it as a context manager around `run_job`.

    In a pipe (no terminal) progress is a throttled line, at most every `every` seconds and only when at least
    1% more is done (and once at the end), with count, rate and time left; `verbose` adds a line per output.
    The rate counts from the first output, so the start (loading the weights, the first styles) does not
    weigh on the estimate.
    """

    def __init__(self, console: Console, quiet: bool = False, *, verbose: bool = False, every: float = 5.0) -> None:
        super().__init__(console, quiet)
        self.verbose, self.every = verbose, every
        self.done = self.total = 0
        self._line_at: tuple[float, int] | None = None  # (when, done) of the last progress line
        self._first_at: tuple[float, int] | None = None  # (when, done) at the first output: the rate counts from it
        self._clip: Path | None = None
        self._clip_task: TaskID | None = None
        self._printed_at = 0.0

    def columns(self) -> list[ProgressColumn]:
        return [SpinnerColumn(), TextColumn("[bold]{task.fields[stage]}"), BarColumn(), MofNCompleteColumn(),
                RateColumn(), TimeRemainingColumn(), TextColumn("{task.fields[file]}")]  # fmt: skip

    def __call__(self, event: Event) -> None:
        if event.kind == "start":
            self.total = event.total
            self._start_task(event.total, stage="starting", file="")
            return
        if event.kind == "stage":
            self._stage(event)
            return
        if event.kind == "frames":
            self._frames(event)
            return
        self.done += event.count
        if self._first_at is None and event.count:
            self._first_at = (time.monotonic(), self.done)
        self._update(advance=event.count)
        if event.kind == "failed":
            self._print(f"error: {event.message}", style="red")
        elif not self.quiet and not self.live and event.kind in ("written", "skipped"):
            if self.verbose:
                verb = "wrote" if event.kind == "written" else "skipped (exists)"
                self._print(f"[{self.done}/{self.total}] {verb} {event.path}")
            self._throttled_line()

    def _throttled_line(self) -> None:
        now = time.monotonic()
        finished = self.done >= self.total
        if self._line_at is not None and not finished:
            when, done = self._line_at
            if now - when < self.every or (self.done - done) * 100 < self.total:
                return
        self._line_at = (now, self.done)
        percent = 100 * self.done / self.total if self.total else 100.0
        rate = self._rate(now)
        if rate is None:  # the first output: no rate yet
            self._print(f"[{self.done}/{self.total}] {percent:.0f}% done")
            return
        eta = "" if finished else f", {_duration((self.total - self.done) / rate)} left"
        self._print(f"[{self.done}/{self.total}] {percent:.0f}% done, {rate:.2f} outputs/s{eta}")

    def _rate(self, now: float) -> float | None:
        """Outputs per second since the first output (None until a second one came, later)."""
        if self._first_at is None:
            return None
        when, done = self._first_at
        if now <= when or self.done <= done:
            return None
        return (self.done - done) / (now - when)

    def finish(self, seconds: float) -> None:
        """The job's own time, so the bar's last rate is the summary's."""
        self._update(seconds=seconds)

    def _stage(self, event: Event) -> None:
        """The stage and current file beside the bar. A pipe gets no line for it: there stderr carries the
        throttled progress lines and the errors, each failure one line."""
        self._update(stage=event.message, file=event.path.name if event.path else "")

    def _frames(self, event: Event) -> None:
        """A clip's frames: a second bar on a terminal, a line every few seconds otherwise."""
        if self._progress is not None:
            if self._clip != event.path:
                if self._clip_task is not None:
                    self._progress.remove_task(self._clip_task)
                self._clip = event.path
                self._clip_task = self._progress.add_task("", total=event.total or None, unit="frames")
            if self._clip_task is not None:
                self._progress.update(self._clip_task, completed=event.count)
            return
        now = time.monotonic()
        if not self.quiet and (now - self._printed_at > 2.0 or event.count == event.total):
            self._printed_at = now
            self._print(f"{event.path}: frame {event.count}/{event.total or '?'} ({event.message} frames/s)")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class DownloadView(_LiveView):
    """A weights download: bytes, speed and time left on a terminal; a line before and after otherwise."""

    def __init__(self, console: Console, label: str, quiet: bool = False) -> None:
        super().__init__(console, quiet)
        self.label = label
        self._announced = False

    def columns(self) -> list[ProgressColumn]:
        return [TextColumn(f"[bold]{self.label}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                TimeRemainingColumn()]  # fmt: skip

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        super().__exit__(kind, value, traceback)
        if self._announced and not self.live and kind is None:
            self._print(f"downloaded {self.label}")

    def __call__(self, done: int, total: int | None) -> None:
        if self.quiet:
            return
        if not self._announced:
            self._announced = True
            self._start_task(total)
            if not self.live:
                self._print(f"downloading {self.label}" + (f" ({total / 1e6:.1f} MB)" if total else ""))
        self._update(completed=done, total=total)


class TrainView(_LiveView):
    """The live training display: iteration, losses, lr, iterations per second, time left."""

    def columns(self) -> list[ProgressColumn]:
        return [TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(),
                TextColumn("content {task.fields[content]} style {task.fields[style]} lr {task.fields[lr]}"),
                TextColumn("{task.fields[rate]} it/s"), TimeRemainingColumn()]  # fmt: skip

    def callbacks(self) -> TrainCallbacks:
        from adain_cli.train import TrainCallbacks

        return TrainCallbacks(on_start=self._start, on_log=self._log, on_checkpoint=self._checkpoint)

    def _start(self, start: int, total: int) -> None:
        self._first, self._total, self._estimated = start, total, False
        self._start_task(total, completed=start, content="–", style="–", lr="–", rate="–")

    def _log(self, record: LogRecord) -> None:
        done = record.iteration - self._first
        rate = done / record.seconds if record.seconds > 0 else 0.0
        losses = f"content {record.loss_content:.4f} style {record.loss_style:.4f} lr {record.lr:.2e}"
        if self.live:
            self._update(completed=record.iteration, content=f"{record.loss_content:.4f}",
                         style=f"{record.loss_style:.4f}", lr=f"{record.lr:.2e}", rate=f"{rate:.2f}")  # fmt: skip
        elif not self.quiet:
            self._print(f"iteration {record.iteration}: {losses} ({rate:.2f} it/s)")
        if not self._estimated and rate > 0 and not self.quiet:
            # Said once, after the first logged iterations: 160,000 iterations on a CPU take weeks.
            self._estimated = True
            left = self._total - record.iteration
            self._print(f"at {rate:.2f} it/s the {self._total - self._first:,} iterations of this run take about "
                        f"{_duration(left / rate + record.seconds)} here ({_duration(left / rate)} left)")  # fmt: skip

    def _checkpoint(self, iteration: int, path: Path) -> None:
        if not self.quiet:
            self._print(f"checkpoint at iteration {iteration} → {path}")
