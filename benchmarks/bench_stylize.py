"""Throughput of `adain stylize` against a per-pair loop in the reference's manner, side by side.

    python benchmarks/bench_stylize.py [--size 512] [--contents 8] [--styles 4] [--alphas 3]
                                       [--precision fp32|bf16|fp16|auto] [--against-fp32] [--repeats 3]
                                       [--json out.json]

Builds random-initialised weights in the public layout and synthetic images, then times, interleaved
in one run:
  (a) `adain stylize` over the whole job (C contents × S styles × A alphas), as its own process, and
  (b) a faithful per-pair loop in the manner of the reference test script: for every (content, style,
      α) it reads, resizes and encodes both images, decodes at batch 1 in fp32, and saves.
It prints medians, the ratio (b)/(a), images per second, the convolution throughput (a) achieves
next to the peak of a plain 3×3 convolution of the same precision measured in the same run, and
(for bf16/fp16) the relative error against fp32 on the same inputs, before clamping.
`--precision auto` runs (a) as users get it by default and says what auto picks on this machine;
`--against-fp32` also times (a) at `--precision fp32` in each repeat and prints the ratio of the two.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision import transforms
from torchvision.utils import save_image

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

from machine import describe  # noqa: E402

from adain_cli.device import auto_precision, pick_device, pick_dtype  # noqa: E402
from adain_cli.images import load  # noqa: E402
from adain_cli.model import Decoder, Encoder  # noqa: E402
from adain_cli.stylizer import Stylizer  # noqa: E402
from adain_cli.weights import load_decoder, load_encoder  # noqa: E402
from tests.public_weights import random_public_state_dicts  # noqa: E402
from tests.reference import adaptive_instance_normalization, load_reference  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def make_inputs(folder: Path, contents: int, styles: int, size: int) -> tuple[list[Path], list[Path]]:
    """Photo-sized JPEGs a bit larger than `size`, so both sides resize them as real jobs do."""
    rng = np.random.default_rng(0)

    def picture(path: Path, width: int, height: int) -> Path:
        small = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
        Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC).save(path, quality=92)
        return path

    (folder / "contents").mkdir(parents=True)
    (folder / "styles").mkdir()
    big, wide = size * 3 // 2, size * 2
    content_paths = [picture(folder / "contents" / f"photo{i}.jpg", wide, big) for i in range(contents)]
    style_paths = [picture(folder / "styles" / f"style{i}.jpg", big, big) for i in range(styles)]
    return content_paths, style_paths


def conv_flops(module: nn.Module, shape: tuple[int, ...], call: str = "forward") -> float:
    """FLOPs (2 × multiply-adds) of every convolution in one call, found with shape-only meta tensors."""
    total = 0.0

    def count(layer: nn.Conv2d, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = layer.kernel_size
        total += 2.0 * layer.in_channels * kh * kw * output.numel() / layer.groups

    meta = module.to("meta")
    hooks = [m.register_forward_hook(count) for m in meta.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        getattr(meta, call)(torch.empty(shape, device="meta"))
    for hook in hooks:
        hook.remove()
    return total


def job_flops(content_paths: list[Path], style_paths: list[Path], size: int, alphas: list[float]) -> float:
    """Convolution FLOPs the engine does for the job: each image encoded once, every output decoded
    once, except that the decoder's first layer runs once per feature map (the content's and each
    style's target), not once per α, as blends are taken after it."""
    encoder, decoder = Encoder(), Decoder()
    total = 0.0
    for path in content_paths:
        height, width = load(path, size).size
        total += conv_flops(encoder, (1, 3, height, width), "encode")
        cells = (-(-height // 8), -(-width // 8))
        entry = conv_flops(decoder, (1, 512, *cells), "entry")
        rest = conv_flops(decoder, (1, 256, *cells), "from_entry")
        total += rest * len(style_paths) * len(alphas)
        total += entry * (len(style_paths) + any(alpha < 1 for alpha in alphas))
    for path in style_paths:
        height, width = load(path, size).size
        total += conv_flops(encoder, (1, 3, height, width), "encode")
    return total


def conv_peak(dtype: torch.dtype, device: torch.device) -> float:
    """The best GFLOP/s of a plain 3×3 convolution at this precision (several shapes and layouts)."""
    best = 0.0
    with torch.inference_mode():
        for channels, side in ((64, 512), (128, 256), (256, 128)):
            for layout in (torch.contiguous_format, torch.channels_last):
                conv = nn.Conv2d(channels, channels, 3, padding=1).to(device, memory_format=layout)
                x = torch.randn(1, channels, side, side, device=device).contiguous(memory_format=layout)
                autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
                times = []
                for _ in range(4):
                    start = time.perf_counter()
                    with autocast:
                        conv(x)
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    times.append(time.perf_counter() - start)
                flops = 2.0 * channels * channels * 9 * side * side
                best = max(best, flops / min(times[1:]) / 1e9)
    return best


def run_engine(
    contents: Path,
    styles: Path,
    out: Path,
    weights: tuple[Path, Path],
    args: argparse.Namespace,
    alphas: list[float],
    precision: str,
) -> float:
    argv = [
        "stylize",
        str(contents),
        "--style",
        str(styles),
        "-o",
        str(out),
        "--alpha",
        ",".join(map(str, alphas)),
        "--content-size",
        str(args.size),
        "--style-size",
        str(args.size),
        "--precision",
        precision,
        "--device",
        args.device,
        "--encoder",
        str(weights[0]),
        "--decoder",
        str(weights[1]),
        "--quiet",
    ]
    # The program as users run it, in its own process (with its allocator setting), start-up included.
    env = {**os.environ, "PYTHONPATH": str(ROOT)} | ({"ADAIN_DEFAULT_MALLOC": "1"} if args.default_malloc else {})
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "adain_cli", *argv], env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"adain stylize failed with exit code {done.returncode}")
    return elapsed


