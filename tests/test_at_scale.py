"""Jobs at scale: linear planning, quiet pipes, skipping before work, grids in pages, batched folder syncs,
an exact ledger under SIGTERM, and `adain grid` refusing hostile manifests."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from adain_cli import files, images
from adain_cli.cli import cli
from adain_cli.inputs import Source, with_unique_labels
from adain_cli.progress import JobProgress
from adain_cli.report import Event, Reporter, Summary
from adain_cli.sheets.drawing import caption_height
from tests.conftest import cli_runner, make_image

SUBPROCESS_LIMIT = 300  # seconds; generous, for a loaded machine


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
    assert labels[:3] == ["ink", "ink_2", "ink_3"] and len(set(labels)) == len(labels)


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


@pytest.fixture(scope="module")
def thousand_contents(tmp_path_factory) -> tuple[Path, Path]:
    """1,000 tiny contents (16–24 px) and one style."""
    folder = tmp_path_factory.mktemp("thousand")
    (folder / "in").mkdir()
    rng = np.random.default_rng(0)
    for index in range(1000):
        side = 16 + index % 9
        pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / "in" / f"c{index:04d}.png")
    make_image(folder / "s" / "ink.png", 20, 20, seed=1)
    return folder / "in", folder / "s"


FORMAT_SIDE_LIMIT = {"png": 2**31 - 1, "jpg": 65_535, "webp": 16_383}


@pytest.mark.slow
@pytest.mark.parametrize(("ext", "count", "rows"), [("png", 1000, 100), ("jpg", 40, 4), ("webp", 40, 4)])
def test_grid_pages_for_a_thousand_contents(run_adain, thousand_contents, tmp_path, ext, count, rows):
    """A thousand contents page at the default 100 rows; the other output formats page the same way (grid pages
    are PNG whatever --ext says), shown at 40 contents and 4 rows so the test stays small."""
    contents, styles = thousand_contents
    if count < 1000:
        some = tmp_path / "some"
        some.mkdir()
        for path in sorted(contents.iterdir())[:count]:
            shutil.copy(path, some / path.name)
        contents = some
    out = tmp_path / "out"
    args = ("stylize", contents, "--style", styles, "-o", out, "--content-size", "0", "--grid-cell", "16",
            "--ext", ext, "--batch-size", "8", "--grid-rows", str(rows))  # fmt: skip
    planned = run_adain(*args, "--dry-run").stdout
    result = run_adain(*args, "--json")
    assert result.exit_code == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    pages = sorted(out.glob("grid_stylize_*.png"))
    assert [Path(path) for path in summary["grids"]] == pages and len(pages) == 10  # `rows` contents a page
    assert all(f"would write\t{page}" in planned for page in pages)  # said before any work
    assert pages[0].name.endswith("_alpha1.00_p01.png") and pages[-1].name.endswith("_p10.png")
    assert "note: grids: 10 pages" in result.stderr  # said before the work, not in the summary
    for page in pages:
        with Image.open(page) as image:
            assert image.format == "PNG" and max(image.size) <= FORMAT_SIDE_LIMIT[ext]
            header = np.asarray(image.convert("L"))[16 : 16 + caption_height(16), 64:128]
            assert (header < 100).sum() > 12  # "ink" written out (one "…" is a few pixels)
    assert summary["failed"] == 0 and summary["written"] == count


def manifest_job(run_adain, tmp_path: Path) -> Path:
    contents, styles = small_job(tmp_path)
    out = tmp_path / "out"
    assert run_adain("stylize", contents, "--style", styles, "-o", out, "--content-size", "0").exit_code == 0
    (manifest,) = out.glob(".adain-job-*.json")
    return manifest


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("grids", {"1.00": "../x.png"}),
        ("grids", {"1.00": "/tmp/adain-hostile.png"}),
        ("cells", "first-cell:../../etc/passwd"),
        ("grid_cell", 0),
        ("grid_cell", -64),
        ("labels", {"columns": "s0", "rows": 3}),
        ("alpha", "one"),
    ],
)
def test_a_hostile_or_malformed_manifest_is_one_line(run_adain, tmp_path, field, value):
    manifest = manifest_job(run_adain, tmp_path)
    raw = json.loads(manifest.read_text())
    if field == "cells":
        raw["cells"]["1.00"][0][0] = value.split(":", 1)[1]
    elif field == "alpha":
        raw["cells"] = {value: raw["cells"]["1.00"]}
        raw["grids"] = {value: raw["grids"]["1.00"]}
    else:
        raw[field] = value
    manifest.write_text(json.dumps(raw))
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    result = cli_runner().invoke(cli, ["grid", str(manifest.parent)])
    assert result.exit_code == 1, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "not a valid job manifest" in result.stderr
    assert not (tmp_path / "x.png").exists() and not Path("/tmp/adain-hostile.png").exists()
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == before


def test_adain_grid_over_deleted_outputs_writes_no_grey_grid(run_adain, tmp_path):
    manifest = manifest_job(run_adain, tmp_path)
    out = manifest.parent
    (grid,) = out.glob("grid_*.png")
    grid.unlink()
    for output in out.glob("c*_stylized_*.png"):
        output.unlink()
    result = cli_runner().invoke(cli, ["grid", str(out)])
    assert result.exit_code == 1 and "no grid is written" in result.stderr
    assert not list(out.glob("grid_*.png"))


def test_adain_grid_at_another_cell_size_keeps_the_jobs_sheets(run_adain, tmp_path):
    manifest = manifest_job(run_adain, tmp_path)
    (grid,) = manifest.parent.glob("grid_*.png")
    before = grid.read_bytes()
    result = cli_runner().invoke(cli, ["grid", str(manifest.parent), "--grid-cell", "16"])
    assert result.exit_code == 0, result.output
    assert grid.read_bytes() == before
    assert (grid.parent / f"{grid.stem}_c16.png").is_file()


def test_folder_fsyncs_are_batched_and_all_done_at_the_end(tmp_path, monkeypatch):
    synced: list[Path] = []
    monkeypatch.setattr(files, "fsync_folder", synced.append)
    file_syncs = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: file_syncs.append(fd) or real_fsync(fd))
    with files.batched_folder_syncs(interval=3600):
        for index in range(50):
            with files.atomic_path(tmp_path / f"f{index}.txt") as tmp:
                tmp.write_text("x")
        assert synced == [tmp_path]  # the first rename; the next 49 wait for the batch
    assert synced == [tmp_path, tmp_path] and len(file_syncs) == 50  # every file itself, before its rename
    with files.atomic_path(tmp_path / "alone.txt") as tmp:
        tmp.write_text("x")
    assert synced[-1] == tmp_path and len(synced) == 3  # outside a job: at once


def test_tiny_images_are_loaded_in_the_main_thread_and_large_ones_ahead_in_the_background():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from adain_cli.prefetch import loaded_ahead

    sizes = {"t1": 32, "t2": 32, "t3": 32, "big": 512, "b2": 512, "t4": 32, "bad": 0, "t5": 32}
    where: dict[str, str] = {}

    def load(name: str) -> int:
        where[name] = threading.current_thread().name
        if not sizes[name]:
            raise ValueError(f"{name}: cannot read")
        return sizes[name]

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bg") as pool:
        handed = []
        for name, future in loaded_ahead(pool, list(sizes), load, ahead=1, small=lambda side: side < 128):
            handed.append(name)
            if name == "bad":
                assert isinstance(future.exception(), ValueError)  # delivered as a background load's error
            else:
                assert future.result() == sizes[name]
    assert handed == list(sizes)  # in order, whichever thread loaded each
    here = {name for name, thread in where.items() if thread == threading.current_thread().name}
    # t1 and t2 were queued ahead; after a tiny one the next load here when needed (t3, then big), and the
    # large one brings the background back (b2, t4 and bad queued behind it; after an error, t5 too)
    assert here == {"t3", "big"}


@pytest.mark.slow
def test_json_lines_equal_the_files_on_disk_after_sigterm(weight_files, tmp_path):
    contents, styles = small_job(tmp_path, contents=40, styles=2, size=32)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "adain_cli", "stylize", str(contents), "--style", str(styles), "-o", str(out),
               "--content-size", "0", "--json-lines", "--no-grid", "--batch-size", "1",
               "--encoder", str(weight_files[0]), "--decoder", str(weight_files[1])]  # fmt: skip
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    first = job.stdout.readline()  # the first finished output: the job is saving now
    assert json.loads(first)["status"] == "written"
    job.send_signal(signal.SIGTERM)
    rest, stderr = job.communicate(timeout=SUBPROCESS_LIMIT)
    assert job.returncode == 143, stderr[-2000:]
    records = [json.loads(line) for line in [first, *rest.splitlines()]]
    written = sorted(Path(record["path"]).name for record in records if record["status"] == "written")
    on_disk = sorted(path.name for path in out.glob("*.png"))
    assert written == on_disk and len(on_disk) < 80
    assert not [path for path in out.iterdir() if path.name.startswith(".") and path.suffix == ".tmp"]
