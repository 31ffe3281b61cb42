"""What `--precision auto` picks on each machine and why (`adain doctor` says it), and the benchmark behind it."""

from __future__ import annotations

import json

import pytest
import torch

from adain_cli import device
from adain_cli.device import auto_precision, pick_dtype
from tests.conftest import run_benchmark

CPU = torch.device("cpu")


def fake_processor(monkeypatch: pytest.MonkeyPatch, flags: set[str], capability: str = "AVX2") -> None:
    monkeypatch.setattr(device, "cpu_flags", lambda: flags)
    monkeypatch.setattr(device, "cpu_supports_bf16", lambda: bool(flags & {"amx_bf16", "avx512_bf16"}))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)


def test_auto_is_fp32_on_a_cpu_without_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_processor(monkeypatch, {"fpu", "sse4_2", "avx2"})
    assert pick_dtype("auto", CPU) == torch.float32
    assert auto_precision(CPU) == ("fp32", "fp32 here (no native bf16: AVX2)")


@pytest.mark.parametrize(("flag", "name"), [("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 BF16")])
def test_native_bf16_is_named_and_auto_follows_the_measured_verdict(monkeypatch, flag: str, name: str) -> None:
    fake_processor(monkeypatch, {"avx2", "avx512f", flag}, capability="AVX512")
    # bench_precision.py measured bf16 over the error budget, so auto keeps fp32 and says why ...
    assert pick_dtype("auto", CPU) == torch.float32
    precision, reason = auto_precision(CPU)
    assert precision == "fp32" and name in reason and "error budget" in reason
    # ... and were the verdict the other way, the same processor would get bf16.
    monkeypatch.setattr(device, "CPU_AUTO_BF16", True)
    assert pick_dtype("auto", CPU) == torch.bfloat16 and auto_precision(CPU)[0] == "bf16"


def test_auto_is_fp16_on_cuda_and_fp32_is_always_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_processor(monkeypatch, {"avx2", "amx_bf16"})
    assert pick_dtype("auto", torch.device("cuda")) == torch.float16
    assert auto_precision(torch.device("cuda"))[0] == "fp16"
    assert pick_dtype("fp32", CPU) == torch.float32 and pick_dtype("fp32", torch.device("cuda")) == torch.float32


def test_the_processor_flags_are_read_from_cpuinfo(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    real_path = device.Path
    monkeypatch.setattr(device, "Path", lambda name: cpuinfo if name == "/proc/cpuinfo" else real_path(name))
    assert device.cpu_flags() == {"fpu", "avx2", "amx_bf16", "amx_tile"}
    assert device.native_bf16() == "AMX"


def test_doctor_says_what_auto_picks_and_why(run_adain, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_processor(monkeypatch, {"avx2"})
    monkeypatch.setattr(device, "pick_device", lambda spec="auto": CPU)
    shown = run_adain("doctor", weights=False)
    assert shown.exit_code == 0, shown.output
    reason = "fp32 here (no native bf16: AVX2)"
    assert f"precision auto: {reason}" in shown.output.splitlines()
    found = json.loads(run_adain("doctor", "--json", weights=False).output)
    assert found["devices"]["auto"] == {"device": "cpu", "precision": "fp32", "reason": reason}


@pytest.mark.slow
def test_the_precision_benchmark_runs_at_toy_sizes() -> None:
    lines = run_benchmark("bench_precision.py")
    stdout = "\n".join(lines)
    rows = [line for line in lines if line.startswith("| ") and " 64 |" in line]
    cases = {row.split(" | ")[0].lstrip("| ") for row in rows}
    assert cases == {"stylize α=1", "stylize α=0.5", "interpolate 2 styles", "spatial, half mask", "coral", "luminance"}
    assert "fp32 output before clamping" in stdout and "budget:" in stdout
    assert "CPUs;" in stdout  # the machine it ran on