def run_reference(
    content_paths: list[Path],
    style_paths: list[Path],
    out: Path,
    weights: tuple[Path, Path],
    size: int,
    alphas: list[float],
    device: torch.device,
) -> float:
    """The reference test script's manner: per pair, read, resize and encode both; batch 1; fp32."""
    start = time.perf_counter()
    encoder_state = torch.load(weights[0], weights_only=True)
    decoder_state = torch.load(weights[1], weights_only=True)
    vgg, decoder = load_reference(encoder_state, decoder_state)
    vgg, decoder = vgg.to(device), decoder.to(device)
    transform = transforms.Compose([transforms.Resize(size), transforms.ToTensor()])
    out.mkdir(parents=True, exist_ok=True)
    for content_path in content_paths:
        for style_path in style_paths:
            for alpha in alphas:
                content = transform(Image.open(content_path).convert("RGB")).unsqueeze(0).to(device)
                style = transform(Image.open(style_path).convert("RGB")).unsqueeze(0).to(device)
                with torch.no_grad():
                    content_feat, style_feat = vgg(content), vgg(style)
                    feat = adaptive_instance_normalization(content_feat, style_feat)
                    feat = feat * alpha + content_feat * (1 - alpha)
                    output = decoder(feat).cpu()
                save_image(output, out / f"{content_path.stem}_stylized_{style_path.stem}_{alpha:.2f}.png")
    return time.perf_counter() - start


