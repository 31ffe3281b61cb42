"""A big batch job of tiny images: what the tool adds around the network, and what stays flat at scale.

    OMP_NUM_THREADS=1 python3 benchmarks/bench_batch.py --contents 500     # quick check
    OMP_NUM_THREADS=1 python3 benchmarks/bench_batch.py                    # 10,000 (a quiet machine)
    OMP_NUM_THREADS=1 python3 benchmarks/bench_batch.py --grids            # the grids' part alone
    python3 benchmarks/bench_batch.py --quick                              # the grids' part, 20 contents (a test)

N contents of 32 px × 2 styles with random public-layout weights. Measures: CPU per output against the network's
own (encode + decode alone on the same tensors; the overhead ratio, target under 1.25), both as a plain loop of
one content at a time and as adain runs tiny contents (8 of one size per pass), time to first output,
peak RSS at 1,000 and at N (flat), `--skip-existing` over the finished job (target under 10% of the job's time;
contents decoded: 0), a dataset job (`--styles-per-content 1` over the N contents and 1,000 styles) and
`--dry-run` planning of 100,000 files. With grids on (the default cell), N contents × 1 style: the grids' cost
as a share of the job (the same job with `--no-grid` beside it), and `--skip-existing` over the finished job
(target under 5% of the job) with what it did: torch imported or not, outputs decoded, output files opened
(their marks checked), grid pages drawn again.
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

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT.parent)]

from machine import processor, program_allocator  # noqa: E402

from adain_cli import defaults, ops  # noqa: E402
from adain_cli.images import load  # noqa: E402
from adain_cli.stylizer import Stylizer  # noqa: E402
from adain_cli.weights import load_decoder, load_encoder  # noqa: E402
from tests.public_weights import random_public_state_dicts  # noqa: E402

SIZE = 32


def _env() -> dict[str, str]:
    """One thread, and this checkout's adain_cli first, whatever the folder the benchmark runs from."""
    path = os.pathsep.join(filter(None, [str(ROOT.parent), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


def make_inputs(folder: Path, count: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    contents, styles = folder / "in", folder / "styles"
    contents.mkdir(parents=True, exist_ok=True)
    styles.mkdir(exist_ok=True)
    for index in range(count):
        path = contents / f"c{index:06d}.png"
        if not path.exists():
            Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(path)
    for index in range(2):
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(styles / f"s{index}.png")
    return contents, styles


def make_styles(folder: Path, count: int) -> Path:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        path = folder / f"p{index:05d}.png"
        if not path.exists():
            Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(path)
    return folder


def adain(*args: str) -> tuple[float, float, int, float | None, list[str]]:
    """Run `adain ARGS --json-lines` in a subprocess: (wall s, CPU s, peak RSS bytes, first output s, lines)."""
    command = [sys.executable, "-m", "adain_cli", *args]
    started = time.perf_counter()
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env())
    first, lines = None, []
    for line in job.stdout:
        if first is None:
            first = time.perf_counter() - started
        lines.append(line)
    _, status, usage = os.wait4(job.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"adain {' '.join(args[:3])}… failed (status {status})")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, first, lines


def network_cpu_per_output(
    encoder: Path, decoder: Path, contents: Path, styles: Path, count: int, per_content: int = 2, group: int = 1
) -> float:
    """CPU seconds per output of the network alone, each content decoded with `per_content` styles: `group` 1 is
    the plain loop of one content at a time; 8 is as adain runs tiny contents of one size (8 encoded in one
    pass, their outputs decoded 8 at a time)."""
    torch.set_num_threads(1)
    stylizer = Stylizer(load_encoder(encoder), load_decoder(decoder), device="cpu", max_memory=0)
    stats = [stylizer.style_stats(load(path, 0).rgb) for path in sorted(styles.iterdir())[:per_content]]
    images = [load(path, 0).rgb for path in sorted(contents.iterdir())[:count]]
    started = time.process_time()
    with torch.no_grad():
        for start in range(0, len(images), group):
            feats = stylizer.encode(torch.stack(images[start : start + group])).split(1)
            targets = torch.cat([ops.adain(feat, style) for feat in feats for style in stats])
            for batch in targets.split(group if group > 1 else per_content):
                stylizer.decoder(batch)
    return (time.process_time() - started) / (per_content * len(images))


def dry_run_planning(folder: Path, encoder: Path, decoder: Path, count: int) -> float:
    """Wall seconds for `--dry-run` to plan `count` files (empty files: planning never opens a PNG's pixels)."""
    many = folder / "many"
    many.mkdir(exist_ok=True)
    tiny = (folder / "in").iterdir().__next__().read_bytes()
    for index in range(count):
        path = many / f"p{index:06d}.png"
        if not path.exists():
            path.write_bytes(tiny)
    started = time.perf_counter()
    style = str(folder / "styles" / "s0.png")
    subprocess.run([sys.executable, "-m", "adain_cli", "stylize", str(many), "--style", style,
                    "-o", str(folder / "planned"), "--dry-run", "--encoder", str(encoder), "--decoder", str(decoder)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())  # fmt: skip
    return time.perf_counter() - started


# `adain ARGS` in this process, then what it did, as JSON on the last line of stdout: whether torch was
# imported, which output files were decoded (pixels read) and how many were opened at all.
_WATCHED = """
import builtins, json, sys
from PIL import ImageFile
out, argv = sys.argv[1], sys.argv[2:]
decoded, opened = [], []
real_load, real_open = ImageFile.ImageFile.load, builtins.open
def load(self):
    decoded.append(str(getattr(self, "filename", "")))
    return real_load(self)
def watched_open(file, *args, **kwargs):
    opened.append(str(file))
    return real_open(file, *args, **kwargs)
ImageFile.ImageFile.load, builtins.open = load, watched_open
from adain_cli.cli import main
try:
    main(argv)
except SystemExit as stop:
    code = stop.code
mine = lambda paths: [p for p in paths if p.startswith(out) and "/grid_" not in p and "/." not in p]
print(json.dumps({"code": code, "torch": "torch" in sys.modules, "decoded": len(mine(decoded)),
                  "opened": len(mine(opened))}))
"""


def watched(out: Path, *args: str) -> tuple[float, dict[str, object]]:
    """Run `adain ARGS` in a subprocess that watches itself: (wall s, what it did)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _WATCHED, str(out), *args], capture_output=True, text=True,
                          env=_env())  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"adain {' '.join(args[:3])}… failed: {done.stderr.strip()[-2000:]}")
    return time.perf_counter() - started, json.loads(done.stdout.splitlines()[-1])


def grids_part(folder: Path, contents: Path, styles: Path, weights: tuple[str, ...], count: int, rows: int) -> None:
    """N contents × 1 style with grids on (`rows` contents a page): their share of the job, and the resume of the
    finished job."""
    style = str(sorted(styles.iterdir())[0])
    common = ("--content-size", "0", "--style-size", "0", "--grid-rows", str(rows), "-q", *weights)
    out, plain = folder / "gridded", folder / "plain"
    with_grids, done = watched(out, "stylize", str(contents), "--style", style, "-o", str(out), *common)
    without, _ = watched(plain, "stylize", str(contents), "--style", style, "-o", str(plain), "--no-grid", *common)
    pages = {path: path.stat().st_mtime_ns for path in out.glob("grid_*.png")}
    share = (with_grids - without) / with_grids
    print(f"grids: {count} contents × 1 style, {len(pages)} page(s): {with_grids:.1f} s with grids, {without:.1f} s "
          f"without: the grids' share of the job {100 * share:.0f}% (noisy; both in this run)")  # fmt: skip
    resume, facts = watched(out, "stylize", str(contents), "--style", style, "-o", str(out), "--skip-existing",
                            *common)  # fmt: skip
    drawn = sum(1 for path, mtime in pages.items() if path.stat().st_mtime_ns != mtime)
    print(f"grids resume: --skip-existing over the finished job {resume:.2f} s, {100 * resume / with_grids:.1f}% of "
          f"the job (target < 5%); torch imported: {facts['torch']}; outputs decoded: {facts['decoded']}; output "
          f"files opened: {facts['opened']} (marks checked); grid pages drawn again: {drawn} of {len(pages)}; "
          f"exit {facts['code']}")  # fmt: skip
    assert done["code"] == 0 and not done["decoded"], done  # the job itself reads no output back either


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contents", type=int, default=10_000)
    parser.add_argument("--planned", type=int, default=100_000, help="files for the --dry-run planning")
    parser.add_argument("--paintings", type=int, default=1000, help="styles for the --styles-per-content 1 job")
    parser.add_argument("--folder", type=Path, default=None, help="keep the inputs here (default: a temporary one)")
    parser.add_argument("--default-malloc", action="store_true",
                        help="glibc's allocator unchanged (the library's case), not as adain sets it")  # fmt: skip
    parser.add_argument("--grids", action="store_true", help="only the grids' part (N contents × 1 style)")
    parser.add_argument("--quick", action="store_true", help="only the grids' part, of 20 contents (for a test)")
    args = parser.parse_args()
    rows = defaults.GRID_ROWS  # contents a grid page
    if args.quick:
        args.grids, args.contents, rows = True, 20, 10  # two grid pages
    print(program_allocator(args.default_malloc), "(the job and the network alone)", flush=True)
    if args.default_malloc:
        os.environ["ADAIN_DEFAULT_MALLOC"] = "1"  # for the jobs run as subprocesses
    styles = "" if args.grids else " × 2 styles (the grids' part: × 1)"
    print(f"processor: {processor()}; {args.contents} contents of {SIZE} px{styles}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        encoder_state, decoder_state = random_public_state_dicts(seed=0)
        encoder, decoder = folder / "vgg_normalised.pth", folder / "decoder.pth"
        torch.save(encoder_state, encoder)
        torch.save(decoder_state, decoder)
        contents, styles = make_inputs(folder, args.contents)
        weights = ("--encoder", str(encoder), "--decoder", str(decoder), "--device", "cpu")
        grids_part(folder, contents, styles, weights, args.contents, rows)
        if args.grids:
            return
        common = ("--content-size", "0", "--style-size", "0", "--json-lines", "--no-grid", *weights)
        small = min(1000, args.contents)
        subset = folder / "subset"
        subset.mkdir(exist_ok=True)
        for path in sorted(contents.iterdir())[:small]:
            if not (subset / path.name).exists():
                (subset / path.name).symlink_to(path)
        _, _, rss_small, _, _ = adain("stylize", str(subset), "--style", str(styles), "-o", str(folder / "o1"), *common)
        out = folder / "out"
        wall, cpu, rss, first, lines = adain("stylize", str(contents), "--style", str(styles), "-o", str(out), *common)
        outputs = sum(1 for line in lines if json.loads(line)["status"] == "written")
        sample = min(500, args.contents)
        net = network_cpu_per_output(encoder, decoder, contents, styles, sample)
        net_grouped = network_cpu_per_output(encoder, decoder, contents, styles, sample, group=8)
        per_output = cpu / outputs
        print(f"job: {outputs} outputs in {wall:.1f} s wall, {cpu:.1f} s CPU; first output after {first:.2f} s")
        print(f"CPU per output: {1000 * per_output:.2f} ms; the network alone, a content at a time: "
              f"{1000 * net:.2f} ms: overhead ratio {per_output / net:.2f} (target < 1.25; with start-up)")  # fmt: skip
        print(f"  the network alone run as adain runs it (8 contents per pass): {1000 * net_grouped:.2f} ms "
              f"(ratio {per_output / net_grouped:.2f}: what adain adds around the network it runs)")  # fmt: skip
        print(f"peak RSS: {rss_small / 2**20:.0f} MiB at {small} contents, {rss / 2**20:.0f} MiB at {args.contents}")
        skip_wall, _, _, _, skipped = adain("stylize", str(contents), "--style", str(styles), "-o", str(out),
                                            "--skip-existing", *common)  # fmt: skip
        statuses = {json.loads(line)["status"] for line in skipped}
        print(f"--skip-existing over the finished job: {skip_wall:.1f} s ({100 * skip_wall / wall:.1f}% of the job; "
              f"target < 10%), statuses {sorted(statuses)}")  # fmt: skip
        paintings = make_styles(folder / "paintings", args.paintings)
        wall, cpu, rss, _, lines = adain("stylize", str(contents), "--style", str(paintings), "-o",
                                         str(folder / "drawn"), "--styles-per-content", "1", "--seed", "0",
                                         *common)  # fmt: skip
        drawn = {json.loads(line)["styles"][0]["path"] for line in lines}
        net_one = network_cpu_per_output(encoder, decoder, contents, styles, sample, per_content=1)
        net_one_grouped = network_cpu_per_output(encoder, decoder, contents, styles, sample, per_content=1, group=8)
        per_output = cpu / len(lines)
        print(f"--styles-per-content 1 over {args.contents} contents × {args.paintings} styles: {len(lines)} outputs "
              f"in {wall:.1f} s wall, {1000 * per_output:.2f} ms CPU per output against {1000 * net_one:.2f} ms "
              f"for the network alone a content at a time (ratio {per_output / net_one:.2f}; includes encoding "
              f"every style once) and {1000 * net_one_grouped:.2f} ms as adain runs it "
              f"(ratio {per_output / net_one_grouped:.2f}); {len(drawn)} distinct styles drawn, "
              f"peak RSS {rss / 2**20:.0f} MiB")  # fmt: skip
        planning = dry_run_planning(folder, encoder, decoder, args.planned)
        print(f"--dry-run planning of {args.planned} files: {planning:.1f} s")


if __name__ == "__main__":
    main()
