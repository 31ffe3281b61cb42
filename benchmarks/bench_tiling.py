"""Peak memory and time of one very large content image, with and without tiling, side by side.

    python benchmarks/bench_tiling.py [--side 4096] [--tile 512] [--precision fp32] [--json out.json]

Each variant runs `adain stylize` in a fresh process on the same synthetic side×side content, and
its peak resident memory is read from the operating system (getrusage of that child) when it ends.
"untiled" forbids tiling (a memory budget of 1 TB); "tiled" uses `--tile`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.public_weights import random_public_state_dicts  # noqa: E402


def run_variant(name: str, extra: list[str], work: Path, args: argparse.Namespace) -> dict[str, object]:
    command = [
        sys.executable,
        "-m",
        "adain_cli",
        "stylize",
        str(work / "big.png"),
        "--style",
        str(work / "style.png"),
        "-o",
        str(work / name),
        "--content-size",
        "0",
        "--precision",
        args.precision,
        "--device",
        "cpu",
        "--encoder",
        str(work / "vgg_normalised.pth"),
        "--decoder",
        str(work / "decoder.pth"),
        "--quiet",
        *extra,
    ]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    stderr = process.stderr.read().decode() if process.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    peak_gib = usage.ru_maxrss * 1024 / 2**30  # ru_maxrss is in KiB on Linux
    print(
        f"{name:9s} exit {code}  {seconds:7.1f} s  peak RSS {peak_gib:6.2f} GiB"
        + (f"  {stderr.strip()}" if code else ""),
        flush=True,
    )
    return {"variant": name, "exit_code": code, "seconds": seconds, "peak_rss_gib": peak_gib, "args": extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=4096)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="adain-tiling-") as tmp:
        work = Path(tmp)
        encoder_state, decoder_state = random_public_state_dicts(seed=0)
        torch.save(encoder_state, work / "vgg_normalised.pth")
        torch.save(decoder_state, work / "decoder.pth")
        rng = np.random.default_rng(0)
        small = rng.integers(0, 256, (args.side // 32, args.side // 32, 3), dtype=np.uint8)
        Image.fromarray(small).resize((args.side, args.side), Image.Resampling.BICUBIC).save(work / "big.png")
        Image.fromarray(small).resize((512, 512), Image.Resampling.BICUBIC).save(work / "style.png")
        results = [
            run_variant("tiled", ["--tile", str(args.tile)], work, args),
            run_variant("untiled", ["--max-memory", "1TB"], work, args),
        ]
        tiled, untiled = (np.asarray(Image.open(work / v / "big_stylized_style.png"), dtype=np.int16)
                          for v in ("tiled", "untiled"))  # fmt: skip
        difference = np.abs(tiled - untiled)
    print(f"\n{args.side}×{args.side} content, {args.precision}, CPU ({torch.get_num_threads()} threads):")
    print(f"  tiled ({args.tile} px tiles): {results[0]['seconds']:.1f} s, peak {results[0]['peak_rss_gib']:.2f} GiB")
    print(f"  untiled:                {results[1]['seconds']:.1f} s, peak {results[1]['peak_rss_gib']:.2f} GiB")
    print(
        f"  memory ratio untiled/tiled {results[1]['peak_rss_gib'] / results[0]['peak_rss_gib']:.1f}×, "
        f"time ratio tiled/untiled {results[0]['seconds'] / results[1]['seconds']:.2f}×"
    )
    print(f"  outputs differ by at most {difference.max()} / 255 (mean {difference.mean():.4f})")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "side": args.side,
                    "tile": args.tile,
                    "precision": args.precision,
                    "results": results,
                    "max_difference": int(difference.max()),
                    "mean_difference": float(difference.mean()),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
