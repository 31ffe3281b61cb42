"""Style augmentation and style banks (issue 36), measured side by side in one run.

    OMP_NUM_THREADS=2 python3 benchmarks/bench_augment.py                  # CPU: 32×3×224×224, 2,000 × 500
    python3 benchmarks/bench_augment.py --device cuda                      # the GPU figure (benchmarks/gpu.sh)
    python3 benchmarks/bench_augment.py --quick                            # toy sizes, seconds (a test runs it)

1. Images per second of `StyleAugment` on a batch (p = 1, α = 1, one style per sample), against the same
   outputs made by one `adain_cli.stylize` call per image (what a training loop has without the module: each
   call encodes its style again) and by the module one image at a time (the batching alone); the peak memory
   of each (RSS above the start on a CPU, sampled every 2 ms; max allocated on a GPU). Target: ≥ 2× on a CPU.
2. Style encodes of a sharded dataset job (`--styles-per-content 1`, N contents × S styles in 4 shards) with
   the style folder, and with a bank made once (`adain styles encode`): counted, not timed.

Random weights in the public layout and synthetic inputs; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT.parent)]

from machine import describe  # noqa: E402

import adain_cli  # noqa: E402
from adain_cli import banks  # noqa: E402
from adain_cli.inputs import discover  # noqa: E402
from adain_cli.job import ImageOptions, Job  # noqa: E402
from adain_cli.model import Decoder, Encoder, load_public_state_dict  # noqa: E402
from adain_cli.runner import run_job  # noqa: E402
from adain_cli.stylizer import Stylizer  # noqa: E402
from tests.public_weights import random_public_state_dicts  # noqa: E402


def networks() -> tuple[Encoder, Decoder]:
    encoder_state, decoder_state = random_public_state_dicts(seed=0)
    encoder, decoder = Encoder(), Decoder()
    load_public_state_dict(encoder, encoder_state)
    load_public_state_dict(decoder, decoder_state)
    return encoder, decoder


class PeakMemory:
    """The peak, above the start, of the process's RSS (sampled) or of the GPU's allocated memory."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak, self._stop = device, 0, threading.Event()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            self._base = self._rss()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss() - self._base)

    def __exit__(self, *_: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self._base
        else:
            self._stop.set()
            self._thread.join()


def timed(run: Callable[[], object], device: torch.device, repeats: int) -> tuple[float, int]:
    """The median seconds of `repeats` runs after one warm-up, and the peak memory of one run."""
    run()
    seconds = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - start)
    with PeakMemory(device) as memory:
        run()
    return statistics.median(seconds), memory.peak


def bench_augment(device: torch.device, batch_size: int, side: int, style_side: int, repeats: int) -> None:
    stylizer = Stylizer(*networks(), device=device)
    generator = torch.Generator().manual_seed(0)
    styles = [torch.rand(3, style_side, style_side, generator=generator) for _ in range(8)]
    batch = torch.rand(batch_size, 3, side, side, generator=generator).to(device)  # after the loader
    augment = adain_cli.StyleAugment(styles, p=1.0, alpha=1.0, style_size=0, stylizer=stylizer)
    draw = augment.draw(batch_size, torch.Generator().manual_seed(1))

    def module_batched() -> object:
        return augment.restyle(batch, draw)

    def module_one_by_one() -> object:
        return [augment.restyle(batch[i : i + 1], replace(draw, chosen=draw.chosen[i : i + 1],
                styles=draw.styles[i : i + 1], weights=draw.weights[i : i + 1], alpha=draw.alpha[i : i + 1]))
                for i in range(batch_size)]  # fmt: skip

    def library_calls() -> object:
        return [adain_cli.stylize(batch[i], styles[int(draw.styles[i, 0])], content_size=0, style_size=0,
                                  stylizer=stylizer) for i in range(batch_size)]  # fmt: skip

    expected = torch.stack([torch.as_tensor(image) for image in library_calls()]).to(device)
    difference = float((augment.restyle(batch, draw) - expected).abs().max())
    runs = {"batched": module_batched, "one by one": module_one_by_one, "library": library_calls}
    results = {name: timed(run, device, repeats) for name, run in runs.items()}
    print(f"augment: batch {batch_size}×3×{side}×{side}, styles {style_side} px, {device}; "
          f"largest difference from adain_cli.stylize {difference:.2e}")  # fmt: skip
    for name, (seconds, peak) in results.items():
        print(f"augment {name}: {batch_size / seconds:.2f} images/s ({seconds:.3f} s a batch), "
              f"peak memory {peak / 2**20:.0f} MiB")  # fmt: skip
    batched = results["batched"][0]
    print(
        f"augment ratio: batched module {results['library'][0] / batched:.2f}× the single-image library calls, "
        f"{results['one by one'][0] / batched:.2f}× the module one image at a time (target ≥ 2× on a CPU)"
    )


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
        job = replace(Job.for_styles([photos], [style], work / name, images=sizes), grid=False, styles_per_content=1)
        counted = 0
        for shard in range(shards):
            summary = run_job(stylizer, replace(job, shard=(shard, shards)))
            counted += summary.encoder_calls - (len(summary.written) + summary.failed)  # one content per output
        encodes[name] = counted
    same = all((work / "folder" / path.name).read_bytes() == path.read_bytes() for path in (work / "bank").glob("*"))
    print(f"bank: {contents} contents × {styles} styles in {shards} shards, one drawn style each; style encodes "
          f"with the folder {encodes['folder']}, with the bank {encodes['bank']} (+ {made.written} once, to make it); "
          f"outputs identical: {same}")  # fmt: skip
    print(f"bank ratio: {encodes['folder'] / (encodes['bank'] + made.written):.2f}× fewer style encodes with the bank")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="toy sizes: a check that it runs, in seconds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-bank", action="store_true", help="only the augmentation figures")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"machine: {describe(device)}")
    if args.quick:
        bench_augment(device, batch_size=4, side=32, style_side=32, repeats=1)
    else:
        bench_augment(device, batch_size=32, side=224, style_side=256, repeats=args.repeats)
    if not args.skip_bank:
        with tempfile.TemporaryDirectory() as tmp:
            bench_bank(Path(tmp), *((40, 10) if args.quick else (2000, 500)), shards=4)


if __name__ == "__main__":
    main()
