"""Hostile inputs and environments: each is one line and a documented exit status, never exit 70 or a hang."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image

from adain_cli import files, ops, video, weights
from adain_cli.stylizer import Stylizer
from tests.conftest import AT_OWN_SIZE, SUBPROCESS_TIMEOUT, finish, make_image, read_until

TINY = (*AT_OWN_SIZE, "--no-grid")


def test_files_from_a_closed_stdin_is_one_line_and_exit_2(scene):
    command = [sys.executable, "-m", "adain_cli", "stylize", "--files-from", "-", "--style", str(scene["style"]),
               "-o", str(scene["out"])]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
                          preexec_fn=lambda: os.close(0))  # fmt: skip  # as `adain … <&-` runs it
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert "--files-from" in line and "standard input is closed" in line


@pytest.mark.parametrize("flat", ["source", "target", "both"])
def test_coral_with_a_flat_colour_image_is_finite(flat):
    textured = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    black = torch.zeros(3, 16, 16)
    source, target = (black if flat in (which, "both") else textured for which in ("source", "target"))
    result = ops.coral(source, target)
    assert result.isfinite().all()
    if flat == "target":  # matched to a flat image, the style takes its flat colour
        assert torch.allclose(result, black, atol=1e-6)


@pytest.mark.parametrize("flat", ["style", "content"])
def test_preserve_color_with_a_flat_colour_image_writes_its_output(run_adain, scene, flat):
    flat_path = scene["photos"].parent / "flat.png"
    Image.new("RGB", (32, 32), (0, 0, 0)).save(flat_path)
    content, style = (flat_path, scene["style"]) if flat == "content" else (scene["photos"], flat_path)
    result = run_adain("preserve-color", content, "--style", style, "-o", scene["out"], *TINY)
    assert result.exit_code == 0, result.output
    assert list(scene["out"].glob("*_coral.png"))


def test_the_host_running_out_of_memory_fails_that_output_and_the_job_goes_on(run_adain, scene, monkeypatch):
    encode = Stylizer.encode

    failures = []

    def out_of_host_memory_for_p0(self, image):
        # p0 and p1 (40×32) are first encoded together, then, after that fails, each alone: p0 fails again.
        if image.shape[-1] == 40 and len(failures) < 2:
            failures.append(image.shape[0] if image.dim() == 4 else 1)
            raise RuntimeError(
                "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                "you tried to allocate 35184372088832 bytes. Error code 12 (Cannot allocate memory)"
            )
        return encode(self, image)

    monkeypatch.setattr(Stylizer, "encode", out_of_host_memory_for_p0)
    result = run_adain("stylize", scene["photos"], "--style", scene["style"], "-o", scene["out"], *TINY)
    assert result.exit_code == 1, result.output
    assert "p0.png: out of memory at 40×32" in result.stderr
    assert sorted(p.name for p in scene["out"].iterdir()) == ["p1_stylized_style.png"]
    assert failures == [2, 1]


@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_a_download_speed_time_of_zero_or_less_is_one_line(run_adain, monkeypatch, value):
    monkeypatch.setenv("ADAIN_DOWNLOAD_SPEED_TIME", value)
    result = run_adain("models", "download", "decoder", weights=False)
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert f"ADAIN_DOWNLOAD_SPEED_TIME={value!r}: give a positive number" in line


@pytest.mark.parametrize("command", ["stylize", "train"])
def test_a_bad_device_is_a_usage_error_before_any_download(run_adain, scene, monkeypatch, command):
    monkeypatch.setattr(weights, "resolve", lambda *a, **k: pytest.fail("weights were resolved"))
    if command == "stylize":
        argv = ["stylize", scene["photos"], "--style", scene["style"], "-o", scene["out"]]
    else:
        argv = ["train", "--content-dir", scene["photos"], "--style-dir", scene["photos"], "-o", scene["out"]]
    result = run_adain(*argv, "--device", "tpu", weights=False)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert "'tpu'" in line and "use auto or cpu" in line


def test_weights_alone_prints_its_help(run_adain):
    result = run_adain("models", weights=False)
    assert result.exit_code == 0, result.output
    assert "Commands:" in result.stdout and "download" in result.stdout and result.stderr == ""


def run_in_a_thread(invoke, *argv):
    """`invoke(*argv)` in a thread that must end within the limit: a hang fails the test instead of blocking it."""
    results = []
    thread = threading.Thread(target=lambda: results.append(invoke(*argv)), daemon=True)
    thread.start()
    thread.join(SUBPROCESS_TIMEOUT)
    assert not thread.is_alive(), f"adain {argv[0]} hung"
    return results[0]


@pytest.mark.parametrize("ext", ["mp4", "gif"])
def test_a_writer_failing_after_the_last_frame_fails_that_output_and_does_not_hang(run_adain, tmp_path, monkeypatch,
                                                                                   ext):  # fmt: skip
    from tests.test_video import make_clip

    clip = make_clip(tmp_path / f"walk.{ext}" if ext == "mp4" else tmp_path / "walk.mp4", frames=6, size=(32, 24))
    style = make_image(tmp_path / "ink.png", 32, 32, seed=9)
    encode = video.ClipWriter._encode_video if ext == "mp4" else video.ClipWriter._encode_animation

    def disk_full_once_all_frames_are_in(self, tmp):
        encode(self, tmp)
        if "alpha0.50" in self.path.name:  # one output of two
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(video.ClipWriter, encode.__name__, disk_full_once_all_frames_are_in)
    out = tmp_path / "out"
    argv = ["stylize", clip, "--style", style, "-o", out, "--alpha", "0.5", "1", "--video-ext", ext, *TINY]
    result = run_in_a_thread(run_adain, *argv)
    assert result.exit_code == 1, result.output
    assert f"walk_stylized_ink_alpha0.50.{ext}: cannot encode" in result.stderr and "No space left" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"walk_stylized_ink_alpha1.00.{ext}"]  # and no .tmp


def test_webm_from_44_1_khz_audio_is_resampled_for_opus(run_adain, tmp_path):
    import av

    from tests.test_video import make_clip

    clip = make_clip(tmp_path / "walk.mp4", frames=6, size=(32, 24), audio=True, sample_rate=44100)
    style = make_image(tmp_path / "ink.png", 32, 32, seed=9)
    result = run_in_a_thread(run_adain, "stylize", clip, "--style", style, "-o", tmp_path / "out", "--video-ext",
                             "webm", *TINY)  # fmt: skip
    assert result.exit_code == 0, result.output
    with av.open(str(tmp_path / "out" / "walk_stylized_ink.webm")) as written:
        (audio,) = written.streams.audio
        assert (audio.codec_context.name, audio.codec_context.sample_rate) == ("opus", 48000)


@pytest.mark.parametrize("final_bytes", [242, 255])
def test_an_output_name_up_to_255_bytes_is_written(run_adain, scene, final_bytes):
    stem = "é" * ((final_bytes - len("_stylized_style.png")) // 2)
    stem += "x" * (final_bytes - len("_stylized_style.png") - len(stem.encode()))
    content = make_image(scene["photos"].parent / "long" / f"{stem}.png", 40, 32)
    result = run_adain("stylize", content, "--style", scene["style"], "-o", scene["out"], *TINY)
    assert result.exit_code == 0, result.output
    (written,) = scene["out"].iterdir()
    assert len(os.fsencode(written.name)) == final_bytes


def test_temporary_names_are_no_longer_than_final_names(tmp_path):
    for name in ("a.png", "x" * 251 + ".png", "é" * 125 + ".webp"):
        with files.atomic_path(tmp_path / name) as tmp:
            tmp.write_bytes(b"data")
            assert len(os.fsencode(tmp.name)) <= max(len(os.fsencode(name)), files.SHORT_NAME_BYTES)
        assert (tmp_path / name).read_bytes() == b"data"


def test_apng_files_are_found_in_folders(run_adain, scene):
    frames = [Image.new("RGB", (32, 24), (40 * index, 90, 160)) for index in range(3)]
    frames[0].save(scene["photos"] / "spin.apng", format="PNG", save_all=True, append_images=frames[1:], duration=80)
    result = run_adain("stylize", scene["photos"], "--style", scene["style"], "-o", scene["out"], *TINY)
    assert result.exit_code == 0, result.output
    assert (scene["out"] / "spin_stylized_style.apng").is_file()


def test_an_unreadable_subfolder_in_a_recursive_walk_is_named_and_exit_1(run_adain, scene, monkeypatch):
    locked = scene["photos"] / "locked"
    make_image(locked / "hidden.png", 32, 32)
    real_scandir = os.scandir

    def refuse_locked(path="."):  # as chmod 000 does for a user other than root
        if Path(path) == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refuse_locked)
    result = run_adain("stylize", scene["photos"], "-r", "--style", scene["style"], "-o", scene["out"], *TINY)
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.splitlines()
    assert f"cannot read the folder {locked} (Permission denied)" in line


def stylize_command(photos: Path, style: Path, out: Path, weight_files, *extra: str) -> list[str]:
    encoder, decoder = weight_files
    return [sys.executable, "-m", "adain_cli", "stylize", str(photos), "--style", str(style), "-o", str(out),
            "--encoder", str(encoder), "--decoder", str(decoder), "--batch-size", "1", *TINY, *extra]  # fmt: skip


@pytest.fixture
def many_photos(tmp_path: Path) -> Path:
    """Enough photos that a reader closing the pipe after the first record is still well ahead of the last."""
    for index in range(12):
        make_image(tmp_path / "many" / f"m{index:02d}.png", 64, 64, seed=index)
    return tmp_path / "many"


def assert_complete_outputs_only(out: Path) -> list[Path]:
    """What a stopped job left in `out`: whole images only, no temporary file."""
    from adain_cli.marker import is_complete

    left = sorted(out.iterdir())
    assert [path for path in left if ".tmp" in path.name or path.name.startswith(".")] == []
    for path in left:
        assert is_complete(path), path
        Image.open(path).load()
    return left


QUIET_END = 128 + 13  # 141: what a shell reports for a filter ended by SIGPIPE


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_reader_closing_the_pipe_after_one_line_ends_the_job_quietly(tmp_path, weight_files, many_photos, stream):
    """`adain stylize … --json-lines | head -1`, and `--verbose 2>&1 | head -1` (its reader is on stderr)."""
    out = tmp_path / "out"
    style = make_image(tmp_path / "style.png", 32, 32, seed=9)
    extra = ("--json-lines", "--quiet") if stream == "stdout" else ("--verbose",)
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE} if stream == "stdout" else {
        "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}  # fmt: skip
    process = subprocess.Popen(stylize_command(many_photos, style, out, weight_files, *extra), **pipes,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    reader = getattr(process, stream)
    read_until(reader, process, lambda line: "m00" in line, "the first output's line")
    reader.close()  # as `head -1` does once it has its line
    setattr(process, stream, None)
    _, stderr = finish(process)
    assert process.returncode == QUIET_END, stderr
    if stream == "stdout":
        assert stderr == ""  # no traceback, no "internal error", no "Exception ignored … BrokenPipeError"
    left = assert_complete_outputs_only(out)
    assert 1 <= len(left) < 12


def test_a_pipe_closed_before_the_first_record_ends_the_job_quietly(tmp_path, weight_files, scene):
    """The reader is gone before adain writes anything: the first record's write fails, deterministically."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    command = stylize_command(scene["photos"], scene["style"], scene["out"], weight_files, "--json-lines")
    try:
        done = subprocess.run(command, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=SUBPROCESS_TIMEOUT,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    finally:
        os.close(write_end)
    assert done.returncode == QUIET_END, done.stderr
    assert "Error" not in done.stderr and "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert_complete_outputs_only(scene["out"])


def test_json_on_a_full_device_is_one_line_naming_it(tmp_path, weight_files, scene):
    command = stylize_command(scene["photos"], scene["style"], scene["out"], weight_files, "--json", "--quiet")
    with open("/dev/full", "w") as full:
        done = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=SUBPROCESS_TIMEOUT,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.splitlines()
    assert line == "adain: error: cannot write to standard output (/dev/full): No space left on device"
    assert len(assert_complete_outputs_only(scene["out"])) == 2


def test_the_host_running_out_of_memory_on_a_clip_fails_that_clip_and_the_job_goes_on(run_adain, scene, monkeypatch):
    from tests.test_video import make_clip

    make_clip(scene["photos"] / "walk.mp4", frames=4, size=(48, 24))
    encode = Stylizer.encode

    def out_of_host_memory_for_the_clip(self, image):
        if image.shape[-1] == 48:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 35184372088832 bytes")
        return encode(self, image)

    monkeypatch.setattr(Stylizer, "encode", out_of_host_memory_for_the_clip)
    result = run_in_a_thread(
        run_adain, "stylize", scene["photos"], "--style", scene["style"], "-o", scene["out"], *TINY
    )
    assert result.exit_code == 1, result.output
    assert "walk.mp4: out of memory at 48×24" in result.stderr
    assert sorted(p.name for p in scene["out"].iterdir()) == ["p0_stylized_style.png", "p1_stylized_style.png"]


def test_json_with_json_lines_is_a_usage_error(run_adain, scene):
    result = run_adain("stylize", scene["photos"], "--style", scene["style"], "-o", scene["out"], "--json",
                       "--json-lines", *TINY)  # fmt: skip
    assert result.exit_code == 2 and "--json and --json-lines" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not scene["out"].exists()


# Issue 34, item 6: nothing left behind by a stdin or `-o -` job killed with SIGKILL.
def test_a_stream_folder_left_by_sigkill_is_removed_by_the_next_command(weight_files, scene, tmp_path, monkeypatch):
    import signal
    import tempfile
    import time

    from adain_cli.cli import cli, streams
    from tests.conftest import cli_runner, wait_until

    temp = tmp_path / "tmp"
    temp.mkdir()
    command = [sys.executable, "-m", "adain_cli", "stylize", "-", "--style", str(scene["style"]), "-o", "-",
               "--encoder", str(weight_files[0]), "--decoder", str(weight_files[1]), *TINY]  # fmt: skip
    image = (scene["photos"] / "p0.png").read_bytes()
    with (scene["photos"] / "p0.png").open("rb") as piped:
        process = subprocess.Popen(command, stdin=piped, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env={**os.environ, "TMPDIR": str(temp)})  # fmt: skip
    wait_until(lambda: any(temp.glob("adain-stdout-*")), process, "the folder for standard output")
    process.send_signal(signal.SIGKILL)
    finish(process)
    left = sorted(path.name for path in temp.iterdir())
    assert [name.split("-")[1] for name in left] == ["stdin", "stdout"]  # what SIGKILL leaves
    young = temp / f"adain-stdin-{process.pid}-young"  # a dead process's, but too recent to be sure of it
    alive = temp / f"adain-stdout-{os.getpid()}-alive"  # a live process's
    other = temp / "adain-stdin-notours"
    for folder in (young, alive, other):
        folder.mkdir()
    old = time.time() - streams.STALE_AFTER_S - 60
    for folder in [temp / name for name in left] + [alive, other]:
        os.utime(folder, (old, old))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    result = cli_runner().invoke(cli, ["stylize", "-", "--style", str(scene["style"]), "-o", "-", "--dry-run"],
                                 input=image)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in temp.iterdir()) == sorted(folder.name for folder in (young, alive, other))


