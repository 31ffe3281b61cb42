"""Style augmentation and style banks (issue 36), measured side by side in one run.

    OMP_NUM_THREADS=2 python3 benchmarks/bench_augment.py                  # CPU: 32×3×224×224, 2,000 × 500
    python3 benchmarks/bench_augment.py --skip-bank --style-sides 256      # only the 256 px styles
    python3 benchmarks/bench_augment.py --device cuda                      # the GPU figure (benchmarks/gpu.sh)
    python3 benchmarks/bench_augment.py --quick                            # toy sizes, seconds (a test runs it)
    python3 benchmarks/bench_augment.py --skip-bank --slices 1 2 4 8 32    # the CPU slice sizes, side by side

1. Images per second of `StyleAugment` on a batch (p = 1, α = 1, one style per sample), against the same
   outputs made by one `adain_cli.stylize` call per image (what a training loop has without the module: each
   call encodes its style again) and by the module one image at a time (the batching alone); the peak memory
   of one cold run of each: on a CPU the kernel's resident peak (VmHWM, reset before the run) of a fresh
   process above its size once set up; on a GPU the max allocated. Target: ≥ 2× on a CPU.
   Styles at 512 px (the library's and `adain styles encode`'s default `--style-size`) and at 256 px, in one
   run: on a CPU the module saves each call's style encode, so the ratio follows what a style costs to encode
   against what a content costs to encode and decode.
   `--slices 1 2 4 8 32` instead times the batched module at those CPU slice sizes (`StyleAugment.cpu_slice`).
2. Style encodes of a sharded dataset job (`--styles-per-content 1`, N contents × S styles in 4 shards) with
   the style folder, and with a bank made once (`adain styles encode`): counted, not timed.

Random weights in the public layout and synthetic inputs; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT.parent)]

from machine import describe  # noqa: E402

import adain_cli  # noqa: E402
from adain_cli import banks  # noqa: E402
from adain_cli.augment import Draw  # noqa: E402
from adain_cli.inputs import discover  # noqa: E402
from adain_cli.job import ImageOptions  # noqa: E402
from adain_cli.model import Decoder, Encoder, load_public_state_dict  # noqa: E402
from adain_cli.planner import Request, plan  # noqa: E402
from adain_cli.runner import run_job  # noqa: E402
from adain_cli.stylizer import Stylizer  # noqa: E402
from tests.public_weights import random_public_state_dicts  # noqa: E402


def networks() -> tuple[Encoder, Decoder]:
    encoder_state, decoder_state = random_public_state_dicts(seed=0)
    encoder, decoder = Encoder(), Decoder()
    load_public_state_dict(encoder, encoder_state)
    load_public_state_dict(decoder, decoder_state)
    return encoder, decoder


def _status(field: str) -> int:
    """A field of /proc/self/status in bytes (VmRSS: resident now; VmHWM: the resident peak)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(f"{field}:"))
    return int(line.split()[1]) * 1024


