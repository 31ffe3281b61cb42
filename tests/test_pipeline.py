"""The pipeline around the network: loader and saver threads sized to the cores the process may use, the pipe's
estimate counted from the first output, and the pipeline benchmarks at toy sizes."""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from rich.console import Console

from adain_cli import device, progress, runner
from adain_cli.job import ImageOptions
from adain_cli.planner import Request, plan
from adain_cli.progress import JobProgress
from adain_cli.report import Event
from adain_cli.stylizer import Stylizer
from tests.conftest import make_image, run_benchmark


@pytest.mark.parametrize(("cores", "threads"), [(1, 2), (2, 2), (5, 2), (16, 8), (64, 16)])
def test_io_threads_follow_the_cores_the_process_may_use(monkeypatch, cores: int, threads: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 128)  # the machine's count is not the process's share
    assert device.io_thread_count() == threads
    assert device.io_thread_count(3) == 3


def test_io_threads_without_an_affinity_call_follow_the_cpu_count(monkeypatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 12)
    assert device.io_thread_count() == 6
    with pytest.raises(ValueError, match="at least 1"):
        device.io_thread_count(0)


def test_a_job_loads_and_saves_on_the_io_threads_asked_for(weight_files, tmp_path: Path, monkeypatch) -> None:
    pools: list[tuple[str, int]] = []

    class Counted(ThreadPoolExecutor):
        def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
            pools.append((thread_name_prefix, max_workers))
            super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)

    monkeypatch.setattr(runner, "ThreadPoolExecutor", Counted)
    for index in range(3):
        make_image(tmp_path / "c" / f"c{index}.png", 32, 24, seed=index)
    style = make_image(tmp_path / "s.png", 24, 24, seed=9)
    job = plan(Request(contents=[tmp_path / "c"], styles=[style], output=tmp_path / "out", grid=False,
                         images=ImageOptions(content_size=0, style_size=0))).job  # fmt: skip
    summary = runner.run_job(Stylizer.from_files(*weight_files, device="cpu", precision="fp32"), job, io_threads=3)
    assert len(summary.written) == 3 and pools == [("adain-load", 3), ("adain-save", 3)]


def test_the_pipe_estimate_counts_from_the_first_output(monkeypatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    with JobProgress(Console(file=stream, force_terminal=False, width=200), every=0.0) as view:
        view(Event("start", total=200, count=0))
        clock[0] = 100.0  # the weights and the first styles took 100 s
        for _ in range(101):
            view(Event("written", Path("o.png")))
            clock[0] += 0.5  # then 2 outputs a second
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[1/200] 0% done"  # no rate from one output
    assert lines[-1] == "[101/200] 50% done, 2.00 outputs/s, 50s left"  # not 101 outputs / 150 s = 0.67


def test_the_pipeline_benchmark_runs_at_toy_sizes() -> None:
    lines = run_benchmark("bench_pipeline.py")
    assert lines[0].startswith("machine: ")
    rows = [line.split() for line in lines if line.startswith(("jpg ", "png "))]
    assert [(row[0], row[1]) for row in rows] == [("jpg", "1"), ("jpg", "2"), ("png", "1"), ("png", "2")]
    assert all(float(row[2]) > 0 and float(row[3]) > 0 for row in rows)


def test_the_first_output_benchmark_runs_at_toy_sizes() -> None:
    lines = run_benchmark("bench_first_output.py")
    assert lines[0].startswith("machine: ")
    (job,) = [line for line in lines if "records, exit" in line]
    assert "16 records, exit 0" in job and "first output none" not in job
    assert any(line.startswith("start-up: the first output of a 1 content × 1 style job comes at ") for line in lines)


def test_io_threads_option_reaches_the_runner(run_adain, tmp_path, monkeypatch) -> None:
    from adain_cli import runner
    from adain_cli.report import Summary
    from tests.conftest import make_image

    seen: dict[str, object] = {}

    def recording(stylizer, job, **kwargs):
        seen.update(kwargs)
        return Summary()

    monkeypatch.setattr(runner, "run_job", recording)
    make_image(tmp_path / "c.png", 16, 16)
    result = run_adain("stylize", tmp_path / "c.png", "--style", tmp_path / "c.png", "--io-threads", "3",
                       "-o", tmp_path / "out", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen["io_threads"] == 3
    assert run_adain("stylize", tmp_path / "c.png", "-s", tmp_path / "c.png", "--io-threads", "0").exit_code == 2
