"""Rendering engine events: a rich progress bar on a terminal, one plain line per image otherwise."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from adain_cli.engine import Event

if TYPE_CHECKING:
    from adain_cli.train import LogRecord, TrainCallbacks


class RateColumn(ProgressColumn):
    """Images per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f} img/s" if speed else "– img/s", style="progress.data.speed")


class JobProgress:
    """A callable that renders `Event`s; use it as a context manager around `run_job`."""

    def __init__(self, console: Console, quiet: bool = False, description: str = "stylizing") -> None:
        self.console, self.quiet, self.description = console, quiet, description
        self.live = console.is_terminal and not quiet
        self.done = self.total = 0
        self._progress: Progress | None = None
        self._task = None

    def __enter__(self) -> JobProgress:
        if self.live:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                RateColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, event: Event) -> None:
        if event.kind == "start":
            self.total = event.total
            if self._progress is not None:
                self._task = self._progress.add_task(self.description, total=event.total)
            return
        self.done += event.count
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=event.count)
        if event.kind == "failed":
            self._print(f"error: {event.message}", style="red")
        elif not self.quiet and not self.live and event.kind in ("written", "skipped"):
            verb = "wrote" if event.kind == "written" else "skipped (exists)"
            self._print(f"[{self.done}/{self.total}] {verb} {event.path}")

    def _print(self, line: str, style: str | None = None) -> None:
        target = self._progress.console if self._progress is not None else self.console
        target.print(line, style=style, markup=False, highlight=False, soft_wrap=True)


class DownloadView:
    """Renders a weights download: bytes, speed and time left on a terminal; two lines otherwise."""

    def __init__(self, console: Console, label: str, quiet: bool = False) -> None:
        self.console, self.label, self.quiet = console, label, quiet
        self._progress: Progress | None = None
        self._task = None
        self._announced = False

    def __enter__(self) -> DownloadView:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
        elif self._announced and kind is None:
            self.console.print(f"downloaded {self.label}", markup=False, highlight=False)

    def __call__(self, done: int, total: int | None) -> None:
        if self.quiet:
            return
        if not self.console.is_terminal:
            if not self._announced:
                size = f" ({total / 1e6:.1f} MB)" if total else ""
                self.console.print(f"downloading {self.label}{size}", markup=False, highlight=False)
                self._announced = True
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn(f"[bold]{self.label}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._progress.start()
            self._task = self._progress.add_task("download", total=total)
        self._progress.update(self._task, completed=done, total=total)


class TrainView:
    """The live training display: iteration, losses, lr, iterations per second, time left."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console, self.quiet = console, quiet
        self.live = console.is_terminal and not quiet
        self._progress: Progress | None = None
        self._task = None

    def __enter__(self) -> TrainView:
        if self.live:
            self._progress = Progress(
                TextColumn("[bold]training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("content {task.fields[content]} style {task.fields[style]} lr {task.fields[lr]}"),
                TextColumn("{task.fields[rate]} it/s"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def callbacks(self) -> TrainCallbacks:
        from adain_cli.train import TrainCallbacks

        return TrainCallbacks(on_start=self._start, on_log=self._log, on_checkpoint=self._checkpoint)

    def _start(self, start: int, total: int) -> None:
        self._first = start
        if self._progress is not None:
            self._task = self._progress.add_task(
                "train", total=total, completed=start, content="–", style="–", lr="–", rate="–"
            )

    def _log(self, record: LogRecord) -> None:
        done = record.iteration - self._first
        rate = done / record.seconds if record.seconds > 0 else 0.0
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                completed=record.iteration,
                content=f"{record.loss_content:.4f}",
                style=f"{record.loss_style:.4f}",
                lr=f"{record.lr:.2e}",
                rate=f"{rate:.2f}",
            )
        elif not self.quiet:
            self.console.print(
                f"iteration {record.iteration}: content {record.loss_content:.4f} style {record.loss_style:.4f} "
                f"lr {record.lr:.2e} ({rate:.2f} it/s)",
                markup=False,
                highlight=False,
            )

    def _checkpoint(self, iteration: int, path: Path) -> None:
        if not self.quiet:
            target = self._progress.console if self._progress is not None else self.console
            target.print(f"checkpoint at iteration {iteration} → {path}", markup=False, highlight=False)