def reset_peak_rss() -> bool:
    """Set the kernel's resident peak (VmHWM) to the resident size now (Linux ≥ 4.0); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class Setup:
    """What every variant runs on: the same networks, styles, batch and draw."""

    stylizer: Stylizer
    styles: list[torch.Tensor]
    batch: torch.Tensor
    augment: adain_cli.StyleAugment
    draw: Draw

    @classmethod
    def make(cls, device: torch.device, batch_size: int, side: int, style_side: int) -> Setup:
        stylizer = Stylizer(*networks(), device=device)
        generator = torch.Generator().manual_seed(0)
        styles = [torch.rand(3, style_side, style_side, generator=generator) for _ in range(8)]
        batch = torch.rand(batch_size, 3, side, side, generator=generator).to(device)  # after the loader
        augment = adain_cli.StyleAugment(styles, p=1.0, alpha=1.0, style_size=0, stylizer=stylizer)
        return cls(stylizer, styles, batch, augment, augment.draw(batch_size, torch.Generator().manual_seed(1)))

    def variants(self) -> dict[str, Callable[[], object]]:
        """The batched module, the module one image at a time, and one library call per image."""
        augment, batch, draw = self.augment, self.batch, self.draw

        def one_by_one() -> object:
            return [augment.restyle(batch[i : i + 1], replace(draw, chosen=draw.chosen[i : i + 1],
                    styles=draw.styles[i : i + 1], weights=draw.weights[i : i + 1], alpha=draw.alpha[i : i + 1]))
                    for i in range(len(batch))]  # fmt: skip

        def library() -> object:
            return [adain_cli.stylize(batch[i], self.styles[int(draw.styles[i, 0])], content_size=0, style_size=0,
                                      stylizer=self.stylizer) for i in range(len(batch))]  # fmt: skip

        return {"batched": lambda: augment.restyle(batch, draw), "one by one": one_by_one, "library": library}


def once(run: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def seconds(run: Callable[[], object], device: torch.device, repeats: int) -> float:
    """The median seconds of `repeats` runs after one warm-up."""
    run()
    return statistics.median(once(run, device) for _ in range(repeats))


def peak_memory(name: str, device: torch.device, sizes: tuple[int, int, int]) -> tuple[int, str]:
    """The peak memory one cold run of variant `name` adds: max allocated on a GPU; on a CPU the kernel's resident
    peak (VmHWM) of a fresh process above its size once set up, so nothing an earlier run left cached hides it."""
    if device.type == "cuda":
        run = Setup.make(device, *sizes).variants()[name]
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        run()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base, "max allocated"
    command = [sys.executable, __file__, "--peak-of", name, "--sizes", *map(str, sizes)]
    found = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    return int(found[-2]), found[-1].replace("_", " ")


def child_peak(name: str, sizes: tuple[int, int, int]) -> None:
    """`--peak-of`: in this fresh process, the resident peak of one run of `name` above the size before it."""
    run = Setup.make(torch.device("cpu"), *sizes).variants()[name]
    exact = reset_peak_rss()
    base = _status("VmRSS")
    run()
    how = "resident_peak_(fresh_process)" if exact else "resident_peak_(fresh_process,_with_its_set-up)"
    print(_status("VmHWM") - base, how)


def bench_augment(device: torch.device, sizes: tuple[int, int, int], repeats: int) -> float:
    """Prints each variant's figures; returns the module's ratio to the single-image library calls."""
    batch_size, side, style_side = sizes
    setup = Setup.make(device, *sizes)
    expected = torch.stack([torch.as_tensor(image) for image in setup.variants()["library"]()]).to(device)
    difference = float((setup.augment.restyle(setup.batch, setup.draw) - expected).abs().max())
    where = f"slices of {setup.augment.cpu_slice}" if device.type == "cpu" else "whole batches"
    print(f"augment: batch {batch_size}×3×{side}×{side}, styles {style_side} px, {device}, the module in {where}; "
          f"largest difference from adain_cli.stylize {difference:.2e}")  # fmt: skip
    results = {}
    for name, run in setup.variants().items():
        results[name] = seconds(run, device, repeats)
        peak, how = peak_memory(name, device, sizes)
        print(f"augment {name}: {batch_size / results[name]:.2f} images/s ({results[name]:.3f} s a batch), "
              f"peak memory {peak / 2**20:.0f} MiB ({how})", flush=True)  # fmt: skip
    batched = results["batched"]
    print(
        f"augment ratio: batched module {results['library'] / batched:.2f}× the single-image library calls, "
        f"{results['one by one'] / batched:.2f}× the module one image at a time (target ≥ 2× on a CPU), "
        f"styles {style_side} px"
    )
    return results["library"] / batched


def bench_slices(setup: Setup, device: torch.device, repeats: int, slices: list[int]) -> None:
    """The batched module at each CPU slice size, interleaved so that a shared machine's load falls on all alike."""
    found: dict[int, list[float]] = {size: [] for size in slices}
    for repeat in range(repeats + 1):
        for size in slices:
            setup.augment.cpu_slice = size
            taken = once(lambda: setup.augment.restyle(setup.batch, setup.draw), device)
            found[size] += [taken] if repeat else []  # the first round warms up
    for size, times in found.items():
        print(f"augment slice {size}: {len(setup.batch) / statistics.median(times):.2f} images/s "
              f"({', '.join(f'{t:.2f}' for t in times)} s a batch)", flush=True)  # fmt: skip


