"""Planning at scale is linear: `adain stylize --files-from LIST --dry-run` over N listed files, with the output
folder inside the content tree (the case that was quadratic), at N and N/10; the time per file should stay flat.

    python3 benchmarks/bench_planning.py              # 20,000 and 200,000 files (a quiet machine; ~2 GB free disk)
    python3 benchmarks/bench_planning.py --quick      # 500 and 5,000

The files are a few tiny JPEGs, hard-linked (planning reads names and headers, never pixels). Torch is not
imported: planning answers before it loads.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT.parent)]

from machine import processor  # noqa: E402

LINKS_PER_SEED = 50_000


def make_tree(folder: Path, count: int) -> tuple[Path, Path]:
    """`count` JPEGs in folders of 1,000 (every 10th folder repeats the names of another, as real trees do),
    and a list of them; the output folder is inside the tree. Returns the list and an image to style with."""
    from PIL import Image

    lines, seeds = [], []
    for index in range(count):
        if index % LINKS_PER_SEED == 0:  # ext4 allows 65,000 links to one file
            seeds.append(folder / f"seed{index // LINKS_PER_SEED}.jpg")
            Image.new("RGB", (32, 24), (90, 120, 150)).save(seeds[-1])
        sub = folder / "photos" / f"d{index // 1000:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"img{index % 1000:05d}.jpg"
        os.link(seeds[-1], path)
        lines.append(str(path))
    listing = folder / "list.txt"
    listing.write_text("\n".join(lines) + "\n")
    return listing, seeds[0]


def plan_seconds(listing: Path, style: Path, out: Path) -> tuple[float, int]:
    command = [sys.executable, "-m", "adain_cli", "stylize", "--files-from", str(listing), "--style", str(style),
               "--styles-per-content", "1", "-o", str(out), "--dry-run", "--no-grid"]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT.parent)})
    if done.returncode != 0:
        raise SystemExit(f"the planning run failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return time.perf_counter() - started, done.stdout.count("\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    small, large = (500, 5_000) if args.quick else (20_000, 200_000)
    print(f"processor: {processor()}")
    rows = []
    for count in (small, large):
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            listing, style = make_tree(folder, count)
            seconds, planned = plan_seconds(listing, style, folder / "photos" / "out")
            assert planned == count, (planned, count)
            rows.append((count, seconds))
            print(f"{count:>9,} listed files: planned in {seconds:6.2f} s ({1e6 * seconds / count:7.1f} µs a file)")
    (n1, t1), (n2, t2) = rows
    print(
        f"per-file time at {n2:,} ÷ at {n1:,}: {(t2 / n2) / (t1 / n1):.2f} "
        "(1.0 = linear; the start-up weighs on the small run)"
    )


if __name__ == "__main__":
    main()
