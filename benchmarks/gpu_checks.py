"""The GPU checks of benchmarks/gpu.sh, one step per call (a step that hangs or fails costs only itself).

    python benchmarks/gpu_checks.py STEP [--device cuda] [--dry-run]

Steps: precision (fp32/fp16/bf16 on the device against fp32 on the CPU), images (images/s at 512 and
1024 px, batch 1 and 8, fp16), compile (the 512 px job with --compile, first and second run), video
(frames/s of a 512×288 clip), train (iterations/s of `adain train`, batch 8 of 256 px crops).
Random weights in the public layout and synthetic inputs; nothing is downloaded. With --dry-run a
step builds its inputs at toy sizes on the CPU and runs nothing timed (what the test checks).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT.parent)]

from machine import describe  # noqa: E402

from adain_cli.cli import cli  # noqa: E402
from tests.public_weights import random_public_state_dicts  # noqa: E402


def adain(*args: str | Path) -> float:
    """Seconds one in-process `adain …` command takes; a failure stops the step."""
    start = time.perf_counter()
    code = cli.main(args=[str(a) for a in args], standalone_mode=False)
    if code not in (0, None):
        raise SystemExit(f"adain {args[0]} failed with exit code {code}")
    return time.perf_counter() - start


def pictures(folder: Path, count: int, width: int, height: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        small = rng.integers(0, 256, (max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
        Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC).save(folder / f"{index}.png")
    return folder


class Bench:
    def __init__(self, work: Path, device: str, dry_run: bool) -> None:
        self.work, self.device, self.dry_run = work, device, dry_run
        self.weights = (work / "vgg_normalised.pth", work / "decoder.pth")
        for state, path in zip(random_public_state_dicts(seed=0), self.weights, strict=True):
            torch.save(state, path)
        self.styles = pictures(work / "styles", 2, 320, 256, seed=1)

    def stylize(self, contents: Path, out: str, *options: str) -> float:
        return adain("stylize", contents, "--style", self.styles, "-o", self.work / out, "--device", self.device,
                     "--encoder", self.weights[0], "--decoder", self.weights[1], "--no-grid", "--quiet",
                     "--style-size", "256", *options)  # fmt: skip

    def precision(self) -> None:
        from adain_cli.stylizer import Stylizer

        side = 64 if self.dry_run else 512
        content = torch.rand(3, side, side * 3 // 2, generator=torch.Generator().manual_seed(0))
        style = torch.rand(3, side, side, generator=torch.Generator().manual_seed(1))
        at_size = {"alpha": 0.8, "content_size": 0, "style_size": 0}
        exact = Stylizer.from_files(*self.weights, device="cpu", precision="fp32").stylize(content, style, **at_size)
        for precision in ("fp32", "fp16", "bf16"):
            if self.dry_run:
                print(f"precision {precision}: would compare {self.device} against the CPU at {side} px")
                continue
            result = Stylizer.from_files(*self.weights, device=self.device, precision=precision)
            approx = result.stylize(content, style, **at_size)
            grey = ((approx.clamp(0, 1) - exact.clamp(0, 1)).abs() * 255).max().item()
            relative = ((approx - exact).norm() / exact.norm()).item()
            print(f"precision {precision}: relative error {relative:.2e}, max {grey:.2f} grey levels against CPU fp32")

    def images(self) -> None:
        for side in (512, 1024):
            contents = pictures(self.work / f"c{side}", 1 if self.dry_run else 16, side * 3 // 2, side)
            for batch in (1, 8):
                if self.dry_run:
                    print(f"images {side} px batch {batch}: would time 16 images × 2 styles in fp16")
                    continue
                self.stylize(contents, f"warm{side}", "--content-size", str(side), "--precision", "fp16")
                seconds = self.stylize(contents, f"o{side}_{batch}", "--content-size", str(side), "--precision",
                                       "fp16", "--batch-size", str(batch))  # fmt: skip
                print(f"images {side} px batch {batch}: {32 / seconds:.1f} images/s (fp16, 16 contents × 2 styles)")

    def compile(self) -> None:
        contents = pictures(self.work / "c_compile", 1 if self.dry_run else 16, 768, 512)
        if self.dry_run:
            print("compile: would time the 512 px job with --compile twice (compilation, then warm)")
            return
        plain = self.stylize(contents, "plain", "--precision", "fp16", "--batch-size", "8")
        first = self.stylize(contents, "compiled1", "--precision", "fp16", "--batch-size", "8", "--compile")
        second = self.stylize(contents, "compiled2", "--precision", "fp16", "--batch-size", "8", "--compile")
        print(f"compile: {32 / plain:.1f} images/s plain, {32 / second:.1f} with --compile "
              f"(first run, compiling: {first:.0f} s)")  # fmt: skip

    def video(self) -> None:
        import av

        frames = 4 if self.dry_run else 96
        clip = self.work / "clip.mp4"
        with av.open(str(clip), "w") as container:
            stream = container.add_stream("libx264", rate=Fraction(24))
            stream.width, stream.height, stream.pix_fmt = 512, 288, "yuv420p"
            rng = np.random.default_rng(0)
            for _ in range(frames):
                pixels = rng.integers(0, 256, (288, 512, 3), dtype=np.uint8)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
            container.mux(stream.encode())
        if self.dry_run:
            print(f"video: would time a {frames}-frame 512×288 clip in fp16")
            return
        seconds = self.stylize(clip, "video", "--content-size", "0", "--precision", "fp16")
        print(f"video: {2 * frames / seconds:.1f} frames/s (512×288, fp16, 2 styles, stabilised)")

    def train(self) -> None:
        contents = pictures(self.work / "train_c", 16, 320, 288, seed=3)
        iterations = 1 if self.dry_run else 200
        if self.dry_run:
            print("train: would time 200 iterations of batch 8 at 256 px, after 20 to warm up")
            return
        common = ("--content-dir", contents, "--style-dir", self.styles, "--encoder", self.weights[0],
                  "--device", self.device, "--batch-size", "8", "--quiet")  # fmt: skip
        warm = adain("train", *common, "-o", self.work / "t1", "--iterations", "20")
        seconds = adain("train", *common, "-o", self.work / "t2", "--iterations", str(20 + iterations))
        print(f"train: {iterations / (seconds - warm):.1f} iterations/s (batch 8, 256 px crops)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps: dict[str, Callable[[Bench], None]] = {
        "precision": Bench.precision, "images": Bench.images, "compile": Bench.compile,
        "video": Bench.video, "train": Bench.train,
    }  # fmt: skip
    parser.add_argument("step", choices=[*steps, "machine"])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    if args.step == "machine":
        print(describe(args.device if torch.cuda.is_available() else "cpu"))
        return
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; run with --dry-run to check the script starts")
    with tempfile.TemporaryDirectory(prefix="adain-gpu-") as tmp:
        steps[args.step](Bench(Path(tmp), "cpu" if args.dry_run else args.device, args.dry_run))


if __name__ == "__main__":
    main()
