"""Video: throughput of a clip against the same frames as images, and flicker with and without stabilisation.

    python benchmarks/bench_video.py [--frames 48] [--width 256] [--height 144] [--json out.json]

Side by side in one run, with random weights in the public layout, on the CPU:
1. Throughput: `adain stylize clip.mp4` (frames/s, the whole command: decode, network, encode, audio)
   against `adain stylize frames/` on the same frames saved as PNGs (images/s). Target: ≥ 90%.
2. Flicker: the mean absolute frame-to-frame change of the output's luma divided by the input's, on a
   still scene with per-frame noise and a slow brightness drift, and on a panning scene, with and
   without --stabilize. Target on the still scene: stabilised ≤ half of unstabilised. Clips are written
   losslessly on the way in (x264 at qp 0) and out (animated WebP), so codecs add no flicker of their own.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from adain_cli.video import probe, read_frames  # noqa: E402
from tests.public_weights import random_public_state_dicts  # noqa: E402


def cpu_description() -> str:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in flags.splitlines() if "model name" in line), "?")
    kind = "AVX-512 with bf16" if "avx512_bf16" in flags else "AVX-512" if "avx512f" in flags else "AVX2 or older"
    return f"{model} ({kind}), {torch.get_num_threads()} threads, {platform.machine()}"


def write_clip(path: Path, frames: list[np.ndarray], fps: Fraction = Fraction(24)) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"qp": "0"})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv444p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def scene(kind: str, count: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """A smooth random picture: still with noise and a slow brightness drift, or panning."""
    rng = np.random.default_rng(seed)
    base = np.asarray(Image.fromarray(rng.integers(0, 256, (height // 8 + 4, width // 4 + 4, 3), dtype=np.uint8))
                      .resize((width * 2, height), Image.Resampling.BICUBIC), dtype=np.float32)  # fmt: skip
    frames = []
    for index in range(count):
        if kind == "still":
            picture = base[:, :width] * (1.0 + 0.002 * index) + rng.normal(0, 4.0, (height, width, 3))
        else:
            offset = 2 * index
            picture = base[:, offset : offset + width]
        frames.append(np.clip(picture, 0, 255).astype(np.uint8))
    return frames


def adain(*args: str | Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "adain_cli", *map(str, args)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return time.perf_counter() - started


def luma_change(frames: list[np.ndarray]) -> float:
    luma = [frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) for frame in frames]
    return float(np.mean([np.abs(b - a).mean() for a, b in itertools.pairwise(luma)]))


def decoded(path: Path) -> list[np.ndarray]:
    return [(frame.rgb.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8) for frame in read_frames(probe(path))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=144)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"machine: {cpu_description()}; torch {torch.__version__}, av {av.__version__}")
    results: dict[str, object] = {"machine": cpu_description()}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        encoder, decoder = random_public_state_dicts(seed=0)
        torch.save(encoder, work / "e.pth")
        torch.save(decoder, work / "d.pth")
        Image.fromarray(scene("pan", 1, 96, 96, seed=5)[0]).save(work / "style.png")
        common = ["--style", work / "style.png", "--content-size", "0", "--style-size", "0", "--no-grid", "-q",
                  "--encoder", work / "e.pth", "--decoder", work / "d.pth"]  # fmt: skip

        frames = scene("pan", args.frames, args.width, args.height, seed=1)
        clip = write_clip(work / "clip.mp4", frames)
        (work / "pngs").mkdir()
        for index, frame in enumerate(decoded(clip)):  # the very frames the clip path decodes
            Image.fromarray(frame).save(work / "pngs" / f"f{index:04d}.png")
        clip_seconds = adain("stylize", clip, "-o", work / "out-clip", "--no-stabilize", *common)
        image_seconds = adain("stylize", work / "pngs", "-o", work / "out-png", *common)
        clip_rate, image_rate = args.frames / clip_seconds, args.frames / image_seconds
        print(f"throughput, {args.frames} frames of {args.width}×{args.height}:")
        print(f"  clip:   {clip_seconds:6.1f} s  {clip_rate:6.2f} frames/s")
        print(f"  images: {image_seconds:6.1f} s  {image_rate:6.2f} images/s")
        print(f"  ratio:  {clip_rate / image_rate:.1%} (target ≥ 90%)")
        results["throughput"] = {"frames": args.frames, "clip_seconds": clip_seconds, "image_seconds": image_seconds,
                                 "ratio": clip_rate / image_rate}  # fmt: skip

        print("flicker (output change / input change, luma, 40 frames of 96×64):")
        for kind in ("still", "pan"):
            source = scene(kind, 40, 96, 64, seed=2)
            clip = write_clip(work / f"{kind}.mp4", source)
            base = luma_change(decoded(clip))
            row = {"input": base}
            for mode in ("--no-stabilize", "--stabilize"):
                out = work / f"{kind}{mode}"
                adain("stylize", clip, "-o", out, mode, "--video-ext", "webp", *common)
                row[mode.strip("-")] = luma_change(decoded(out / f"{kind}_stylized_style.webp")) / base
            print(
                f"  {kind:5s}: input {base:5.2f} levels; unstabilised {row['no-stabilize']:.2f}, "
                f"stabilised {row['stabilize']:.2f} (ratio {row['stabilize'] / row['no-stabilize']:.2f})"
            )
            results[f"flicker_{kind}"] = row
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
