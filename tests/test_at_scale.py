"""Jobs at scale: linear planning, quiet pipes, skipping before work, grids in pages, batched folder syncs,
an exact ledger under SIGTERM, and `adain grid` refusing hostile manifests."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from PIL import Image
from rich.console import Console

from adain_cli import images
from adain_cli.inputs import Source, with_unique_labels
from adain_cli.progress import JobProgress
from adain_cli.report import Event, Reporter, Summary
from tests.conftest import make_image


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


def small_job(tmp_path: Path, contents: int = 3, styles: int = 2, size: int = 24) -> tuple[Path, Path]:
    for index in range(contents):
        make_image(tmp_path / "in" / f"c{index}.png", size, size, seed=index)
    for index in range(styles):
        make_image(tmp_path / "styles" / f"s{index}.png", size, size, seed=100 + index)
    return tmp_path / "in", tmp_path / "styles"


def test_skipping_a_finished_job_decodes_no_content(run_adain, tmp_path, monkeypatch):
    contents, styles = small_job(tmp_path)
    args = ("stylize", contents, "--style", styles, "-o", tmp_path / "out", "--content-size", "0", "--json")
    assert run_adain(*args).exit_code == 0
    loaded: list[Path] = []
    real_load = images.load
    monkeypatch.setattr(images, "load", lambda path, *a, **k: loaded.append(path) or real_load(path, *a, **k))
    again = run_adain(*args, "--skip-existing")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["skipped"] == 6
    assert not [path for path in loaded if path.parent == contents]  # only the style headers are read


def test_a_zero_byte_or_truncated_output_is_made_again(run_adain, tmp_path):
    contents, styles = small_job(tmp_path)
    args = ("stylize", contents, "--style", styles, "-o", tmp_path / "out", "--content-size", "0", "--json")
    assert run_adain(*args).exit_code == 0
    empty, cut = tmp_path / "out" / "c0_stylized_s0.png", tmp_path / "out" / "c1_stylized_s1.png"
    empty.write_bytes(b"")
    cut.write_bytes(cut.read_bytes()[:-20])
    again = json.loads(run_adain(*args, "--skip-existing").stdout)
    assert sorted(Path(path).name for path in again["outputs"]) == sorted([cut.name, empty.name])
    assert again["skipped"] == 4
    Image.open(empty).verify()
    dry = run_adain(*args[:-1], "--skip-existing", "--dry-run")
    assert dry.stdout.count("would skip (exists)") == 6
