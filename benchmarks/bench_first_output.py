"""Time to the first output, and the CPU, of a dataset job with many styles (issue 35): N tiny contents × S tiny
styles, `--styles-per-content 1`, run as the command runs (`python -m adain_cli stylize …` in a child process).

    python3 benchmarks/bench_first_output.py                         # 2,000 × 2,000 contents and styles of 32 px
    python3 benchmarks/bench_first_output.py --before /work/main     # that checkout's code first, then this one's
    python3 benchmarks/bench_first_output.py --quick                 # toy sizes, seconds (a test runs it)

For each checkout: seconds from the start of the process to its first output record (`--json-lines`), to the
last, and the child's CPU seconds (user + system, from its resource usage); the first pipe progress line, and
how the outputs differ from the first checkout's. The start-up (Python, torch, the weights: what any job waits
for) is the first output of a job of 1 content × 1 style, with this checkout's code.
Random weights in the public layout and synthetic inputs, made once in a temporary folder; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT.parent)]

from machine import describe  # noqa: E402

from tests.public_weights import random_public_state_dicts  # noqa: E402


def make_inputs(folder: Path, count: int, size: int, seed: int) -> Path:
    """`count` smooth random PNGs of `size` px (noise blurred by upsampling, so they encode like pictures)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        small = rng.integers(0, 256, (max(2, size // 8), max(2, size // 8), 3), dtype=np.uint8)
        Image.fromarray(small).resize((size, size), Image.Resampling.BILINEAR).save(folder / f"i{index:05d}.png")
    return folder


def make_weights(folder: Path) -> tuple[Path, Path]:
    encoder, decoder = random_public_state_dicts(seed=0)
    torch.save(encoder, folder / "vgg_normalised.pth")
    torch.save(decoder, folder / "decoder.pth")
    return folder / "vgg_normalised.pth", folder / "decoder.pth"


def run(tree: Path, args: list[str], threads: int | None) -> dict[str, object]:
    """One job with `tree`'s code: seconds to the first and last output record, CPU seconds, the first pipe line."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "adain_cli", *args], cwd=tree, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout is not None and child.stderr is not None
    first: float | None = None
    records = 0
    for _line in child.stdout:
        records += 1
        if first is None:
            first = time.perf_counter() - started
    last = time.perf_counter() - started
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    progress = next((line for line in errors.splitlines() if "% done" in line), "")
    said = next((line for line in errors.splitlines() if " written, " in line), errors.strip()[-300:])
    return {"first": first, "last": last, "cpu": usage.ru_utime + usage.ru_stime, "records": records,
            "rc": child.returncode, "progress": progress, "summary": said}  # fmt: skip


def compare(before: Path, after: Path) -> str:
    """How the outputs of two runs differ: files with the same bytes, and the largest difference in grey levels."""
    same = differ = missing = 0
    largest = 0
    for path in sorted(before.rglob("i*.png")):
        other = after / path.relative_to(before)
        if not other.is_file():
            missing += 1
        elif path.read_bytes() == other.read_bytes():
            same += 1
        else:
            differ += 1
            pixels = [np.asarray(Image.open(each), dtype=np.int16) for each in (path, other)]
            largest = max(largest, int(np.abs(pixels[0] - pixels[1]).max()))
    return f"{same} identical, {differ} differ (at most {largest} grey levels), {missing} missing"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contents", type=int, default=2000)
    parser.add_argument("--styles", type=int, default=2000)
    parser.add_argument("--size", type=int, default=32, help="side of the contents in px")
    parser.add_argument("--style-px", type=int, default=32, help="side of the styles in px")
    parser.add_argument("--before", type=Path, action="append", default=[], help="another checkout, run first")
    parser.add_argument("--only-before", action="store_true", help="run only the --before checkouts")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the jobs (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="16 contents × 24 styles")
    options = parser.parse_args()
    if options.quick:
        options.contents, options.styles = 16, 24
    print(f"machine: {describe('cpu')}")
    trees = [*options.before] + ([] if options.only_before else [ROOT.parent])
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        contents = make_inputs(folder / "contents", options.contents, options.size, seed=1)
        styles = make_inputs(folder / "styles", options.styles, options.style_px, seed=2)
        encoder, decoder = make_weights(folder)
        print(f"job: {options.contents} contents of {options.size} px × {options.styles} styles of "
              f"{options.style_px} px, --styles-per-content 1, PNG outputs at their own size")  # fmt: skip
        common = ["--content-size", "0", "--style-size", "0", "--json-lines", "--encoder", str(encoder),
                  "--decoder", str(decoder)]  # fmt: skip
        one = folder / "one"
        one.mkdir()
        (one / "c.png").write_bytes((contents / "i00000.png").read_bytes())
        start_up = run(ROOT.parent, ["stylize", str(one / "c.png"), "--style", str(styles / "i00000.png"), "-o",
                                     str(folder / "one-out"), *common], options.threads)  # fmt: skip
        print(f"start-up: the first output of a 1 content × 1 style job comes at {start_up['first']:.1f} s")
        for index, tree in enumerate(trees):
            out = folder / f"out{index}"
            args = ["stylize", str(contents), "--style", str(styles), "-o", str(out), "--styles-per-content", "1",
                    *common]  # fmt: skip
            result = run(tree, args, options.threads)
            first = f"{result['first']:.1f} s" if result["first"] is not None else "none"
            print(f"{tree}: first output {first}, last {result['last']:.1f} s, CPU {result['cpu']:.1f} s, "
                  f"{result['records']} records, exit {result['rc']}")  # fmt: skip
            print(f"    first progress line: {result['progress']!r}; summary: {result['summary'].strip()!r}")
        for index in range(1, len(trees)):
            print(f"outputs of {trees[index]} against {trees[0]}: {compare(folder / 'out0', folder / f'out{index}')}")


if __name__ == "__main__":
    main()