def test_messages_and_dry_run_records_name_the_standard_streams_not_temporary_files(weight_files, scene, tmp_path):
    from adain_cli.cli import cli
    from tests.conftest import cli_runner

    planned = cli_runner().invoke(cli, ["stylize", "-", "--style", str(scene["style"]), "-o", "-", "--dry-run"],
                                  input=(scene["photos"] / "p0.png").read_bytes())  # fmt: skip
    assert planned.exit_code == 0 and planned.stdout == "would write\tstandard output\n"
    records = cli_runner().invoke(
        cli,
        ["stylize", "-", "--style", str(scene["style"]), "-o", str(scene["out"]), "--dry-run", "--json-lines"],
        input=(scene["photos"] / "p0.png").read_bytes(),
    )
    assert json.loads(records.stdout)["content"] == "standard input"
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (4, 4)).save(tiny)
    failed = cli_runner().invoke(cli, ["stylize", "-", "--style", str(scene["style"]), "-o", str(scene["out"]), *TINY,
                                       "--encoder", str(weight_files[0]), "--decoder", str(weight_files[1])],
                                 input=tiny.read_bytes())  # fmt: skip
    assert failed.exit_code == 1
    assert "standard input: too small (4×4" in failed.stderr and "adain-std" not in failed.stderr


def test_grid_pages_are_said_at_the_start_in_a_pipe_and_once(run_adain, scene):
    result = run_adain("stylize", scene["photos"], "--style", scene["style"], "-o", scene["out"], "--grid-rows", "1",
                       *AT_OWN_SIZE)  # fmt: skip
    assert result.exit_code == 0, result.output
    note = "note: grids: 2 pages, of up to 1 of the 2 contents each"
    lines = result.stderr.splitlines()
    assert lines[0] == note and result.stderr.count("grids: ") == 1
    assert len(list(scene["out"].glob("grid_*_p0[12].png"))) == 2
