"""`adain train` on tiny synthetic images with random-layout encoder weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from adain_cli import train as train_module
from adain_cli import train_data, weights
from adain_cli.cli import cli
from adain_cli.errors import AdainError
from adain_cli.train import ImageStream, Losses, Shard, TrainConfig, adain_losses, learning_rate
from tests import test_weights as weights_tests
from tests.conftest import as_tensor, cli_runner, finish, make_image, run_module, wait_until
from tests.reference import (
    adaptive_instance_normalization,
    calc_mean_std,
    load_reference,
    public_decoder,
    reference_taps,
)

TINY = (
    "--content-size",
    "48",
    "--style-size",
    "48",
    "--crop-size",
    "32",
    "--batch-size",
    "2",
    "--workers",
    "0",
    "--log-every",
    "1",
)


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    for index in range(6):
        make_image(
            tmp_path / "photos" / ("nested" if index % 2 else "") / f"p{index}.jpg", 48 + 8 * index, 56, seed=index
        )
    for index in range(4):
        make_image(tmp_path / "paintings" / f"s{index}.png", 64, 48 + 4 * index, seed=20 + index)
    return tmp_path / "photos", tmp_path / "paintings"


def train_args(data: tuple[Path, Path], run: Path) -> tuple[str, ...]:
    """Train on the `data` folders into `run`, at the tiny sizes the tests use."""
    return ("--content-dir", str(data[0]), "--style-dir", str(data[1]), "-o", str(run), *TINY)


def run_train(weight_files, *args: str | Path, init: bool = False):
    argv = ["train", *map(str, args), "--encoder", str(weight_files[0]), "--quiet"]
    if init:
        argv += ["--init-decoder", str(weight_files[1])]
    return cli_runner().invoke(cli, argv, catch_exceptions=False)


def read_log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_a_short_run_lowers_the_loss(weight_files, data, tmp_path):
    run = tmp_path / "run"
    result = run_train(
        weight_files,
        *train_args(data, run),
        "--iterations",
        "40",
        "--lr",
        "1e-3",
        "--save-every",
        "100",
    )
    assert result.exit_code == 0, result.output
    records = read_log(run)
    assert [r["iteration"] for r in records] == list(range(1, 41))
    total = [r["loss_content"] + 10 * r["loss_style"] for r in records]
    assert sum(total[-5:]) / 5 < 0.8 * sum(total[:5]) / 5
    assert set(records[0]) >= {"iteration", "loss_content", "loss_style", "lr", "seconds"}


def test_first_iteration_losses_equal_an_independent_computation(weight_files, public_states, tmp_path):
    content = make_image(tmp_path / "c" / "only.png", 32, 32, seed=1)
    style = make_image(tmp_path / "s" / "only.png", 32, 32, seed=2)
    run = tmp_path / "run"
    result = run_train(
        weight_files,
        "--content-dir",
        tmp_path / "c",
        "--style-dir",
        tmp_path / "s",
        "-o",
        run,
        "--content-size",
        "32",
        "--style-size",
        "32",
        "--crop-size",
        "32",
        "--batch-size",
        "2",
        "--workers",
        "0",
        "--iterations",
        "1",
        "--style-weight",
        "7",
        init=True,
    )
    assert result.exit_code == 0, result.output
    (record,) = read_log(run)
    vgg, dec = load_reference(*public_states)
    c, s = as_tensor(content).repeat(2, 1, 1, 1), as_tensor(style).repeat(2, 1, 1, 1)
    with torch.no_grad():
        t = adaptive_instance_normalization(vgg(c), vgg(s))
        generated = dec(t)
        loss_c = F.mse_loss(vgg(generated), t)
        g_taps, s_taps = reference_taps(vgg, generated), reference_taps(vgg, s)
        loss_s = sum(
            F.mse_loss(calc_mean_std(g_taps[k])[0], calc_mean_std(s_taps[k])[0])
            + F.mse_loss(calc_mean_std(g_taps[k])[1], calc_mean_std(s_taps[k])[1])
            for k in g_taps
        )
    assert record["loss_content"] == pytest.approx(float(loss_c), rel=1e-4)
    assert record["loss_style"] == pytest.approx(float(loss_s), rel=1e-4)
    assert record["lr"] == pytest.approx(1e-4)


def test_resume_matches_the_uninterrupted_run(weight_files, data, tmp_path):
    common = (
        "--content-dir",
        data[0],
        "--style-dir",
        data[1],
        "--content-size",
        "48",
        "--style-size",
        "48",
        "--crop-size",
        "32",
        "--batch-size",
        "2",
        "--log-every",
        "1",
        "--workers",
        "2",
        "--save-every",
        "3",
        "--seed",
        "5",
    )
    whole = run_train(weight_files, *common, "-o", tmp_path / "whole", "--iterations", "6")
    assert whole.exit_code == 0, whole.output
    first = run_train(weight_files, *common, "-o", tmp_path / "split", "--iterations", "3")
    assert first.exit_code == 0, first.output
    assert torch.load(tmp_path / "split" / "checkpoint.pth", weights_only=True)["iteration"] == 3
    resumed = cli_runner().invoke(
        cli, ["train", "--resume", str(tmp_path / "split"), "--iterations", "6", "-q"], catch_exceptions=False
    )
    assert resumed.exit_code == 0, resumed.output
    expected = {r["iteration"]: r for r in read_log(tmp_path / "whole")}
    got = {r["iteration"]: r for r in read_log(tmp_path / "split")}
    for iteration in (4, 5, 6):
        for key in ("loss_content", "loss_style", "lr"):
            assert got[iteration][key] == pytest.approx(expected[iteration][key], rel=1e-5), (iteration, key)


def test_decoder_has_the_public_layout_and_drives_stylize(weight_files, data, tmp_path, run_adain):
    run = tmp_path / "run"
    result = run_train(
        weight_files,
        *train_args(data, run),
        "--iterations",
        "2",
        "--save-every",
        "1",
    )
    assert result.exit_code == 0, result.output
    state = torch.load(run / "decoder.pth", weights_only=True)
    expected = public_decoder().state_dict()
    assert list(state) == list(expected)
    assert all(state[k].shape == expected[k].shape for k in expected)
    assert sorted(p.name for p in (run / "previews").iterdir()) == ["iter_000001.png", "iter_000002.png"]
    out = tmp_path / "styled"
    stylized = cli_runner().invoke(
        cli,
        [
            "stylize",
            str(data[0] / "p0.jpg"),
            "--style",
            str(data[1] / "s0.png"),
            "-o",
            str(out),
            "--encoder",
            str(weight_files[0]),
            "--decoder",
            str(run / "decoder.pth"),
        ],
        catch_exceptions=False,
    )
    assert stylized.exit_code == 0, stylized.output
    assert (out / "p0_stylized_s0.png").is_file()


def test_bad_inputs_are_clear(weight_files, data, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_train(
        weight_files,
        "--content-dir",
        tmp_path / "empty",
        "--style-dir",
        data[1],
        "-o",
        tmp_path / "run",
        *TINY,
        "--iterations",
        "1",
    )
    assert result.exit_code == 1 and "no images found in the content folder" in result.stderr
    result = run_train(weight_files, "--content-dir", data[0], "-o", tmp_path / "run")
    assert result.exit_code == 2 and "--style-dir" in result.stderr
    result = cli_runner().invoke(cli, ["train", "--resume", str(tmp_path / "nothing")], catch_exceptions=False)
    assert result.exit_code == 1 and "nothing to resume" in result.stderr


def test_unreadable_images_are_skipped_and_counted(weight_files, data, tmp_path):
    (data[0] / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    (data[0] / "empty.png").write_bytes(b"")
    run = tmp_path / "run"
    result = run_train(
        weight_files,
        *train_args(data, run),
        "--iterations",
        "8",
        "--batch-size",
        "4",
    )
    assert result.exit_code == 0, result.output
    assert read_log(run)[-1]["skipped"] >= 1


def test_learning_rate_decay_is_the_references():
    config = TrainConfig(Path("c"), Path("s"), Path("r"), Path("e"))
    assert learning_rate(config, 0) == 1e-4
    assert learning_rate(config, 20_000) == pytest.approx(1e-4 / 2)
    assert (config.batch_size, config.iterations, config.style_weight, config.crop_size) == (8, 160_000, 10.0, 256)


def start_training(weight_files, data, run: Path, *extra: str, group: bool = False) -> subprocess.Popen:
    """A long `adain train` in a subprocess (in a process group of its own with `group`, as a shell job is)."""
    command = [sys.executable, "-m", "adain_cli", "train", *train_args(data, run), "--iterations", "100000",
               "--save-every", "100000", "--encoder", str(weight_files[0]), "--quiet", *extra]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
                            start_new_session=group)  # fmt: skip


def wait_for_first_log_line(process: subprocess.Popen, run: Path) -> None:
    log = run / "log.jsonl"
    wait_until(lambda: log.is_file() and log.read_text().endswith("\n"), process, "the first log line")


def assert_stopped_with_a_checkpoint(process: subprocess.Popen, run: Path, signum: int) -> None:
    _, stderr = finish(process)
    assert process.returncode == 128 + signum, stderr
    name = signal.Signals(signum).name
    checkpoint = torch.load(run / "checkpoint.pth", weights_only=True)
    assert checkpoint["iteration"] >= 1
    assert stderr.splitlines() == interrupt_lines(name, checkpoint["iteration"], run)
    assert not [p for p in run.rglob("*") if p.suffix == ".tmp"]


def interrupt_lines(signal_name: str, iteration: int, run: Path) -> list[str]:
    """What an interrupted run says: at once that it saves, then what it kept, where, and how to go on."""
    return [
        f"adain: stopping at iteration {iteration:,}: saving the checkpoint to {run / 'checkpoint.pth'} …",
        f"adain: interrupted by {signal_name}; the checkpoint of iteration {iteration:,} is kept in {run} (resume "
        f"with `adain train --resume {run}`)",
    ]


def test_an_interrupt_says_at_once_that_it_saves_and_names_the_run_folder(weight_files, data, tmp_path, monkeypatch):
    from adain_cli.signals import Terminated

    calls = []

    def terminated_on_the_third_call(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise Terminated(signal.SIGTERM)
        return adain_losses(*args, **kwargs)

    monkeypatch.setattr(train_module, "adain_losses", terminated_on_the_third_call)
    run = tmp_path / "run"
    result = run_train(weight_files, *train_args(data, run), "--iterations", "10", "--save-every", "100")
    assert result.exit_code == 143
    assert result.stderr.splitlines() == interrupt_lines("SIGTERM", 2, run)
    assert torch.load(run / "checkpoint.pth", weights_only=True)["iteration"] == 2


@pytest.mark.parametrize("resumed", [False, True])
def test_an_interrupt_before_the_first_checkpoint_says_none_was_written(weight_files, data, tmp_path, monkeypatch,
                                                                        resumed):  # fmt: skip
    from adain_cli.signals import Terminated

    run = tmp_path / "run"
    if resumed:
        first = run_train(weight_files, *train_args(data, run), "--iterations", "2", "--save-every", "1")
        assert first.exit_code == 0, first.output
    before = (run / "checkpoint.pth").read_bytes() if resumed else None

    def terminated(*args, **kwargs):
        raise Terminated(signal.SIGTERM)

    monkeypatch.setattr(train_module, "find_training_images", terminated)
    args = ("--resume", str(run), "--iterations", "4") if resumed else (*train_args(data, run), "--iterations", "4")
    result = run_train(weight_files, *args)
    assert result.exit_code == 143
    kept = (f"the run's earlier checkpoint in {run} is kept as it was (resume with `adain train --resume {run}`)"
            if resumed else "no checkpoint was written (stopped before the first one); start the run again with "
            "the same command")  # fmt: skip
    assert result.stderr.splitlines() == [f"adain: interrupted by SIGTERM; {kept}"]
    assert (run / "checkpoint.pth").exists() == resumed
    if resumed:
        assert (run / "checkpoint.pth").read_bytes() == before


def test_ctrl_c_saves_a_checkpoint(weight_files, data, tmp_path):
    process = start_training(weight_files, data, tmp_path / "run")
    wait_for_first_log_line(process, tmp_path / "run")
    process.send_signal(signal.SIGINT)
    assert_stopped_with_a_checkpoint(process, tmp_path / "run", signal.SIGINT)


@pytest.mark.slow
def test_two_process_torchrun_on_cpu(weight_files, data, tmp_path):
    run = tmp_path / "run"
    args = (
        "train",
        *train_args(data, run),
        "--iterations",
        "3",
        "--save-every",
        "100",
        "--device",
        "cpu",
        "--encoder",
        str(weight_files[0]),
        "-q",
    )
    done = run_module(*args, processes=2)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (run / "decoder.pth").is_file()
    assert [r["iteration"] for r in read_log(run)] == [1, 2, 3]  # rank 0 alone writes the log


def test_sigterm_saves_a_checkpoint_and_exits_143(weight_files, data, tmp_path):
    process = start_training(weight_files, data, tmp_path / "run")
    wait_for_first_log_line(process, tmp_path / "run")
    process.send_signal(signal.SIGTERM)
    assert_stopped_with_a_checkpoint(process, tmp_path / "run", signal.SIGTERM)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_the_whole_group_with_data_workers_saves_a_checkpoint(weight_files, data, tmp_path, signum):
    """`timeout`, a terminal's Ctrl-C and Slurm signal every process of the job, the loader's workers too."""
    run = tmp_path / "run"
    process = start_training(weight_files, data, run, "--workers", "2", group=True)
    wait_for_first_log_line(process, run)
    os.killpg(process.pid, signum)
    assert_stopped_with_a_checkpoint(process, run, signum)


def test_a_worker_is_silent_about_a_batch_its_stopped_parent_no_longer_takes(monkeypatch):
    """multiprocessing's fd-sharing thread reports a closed connection through sys.excepthook; a worker
    of a stopping run says nothing about it (CI once saw the traceback beside the one-line message)."""
    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, trace: seen.append(kind))
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # the test process keeps its own handlers
    train_data.prepare_worker(0)
    for kind in (BrokenPipeError, ConnectionResetError, ValueError):
        sys.excepthook(kind, kind(), None)
    assert seen == [ValueError]


def test_a_non_finite_loss_stops_keeping_the_last_good_checkpoint(weight_files, data, tmp_path, monkeypatch):
    calls = []

    def nan_on_the_third_call(*args, **kwargs):
        losses = adain_losses(*args, **kwargs)
        calls.append(1)
        return Losses(losses.content, losses.style, losses.total * float("nan")) if len(calls) == 3 else losses

    monkeypatch.setattr(train_module, "adain_losses", nan_on_the_third_call)
    run = tmp_path / "run"
    result = run_train(weight_files, *train_args(data, run), "--iterations", "6", "--save-every", "2")
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert "not finite at iteration 3" in line and str(run / "checkpoint.pth") in line and "--resume" in line
    checkpoint = torch.load(run / "checkpoint.pth", weights_only=True)
    assert checkpoint["iteration"] == 2
    assert all(torch.isfinite(tensor).all() for tensor in checkpoint["decoder"].values())
    assert not (run / "decoder.pth").exists()
    assert [r["iteration"] for r in read_log(run)] == [1, 2]


def test_a_diverging_learning_rate_writes_no_nan_weights(weight_files, data, tmp_path):
    run = tmp_path / "run"
    result = run_train(weight_files, *train_args(data, run), "--iterations", "5", "--save-every", "100", "--lr", "1e30")
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert "not finite at iteration" in line and "no checkpoint was written" in line
    assert not (run / "decoder.pth").exists() and not (run / "checkpoint.pth").exists()


def test_the_log_of_a_resumed_run_reads_as_one_run(weight_files, data, tmp_path):
    run = tmp_path / "run"
    first = run_train(weight_files, *train_args(data, run), "--iterations", "2", "--save-every", "2")
    assert first.exit_code == 0, first.output
    # As after a kill -9: iterations logged past the checkpoint, the last line cut short.
    with (run / "log.jsonl").open("a") as log:
        for iteration in (3, 4):
            log.write(json.dumps({"iteration": iteration, "loss_content": 999.0, "loss_style": 999.0}) + "\n")
        log.write('{"iteration": 5, "loss_con')
    resumed = cli_runner().invoke(cli, ["train", "--resume", str(run), "--iterations", "4", "-q"])
    assert resumed.exit_code == 0, resumed.output
    records = read_log(run)
    assert [r["iteration"] for r in records] == [1, 2, 3, 4]
    assert all(r["loss_content"] != 999.0 for r in records)


def test_a_folder_of_unreadable_images_is_one_line(weight_files, data, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"\xff\xd8 nope")
    (broken / "b.png").write_bytes(b"")
    for flags in (("--content-dir", broken, "--style-dir", data[1]), ("--content-dir", data[0], "--style-dir", broken)):
        result = run_train(weight_files, *flags, "-o", tmp_path / "run", *TINY, "--iterations", "1", "--workers", "2")
        assert result.exit_code == 1
        (line,) = result.stderr.splitlines()
        assert f"none of the 2 images in the {'content' if flags[1] == broken else 'style'} folder {broken}" in line
        assert not (tmp_path / "run" / "checkpoint.pth").exists()


def test_resume_refuses_a_foreign_or_damaged_checkpoint(weight_files, data, tmp_path):
    run = tmp_path / "run"
    result = run_train(weight_files, *train_args(data, run), "--iterations", "1")
    assert result.exit_code == 0, result.output
    good = torch.load(run / "checkpoint.pth", weights_only=True)
    cases = {
        "not an adain training checkpoint (no decoder, optimizer, iteration, rng, config)": torch.load(weight_files[1]),
        "not an adain training checkpoint (no config)": {k: v for k, v in good.items() if k != "config"},
        "its run settings cannot be read": {**good, "config": json.dumps({"colour": "blue"})},
        "damaged checkpoint": {**good, "decoder": {}},
        "cannot read the checkpoint": None,
    }
    for message, state in cases.items():
        if state is None:
            (run / "checkpoint.pth").write_bytes(b"PK\x03\x04 not a zip")
        else:
            torch.save(state, run / "checkpoint.pth")
        result = cli_runner().invoke(cli, ["train", "--resume", str(run), "--iterations", "2", "-q"])
        assert result.exit_code == 1, (message, result.output)
        (line,) = result.stderr.splitlines()
        assert message in line and str(run / "checkpoint.pth") in line, line


def test_resize_square_squashes_and_shorter_side_keeps_the_aspect_ratio(tmp_path):
    ramp = torch.linspace(0, 1, 64).expand(3, 32, 64)  # twice as wide as high, dark to bright
    config = TrainConfig(tmp_path, tmp_path, tmp_path, tmp_path, content_size=32, style_size=32, crop_size=24)
    for resize, spans_the_width in (("shorter-side", False), ("square", True)):
        stream = ImageStream([tmp_path / "x.png"], replace(config, resize=resize), Shard(), 0)
        crop = stream._crop(ramp, position=0)
        assert crop.shape == (3, 24, 24)
        span = float(crop.max() - crop.min())
        assert span > 0.6 if spans_the_width else span < 0.4, (resize, span)
    with pytest.raises(AdainError, match="--resize 'round'"):
        replace(config, resize="round").check()


def test_resize_is_a_run_setting(weight_files, data, tmp_path):
    run = tmp_path / "run"
    result = run_train(weight_files, *train_args(data, run), "--iterations", "1", "--resize", "square")
    assert result.exit_code == 0, result.output
    config = json.loads(torch.load(run / "checkpoint.pth", weights_only=True)["config"])
    assert config["resize"] == "square"
    result = cli_runner().invoke(cli, ["train", *train_args(data, tmp_path / "r2"), "--resize", "round"])
    assert result.exit_code == 2


# The local weights server of the download tests.
weight_server = weights_tests.weight_server
served_weights = weights_tests.served_weights


def test_train_honours_offline_and_no_verify(served_weights, data, tmp_path, monkeypatch):
    wrong_hash = replace(weights.REGISTRY["vgg_normalised"], sha256="0" * 64)
    monkeypatch.setitem(weights.REGISTRY, "vgg_normalised", wrong_hash)
    argv = ["train", *train_args(data, tmp_path / "run"), "--iterations", "1", "-q"]
    monkeypatch.setenv("ADAIN_OFFLINE", "1")
    result = cli_runner().invoke(cli, argv)
    assert result.exit_code == 1 and "offline" in result.stderr and served_weights.requests == []
    monkeypatch.delenv("ADAIN_OFFLINE")
    result = cli_runner().invoke(cli, argv)
    assert result.exit_code == 1 and "--no-verify" in result.stderr
    monkeypatch.setenv("ADAIN_NO_VERIFY", "1")
    result = cli_runner().invoke(cli, argv)
    assert result.exit_code == 0, result.output
    assert "warning" in result.stderr and (tmp_path / "run" / "decoder.pth").is_file()


def test_a_folder_holding_a_finished_run_is_refused_unless_overwrite(weight_files, data, tmp_path):
    run = tmp_path / "run"
    assert run_train(weight_files, *train_args(data, run), "--iterations", "2").exit_code == 0
    (run / "checkpoint.pth").unlink()  # a finished run kept for its decoder (and log)
    decoder, log = (run / "decoder.pth").read_bytes(), (run / "log.jsonl").read_text()
    refused = run_train(weight_files, *train_args(data, run), "--iterations", "1")
    assert refused.exit_code == 1
    (line,) = refused.stderr.splitlines()
    assert f"{run} already holds a run (decoder.pth, log.jsonl)" in line and "--overwrite" in line
    assert (run / "decoder.pth").read_bytes() == decoder and (run / "log.jsonl").read_text() == log
    again = run_train(weight_files, *train_args(data, run), "--iterations", "1", "--overwrite")
    assert again.exit_code == 0, again.output
    assert [r["iteration"] for r in read_log(run)] == [1]  # the new run's log alone
    assert (run / "decoder.pth").read_bytes() != decoder
    assert sorted(p.name for p in (run / "previews").iterdir()) == ["iter_000001.png"]


def test_resume_refuses_options_that_contradict_its_checkpoint(weight_files, data, tmp_path):
    run = tmp_path / "run"
    assert run_train(weight_files, *train_args(data, run), "--iterations", "1").exit_code == 0
    other = tmp_path / "other"
    other.mkdir()
    cases = {
        "--content-dir": ["--content-dir", other],
        "--style-dir": ["--style-dir", other],
        "-o/--output": ["-o", other],
        "--encoder": ["--encoder", weight_files[1]],  # another file than the run's encoder
        "--init-decoder": ["--init-decoder", weight_files[1]],
        "--overwrite": ["--overwrite"],
    }
    for flag, extra in cases.items():
        argv = ["train", "--resume", run, "--iterations", "2", "-q", *extra]
        result = cli_runner().invoke(cli, [str(a) for a in argv])
        assert result.exit_code == 2, (flag, result.output)
        (line,) = result.stderr.splitlines()
        assert flag in line, line
    assert torch.load(run / "checkpoint.pth", weights_only=True)["iteration"] == 1
    same = ["--content-dir", data[0], "--style-dir", data[1], "-o", run]  # the run's own folders are fine
    result = cli_runner().invoke(cli, [str(a) for a in ["train", "--resume", run, "--iterations", "2", "-q", *same]])
    assert result.exit_code == 0, result.output


def test_resume_takes_the_encoder_at_its_new_place_once_the_runs_own_has_moved(weight_files, data, tmp_path):
    encoder = tmp_path / "weights" / "vgg.pth"
    encoder.parent.mkdir()
    encoder.write_bytes(weight_files[0].read_bytes())
    run = tmp_path / "run"
    argv = ["train", *train_args(data, run), "--iterations", "1", "--encoder", str(encoder), "-q"]
    assert cli_runner().invoke(cli, argv).exit_code == 0
    moved = encoder.rename(tmp_path / "vgg-moved.pth")
    result = cli_runner().invoke(
        cli, ["train", "--resume", str(run), "--iterations", "2", "-q", "--encoder", str(moved)]
    )
    assert result.exit_code == 0, result.output
    assert read_log(run)[-1]["iteration"] == 2


def test_a_run_folder_inside_the_content_folder_is_never_training_data(weight_files, data, tmp_path):
    common = ("--content-dir", data[0], "--style-dir", data[1], *TINY, "--save-every", "2", "--seed", "3")
    whole = run_train(weight_files, *common, "-o", tmp_path / "whole", "--iterations", "4")
    assert whole.exit_code == 0, whole.output
    inside = data[0] / "runs" / "split"
    assert run_train(weight_files, *common, "-o", inside, "--iterations", "2").exit_code == 0
    assert list((inside / "previews").glob("*.png"))  # images adain wrote, now inside the content folder
    resumed = cli_runner().invoke(cli, ["train", "--resume", str(inside), "--iterations", "4", "-q"])
    assert resumed.exit_code == 0, resumed.output
    expected, got = read_log(tmp_path / "whole"), read_log(inside)
    for want, have in zip(expected, got, strict=True):
        assert have["loss_content"] == pytest.approx(want["loss_content"], rel=1e-5)
        assert have["loss_style"] == pytest.approx(want["loss_style"], rel=1e-5)


def test_a_temporary_file_left_by_a_kill_is_removed_at_the_next_start(weight_files, data, tmp_path):
    run = tmp_path / "run"
    assert run_train(weight_files, *train_args(data, run), "--iterations", "1").exit_code == 0
    stale = [run / ".checkpoint.pth.k9x2ab_q.tmp", run / "previews" / ".iter_000002.png.3jd8s0w1.tmp"]
    for path in stale:
        path.write_bytes(b"cut short by SIGKILL")
    result = cli_runner().invoke(cli, ["train", "--resume", str(run), "--iterations", "2", "-q"])
    assert result.exit_code == 0, result.output
    assert not [path for path in stale if path.exists()]


def test_every_setting_has_a_description_and_the_whole_run_is_estimated(weight_files, data, tmp_path):
    """Each TrainConfig setting is an option that says what it does; after the first logged iterations the
    display says how long the whole run takes here (160,000 iterations on a CPU take weeks)."""
    from dataclasses import fields

    from adain_cli.cli.train import TRAIN_SETTINGS
    from adain_cli.train_config import TrainConfig

    paths = {"content_dir", "style_dir", "run_dir", "encoder", "init_decoder"}
    assert sorted(TRAIN_SETTINGS) == sorted(field.name for field in fields(TrainConfig) if field.name not in paths)
    helped = cli_runner().invoke(cli, ["train", "--help"], terminal_width=200)
    lines = helped.output.splitlines()
    for name in TRAIN_SETTINGS:
        flag = f"--{name.replace('_', '-')} "
        (line,) = [line for line in lines if line.strip().startswith(flag)]
        assert len(line.split("[default:")[0].strip()) > len(flag) + 20, line  # a description, not only a default
    argv = ["train", *train_args(data, tmp_path / "run"), "--iterations", "4", "--log-every", "2",
            "--encoder", str(weight_files[0])]  # fmt: skip
    result = cli_runner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (estimate,) = [
        line for line in result.stderr.splitlines() if " it/s the 4 iterations of this run take about " in line
    ]
    assert "left)" in estimate


def test_images_adain_wrote_are_never_training_data(tmp_path):
    """A stylized output inside the photo folder (its header carries adain's mark) is not a photo."""
    from adain_cli import images
    from adain_cli.train_data import find_training_images

    photos = [make_image(tmp_path / "photos" / f"p{index}.png", 24, 24, seed=index) for index in range(2)]
    images.save_pixels(images.to_uint8(torch.rand(3, 24, 24)), tmp_path / "photos" / "p0_stylized_ink.png")
    assert sorted(find_training_images(tmp_path / "photos", "content")) == sorted(photos)