def relative_error(
    weights: tuple[Path, Path],
    content_paths: list[Path],
    style_paths: list[Path],
    size: int,
    alphas: list[float],
    precision: str,
    device: torch.device,
) -> float:
    """‖y_p − y_fp32‖ / ‖y_fp32‖ over a few pairs at the smallest and largest α, on the results as they are
    saved (clamped to [0, 1])."""
    encoder, decoder = load_encoder(weights[0]), load_decoder(weights[1])
    reference = Stylizer(encoder, decoder, device=device, dtype=torch.float32)
    reduced = Stylizer(load_encoder(weights[0]), load_decoder(weights[1]), device=device,
                       dtype=pick_dtype(precision, device))  # fmt: skip
    errors, norms = 0.0, 0.0
    for content_path, style_path in zip(content_paths[:2], style_paths[:2], strict=False):
        content, style = load(content_path, size).rgb, load(style_path, size).rgb
        for alpha in (alphas[0], alphas[-1]):
            at_size = {"alpha": alpha, "content_size": 0, "style_size": 0}
            exact, approx = reference.stylize(content, style, **at_size), reduced.stylize(content, style, **at_size)
            errors += float((approx - exact).pow(2).sum())
            norms += float(exact.pow(2).sum())
    return (errors / norms) ** 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--contents", type=int, default=8)
    parser.add_argument("--styles", type=int, default=4)
    parser.add_argument("--alphas", type=int, default=3, help="A values (1/A, 2/A, …, 1)")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16", "auto"], default="fp32")
    parser.add_argument("--against-fp32", action="store_true", help="also time (a) at fp32, side by side")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--default-malloc", action="store_true",
                        help="glibc's allocator unchanged (the library's case), not as adain sets it")  # fmt: skip
    args = parser.parse_args()
    side_a = "glibc's default (--default-malloc)" if args.default_malloc else "as the `adain` program sets it"
    print(f"CPU allocator: (a) {side_a}; (b) glibc's default, as a plain script runs", flush=True)

    device = pick_device(args.device)
    dtype = pick_dtype(args.precision, device)
    resolved = auto_precision(device)[0] if args.precision == "auto" else args.precision
    if args.precision == "auto":
        print(f"--precision auto picks {auto_precision(device)[1]}", flush=True)
    alphas = [round((i + 1) / args.alphas, 4) for i in range(args.alphas)]
    outputs = args.contents * args.styles * args.alphas
    with tempfile.TemporaryDirectory(prefix="adain-bench-") as tmp:
        work = Path(tmp)
        encoder_state, decoder_state = random_public_state_dicts(seed=0)
        weights = (work / "vgg_normalised.pth", work / "decoder.pth")
        torch.save(encoder_state, weights[0])
        torch.save(decoder_state, weights[1])
        content_paths, style_paths = make_inputs(work, args.contents, args.styles, args.size)
        flops = job_flops(content_paths, style_paths, args.size, alphas)
        engine_times, reference_times, peaks, fp32_times = [], [], [], []
        for repeat in range(args.repeats):
            peaks.append(conv_peak(dtype, device))
            engine_times.append(
                run_engine(
                    work / "contents", work / "styles", work / f"a{repeat}", weights, args, alphas, args.precision
                )
            )
            if args.against_fp32:
                fp32_times.append(
                    run_engine(work / "contents", work / "styles", work / f"f{repeat}", weights, args, alphas, "fp32")
                )
            reference_times.append(
                run_reference(content_paths, style_paths, work / f"b{repeat}", weights, args.size, alphas, device)
            )
            print(
                f"repeat {repeat + 1}/{args.repeats}: (a) adain {engine_times[-1]:.1f} s, "
                f"(b) reference loop {reference_times[-1]:.1f} s, conv peak {peaks[-1]:.0f} GFLOP/s",
                flush=True,
            )
        error = (
            None
            if resolved == "fp32"
            else relative_error(weights, content_paths, style_paths, args.size, alphas, resolved, device)
        )

    a, b = statistics.median(engine_times), statistics.median(reference_times)
    peak = max(peaks)
    achieved = flops / a / 1e9
    results = {
        "machine": describe(device),
        "job": {
            "size": args.size,
            "contents": args.contents,
            "styles": args.styles,
            "alphas": alphas,
            "outputs": outputs,
            "precision": args.precision,
            "resolved_precision": resolved,
            "repeats": args.repeats,
        },
        "adain_seconds": engine_times,
        "reference_seconds": reference_times,
        "adain_median_s": a,
        "reference_median_s": b,
        "ratio_reference_over_adain": b / a,
        "adain_images_per_s": outputs / a,
        "reference_images_per_s": outputs / b,
        "job_conv_gflop": flops / 1e9,
        "adain_conv_gflops": achieved,
        "conv_peak_gflops": peak,
        "adain_fraction_of_peak": achieved / peak,
        "relative_error_vs_fp32": error,
        "adain_fp32_seconds": fp32_times,
    }
    print()
    print(
        f"job: {args.contents} contents × {args.styles} styles × {args.alphas} α at {args.size} px = {outputs} "
        f"images, {args.precision} ({resolved}), {results['machine']}"
    )
    print(f"(a) adain stylize       median {a:8.1f} s   {outputs / a:6.2f} images/s")
    print(f"(b) per-pair reference  median {b:8.1f} s   {outputs / b:6.2f} images/s")
    print(f"ratio (b)/(a)           {b / a:.2f}")
    if fp32_times:
        f = statistics.median(fp32_times)
        ratio = f"fp32/{args.precision} {f / a:.2f}"
        print(f"(a) at --precision fp32 median {f:6.1f} s   {outputs / f:6.2f} images/s; {ratio}")
    print(
        f"conv throughput of (a)  {achieved:.0f} GFLOP/s = {achieved / peak:.0%} of the {peak:.0f} GFLOP/s "
        f"plain 3×3 conv peak ({resolved}); effective: counted at the plain network's FLOPs"
    )
    if error is not None:
        print(f"relative error vs fp32  {error:.4%} (before clamping)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
