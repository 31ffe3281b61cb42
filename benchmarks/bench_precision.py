"""bf16 against fp32, by the error in the 8-bit outputs, through the library's real paths.

    python benchmarks/bench_precision.py [--sizes 256 512] [--scale 0.4] [--shift 0.6] [--json out.json]
    python benchmarks/bench_precision.py --quick        # 64 px, a test's run

The test decoder (random weights in the public layout) has its last convolution's weights and bias scaled
by `scale` and `shift` added to that bias, so that the fp32 outputs span 0–255 with few values clipped (the
range is printed) and α matters: a decoder whose outputs mostly clip hides the error, one of low contrast
shrinks it. For each case (stylize at α 1 and 0.5, interpolate of 2 styles, spatial with a half mask, both
colour methods) the same inputs go through `Stylizer` built at `precision="fp32"` and `"bf16"` (spatial
through `run_job`, as `adain spatial` runs it), and the uint8 outputs are compared: the share of values more
than 1 and more than 2 levels apart, the mean and the maximum difference. On a processor without native bf16
the bf16 network is emulated by torch (slow, but its numbers are bf16's: within noise of an fp32 network whose
weights and every layer's output are rounded to bf16). fp16, what `auto` runs on CUDA, has no CPU kernels, so
it is simulated that way (weights and each layer's output rounded to fp16) for the last columns. The budget is
`BUDGET`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT.parent)]

from machine import describe  # noqa: E402

from adain_cli import ops  # noqa: E402
from adain_cli.errors import AdainError  # noqa: E402
from adain_cli.inputs import discover  # noqa: E402
from adain_cli.job import ImageOptions, Job  # noqa: E402
from adain_cli.runner import run_job  # noqa: E402
from adain_cli.spatial import MaskCache, MaskSpec, spatial_look  # noqa: E402
from adain_cli.stylizer import Stylizer  # noqa: E402
from adain_cli.weights import load_decoder, load_encoder  # noqa: E402
from tests.public_weights import random_public_state_dicts  # noqa: E402

LAST_CONV = "28"  # the public decoder's last convolution (64 → 3)
# What bf16 must keep to be the default where it is native: 99.9% of the 8-bit values within 2 levels of
# fp32's, and none more than 8 apart (a difference of 8 levels is visible in a flat area side by side).
BUDGET = {"within_2": 0.999, "max": 8}


@dataclass(frozen=True)
class Inputs:
    content: Path
    styles: tuple[Path, Path]
    mask: Path
    encoder: Path
    decoder: Path


@dataclass
class Row:
    case: str
    size: int
    values: int
    over_1: float  # share of the uint8 values more than 1 level from fp32's
    over_2: float
    mean: float
    max: int
    fp32_clipped: float  # share of fp32's values at 0 or 255
    seconds_fp32: float
    seconds_bf16: float
    fp16_over_2: float  # the same for fp16 (simulated)
    fp16_max: int

    def meets(self) -> bool:
        return 1 - self.over_2 >= BUDGET["within_2"] and self.max <= BUDGET["max"]


def picture(path: Path, width: int, height: int, seed: int) -> Path:
    """A smooth random photo-like image (noise blurred by a bicubic upsampling)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC).save(path)
    return path


