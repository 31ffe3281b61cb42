"""Reporting a job: the events a front end renders as they happen, and the summary at the end."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# frames: `count` of `total` done; stage: what the job is doing now (`message`), and on which input (`path`)
EventKind = Literal["start", "stage", "written", "skipped", "failed", "note", "frames"]
Status = Literal["written", "skipped", "failed", "planned"]  # planned: what --dry-run would write


@dataclass(frozen=True)
class Record:
    """One requested output and what became of it: one line of `--json-lines`.

    `styles` pairs each style file with its weight in the blend (None where regions, not weights, share
    the styles); `seconds` is the compute time attributable to this output (its share of the content's
    encode and of its decode batch, plus its save).
    """

    path: Path
    content: Path
    styles: tuple[tuple[Path, float | None], ...]
    alpha: float
    command: str
    method: str | None
    status: Status
    error: str = ""
    seconds: float = 0.0
    video: dict[str, object] | None = None  # for a clip: frames, fps, audio ("copied", "re-encoded", "none")

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "content": str(self.content),
            "styles": [{"path": str(path), "weight": weight} for path, weight in self.styles],
            "alpha": self.alpha,
            "look": {"command": self.command, "method": self.method},
            "status": self.status,
            "error": self.error or None,
            "seconds": round(self.seconds, 4),
        } | ({"video": self.video} if self.video is not None else {})


@dataclass(frozen=True)
class Event:
    """Progress of a job, for the CLI to render. `count` is how many outputs it accounts for; `records`
    says what became of each of them."""

    kind: EventKind
    path: Path | None = None
    message: str = ""
    count: int = 1
    total: int = 0
    records: tuple[Record, ...] = ()


ProgressFn = Callable[[Event], None]


@dataclass
class Failure:
    path: Path
    error: str
    outputs: int


@dataclass(frozen=True)
class Totals:
    """What a job's summary line counts: of one process, or (under torchrun) of every rank together."""

    written: int
    skipped: int
    failed: int
    seconds: float

    @property
    def rate(self) -> float:
        """Outputs accounted for per second of the job: what the progress bar shows too."""
        done = self.written + self.skipped + self.failed
        return done / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Summary:
    total: int = 0
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    grids: list[Path] = field(default_factory=list)
    companions: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    note_counts: dict[str, int] = field(default_factory=dict)  # how often each note was said (said once)
    seconds: float = 0.0
    encoder_calls: int = 0  # images encoded: each distinct content and style once
    all_ranks: Totals | None = None  # under torchrun: every rank's outputs (the slowest rank's time)

    def totals(self) -> Totals:
        """This process's counts, or every rank's under torchrun."""
        own = Totals(len(self.written), len(self.skipped), self.failed, self.seconds)
        return self.all_ranks or own

    def counted_notes(self) -> list[str]:
        """Every note once, with how many times it was said where that is more than once."""
        counts = self.note_counts
        return [note + (f" (said {counts[note]} times)" if counts.get(note, 1) > 1 else "") for note in self.notes]

    @property
    def failed(self) -> int:
        return sum(f.outputs for f in self.failures)

    def frames_written(self) -> int:
        """The frames of the clips this process wrote (0 for a job of still images)."""
        return sum(int(record.video.get("frames", 0)) for record in self.records  # type: ignore[call-overload]
                   if record.video and record.status == "written")  # fmt: skip

    def to_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "written": len(self.written),
            "skipped": len(self.skipped),
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "records": [record.to_json() for record in self.records],
            "outputs": [str(p) for p in self.written],
            "skipped_outputs": [str(p) for p in self.skipped],
            "failures": [{"path": str(f.path), "error": f.error, "outputs": f.outputs} for f in self.failures],
            "grids": [str(p) for p in self.grids],
            "companions": [str(p) for p in self.companions],
            "notes": self.notes,
            "note_counts": {note: count for note, count in self.note_counts.items() if count > 1},
            "encoder_calls": self.encoder_calls,
        }


class Reporter:
    """Keeps the summary and the progress callback in step."""

    def __init__(self, summary: Summary, progress: ProgressFn) -> None:
        self.summary, self.progress = summary, progress
        self._first_said: dict[str, str] = {}  # a message -> its first note (with the file it was about)

    def written(self, record: Record) -> None:
        self.summary.written.append(record.path)
        self.summary.records.append(record)
        self.progress(Event("written", record.path, records=(record,)))

    def skipped(self, record: Record) -> None:
        self.summary.skipped.append(record.path)
        self.summary.records.append(record)
        self.progress(Event("skipped", record.path, records=(record,)))

    def failed(self, path: Path, error: str, records: Sequence[Record] = ()) -> None:
        """`path` (an input, or a grid) failed with `error`, and with it the outputs of `records`."""
        self.summary.failures.append(Failure(path, error, len(records)))
        self.summary.records.extend(records)
        self.progress(Event("failed", path, error, count=len(records), records=tuple(records)))

    def note(self, message: str, subject: Path | None = None) -> None:
        """Say `message` (about the file `subject`) once; a repeat, about any file, only counts: constant time, so
        100,000 notes stay linear and the summary holds one counted line."""
        key = message if subject is None else f"{subject}: {message}"
        first = self._first_said.setdefault(message, key)
        counts = self.summary.note_counts
        counts[first] = counts.get(first, 0) + 1
        if counts[first] == 1:
            self.summary.notes.append(first)
            self.progress(Event("note", message=first, count=0))