def pictures(folder: Path, count: int, side: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(folder / f"{index:05d}.png")
    return folder


def bench_bank(work: Path, contents: int, styles: int, shards: int) -> None:
    encoder, decoder = networks()
    photos, paintings = pictures(work / "photos", contents, 16, 0), pictures(work / "paintings", styles, 24, 1)
    bank = work / "paintings.bank"
    tap_encoder = banks.TapEncoder(encoder)
    made = banks.encode_styles(tap_encoder, discover([paintings]), bank, banks.BankOptions(style_size=0))
    stylizer = Stylizer(encoder, decoder, device="cpu")
    sizes = ImageOptions(content_size=0, style_size=0)
    encodes = {}
    for name, style in (("folder", paintings), ("bank", bank)):
        request = Request(
            contents=[photos], styles=[style], output=work / name, images=sizes, grid=False, styles_per_content=1
        )
        job = plan(request).job
        counted = 0
        for shard in range(shards):
            summary = run_job(stylizer, replace(job, shard=(shard, shards)))
            counted += summary.encoder_calls - (len(summary.written) + summary.failed)  # one content per output
        encodes[name] = counted
    # The job encodes tiny styles together, the bank each alone: equal outputs within a grey level's rounding.
    pairs = [(work / "folder" / path.name, path) for path in (work / "bank").glob("*.png")]
    differ = max(int(np.abs(np.asarray(Image.open(a), np.int16) - np.asarray(Image.open(b), np.int16)).max())
                 for a, b in pairs)  # fmt: skip
    print(f"bank: {contents} contents × {styles} styles in {shards} shards, one drawn style each; style encodes "
          f"with the folder {encodes['folder']}, with the bank {encodes['bank']} (+ {made.written} once, to make it); "
          f"{len(pairs)} outputs, at most {differ} grey level(s) apart")  # fmt: skip
    print(f"bank ratio: {encodes['folder'] / (encodes['bank'] + made.written):.2f}× fewer style encodes with the bank")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="toy sizes: a check that it runs, in seconds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-bank", action="store_true", help="only the augmentation figures")
    parser.add_argument("--slices", type=int, nargs="*", default=[],
                        help="instead, time the batched module at these CPU slice sizes, e.g. 1 2 4 8 32")  # fmt: skip
    parser.add_argument("--style-sides", type=int, nargs="+", default=None,
                        help="style sides in pixels, each measured in turn (default: 512 256)")  # fmt: skip
    parser.add_argument("--sizes", type=int, nargs=3, default=None, help=argparse.SUPPRESS)  # one set, for the child
    parser.add_argument("--peak-of", default=None, help=argparse.SUPPRESS)  # the child that measures a peak
    args = parser.parse_args()
    if args.peak_of:
        batch_size, side, style_side = args.sizes
        child_peak(args.peak_of, (batch_size, side, style_side))
        return
    batch_size, side = (4, 32) if args.quick else (32, 224)
    style_sides = args.style_sides or ([32] if args.quick else [512, 256])
    repeats = 1 if args.quick else args.repeats
    device = torch.device(args.device)
    print(f"machine: {describe(device)}")
    if args.slices:  # the module alone: one style side is enough
        bench_slices(Setup.make(device, batch_size, side, style_sides[0]), device, repeats, args.slices)
    else:
        ratios = {style: bench_augment(device, (batch_size, side, style), repeats) for style in style_sides}
        print("augment ratios: " + ", ".join(f"{ratio:.2f}× with {style} px styles" for style, ratio in ratios.items()))
    if not args.skip_bank:
        with tempfile.TemporaryDirectory() as tmp:
            bench_bank(Path(tmp), *((40, 10) if args.quick else (2000, 500)), shards=4)


if __name__ == "__main__":
    main()