def make_inputs(folder: Path, size: int, scale: float, shift: float) -> Inputs:
    """A 3:2 content and two square styles larger than `size`, a mask of the left half, and the weights."""
    big = size * 3 // 2
    content = picture(folder / "content.png", big * 3 // 2, big, seed=1)
    styles = (picture(folder / "style_a.png", big, big, seed=2), picture(folder / "style_b.png", big, big, seed=3))
    mask = np.zeros((big, big * 3 // 2), dtype=np.uint8)
    mask[:, : mask.shape[1] // 2] = 255
    Image.fromarray(mask).save(folder / "mask.png")
    encoder_state, decoder_state = random_public_state_dicts(seed=0)
    decoder_state[f"{LAST_CONV}.weight"] = decoder_state[f"{LAST_CONV}.weight"] * scale
    decoder_state[f"{LAST_CONV}.bias"] = decoder_state[f"{LAST_CONV}.bias"] * scale + shift
    torch.save(encoder_state, folder / "vgg_normalised.pth")
    torch.save(decoder_state, folder / "decoder.pth")
    return Inputs(content, styles, folder / "mask.png", folder / "vgg_normalised.pth", folder / "decoder.pth")


def stylizer(inputs: Inputs, precision: str) -> tuple[Stylizer, str]:
    """The networks at `precision` as the library loads them; bf16 emulated where the processor lacks it."""
    try:
        return Stylizer.from_files(inputs.encoder, inputs.decoder, device="cpu", precision=precision), precision
    except AdainError:
        if precision != "bf16":
            raise
        built = Stylizer(load_encoder(inputs.encoder), load_decoder(inputs.decoder), dtype=torch.bfloat16)
        return built, "bf16 (emulated: no native bf16 here)"


def rounded(inputs: Inputs, dtype: torch.dtype) -> Stylizer:
    """An fp32 stylizer whose weights and every layer's output are rounded to `dtype`: that precision's storage
    with fp32 accumulation, as its native kernels compute."""
    encoder, decoder = load_encoder(inputs.encoder), load_decoder(inputs.decoder)
    for parameter in (*encoder.parameters(), *decoder.parameters()):
        parameter.data = parameter.data.to(dtype).float()
    built = Stylizer(encoder, decoder)
    for module in (*built.encoder.modules(), *built.decoder.modules()):
        if not any(module.children()):
            module.register_forward_hook(lambda _module, _inputs, output: output.to(dtype).float())
    return built


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def spatial(model: Stylizer, inputs: Inputs, size: int, out: Path) -> np.ndarray:
    """`adain spatial CONTENT --mask MASK --style A --style B` (A in the mask, B the background) via run_job."""
    images = ImageOptions(content_size=size, style_size=size)
    styles = tuple(discover(list(inputs.styles), mirror=False))
    look = spatial_look(list(styles), MaskCache(MaskSpec(files=(inputs.mask,)), images.max_pixels))
    job = Job(contents=tuple(discover([inputs.content])), styles=styles, looks=(look,), output_dir=out,
              images=images, grid=False, command="spatial", reads=(inputs.mask,))  # fmt: skip
    summary = run_job(model, job)
    if summary.failed or len(summary.written) != 1:
        raise SystemExit(f"the spatial job failed: {summary}")
    return rgb(summary.written[0])


KINDS = ("stylize", "interpolate", "spatial", "coral", "luminance")  # each case's first word


def cases(inputs: Inputs, size: int) -> dict[str, Callable[[Stylizer, Path], np.ndarray]]:
    """Each case: the uint8 output of one library call for a stylizer (and a scratch folder)."""
    content = rgb(inputs.content)
    style_a, style_b = (rgb(path) for path in inputs.styles)
    sizes = {"content_size": size, "style_size": size}

    def stylize(alpha: float = 1.0, color: str | None = None) -> Callable[[Stylizer, Path], np.ndarray]:
        return lambda model, _: np.asarray(model.stylize(content, style_a, alpha=alpha, preserve_color=color, **sizes))

    return {
        "stylize α=1": stylize(),
        "stylize α=0.5": stylize(alpha=0.5),
        "interpolate 2 styles": lambda model, _: np.asarray(model.interpolate(content, [style_a, style_b], **sizes)),
        "spatial, half mask": lambda model, out: spatial(model, inputs, size, out),
        "coral": stylize(color="coral"),
        "luminance": stylize(color="luminance"),
    }


def fp32_range(model: Stylizer, inputs: Inputs, size: int) -> list[float]:
    """Percentiles 0, 1, 5, 50, 95, 99, 100 of fp32's stylize α=1 output before it is clamped to [0, 1]."""
    from adain_cli import pictures

    content = pictures.prepare(rgb(inputs.content), size).images[0]
    style = pictures.prepare(rgb(inputs.styles[0]), size).images[0].rgb
    target = ops.adain(model.encode(content.rgb), model.style_stats(style))
    decoded = model.decode(target, content.size).numpy()
    return [float(v) for v in np.percentile(decoded, [0, 1, 5, 50, 95, 99, 100])]


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


def compare(
    name: str, size: int, outputs: tuple[np.ndarray, np.ndarray, np.ndarray], times: tuple[float, float]
) -> Row:
    fp32, bf16, fp16 = outputs
    diff, fp16_diff = difference(fp32, bf16), difference(fp32, fp16)
    clipped = float(np.mean((fp32 == 0) | (fp32 == 255)))
    return Row(name, size, int(diff.size), float(np.mean(diff > 1)), float(np.mean(diff > 2)), float(diff.mean()),
               int(diff.max()), clipped, *times, float(np.mean(fp16_diff > 2)), int(fp16_diff.max()))  # fmt: skip


def timed(run: Callable[[Stylizer, Path], np.ndarray], model: Stylizer, scratch: Path) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    result = run(model, scratch)
    return result, time.perf_counter() - start


def measure(
    inputs: Inputs, sizes: list[int], scratch: Path, kinds: set[str] | None = None
) -> tuple[list[Row], dict[int, list[float]], str]:
    (reference, _), (reduced, label) = stylizer(inputs, "fp32"), stylizer(inputs, "bf16")
    half = rounded(inputs, torch.float16)
    rows, ranges = [], {}
    for size in sizes:
        ranges[size] = fp32_range(reference, inputs, size)
        low, p1, p5, median, p95, p99, high = ranges[size]
        print(f"{size} px: fp32 output before clamping: min {low:.2f}, p1 {p1:.2f}, p5 {p5:.2f}, median "
              f"{median:.2f}, p95 {p95:.2f}, p99 {p99:.2f}, max {high:.2f}", flush=True)  # fmt: skip
        for name, run in cases(inputs, size).items():
            if kinds and name.split()[0].rstrip(",") not in kinds:
                continue
            fp32, fp32_s = timed(run, reference, scratch / f"{size}-{name}-fp32")
            bf16, bf16_s = timed(run, reduced, scratch / f"{size}-{name}-bf16")
            fp16 = run(half, scratch / f"{size}-{name}-fp16")
            rows.append(compare(name, size, (fp32, bf16, fp16), (fp32_s, bf16_s)))
            print(f"  {table(rows[-1:])[-1]}  ({fp32_s:.1f} s fp32, {bf16_s:.1f} s bf16)", flush=True)
    return rows, ranges, label


def table(rows: list[Row]) -> list[str]:
    lines = ["| case | px | values | bf16 > 1 level | > 2 levels | mean | max | budget | fp32 clipped "
             "| fp16 > 2 levels | fp16 max |",
             "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]  # fmt: skip
    for row in rows:
        lines.append(f"| {row.case} | {row.size} | {row.values:,} | {row.over_1:.3%} | {row.over_2:.3%} | "
                     f"{row.mean:.3f} | {row.max} | {'ok' if row.meets() else 'OVER'} | {row.fp32_clipped:.1%} "
                     f"| {row.fp16_over_2:.3%} | {row.fp16_max} |")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="content and style sizes in px")
    parser.add_argument("--scale", type=float, default=0.4, help="factor on the last convolution's weights and bias")
    parser.add_argument("--shift", type=float, default=0.6, help="added to the last convolution's bias")
    parser.add_argument("--quick", action="store_true", help="64 px only (a test's run)")
    parser.add_argument("--cases", nargs="+", choices=KINDS, default=None, help="only these cases (all by default)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    sizes = [64] if args.quick else args.sizes
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = make_inputs(folder, max(sizes), args.scale, args.shift)
        rows, ranges, label = measure(inputs, sizes, folder / "outputs", set(args.cases or ()))
    machine = describe("cpu")
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    print()
    print(f"bf16 against fp32, uint8 outputs; {label}; {machine}; {date}")
    print(
        f"decoder: the test decoder, last convolution ×{args.scale:g}, bias +{args.shift:g}; "
        "fp16 simulated (weights and each layer's output rounded to fp16)"
    )
    for line in table(rows):
        print(line)
    meets = all(row.meets() for row in rows)
    worst = max(rows, key=lambda row: (row.over_2, row.max))
    print(f"budget: {BUDGET['within_2']:.1%} of values within 2 levels and max ≤ {BUDGET['max']}: "
          f"{'met' if meets else 'NOT met'} (worst: {worst.case} at {worst.size} px, {1 - worst.over_2:.3%} within "
          f"2 levels, max {worst.max})")  # fmt: skip
    if args.json:
        payload = {"machine": machine, "date": date, "bf16": label, "scale": args.scale, "shift": args.shift,
                   "budget": BUDGET, "meets_budget": meets, "fp32_percentiles": ranges,
                   "rows": [asdict(row) for row in rows]}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
