"""Engine behaviour behind every command: shared decodes, precision, devices, batching."""

from __future__ import annotations

import json
import weakref

import numpy as np
import pytest
import torch
from PIL import Image

from adain_cli import model
from adain_cli.device import auto_batch_size, cpu_supports_bf16, pick_device, pick_dtype
from adain_cli.errors import AdainError
from tests.conftest import make_image


def counting(monkeypatch, method: str) -> list[int]:
    """The batch size of every call to Decoder.`method` during the test."""
    calls = []
    original = getattr(model.Decoder, method)

    def counted(self, feat):
        calls.append(feat.shape[0])
        return original(self, feat)

    monkeypatch.setattr(model.Decoder, method, counted)
    return calls


@pytest.fixture
def decode_calls(monkeypatch):
    return counting(monkeypatch, "from_entry")


def test_alpha_zero_is_decoded_once_for_all_styles(run_adain, tmp_path, decode_calls):
    make_image(tmp_path / "c.png", 40, 40, seed=1)
    for index in range(3):
        make_image(tmp_path / "s" / f"s{index}.png", 40, 40, seed=10 + index)
    out = tmp_path / "out"
    result = run_adain(
        "stylize",
        tmp_path / "c.png",
        "--style",
        tmp_path / "s",
        "--alpha",
        "0",
        "1",
        "-o",
        out,
        "--content-size",
        "0",
        "--batch-size",
        "2",
    )
    assert result.exit_code == 0, result.output
    assert sum(decode_calls) == 1 + 3  # the content's reconstruction once, then one per style
    zeros = [np.array(Image.open(out / f"c_stylized_s{index}_alpha0.00.png")) for index in range(3)]
    assert all(np.array_equal(zeros[0], other) for other in zeros[1:])
    assert len(list(out.glob("c_stylized_*.png"))) == 6


