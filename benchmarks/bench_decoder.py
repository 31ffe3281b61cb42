"""A decode before and after folding the resize-convolutions, side by side in one run.

    python benchmarks/bench_decoder.py [--size 512] [--precision fp32|bf16|fp16] [--device cpu]
                                       [--repeats 5] [--json out.json]

Times, interleaved, the decoder of `size` px features (random weights in the public layout):
  (a) the public `nn.Sequential` (Upsample, ReflectionPad2d, Conv2d), channels-last, as the reference runs it;
  (b) the engine's decoder with plain layers (what `train` runs, and what stylize ran before);
  (c) the engine's decoder as `Stylizer` runs it, the three upsample-and-convolve layers folded.
Run with ONEDNN_MAX_CPU_ISA=AVX2 (say) to see an AVX-512 or AMX processor as an AVX2 one: the ISA oneDNN ran at is
printed. Then each of those three layers alone, plain against folded (the 64-channel one at full size is where
a scatter of phases would cost most), and the plain 3×3 convolution peak measured in the same run.
"Effective" throughput counts the plain network's FLOPs over (c)'s time: above 100% of the peak is
more than the plain network could ever reach on this machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT.parent)]

from bench_stylize import conv_flops, conv_peak  # noqa: E402
from machine import describe, onednn_isa, program_allocator  # noqa: E402

from adain_cli.device import pick_device, pick_dtype  # noqa: E402
from adain_cli.model import (  # noqa: E402
    Decoder,
    ResizeConv3x3,
    fold_resize_convs,
    load_public_state_dict,
)
from tests.public_weights import random_public_state_dicts  # noqa: E402
from tests.reference import public_decoder  # noqa: E402


def seconds(call: Callable[[], object], device: torch.device) -> float:
    start = time.perf_counter()
    call()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def networks(dtype: torch.dtype, device: torch.device) -> dict[str, nn.Module]:
    state = random_public_state_dicts(seed=0)[1]
    reference = public_decoder()
    reference.load_state_dict(state)
    plain = Decoder()
    load_public_state_dict(plain, state)
    folded = fold_resize_convs(plain)
    place = {"device": device, "dtype": dtype, "memory_format": torch.channels_last}
    return {
        "(a) public Sequential": reference.eval().to(**place),
        "(b) plain layers": plain.eval().to(**place),
        "(c) folded (stylize)": folded.eval().to(**place),
    }


def resize_layers(plain: Decoder, folded: Decoder) -> list[tuple[str, int, nn.Module, nn.Module]]:
    """(channels, index of the conv, Upsample + conv, the folded conv) for each resize-convolution."""
    body, folded_body = plain.stages["body"], folded.stages["body"]
    return [
        (f"{body[i].in_channels}→{body[i].out_channels}", i, body[i - 1 : i + 1], layer)
        for i, layer in enumerate(folded_body)
        if isinstance(layer, ResizeConv3x3)
    ]


def layer_inputs(decoder: Decoder, feats: torch.Tensor) -> dict[int, torch.Tensor]:
    """The input each layer of the decoder's body receives for `feats`."""
    seen: dict[int, torch.Tensor] = {}
    x = feats
    for index, layer in enumerate(decoder.stages["body"]):
        seen[index] = x
        x = layer(x)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image side in px (features are size/8)")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--default-malloc", action="store_true",
                        help="glibc's allocator unchanged (the library's case), not as adain sets it")  # fmt: skip
    args = parser.parse_args()
    print(program_allocator(args.default_malloc), flush=True)
    isa = onednn_isa() if pick_device(args.device).type == "cpu" else None
    if isa:
        print(f"oneDNN ISA: {isa}", flush=True)

    device = pick_device(args.device)
    dtype = pick_dtype(args.precision, device)
    nets = networks(dtype, device)
    cells = -(-args.size // 8)
    feats = torch.randn(1, 512, cells, cells, generator=torch.Generator().manual_seed(1)).relu()
    feats = feats.to(device, dtype).contiguous(memory_format=torch.channels_last)
    plain_gflop = conv_flops(Decoder(), (1, 512, cells, cells)) / 1e9
    folded_gflop = plain_gflop * (1 - 20 / 36 * resize_share(cells))

    times: dict[str, list[float]] = {name: [] for name in nets}
    peaks: list[float] = []
    plain, folded = nets["(b) plain layers"], nets["(c) folded (stylize)"]
    layers = resize_layers(plain, folded)
    layer_times: dict[str, list[tuple[float, float]]] = {name: [] for name, *_ in layers}
    with torch.inference_mode():
        inputs = layer_inputs(plain, feats)
        for net in nets.values():  # warm-up: oneDNN picks and caches its kernels on first use
            net(feats)
        for repeat in range(args.repeats):
            peaks.append(conv_peak(dtype, device))
            for name, net in nets.items():
                times[name].append(seconds(lambda net=net: net(feats), device))
            for name, index, chain, layer in layers:
                x = inputs[index - 1]
                pair = (seconds(lambda c=chain, x=x: c(x), device), seconds(lambda f=layer, x=x: f(x), device))
                layer_times[name].append(pair)
            line = ", ".join(f"{name.split()[0]} {ts[-1]:.3f} s" for name, ts in times.items())
            print(f"repeat {repeat + 1}/{args.repeats}: {line}, conv peak {peaks[-1]:.0f} GFLOP/s", flush=True)

    peak = max(peaks)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    before, after = medians["(b) plain layers"], medians["(c) folded (stylize)"]
    effective = plain_gflop / after
    print()
    print(f"decode of {args.size} px ({cells}×{cells} relu4_1 cells), {args.precision}, batch 1, {describe(device)}"
          + (f", oneDNN at {isa}" if isa else ""))  # fmt: skip
    for name, median in medians.items():
        print(f"  {name:24s} median {median:7.3f} s   min {min(times[name]):7.3f} s")
    reference = medians["(a) public Sequential"]
    print(f"  speed-up (b)/(c)          {before / after:.2f}×   (a)/(c) {reference / after:.2f}×")
    print("  each resize-convolution alone (median ms, plain Upsample + conv → folded):")
    for name, pairs in layer_times.items():
        chain_ms, folded_ms = (statistics.median(p[k] for p in pairs) * 1e3 for k in (0, 1))
        print(f"    {name:9s} {chain_ms:7.1f} → {folded_ms:7.1f}   {chain_ms / folded_ms:.2f}×")
    print(f"  plain 3×3 conv peak       {peak:.0f} GFLOP/s ({args.precision})")
    print(f"  (b) plain layers          {plain_gflop / before:.0f} GFLOP/s = {plain_gflop / before / peak:.0%} of peak")
    print(f"  (c) folded, real FLOPs    {folded_gflop / after:.0f} GFLOP/s = {folded_gflop / after / peak:.0%} of peak")
    print(f"  (c) folded, effective     {effective:.0f} GFLOP/s = {effective / peak:.0%} of peak "
          f"(the plain network's {plain_gflop:.1f} GFLOP per decode)")  # fmt: skip
    if args.json:
        results = {
            "machine": describe(device),
            "onednn_isa": isa,
            "size": args.size,
            "precision": args.precision,
            "seconds": times,
            "median_s": medians,
            "speedup_plain_over_folded": before / after,
            "resize_layer_ms": {name: [[t * 1e3 for t in p] for p in pairs] for name, pairs in layer_times.items()},
            "conv_peak_gflops": peak,
            "plain_gflop": plain_gflop,
            "effective_fraction_of_peak": effective / peak,
        }
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")


def resize_share(cells: int) -> float:
    """The share of the plain decoder's FLOPs in its three resize-convolutions."""
    decoder = Decoder()
    body = decoder.stages["body"]
    total = conv_flops(copy.deepcopy(decoder), (1, 512, cells, cells))
    resize = 0.0
    side = cells
    for index, layer in enumerate(body):
        if isinstance(layer, nn.Upsample):
            side *= 2
            conv = body[index + 1]
            resize += 2.0 * conv.in_channels * conv.out_channels * 9 * side * side
    return resize / total


if __name__ == "__main__":
    main()
