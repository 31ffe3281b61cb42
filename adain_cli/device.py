"""Where the networks run: device, precision, memory budget, and the ranks of a torchrun launch."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch

from adain_cli.errors import AdainError, UsageError
from adain_cli.launch import Launch, torchrun_launch

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

__all__ = ["DTYPES", "PRECISIONS", "Launch", "auto_precision", "pick_device", "pick_dtype", "process_group",
           "rank_device", "torchrun_launch"]  # fmt: skip


def pick_device(spec: str = "auto") -> torch.device:
    """auto → cuda, then mps, then cpu; otherwise the device named, checked to exist (a UsageError if not, so
    that a command can check it before anything is downloaded)."""
    spec = spec.strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise UsageError(f"unknown device {spec!r} (use auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {spec!r} asked for, but CUDA is not available on this machine (use auto or cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise UsageError(f"device {spec!r} asked for, but only {count} CUDA device(s) exist (use auto or cuda)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError("device 'mps' asked for, but MPS is not available on this machine (use auto or cpu)")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"unsupported device {spec!r} (use auto, cpu, cuda, cuda:N or mps)")
    return device


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` says the device or the host ran out of memory: CUDA's OutOfMemoryError, the CPU
    allocator's RuntimeError, or Python's MemoryError."""
    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(error, RuntimeError) and "DefaultCPUAllocator: can't allocate memory" in str(error)


def out_of_memory_message(path: Path, size: tuple[int, int]) -> str:
    """What a content that ran out of memory at `size` (height, width) fails with."""
    height, width = size
    return f"{path}: out of memory at {width}×{height} (try a smaller --content-size or --batch-size)"


def cpu_supports_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels on this processor (AVX-512 BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_flags() -> set[str]:
    """The processor's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith(("flags", "Features"))), "")
    return set(line.partition(":")[2].split())


def native_bf16() -> str | None:
    """The processor's native bf16, by name (AMX, AVX-512 BF16), or None where it has none."""
    flags = cpu_flags()
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX-512 BF16"
    return "native bf16" if cpu_supports_bf16() else None


# Whether `auto` takes bf16 on a processor with native bf16. It does not: benchmarks/bench_precision.py puts 5–7% of
# the 8-bit values more than 2 levels from fp32's at 256 px (max 7), over the budget of 99.9% within 2 levels, where
# fp16 (auto on CUDA) keeps every value within 1 (docs/performance.md, "Precision").
CPU_AUTO_BF16 = False


def auto_precision(device: torch.device) -> tuple[str, str]:
    """What `--precision auto` picks on `device`, and why, in a few words (for `adain doctor`)."""
    if device.type == "cuda":
        return "fp16", "fp16 on CUDA (its outputs within 1 level of fp32: docs/performance.md)"
    if device.type != "cpu":
        return "fp32", f"fp32 on {device.type}"
    native = native_bf16()
    if native is None:
        return "fp32", f"fp32 here (no native bf16: {torch.backends.cpu.get_cpu_capability()})"
    if CPU_AUTO_BF16:
        return "bf16", f"bf16 here ({native}): within the error budget of fp32"
    return "fp32", f"fp32 here ({native} has bf16, but bf16 misses the error budget: up to 7% of values >2 levels off)"


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """auto: `auto_precision` (fp16 on CUDA, fp32 elsewhere). bf16 on the CPU only where the processor has it."""
    if precision not in PRECISIONS:
        raise AdainError(f"unknown precision {precision!r} (use {', '.join(PRECISIONS)})")
    if precision == "auto":
        return DTYPES[auto_precision(device)[0]]
    if precision == "fp16" and device.type == "cpu":
        raise AdainError("fp16 is not supported on the CPU; use bf16 or fp32")
    if precision == "bf16" and device.type == "cpu" and not cpu_supports_bf16():
        raise AdainError("this processor has no native bf16 (AVX-512 BF16 or AMX); use fp32")
    return DTYPES[precision]


def default_memory_budget(device: torch.device) -> int | None:
    """Bytes one network pass may use before images are tiled: 80% of free GPU memory, half the RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.8)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return None


SMALL_IMAGE_PIXELS = 128 * 128


def is_small_image(pixels: int) -> bool:
    """Under 128² pixels: an image whose each call's fixed cost (a network pass, a thread hand-off) outweighs
    its own work."""
    return pixels < SMALL_IMAGE_PIXELS


def auto_batch_size(device: torch.device, pixels: int | None = None) -> int:
    """Decodes per call: on a CPU one image of a useful size already fills the cores (batches of 512 px ran
    slower per image, measured), but images under 128² pixels are dominated by each call's fixed cost, so
    they go 8 at a time (32 px: 15% less CPU per output with 2, measured); a GPU needs several."""
    if device.type == "cpu":
        return 8 if pixels is not None and is_small_image(pixels) else 1
    return {"cuda": 8, "mps": 4}.get(device.type, 1)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or taskset's share, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


MOST_IO_THREADS = 16  # each loader holds a decoded content ahead of the network: memory grows with them


def io_thread_count(requested: int | None = None) -> int:
    """Threads that load (decode, resize) contents ahead of the network, and as many that encode and save the
    outputs: `requested`, or half the usable cores each (a GPU leaves the cores to the images), at least 2 and at
    most MOST_IO_THREADS."""
    if requested is not None:
        if requested < 1:
            raise ValueError(f"io_threads must be at least 1, got {requested}")
        return requested
    return max(2, min(MOST_IO_THREADS, usable_cores() // 2))


def rank_device(spec: str, launch: Launch) -> torch.device:
    """The device for this process: under torchrun each rank takes the GPU of its local rank."""
    device = pick_device(spec)
    if launch.world > 1 and device.type == "cuda" and spec.strip().lower() in ("auto", "cuda"):
        device = torch.device("cuda", launch.local_rank)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    return device


@contextlib.contextmanager
def process_group(launch: Launch, backend: str) -> Iterator[None]:
    """The torchrun ranks joined in one process group for the block (nothing for a single process)."""
    if launch.world <= 1:
        yield
        return
    import torch.distributed as dist

    dist.init_process_group(backend)
    try:
        yield
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
