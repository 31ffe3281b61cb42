"""`adain train` on tiny synthetic images with random-layout encoder weights."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from adain_cli.cli import cli
from adain_cli.train import TrainConfig, learning_rate
from tests.conftest import as_tensor, make_image, run_module
from tests.reference import (
    adaptive_instance_normalization,
    calc_mean_std,
    load_reference,
    public_decoder,
    reference_taps,
)

TINY = ("--image-size", "48", "--crop-size", "32", "--batch-size", "2", "--workers", "0", "--log-every", "1")


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    for index in range(6):
        make_image(
            tmp_path / "photos" / ("nested" if index % 2 else "") / f"p{index}.jpg", 48 + 8 * index, 56, seed=index
        )
    for index in range(4):
        make_image(tmp_path / "paintings" / f"s{index}.png", 64, 48 + 4 * index, seed=20 + index)
    return tmp_path / "photos", tmp_path / "paintings"


def tiny_job(data: tuple[Path, Path], run: Path) -> tuple[str, ...]:
    """Train on the `data` folders into `run`, at the tiny sizes the tests use."""
    return ("--content-dir", str(data[0]), "--style-dir", str(data[1]), "-o", str(run), *TINY)


def run_train(weight_files, *args: str | Path, init: bool = False):
    argv = ["train", *map(str, args), "--encoder", str(weight_files[0]), "--quiet"]
    if init:
        argv += ["--init-decoder", str(weight_files[1])]
    return CliRunner().invoke(cli, argv, catch_exceptions=False)


def read_log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_a_short_run_lowers_the_loss(weight_files, data, tmp_path):
    run = tmp_path / "run"
    result = run_train(
        weight_files,
        *tiny_job(data, run),
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
        "--image-size",
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
        "--image-size",
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
    resumed = CliRunner().invoke(
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
        *tiny_job(data, run),
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
    stylized = CliRunner().invoke(
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
    result = CliRunner().invoke(cli, ["train", "--resume", str(tmp_path / "nothing")], catch_exceptions=False)
    assert result.exit_code == 1 and "nothing to resume" in result.stderr


def test_unreadable_images_are_skipped_and_counted(weight_files, data, tmp_path):
    (data[0] / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    (data[0] / "empty.png").write_bytes(b"")
    run = tmp_path / "run"
    result = run_train(
        weight_files,
        *tiny_job(data, run),
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


def test_ctrl_c_saves_a_checkpoint(weight_files, data, tmp_path):
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "adain_cli",
        "train",
        *tiny_job(data, run),
        "--iterations",
        "100000",
        "--save-every",
        "100000",
        "--encoder",
        str(weight_files[0]),
        "--quiet",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (run / "log.jsonl").exists():
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr.decode()
    checkpoint = torch.load(run / "checkpoint.pth", weights_only=True)
    assert checkpoint["iteration"] >= 1
    assert not [p for p in run.iterdir() if p.suffix == ".tmp"]


def test_two_process_torchrun_on_cpu(weight_files, data, tmp_path):
    run = tmp_path / "run"
    args = (
        "train",
        *tiny_job(data, run),
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
