"""The one engine every command shares.

A command describes a job: the content and style images, the *looks* (ways of turning a content's
features into target features: one style, a weighted blend, regions…), the α values, and where
to write. `run_job` then loads each style once, streams contents through background loading,
encodes each content once, decodes all its looks × alphas in batches, saves in background threads
(atomically), fills one grid per α, and reports progress through a callback.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import torch
from PIL import Image
from torch import Tensor

from adain_cli import images, ops
from adain_cli.errors import AdainError, ImageError
from adain_cli.grid import GridCanvas, thumbnail
from adain_cli.images import LoadedImage, Source
from adain_cli.model import Decoder, Encoder
from adain_cli.ops import Stats
from adain_cli.tiling import TilePlan, decode_tiled, encode_tiled, peak_bytes, tile_for_budget

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


# ---------------------------------------------------------------------------------------------
# Device and precision


def pick_device(spec: str = "auto") -> torch.device:
    """auto → cuda, then mps, then cpu; otherwise the device named, checked to exist."""
    spec = spec.strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise AdainError(f"unknown device {spec!r} (use auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise AdainError(f"device {spec!r} asked for, but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise AdainError(f"device {spec!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise AdainError("device 'mps' asked for, but MPS is not available on this machine")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise AdainError(f"unsupported device {spec!r} (use auto, cpu, cuda, cuda:N or mps)")
    return device


def cpu_supports_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels on this processor (AVX-512 BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """auto: fp16 on CUDA, fp32 elsewhere. bf16 on the CPU only where the processor has it."""
    if precision not in PRECISIONS:
        raise AdainError(f"unknown precision {precision!r} (use {', '.join(PRECISIONS)})")
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if precision == "fp16" and device.type == "cpu":
        raise AdainError("fp16 is not supported on the CPU; use bf16 or fp32")
    if precision == "bf16" and device.type == "cpu" and not cpu_supports_bf16():
        raise AdainError("this processor has no native bf16 (AVX-512 BF16 or AMX); use fp32")
    return DTYPES[precision]


def default_memory_budget(device: torch.device) -> int | None:
    """Bytes one network pass may use before images are tiled: 80% of free GPU memory, half the RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.8)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return None


def auto_batch_size(device: torch.device) -> int:
    """Decodes per call: on a CPU one image already fills the cores (and batches run slower per image,
    measured); a GPU needs several."""
    return {"cuda": 8, "mps": 4}.get(device.type, 1)


# ---------------------------------------------------------------------------------------------
# The model runner


