"""Reporting a job: the events a front end renders as they happen, and the summary at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

EventKind = Literal["start", "written", "skipped", "failed", "note"]


@dataclass(frozen=True)
class Event:
    """Progress of a job, for the CLI to render. `count` is how many outputs it accounts for."""

    kind: EventKind
    path: Path | None = None
    message: str = ""
    count: int = 1
    total: int = 0


ProgressFn = Callable[[Event], None]


@dataclass
class Failure:
    path: Path
    error: str
    outputs: int


@dataclass
class Summary:
    total: int = 0
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    grids: list[Path] = field(default_factory=list)
    companions: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    encoder_calls: int = 0

    @property
    def failed(self) -> int:
        return sum(f.outputs for f in self.failures)

    def to_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "written": len(self.written),
            "skipped": len(self.skipped),
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "outputs": [str(p) for p in self.written],
            "skipped_outputs": [str(p) for p in self.skipped],
            "failures": [{"path": str(f.path), "error": f.error, "outputs": f.outputs} for f in self.failures],
            "grids": [str(p) for p in self.grids],
            "companions": [str(p) for p in self.companions],
            "notes": self.notes,
            "encoder_calls": self.encoder_calls,
        }


class Reporter:
    """Keeps the summary and the progress callback in step."""

    def __init__(self, summary: Summary, progress: ProgressFn) -> None:
        self.summary, self.progress = summary, progress

    def written(self, path: Path) -> None:
        self.summary.written.append(path)
        self.progress(Event("written", path))

    def skipped(self, path: Path) -> None:
        self.summary.skipped.append(path)
        self.progress(Event("skipped", path))

    def failed(self, path: Path, error: str, outputs: int) -> None:
        self.summary.failures.append(Failure(path, error, outputs))
        self.progress(Event("failed", path, error, count=outputs))

    def note(self, message: str) -> None:
        if message not in self.summary.notes:
            self.summary.notes.append(message)
            self.progress(Event("note", message=message, count=0))
