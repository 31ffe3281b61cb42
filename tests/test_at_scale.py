"""Jobs at scale: linear planning, quiet pipes, skipping before work, grids in pages, batched folder syncs,
an exact ledger under SIGTERM, and `adain grid` refusing hostile manifests."""

from __future__ import annotations

import io
import time
from pathlib import Path

from rich.console import Console

from adain_cli.inputs import Source, with_unique_labels
from adain_cli.progress import JobProgress
from adain_cli.report import Event, Reporter, Summary


def test_a_hundred_thousand_notes_are_linear_and_one_counted_line():
    summary, events = Summary(), []
    reporter = Reporter(summary, events.append)
    started = time.process_time()
    for index in range(100_000):
        reporter.note("transparency composited on white (jpg has no alpha)", Path(f"c{index}.png"))
    assert time.process_time() - started < 5  # a quadratic list scan took minutes
    assert len(events) == 1 and summary.counted_notes() == [
        "c0.png: transparency composited on white (jpg has no alpha) (said 100000 times)"
    ]


def test_many_files_of_one_name_are_labelled_in_linear_time():
    sources = [Source(Path(f"d{index}") / "ink.png") for index in range(20_000)]
    started = time.process_time()
    labels = [source.label for source in with_unique_labels(sources)]
    assert time.process_time() - started < 5
    assert labels[:3] == ["ink", "ink-2", "ink-3"] and len(set(labels)) == len(labels)


def test_a_pipe_gets_a_few_dozen_progress_lines_for_4000_outputs():
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False, width=200)
    with JobProgress(console, every=0.0) as progress:
        progress(Event("start", total=4000, count=0))
        for index in range(4000):
            progress(Event("written", Path(f"o{index}.png")))
    lines = stream.getvalue().splitlines()
    assert 2 <= len(lines) <= 101, len(lines)  # at most one a 1% step (and one every few seconds)
    assert lines[-1].startswith("[4000/4000] 100% done") and "outputs/s" in lines[-1]
    assert not any("o1.png" in line for line in lines)  # per-output lines are --verbose's


def test_a_pipe_line_every_few_seconds_at_most():
    stream = io.StringIO()
    with JobProgress(Console(file=stream, force_terminal=False, width=200)) as progress:
        progress(Event("start", total=4000, count=0))
        for index in range(4000):
            progress(Event("written", Path(f"o{index}.png")))
    assert len(stream.getvalue().splitlines()) <= 3  # the first, maybe one after 5 s, the last