class Stylizer:
    """Encoder and decoder on one device, loaded once; every encode is counted."""

    def __init__(
        self,
        encoder: Encoder,
        decoder: Decoder,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        channels_last: bool = True,
        compile: bool = False,
        tile: int | None = None,
        max_memory: int | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        # Channels-last lets oneDNN and cuDNN pick their fastest convolutions (measured on a CPU:
        # 0.95 s → 0.74 s per 512 px decode in fp32), so it is on everywhere unless asked otherwise.
        self.channels_last = channels_last
        # Reduced precision runs natively (weights converted once), not under autocast: autocast
        # recasts around every reflection pad (measured on a CPU in bf16: 0.66 s → 0.46 s per decode,
        # same error). Statistics are still taken in fp32 (ops.mean_std).
        place = {"device": self.device, "dtype": dtype, "memory_format": self._memory_format}
        self.encoder = encoder.eval().requires_grad_(False).to(**place)
        self.decoder = decoder.eval().requires_grad_(False).to(**place)
        self._encode_fn, self._entry_fn = self.encoder.encode, self.decoder.entry
        self._from_entry_fn = self.decoder.from_entry
        if compile:
            self._encode_fn = torch.compile(self.encoder.encode, dynamic=True)
            self._from_entry_fn = torch.compile(self.decoder.from_entry, dynamic=True)
        self.tile = tile
        self.max_memory = default_memory_budget(self.device) if max_memory is None else max_memory
        self.tiled_images = 0
        self.encoder_calls = 0

    @classmethod
    def from_files(
        cls,
        encoder: Path,
        decoder: Path,
        device: str = "auto",
        precision: str = "auto",
        compile: bool = False,
        tile: int | None = None,
        max_memory: int | None = None,
    ) -> Stylizer:
        from adain_cli.weights import load_decoder, load_encoder

        target = pick_device(device)
        dtype = pick_dtype(precision, target)
        return cls(load_encoder(encoder), load_decoder(decoder), target, dtype, compile=compile, tile=tile,
                   max_memory=max_memory)  # fmt: skip

    def tile_plan(self, height: int, width: int, batch: int = 1) -> TilePlan | None:
        """How to split an image for this device: `tile` if set, else only when over the memory budget."""
        if self.tile:
            return TilePlan(self.tile) if max(height, width) > self.tile else None
        element = torch.finfo(self.dtype).bits // 8
        if self.max_memory and peak_bytes(height, width, element, batch) > self.max_memory:
            return TilePlan(tile_for_budget(self.max_memory, element, batch))
        return None

    def _on_device(self, feats: Tensor) -> Tensor:
        return feats.to(self.device, self.dtype).contiguous(memory_format=self._memory_format)

    def _to_device(self, images_batch: Tensor) -> Tensor:
        if self.device.type == "cuda" and not images_batch.is_pinned():
            images_batch = images_batch.pin_memory()
        moved = images_batch.to(self.device, non_blocking=True)
        return moved.to(self.dtype).contiguous(memory_format=self._memory_format)

    @property
    def _memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    @torch.inference_mode()
    def encode(self, image: Tensor) -> Tensor:
        """relu4_1 features of one (3, H, W) image or a (N, 3, H, W) batch.

        On the device, or in host memory (float32) when a single image is large enough to be tiled.
        """
        batch = image[None] if image.dim() == 3 else image
        self.encoder_calls += 1
        plan = self.tile_plan(*batch.shape[2:]) if batch.shape[0] == 1 else None
        if plan is not None:
            self.tiled_images += 1
            return encode_tiled(lambda crop: self._encode_fn(self._to_device(crop[None])), batch[0], plan)
        return self._encode_fn(self._to_device(batch))

    @torch.inference_mode()
    def decoder_entry(self, feats: Tensor) -> Tensor:
        """The decoder's first convolution of `feats` (before its ReLU), on the device."""
        return self._entry_fn(self._on_device(feats))

    @torch.inference_mode()
    def decode(self, feats: Tensor, size: tuple[int, int], entered: bool = False) -> Tensor:
        """Images (N, 3, H, W) as float32 on the CPU, cropped to exactly `size` (H, W).

        `feats` are relu4_1 features, or `decoder_entry` outputs when `entered`.
        With ceil-mode pooling a side that is not a multiple of 8 grows in the decoder; the extra
        rows and columns are at the bottom and right, so cropping from the top-left undoes it.
        """

        def run(cells: Tensor) -> Tensor:
            cells = self._on_device(cells)
            return self._from_entry_fn(cells if entered else self._entry_fn(cells))

        plan = self.tile_plan(*size, batch=feats.shape[0])
        if plan is not None:
            return decode_tiled(run, feats.float().cpu(), size, plan)
        return run(feats)[:, :, : size[0], : size[1]].float().cpu()

    def style_stats(self, image: Tensor) -> Stats:
        return ops.mean_std(self.encode(image))

    def stylize(self, content: Tensor, style: Tensor, alpha: float = 1.0) -> Tensor:
        """One (3, H, W) result for one content and one style, computed as a job computes it."""
        feat = self.encode(content)
        stats = self.style_stats(style)
        blends = _Blends(self, feat, lambda _: ops.adain(feat, stats), tuple(content.shape[1:]), batch_size=1)
        return blends.decode([(0, alpha)])[0]


# ---------------------------------------------------------------------------------------------
# Describing a job


@dataclass
class Content:
    """One content image as the looks see it: its pixels, features and their statistics."""

    source: Source
    image: LoadedImage
    feat: Tensor
    stats: Stats
    notes: list[str] = field(default_factory=list)  # what a look wants the user told about this content


StyleLookup = Callable[[int], Stats]
TargetFn = Callable[[Content, StyleLookup], Tensor]


@dataclass(frozen=True)
class Look:
    """One way of styling every content: an output-name part, the styles it needs, its target.

    `target(content, style)` returns the target features; `style(k)` gives the statistics of
    style k, encoded once per job (or once per content when colours are preserved).
    """

    name: str
    styles: tuple[int, ...]
    target: TargetFn


def single_style_target(content: Content, style: StyleLookup, index: int) -> Tensor:
    return ops.adain_with_stats(content.feat, content.stats, style(index))


def interpolation_target(content: Content, style: StyleLookup, weights: tuple[float, ...]) -> Tensor:
    stats = [style(k) for k in range(len(weights))]
    return ops.interpolate(content.feat, stats, weights, content.stats)


def interpolation_look(styles: Sequence[Source], weights: Sequence[float], name: str | None = None) -> Look:
    """Every style blended with `weights` (normalised to sum 1): `interpolated_{s1}-{s2}…`."""
    label = name or "interpolated_" + "-".join(style.label for style in styles)
    normalised = tuple(ops.normalize_weights(weights))
    return Look(label, tuple(range(len(styles))), partial(interpolation_target, weights=normalised))


def style_looks(styles: Sequence[Source]) -> list[Look]:
    """One look per style: `stylized_{style}` (what `adain stylize` does)."""
    return [
        Look(f"stylized_{style.label}", (k,), partial(single_style_target, index=k)) for k, style in enumerate(styles)
    ]


ColorMethod = Literal["coral", "luminance"]


def encoder_input(color: ColorMethod | None, content: Tensor) -> Tensor:
    """What the encoder sees of a content image: its luminance as gray for `luminance`."""
    return ops.gray3(ops.luminance(content)) if color == "luminance" else content


def recoloured_style(color: ColorMethod, style: Tensor, content: Tensor) -> Tensor:
    """The style image as it is encoded for `content` when the content's colours are kept."""
    return ops.coral(style, content) if color == "coral" else ops.match_luminance(style, content)


def restore_colour(color: ColorMethod | None, result: Tensor, content: Tensor) -> Tensor:
    """A decoded result with the content's chroma put back, for `luminance`."""
    return ops.with_content_chroma(result, content) if color == "luminance" else result


@dataclass(frozen=True)
class ImageOptions:
    content_size: int = 512
    style_size: int = 512
    crop: bool = False
    ext: str = "png"
    quality: int = 95
    max_pixels: int = images.DEFAULT_MAX_PIXELS


# Extra images written beside a content's outputs, as (name, image): e.g. spatial's mask preview.
CompanionFn = Callable[[Source, Tensor], list[tuple[str, Image.Image]]]


@dataclass(frozen=True)
class Output:
    """One file a job writes for a content: a single result, or a sheet of several (look, α) cells."""

    path: Path
    cells: tuple[tuple[int, float], ...]  # (look index, α), row-major on a sheet


@dataclass(frozen=True)
class Job:
    """Everything `run_job` needs; built by a command from its options (the engine never sees click).

    With `sheet` = (rows, cols) each content gets one sheet per α holding every look as a cell
    (`{content}_{sheet_name}.{ext}`), instead of one file per look and a contents×looks grid.
    """

    contents: tuple[Source, ...]
    styles: tuple[Source, ...]
    looks: tuple[Look, ...]
    output_dir: Path
    alphas: tuple[float, ...] = (1.0,)
    images: ImageOptions = ImageOptions()
    grid: bool = True
    grid_cell: int = 256
    skip_existing: bool = False
    batch_size: int = 0  # decodes per call; 0 picks one for the device (auto_batch_size)
    sheet: tuple[int, int] | None = None
    sheet_name: str = "sheet"
    color: ColorMethod | None = None
    companions: CompanionFn | None = None
    shard: tuple[int, int] = (0, 1)  # (index, count): this process writes one contiguous slice of the outputs

    def _suffix(self, alpha: float) -> str:
        method = f"_{self.color}" if self.color else ""
        return method + (f"_alpha{alpha:.2f}" if len(self.alphas) > 1 else "")

    def output_path(self, content: Source, name: str, alpha: float) -> Path:
        return self.companion_path(content, f"{name}{self._suffix(alpha)}")

    def companion_path(self, content: Source, name: str) -> Path:
        return self.output_dir / content.rel_dir / f"{content.label}_{name}.{self.images.ext}"

    def outputs(self, content: Source) -> list[Output]:
        if self.sheet is not None:
            cells = range(len(self.looks))
            return [
                Output(self.output_path(content, self.sheet_name, a), tuple((c, a) for c in cells)) for a in self.alphas
            ]
        return [
            Output(self.output_path(content, look.name, alpha), ((col, alpha),))
            for col, look in enumerate(self.looks)
            for alpha in self.alphas
        ]

    def shard_outputs(self) -> dict[int, list[Output]]:
        """This shard's outputs by content index: a contiguous slice of all outputs in content order, so
        shards balance exactly and a content is encoded by at most two of them."""
        every = [(row, output) for row, content in enumerate(self.contents) for output in self.outputs(content)]
        index, count = self.shard
        mine: dict[int, list[Output]] = {}
        for row, output in every[len(every) * index // count : len(every) * (index + 1) // count]:
            mine.setdefault(row, []).append(output)
        return mine

    def manifest(self) -> dict[str, object]:
        """What `grid.grids_from_manifest` needs to rebuild this job's grids from the files on disk."""
        rel = lambda path: str(path.relative_to(self.output_dir))  # noqa: E731
        return {
            "version": 1,
            "contents": [str(c.path.resolve()) for c in self.contents],
            "headers": [str(self.styles[look.styles[0]].path.resolve()) if len(look.styles) == 1 else None
                        for look in self.looks],
            "cells": {f"{a:.2f}": [[rel(self.output_path(c, look.name, a)) for look in self.looks]
                                   for c in self.contents] for a in self.alphas},
            "grids": {f"{a:.2f}": rel(self.grid_path(a)) for a in self.alphas},
            "grid_cell": self.grid_cell,
            "images": asdict(self.images),
        }  # fmt: skip

    def grid_path(self, alpha: float) -> Path:
        return self.output_dir / f"grid_alpha{alpha:.2f}.{self.images.ext}"

    def wants_grids(self) -> bool:
        return self.grid and self.sheet is None and (len(self.contents) > 1 or len(self.looks) > 1)

    def check_names(self) -> None:
        """Refuse a job in which two outputs would get the same file name."""
        seen: dict[Path, Path] = {}
        for content in self.contents:
            for output in self.outputs(content):
                if output.path in seen:
                    raise AdainError(
                        f"two outputs would both be written to {output.path}: from {seen[output.path]} "
                        f"and from {content.path}"
                    )
                seen[output.path] = content.path


# ---------------------------------------------------------------------------------------------
# Reporting


EventKind = Literal["start", "written", "skipped", "failed", "note"]


@dataclass(frozen=True)
class Event:
    """Progress of a job, for the CLI to render. `count` is how many outputs it accounts for."""

    kind: EventKind
    path: Path | None = None
    message: str = ""
    count: int = 1
    total: int = 0


ProgressFn = Callable[[Event], None]


@dataclass
class Failure:
    path: Path
    error: str
    outputs: int


@dataclass
class Summary:
    total: int = 0
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    grids: list[Path] = field(default_factory=list)
    companions: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    encoder_calls: int = 0

    @property
    def failed(self) -> int:
        return sum(f.outputs for f in self.failures)

    def to_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "written": len(self.written),
            "skipped": len(self.skipped),
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "outputs": [str(p) for p in self.written],
            "skipped_outputs": [str(p) for p in self.skipped],
            "failures": [{"path": str(f.path), "error": f.error, "outputs": f.outputs} for f in self.failures],
            "grids": [str(p) for p in self.grids],
            "companions": [str(p) for p in self.companions],
            "notes": self.notes,
            "encoder_calls": self.encoder_calls,
        }


class _Reporter:
    """Keeps the summary and the progress callback in step."""

    def __init__(self, summary: Summary, progress: ProgressFn) -> None:
        self.summary, self.progress = summary, progress

    def written(self, path: Path) -> None:
        self.summary.written.append(path)
        self.progress(Event("written", path))

    def skipped(self, path: Path) -> None:
        self.summary.skipped.append(path)
        self.progress(Event("skipped", path))

    def failed(self, path: Path, error: str, outputs: int) -> None:
        self.summary.failures.append(Failure(path, error, outputs))
        self.progress(Event("failed", path, error, count=outputs))

    def note(self, message: str) -> None:
        if message not in self.summary.notes:
            self.summary.notes.append(message)
            self.progress(Event("note", message=message, count=0))


# ---------------------------------------------------------------------------------------------
# Running a job


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _prefetch(
    pool: ThreadPoolExecutor, sources: Sequence[Source], load: Callable[[Source], LoadedImage], ahead: int
) -> Iterator[tuple[Source, Future[LoadedImage]]]:
    """Yield (source, future) in order while up to `ahead` later loads run in the background."""
    window: deque[tuple[Source, Future[LoadedImage]]] = deque()
    upcoming = iter(sources)
    for source in upcoming:
        window.append((source, pool.submit(load, source)))
        if len(window) > ahead:
            yield window.popleft()
    while window:
        yield window.popleft()


class _StyleBank:
    """Style images loaded once; their statistics encoded once per job (the same file given twice
    counts once)."""

    def __init__(self, stylizer: Stylizer, job: Job) -> None:
        self.stylizer = stylizer
        self.images: dict[int, LoadedImage] = {}
        self.errors: dict[int, str] = {}
        self._first: dict[int, int] = {}  # style index -> index of the first style with the same file
        self._stats: dict[int, Stats] = {}
        by_path: dict[Path, int] = {}
        for k in sorted({k for look in job.looks for k in look.styles}):
            source = job.styles[k]
            first = self._first[k] = by_path.setdefault(source.path.resolve(), k)
            if first != k:
                if first in self.errors:
                    self.errors[k] = self.errors[first]
                else:
                    self.images[k] = self.images[first]
                continue
            try:
                self.images[k] = images.load(source.path, job.images.style_size, job.images.crop, job.images.max_pixels)
            except ImageError as error:
                self.errors[k] = str(error)

    def stats(self, k: int) -> Stats:
        first = self._first[k]
        if first not in self._stats:
            self._stats[first] = self.stylizer.style_stats(self.images[first].rgb)
        return self._stats[first]

    def lookup_for(self, color: ColorMethod | None, content: Tensor) -> StyleLookup:
        """Style statistics for one content: shared by the job, or recoloured to this content."""
        if color is None:
            return self.stats
        cache: dict[int, Stats] = {}

        def recoloured(k: int) -> Stats:
            first = self._first[k]
            if first not in cache:
                style = recoloured_style(color, self.images[first].rgb, content)
                cache[first] = self.stylizer.style_stats(style)
            return cache[first]

        return recoloured


MANIFEST = ".adain-job.json"


def run_job(stylizer: Stylizer, job: Job, progress: ProgressFn = lambda event: None) -> Summary:
    """Run every (content, look, α) of `job` (of its shard); never raises for a bad input, only reports it.

    Grids are filled in memory by a whole job; a shard instead leaves the manifest from which
    `grid.grids_from_manifest` builds them once every shard is done.
    """
    started = time.perf_counter()
    job.check_names()
    _check_output_dir(job.output_dir)
    work = job.shard_outputs()
    summary = Summary(total=sum(len(outputs) for outputs in work.values()))
    reporter = _Reporter(summary, progress)
    progress(Event("start", total=summary.total, count=0))
    calls_before = stylizer.encoder_calls
    if job.wants_grids():
        with images.atomic_path(job.output_dir / MANIFEST) as tmp:
            tmp.write_text(json.dumps(job.manifest(), indent=1), encoding="utf-8")

    bank = _StyleBank(stylizer, job)
    dropped = _drop_looks_with_bad_styles(job, work, bank, reporter)
    grids = _make_grids(job, bank, reporter) if job.shard == (0, 1) else {}

    loader = ThreadPoolExecutor(max_workers=2, thread_name_prefix="adain-load")
    saver = ThreadPoolExecutor(max_workers=2, thread_name_prefix="adain-save")
    runner = _ContentRunner(stylizer, job, dropped, bank, reporter, grids, saver)
    try:

        def load(source: Source) -> LoadedImage:
            return images.load(source.path, job.images.content_size, job.images.crop, job.images.max_pixels)

        rows = sorted(work)
        prefetched = _prefetch(loader, [job.contents[row] for row in rows], load, ahead=4)
        for row, (source, future) in zip(rows, prefetched, strict=True):
            runner.run(row, source, future, work[row])
        runner.drain(0)
        for alpha, canvas in grids.items():
            path = job.grid_path(alpha)
            try:
                images.save_pil(canvas.image, path, job.images.quality)
                summary.grids.append(path)
            except ImageError as error:
                reporter.failed(path, str(error), 0)
    finally:
        loader.shutdown(wait=True, cancel_futures=True)
        saver.shutdown(wait=True, cancel_futures=True)
    summary.encoder_calls = stylizer.encoder_calls - calls_before
    summary.seconds = time.perf_counter() - started
    return summary


def _check_output_dir(folder: Path) -> None:
    """Fail once, clearly, when the output folder cannot be made or written (not once per image)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise AdainError(f"cannot write to the output folder {folder}: {error.strerror or error}") from None


def _drop_looks_with_bad_styles(
    job: Job, work: dict[int, list[Output]], bank: _StyleBank, reporter: _Reporter
) -> set[int]:
    """The indices of looks whose styles did not load; the outputs they spoil are reported as failed."""
    dropped: set[int] = set()
    for k, error in bank.errors.items():
        spoiled = {col for col, look in enumerate(job.looks) if k in look.styles} - dropped
        dropped |= spoiled
        affected = sum(
            1 for outputs in work.values() for output in outputs if any(col in spoiled for col, _ in output.cells)
        )
        reporter.failed(job.styles[k].path, error, affected)
    return dropped


def _make_grids(job: Job, bank: _StyleBank, reporter: _Reporter) -> dict[float, GridCanvas]:
    if not job.wants_grids():
        return {}
    rows, cols = len(job.contents), len(job.looks)
    if not GridCanvas.fits(rows, cols, job.grid_cell):
        reporter.note(f"grids skipped: {rows}×{cols} cells of {job.grid_cell} px is over the image size limit")
        return {}
    grids = {alpha: GridCanvas(rows, cols, job.grid_cell) for alpha in job.alphas}
    for col, look in enumerate(job.looks):
        # A look of one style is headed by that style (what the manifest records for a rebuild too).
        if len(look.styles) == 1 and look.styles[0] in bank.images:
            header = images.to_pil(bank.images[look.styles[0]].rgb)
            for canvas in grids.values():
                canvas.put_col_header(col, header)
    return grids


class _Blends:
    """Decodes the blends (1 − α)·base + α·target of one content's features with its looks' targets.

    The decoder's first layer is a convolution, linear in its input, so blending its outputs gives
    what blending its inputs would: the base and each target go through that layer once, not once
    per α (it is a thirteenth of a decode). Images decoded in tiles blend the features instead, as
    their whole maps are not kept on the device. Targets are made when first needed and kept until
    `forget`, so a job with many styles holds only the few it is decoding.
    """

    def __init__(
        self, stylizer: Stylizer, base: Tensor, target: Callable[[int], Tensor], size: tuple[int, int], batch_size: int
    ) -> None:
        self.stylizer, self.base, self.target, self.size = stylizer, base, target, size
        self.entered = stylizer.tile_plan(*size, batch=batch_size) is None
        self.inputs: dict[int | None, Tensor] = {}  # what the decoder is given, by look (None: the base)

    def decode(self, cells: Sequence[tuple[int | None, float]]) -> Tensor:
        """The images of (look, α) cells; the look None decodes the base."""
        blended = [
            ops.blend(self._input(None), self._input(key), alpha) if alpha < 1 else self._input(key)
            for key, alpha in cells
        ]
        return self.stylizer.decode(torch.cat(blended), self.size, entered=self.entered)

    def forget(self, key: int | None) -> None:
        self.inputs.pop(key, None)

    def _input(self, key: int | None) -> Tensor:
        if key not in self.inputs:
            feats = self.base if key is None else self.target(key)
            self.inputs[key] = self.stylizer.decoder_entry(feats) if self.entered else feats
        return self.inputs[key]


@dataclass(frozen=True)
class _Pending:
    future: Future[Image.Image]
    path: Path
    row: int
    cell: tuple[int, float]


class _ContentRunner:
    """Everything done for one content image: encode once, decode its cells in batches, save."""

    def __init__(
        self,
        stylizer: Stylizer,
        job: Job,
        dropped: set[int],
        bank: _StyleBank,
        reporter: _Reporter,
        grids: dict[float, GridCanvas],
        saver: ThreadPoolExecutor,
    ) -> None:
        self.stylizer, self.job, self.dropped, self.bank = stylizer, job, dropped, bank
        self.reporter, self.grids, self.saver = reporter, grids, saver
        self.batch_size = job.batch_size or auto_batch_size(stylizer.device)
        self.pending: deque[_Pending] = deque()

    def run(self, row: int, source: Source, future: Future[LoadedImage], outputs: list[Output]) -> None:
        outputs = [o for o in outputs if not any(col in self.dropped for col, _ in o.cells)]
        try:
            loaded = future.result()
        except ImageError as error:
            self.reporter.failed(source.path, str(error), len(outputs))
            return
        for note in loaded.notes:
            self.reporter.note(f"{source.path}: {note}")
        for canvas in self.grids.values():
            canvas.put_row_header(row, images.to_pil(loaded.rgb))
        todo = [output for output in outputs if not self._skip_existing(row, output)]
        if not todo:
            return
        if loaded.alpha is not None and self.job.images.ext not in images.FORMATS_WITH_ALPHA:
            self.reporter.note(f"{source.path}: transparency composited on white ({self.job.images.ext} has no alpha)")
        try:
            self._write_companions(source, loaded)
            self._stylize(row, source, loaded, todo)
        except ImageError as error:  # something a look needed for this content (a mask) could not be read
            self.reporter.failed(source.path, str(error), len(todo))
        except torch.OutOfMemoryError:
            height, width = loaded.size
            self.reporter.failed(
                source.path,
                f"{source.path}: out of memory at {width}×{height} (try a smaller --content-size or --batch-size)",
                len(todo),
            )

    def _write_companions(self, source: Source, loaded: LoadedImage) -> None:
        if self.job.companions is None:
            return
        for name, image in self.job.companions(source, loaded.rgb):
            path = self.job.companion_path(source, name)
            images.save_pil(image, path, self.job.images.quality)
            self.reporter.summary.companions.append(path)

    def _skip_existing(self, row: int, output: Output) -> bool:
        if not (self.job.skip_existing and output.path.is_file()):
            return False
        self.reporter.skipped(output.path)
        (col, alpha), *_ = output.cells
        if alpha in self.grids:
            with contextlib.suppress(OSError, ValueError), Image.open(output.path) as existing:
                self.grids[alpha].put(row, col, existing)
        return True

    def _decoded(self, content: Content, cells: list[tuple[int, float]]) -> Iterator[Tensor]:
        """The result of every (look, α) cell, in order: targets once per look, decodes in batches."""
        color, rgb = self.job.color, content.image.rgb
        styles = self.bank.lookup_for(color, rgb)
        blends = _Blends(
            self.stylizer,
            content.feat,
            lambda col: self.job.looks[col].target(content, styles),
            content.image.size,
            self.batch_size,
        )
        # At α = 0 every look decodes the content's own features: decode that once, not once per look.
        # Results stream out in cell order as soon as they exist; a shared one is kept until its last use.
        keys: list[tuple[int | None, float]] = [(col if alpha else None, alpha) for col, alpha in cells]
        last_use = {key: index for index, key in enumerate(keys)}
        unique = list(dict.fromkeys(keys))
        last_decode = {look: index for index, (look, _) in enumerate(unique)}
        decoded: dict[tuple[int | None, float], Tensor] = {}
        position, done = 0, 0
        for batch in _chunks(unique, self.batch_size):
            for key, result in zip(batch, blends.decode(batch), strict=True):
                decoded[key] = restore_colour(color, result, rgb)
            done += len(batch)
            for look, _ in batch:
                if look is not None and last_decode[look] < done:
                    blends.forget(look)
            while position < len(keys) and keys[position] in decoded:
                key = keys[position]
                yield decoded[key] if last_use[key] > position else decoded.pop(key)
                position += 1

    def _stylize(self, row: int, source: Source, loaded: LoadedImage, todo: list[Output]) -> None:
        feat = self.stylizer.encode(encoder_input(self.job.color, loaded.rgb))
        content = Content(source, loaded, feat, ops.mean_std(feat))
        results = self._decoded(content, [cell for output in todo for cell in output.cells])
        for output in todo:
            if len(output.cells) == 1:
                future = self.saver.submit(self._save, next(results), output.path, loaded.alpha)
            else:
                sheet = [next(results) for _ in output.cells]
                future = self.saver.submit(self._save_sheet, sheet, output.path, self.job.sheet or (1, len(sheet)))
            self.pending.append(_Pending(future, output.path, row, output.cells[0]))
            self.drain(limit=4 * self.batch_size)
        for note in content.notes:  # what the looks found while making their targets
            self.reporter.note(note)

    def _save(self, result: Tensor, path: Path, alpha: Tensor | None) -> Image.Image:
        saved = images.save_image(result, path, self.job.images.quality, alpha)
        return thumbnail(saved, self.job.grid_cell) if self.grids else saved

    def _save_sheet(self, results: list[Tensor], path: Path, shape: tuple[int, int]) -> Image.Image:
        rows, cols = shape
        canvas = GridCanvas(rows, cols, self.job.grid_cell, headers=False)
        for index, result in enumerate(results):
            canvas.put(*divmod(index, cols), images.to_pil(result))
        images.save_pil(canvas.image, path, self.job.images.quality)
        return canvas.image

    def drain(self, limit: int) -> None:
        """Collect finished saves, waiting for the oldest while more than `limit` are pending."""
        while self.pending and (len(self.pending) > limit or self.pending[0].future.done()):
            item = self.pending.popleft()
            try:
                saved = item.future.result()
            except ImageError as error:
                self.reporter.failed(item.path, str(error), 1)
                continue
            self.reporter.written(item.path)
            col, alpha = item.cell
            if alpha in self.grids:
                self.grids[alpha].put(item.row, col, saved)
