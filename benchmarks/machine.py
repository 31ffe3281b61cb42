"""What a benchmark ran on: the processor (lscpu's model name and the vector extensions that matter
to oneDNN), threads, torch and device. Shared by the benchmarks; torch-free until asked."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def processor() -> str:
    """e.g. 'AMD EPYC (2 cores; avx2 avx512f avx512_bf16)'."""
    try:
        listing = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        listing = ""
    model = re.search(r"^Model name:\s*(.+)$", listing, re.MULTILINE)
    name = model.group(1).strip() if model else platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    flags_line = re.search(r"^flags\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE) if cpuinfo.exists() else None
    present = set(flags_line.group(1).split()) if flags_line else set()
    cores = re.search(r"^CPU\(s\):\s*(\d+)$", listing, re.MULTILINE)
    shown = " ".join(flag for flag in FLAGS if flag in present) or "no AVX2"
    return f"{name} ({cores.group(1) if cores else '?'} CPUs; {shown})"


ISA_PROBE = """
import torch
layer = torch.nn.Conv2d(64, 64, 3).eval().to(memory_format=torch.channels_last)
with torch.no_grad(), torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
    layer(torch.rand(1, 64, 32, 32).to(memory_format=torch.channels_last))
"""


def onednn_isa() -> str:
    """The instruction set oneDNN runs at in a process like this one (its environment, so ONEDNN_MAX_CPU_ISA
    included), e.g. 'Intel AVX2 (ONEDNN_MAX_CPU_ISA=AVX2)', as oneDNN's own verbose line says."""
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA")
    try:
        found = subprocess.run([sys.executable, "-c", ISA_PROBE], capture_output=True, text=True, timeout=600,
                               env={**os.environ, "ONEDNN_VERBOSE": "1"}).stdout  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        found = ""
    isa = re.search(r"^onednn_verbose,.*\bisa:([^,\n]+)", found, re.MULTILINE)
    return f"{isa.group(1).strip() if isa else 'unknown'} (ONEDNN_MAX_CPU_ISA={limit or 'unset: the best here'})"


def describe(device: object | None = None) -> str:
    """The processor, the threads torch uses, torch's version and the device."""
    import torch

    where = f", {device}" if device is not None else ""
    if device is not None and str(device).startswith("cuda"):
        where += f" ({torch.cuda.get_device_name(device)})"
    return f"{processor()}, {torch.get_num_threads()} threads, torch {torch.__version__}{where}"


def program_allocator(default: bool) -> str:
    """Set the CPU allocator as the `adain` program sets it, unless `default`; says which runs (it moves
    large-tensor timings a lot)."""
    from adain_cli.allocator import keep_freed_memory

    if default:
        return "CPU allocator: glibc's default (--default-malloc), as the library runs"
    if keep_freed_memory():
        return "CPU allocator: freed memory kept, as the `adain` program runs (--default-malloc: as the library)"
    chosen = [f"{name}={value}" for name, value in sorted(os.environ.items())
              if name.startswith("MALLOC_") or name in ("LD_PRELOAD", "ADAIN_DEFAULT_MALLOC")]  # fmt: skip
    return f"CPU allocator: left as it is ({' '.join(chosen) or 'not glibc'})"


if __name__ == "__main__":
    print(describe())
