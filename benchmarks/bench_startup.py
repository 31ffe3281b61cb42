"""Start-up of a one-image job: wall time and peak RSS, against `python -c "import torch"`.

    python benchmarks/bench_startup.py [--baseline SRC] [--repeats 3] [--legacy-format]

Writes random weights in the public layout (the encoder file full size, relu5 layers and all), a
256 px content and style, and runs `python -m adain_cli stylize` in fresh processes, interleaved
with `python -c "import torch"`. With `--baseline SRC` (a checkout of an older adain, e.g. made with
`git archive main | tar -x -C /tmp/base`) it runs that tree's adain too, side by side.
`--legacy-format` writes the weights as PyTorch before 1.6 did (no zip: cannot be memory-mapped).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT.parent)]

from machine import describe  # noqa: E402

from tests.public_weights import random_public_state_dicts  # noqa: E402

# Runs a command and prints its wall time and peak RSS (kB): the child's ru_maxrss, alone in its parent.
MEASURE = (
    "import resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
    "print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


# Loads the encoder in-process: its wall time and how far the peak RSS rises above the RSS before it
# (Linux: writing 5 to clear_refs resets the peak, VmHWM, to the current RSS).
LOAD = (
    "import re, sys, time\n"
    "from pathlib import Path\n"
    "import torch\n"
    "from adain_cli.weights import load_encoder\n"
    "status = lambda key: int(re.search(key + r':\\s+(\\d+)', Path('/proc/self/status').read_text()).group(1))\n"
    "Path('/proc/self/clear_refs').write_text('5')\n"
    "before, start = status('VmRSS'), time.perf_counter()\n"
    "load_encoder(Path(sys.argv[1]))\n"
    "print(time.perf_counter() - start, status('VmHWM') - before)\n"
)


def measure(command: list[str], source: Path | None, cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of ["run", *argv] in a fresh process, or of ["load", encoder file]."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    script = LOAD if command[0] == "load" else MEASURE
    out = subprocess.run([sys.executable, "-c", script, *command[1:]], capture_output=True, text=True, env=env,
                         cwd=cwd, check=True).stdout.split()  # fmt: skip
    return float(out[0]), float(out[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=None, help="an older adain source tree to compare")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--legacy-format", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="adain-startup-") as tmp:
        work = Path(tmp)
        encoder, decoder = work / "vgg_normalised.pth", work / "decoder.pth"
        for state, path in zip(random_public_state_dicts(seed=0), (encoder, decoder), strict=True):
            torch.save(state, path, _use_new_zipfile_serialization=not args.legacy_format)
        rng = np.random.default_rng(0)
        for name in ("c.png", "s.png"):
            Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(work / name)
        weights = ["--encoder", str(encoder), "--decoder", str(decoder)]
        job = [sys.executable, "-m", "adain_cli", "stylize", str(work / "c.png"), "--style", str(work / "s.png"),
               "-o", str(work / "out"), *weights, "--no-grid", "--quiet"]  # fmt: skip
        trees = {"this tree": ROOT.parent} | ({args.baseline.name: args.baseline.resolve()} if args.baseline else {})
        runs = {"python -c 'import torch'": (["run", sys.executable, "-c", "import torch"], None)}
        runs |= {f"adain stylize, {name}": (["run", *job], tree) for name, tree in trees.items()}
        runs |= {f"load_encoder (RSS over torch), {name}": (["load", str(encoder)], t) for name, t in trees.items()}
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, (command, source) in runs.items():
                results[name].append(measure(command, source, cwd=work))  # not this tree's adain_cli

    file_format = "legacy (not zip)" if args.legacy_format else "zip"
    print(f"one 256 px image, weights in {file_format} format ({encoder.name} full size), {describe()}")
    for name, samples in results.items():
        wall = statistics.median(s[0] for s in samples)
        rss = statistics.median(s[1] for s in samples)
        print(f"  {name:50s} wall {wall:6.3f} s   peak RSS {rss:6.0f} MB")


if __name__ == "__main__":
    main()