def test_each_feature_map_enters_the_decoder_once_for_all_alphas(run_adain, tmp_path, monkeypatch):
    entries, decodes = counting(monkeypatch, "entry"), counting(monkeypatch, "from_entry")
    make_image(tmp_path / "c.png", 40, 48, seed=1)
    for index in range(2):
        make_image(tmp_path / "s" / f"s{index}.png", 40, 40, seed=10 + index)
    result = run_adain(
        "stylize", tmp_path / "c.png", "--style", tmp_path / "s", "--content-size", "0", "--alpha", ".25,.5,1",
        "-o", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert entries == [1, 1, 1]  # the content's features and each style's target, once each
    assert sum(decodes) == 2 * 3
    # That blending after the first layer matches the paper's blend of features is checked against
    # the reference in test_stylize.test_outputs_equal_an_independent_computation.


def test_a_job_with_many_styles_holds_only_the_targets_it_is_decoding(run_adain, tmp_path, monkeypatch):
    alive_at_each_entry = []
    entries = []
    original = model.Decoder.entry

    def tracked(self, feat):
        alive_at_each_entry.append(sum(ref() is not None for ref in entries))
        entry = original(self, feat)
        entries.append(weakref.ref(entry))
        return entry

    monkeypatch.setattr(model.Decoder, "entry", tracked)
    make_image(tmp_path / "c.png", 40, 48, seed=1)
    for index in range(6):
        make_image(tmp_path / "s" / f"s{index}.png", 40, 40, seed=10 + index)
    result = run_adain(
        "stylize", tmp_path / "c.png", "--style", tmp_path / "s", "--content-size", "0", "--alpha", ".5,1",
        "--batch-size", "1", "-o", tmp_path / "out", "--no-grid",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(entries) == 1 + 6
    assert max(alive_at_each_entry) <= 2  # the content's own, and the look just finished at most


@pytest.mark.skipif(not cpu_supports_bf16(), reason="this processor has no native bf16")
def test_bf16_on_the_cpu_is_close_to_fp32(run_adain, tmp_path):
    make_image(tmp_path / "c.png", 64, 48, seed=1)
    make_image(tmp_path / "s.png", 48, 48, seed=2)
    args = ("stylize", tmp_path / "c.png", "--style", tmp_path / "s.png", "--content-size", "0")
    assert run_adain(*args, "-o", tmp_path / "a", "--precision", "fp32").exit_code == 0
    assert run_adain(*args, "-o", tmp_path / "b", "--precision", "bf16").exit_code == 0
    a = np.array(Image.open(tmp_path / "a" / "c_stylized_s.png")).astype(float)
    b = np.array(Image.open(tmp_path / "b" / "c_stylized_s.png")).astype(float)
    assert np.abs(a - b).mean() < 6.0  # of 255: bf16 keeps 8 bits of mantissa


def test_unavailable_precision_and_devices_are_clear_errors(run_adain, tmp_path):
    make_image(tmp_path / "c.png", 40, 40)
    args = ("stylize", tmp_path / "c.png", "--style", tmp_path / "c.png", "-o", tmp_path / "out")
    result = run_adain(*args, "--precision", "fp16", "--device", "cpu")
    assert result.exit_code == 1 and "fp16 is not supported on the CPU" in result.stderr
    if not torch.cuda.is_available():
        result = run_adain(*args, "--device", "cuda:1")
        assert result.exit_code == 2 and "CUDA is not available" in result.stderr
    result = run_adain(*args, "--device", "tpu")  # a device that cannot exist is a usage error, before any work
    assert result.exit_code == 2 and "device" in result.stderr and "auto" in result.stderr


def test_device_and_dtype_choice():
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert pick_device("auto").type == expected
    assert pick_dtype("auto", torch.device("cpu")) == torch.float32
    assert pick_dtype("auto", torch.device("cuda")) == torch.float16
    assert auto_batch_size(torch.device("cpu")) == 1 and auto_batch_size(torch.device("cuda")) == 8
    with pytest.raises(AdainError, match="unknown precision"):
        pick_dtype("fp8", torch.device("cpu"))


def test_batched_decodes_equal_single_decodes(run_adain, tmp_path):
    make_image(tmp_path / "c.png", 56, 40, seed=1)
    for index in range(3):
        make_image(tmp_path / "s" / f"s{index}.png", 40, 40, seed=10 + index)
    args = ("stylize", tmp_path / "c.png", "--style", tmp_path / "s", "--alpha", ".5", "1", "--content-size", "0")
    assert run_adain(*args, "-o", tmp_path / "one", "--batch-size", "1").exit_code == 0
    assert run_adain(*args, "-o", tmp_path / "four", "--batch-size", "4").exit_code == 0
    for path in (tmp_path / "one").glob("c_*.png"):
        a = np.array(Image.open(path)).astype(int)
        b = np.array(Image.open(tmp_path / "four" / path.name)).astype(int)
        assert np.abs(a - b).max() <= 1, path.name


@pytest.fixture
def encoder_batches(monkeypatch):
    """The batch size of every encoder pass during the test."""
    calls = []
    original = model.Encoder.forward

    def counted(self, image, upto="relu4_1"):
        calls.append(image.shape[0])
        return original(self, image, upto)

    monkeypatch.setattr(model.Encoder, "forward", counted)
    return calls


def test_small_contents_of_one_size_are_encoded_and_decoded_together_and_give_what_each_alone_gives(
    run_adain, tmp_path, encoder_batches, decode_calls
):
    photos = tmp_path / "c"
    for seed, name in enumerate(("a0", "a1", "a2", "a4", "a5", "c0", "c1")):
        make_image(photos / f"{name}.png", 32, 24, seed=seed)
    make_image(photos / "b.png", 40, 40, seed=9)
    (photos / "a3.png").write_bytes(b"not a png")  # a failed load ends a group and fails alone
    style = make_image(tmp_path / "s.png", 32, 32, seed=20)

    def stylize(out: str, *extra: str) -> dict[str, np.ndarray]:
        result = run_adain("stylize", photos, "--style", style, "-o", tmp_path / out, "--content-size", "0",
                           "--style-size", "0", "--no-grid", *extra)  # fmt: skip
        assert result.exit_code == 1 and "a3.png" in result.output
        return {path.name: np.array(Image.open(path), dtype=int) for path in (tmp_path / out).glob("*.png")}

    together = stylize("together")
    assert encoder_batches == [1, 3, 2, 1, 2]  # the style; a0–a2; a4, a5; b (another size); c0, c1
    assert decode_calls == [3, 2, 1, 2]  # each has one render: a group's renders share decode batches too
    encoder_batches.clear()
    decode_calls.clear()
    alone = stylize("alone", "--batch-size", "1")
    assert encoder_batches == [1] * 9 and decode_calls == [1] * 8
    assert sorted(together) == sorted(alone) and len(together) == 8
    # A batch may round a float's last bit differently: at most 1 grey level, in few pixels.
    assert all(np.abs(together[name] - alone[name]).max() <= 1 for name in together)


def test_a_group_over_the_memory_budget_is_encoded_image_by_image(run_adain, tmp_path, encoder_batches):
    for index in range(3):  # 120×100: one pass is estimated at 15 MB, three together at 46 MB
        make_image(tmp_path / "c" / f"c{index}.png", 120, 100, seed=index)
    style = make_image(tmp_path / "s.png", 32, 32, seed=9)
    result = run_adain("stylize", tmp_path / "c", "--style", style, "-o", tmp_path / "out", "--content-size", "0",
                       "--style-size", "0", "--max-memory", "20MB", "--no-grid")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert encoder_batches == [1, 1, 1, 1] and len(list((tmp_path / "out").glob("*.png"))) == 3


def test_a_group_pass_out_of_memory_is_redone_alone_and_counted_once(run_adain, tmp_path, monkeypatch):
    original = model.Encoder.forward

    def no_room_for_two(self, image, upto="relu4_1"):
        if image.shape[0] > 1:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes")
        return original(self, image, upto)

    monkeypatch.setattr(model.Encoder, "forward", no_room_for_two)
    for index in range(3):
        make_image(tmp_path / "c" / f"c{index}.png", 32, 24, seed=index)
    style = make_image(tmp_path / "s.png", 32, 32, seed=9)
    result = run_adain("stylize", tmp_path / "c", "--style", style, "-o", tmp_path / "out", "--content-size", "0",
                       "--style-size", "0", "--no-grid", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["written"] == 3 and summary["encoder_calls"] == 3 + 1
