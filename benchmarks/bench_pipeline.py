"""The pipeline around the network (issue 35): how many outputs per second the loading, resizing, encoding and
saving of a real job can deliver, the network replaced by a stand-in of the same output shape that costs
next to nothing (what a fast GPU leaves to the CPU).

    python3 benchmarks/bench_pipeline.py            # 1600×1200 photo-like JPEGs, --output-size original
    python3 benchmarks/bench_pipeline.py --threads 1 2 8 --photos 96    # on a 16-core box (benchmarks/gpu.sh)
    python3 benchmarks/bench_pipeline.py --quick    # toy sizes, seconds (a test runs it)

A real `run_job` over synthetic photo-like JPEGs (gradients, shapes and noise: not flat colour, so JPEG and PNG
work as on photos), at --content-size 512 and each output resized back to the photo's own size, as JPEG and as
PNG, at 1 and 2 io threads (`run_job(io_threads=N)`: N loaders and N savers). Per case: outputs per second,
outputs per CPU second (the process's user + system time, every thread: what one core delivers), and the main
thread's CPU per output (the part that does not spread over cores). The ceiling on C cores is about
min(C × outputs per CPU second, 1 / main-thread seconds per output), with C/2 loaders and C/2 savers (the
default io threads of `run_job` on C cores, up to 16 each).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT.parent)]

from machine import describe  # noqa: E402

from adain_cli.device import io_thread_count  # noqa: E402
from adain_cli.job import ImageOptions, Job  # noqa: E402
from adain_cli.model import Decoder, Encoder, load_public_state_dict  # noqa: E402
from adain_cli.planner import Request, plan  # noqa: E402
from adain_cli.runner import run_job  # noqa: E402
from adain_cli.stylizer import Stylizer  # noqa: E402
from tests.public_weights import random_public_state_dicts  # noqa: E402


def photo(width: int, height: int, seed: int) -> Image.Image:
    """A photo-like picture: a smooth colour gradient, a few soft shapes, coarse and fine noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width, y / height, 1 - x / width * 0.5 - y / height * 0.5], axis=2) * 200 + 20
    coarse = rng.normal(0, 25, (height // 16 + 1, width // 16 + 1, 3)).astype(np.float32)
    coarse_up = np.asarray(Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8)).resize((width, height),
                           Image.Resampling.BICUBIC), dtype=np.float32) - 128  # fmt: skip
    fine = rng.normal(0, 6, (height, width, 3)).astype(np.float32)
    picture = Image.fromarray(np.clip(base + coarse_up + fine, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(width // 12, width // 4))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x0, y0, x0 + size, y0 + size * 3 // 4), fill=colour)
    return picture


def stand_in_stylizer() -> Stylizer:
    """A real Stylizer whose networks are replaced by identities: its "features" are the image itself, so the
    statistics, the blend and the decode keep their shapes (3 channels instead of 512) at almost no cost."""
    encoder_state, decoder_state = random_public_state_dicts(seed=0)
    encoder, decoder = Encoder(), Decoder()
    load_public_state_dict(encoder, encoder_state)
    load_public_state_dict(decoder, decoder_state)
    stylizer = Stylizer(encoder, decoder, device="cpu", dtype=torch.float32, tile=None, max_memory=None)
    stylizer.max_memory = None  # nothing is tiled: the stand-in needs no memory budget
    identity = lambda tensor: tensor  # noqa: E731
    stylizer._encode_fn = stylizer._entry_fn = stylizer._from_entry_fn = identity
    return stylizer


def measure(stylizer: Stylizer, job: Job, threads: int) -> dict[str, float]:
    before, main_before, started = resource.getrusage(resource.RUSAGE_SELF), time.thread_time(), time.perf_counter()
    summary = run_job(stylizer, job, io_threads=threads)
    seconds, main = time.perf_counter() - started, time.thread_time() - main_before
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    outputs = len(summary.written)
    assert outputs == len(job.contents) and not summary.failures, summary.failures
    return {"outputs": outputs, "seconds": seconds, "cpu": cpu, "main": main}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=48, help="contents per case")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1200)
    parser.add_argument("--cores", type=int, default=16, help="the machine to read the ceiling off for")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="io threads to measure at")
    parser.add_argument("--quick", action="store_true", help="6 photos of 400×300")
    options = parser.parse_args()
    if options.quick:
        options.photos, options.width, options.height = 6, 400, 300
    print(f"machine: {describe('cpu')}")
    print(f"io threads by default here: {io_thread_count()} loaders and as many savers")
    stylizer = stand_in_stylizer()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "photos").mkdir()
        for index in range(options.photos):
            photo(options.width, options.height, index).save(folder / "photos" / f"p{index:03d}.jpg", quality=90)
        photo(512, 512, 999).save(folder / "style.jpg", quality=90)
        print(f"{options.photos} photo-like JPEGs of {options.width}×{options.height} "
              f"({sum(p.stat().st_size for p in (folder / 'photos').iterdir()) / options.photos / 1e3:.0f} KB each), "
              f"--content-size 512, --output-size original; the network a stand-in")  # fmt: skip
        header = (f"{'output':6} {'io threads':>10} {'outputs/s':>10} {'per CPU s':>10} {'main ms/output':>15} "
                  f"{'ceiling on ' + str(options.cores) + ' cores':>20}")  # fmt: skip
        print(header)
        warm = plan(
            Request(
                contents=[folder / "photos" / "p000.jpg"],
                styles=[folder / "style.jpg"],
                output=folder / "warm",
                grid=False,
            )
        ).job
        run_job(stylizer, warm)  # first calls (imports, allocator, codecs) are not the pipeline's pace
        for ext in ("jpg", "png"):
            for threads in options.threads:
                out = folder / f"out-{ext}-{threads}"
                sizes = ImageOptions(content_size=512, ext=ext, output_size="original")
                job = plan(
                    Request(
                        contents=[folder / "photos"],
                        styles=[folder / "style.jpg"],
                        output=out,
                        grid=False,
                        images=sizes,
                    )
                ).job
                figures = measure(stylizer, job, threads)
                per_cpu = figures["outputs"] / figures["cpu"]
                main_each = figures["main"] / figures["outputs"]
                ceiling = min(options.cores * per_cpu, 1 / main_each if main_each else float("inf"))
                print(f"{ext:6} {threads:>10} {figures['outputs'] / figures['seconds']:>10.2f} {per_cpu:>10.2f} "
                      f"{main_each * 1e3:>15.1f} {ceiling:>14.0f} out/s")  # fmt: skip
    print(f"ceiling: the lower of {options.cores} cores × outputs per CPU s and 1 / (main ms/output) of the one "
          "main thread; figures move by about ±15% between runs on a shared machine")  # fmt: skip


if __name__ == "__main__":
    main()
