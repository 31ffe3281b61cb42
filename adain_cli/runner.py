"""Running a job: load each style once, stream contents through background loading, encode each
content once, decode all its looks × alphas in batches, save in background threads (atomically),
fill one grid per α, and report progress through a callback."""

from __future__ import annotations

import contextlib
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from adain_cli import images, ops
from adain_cli.clips import ClipRunner, load_clip
from adain_cli.device import auto_batch_size, is_out_of_memory
from adain_cli.errors import AdainError, ImageError
from adain_cli.files import ensure_writable_folder
from adain_cli.grid import GridCanvas, Labels, thumbnail
from adain_cli.images import LoadedImage, Source
from adain_cli.job import Job, Output, write_manifest
from adain_cli.looks import ColorMethod, Content, StyleLookup
from adain_cli.ops import Stats
from adain_cli.report import Event, ProgressFn, Reporter, Summary
from adain_cli.stylizer import Blends, Render, Stylizer
from adain_cli.video import ClipInfo


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _prefetch(
    pool: ThreadPoolExecutor, sources: Sequence[Source], load: Callable[[Source], LoadedImage], *, ahead: int
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
                self.images[k] = images.load(
                    source.path, job.images.style_size, crop=job.images.crop, max_pixels=job.images.max_pixels
                )
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

        def recolored(k: int) -> Stats:
            first = self._first[k]
            if first not in cache:
                style = color.recolored_style(self.images[first].rgb, content)
                cache[first] = self.stylizer.style_stats(style)
            return cache[first]

        return recolored


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
    reporter = Reporter(summary, progress)
    progress(Event("start", total=summary.total, count=0))
    calls_before = stylizer.encoder_calls
    bank = _StyleBank(stylizer, job)
    grids = _make_grids(job, bank, reporter) if job.shard == (0, 1) else _Grids({})
    dropped = _drop_looks_with_bad_styles(job, work, bank, reporter, grids)

    loader = ThreadPoolExecutor(max_workers=2, thread_name_prefix="adain-load")
    saver = ThreadPoolExecutor(max_workers=2, thread_name_prefix="adain-save")
    runner = _ContentRunner(stylizer, job, dropped, bank, reporter, grids, saver)
    try:

        def load(source: Source) -> LoadedImage | ClipInfo:
            if source.clip:
                return load_clip(source)
            return images.load(
                source.path, job.images.content_size, crop=job.images.crop, max_pixels=job.images.max_pixels
            )

        rows = sorted(work)
        prefetched = _prefetch(loader, [job.contents[row] for row in rows], load, ahead=4)
        for row, (source, future) in zip(rows, prefetched, strict=True):
            runner.run(row, source, future, work[row])
        runner.drain(0)
        if job.wants_grids() and (summary.written or summary.skipped):
            _write_manifest(job)
        grids.save(job, reporter)
    finally:
        loader.shutdown(wait=True, cancel_futures=True)
        saver.shutdown(wait=True, cancel_futures=True)
    summary.encoder_calls = stylizer.encoder_calls - calls_before
    summary.seconds = time.perf_counter() - started
    return summary


def _write_manifest(job: Job) -> None:
    try:
        write_manifest(job)
    except OSError as error:
        raise AdainError(f"cannot write the job manifest in {job.output_dir}: {error.strerror or error}") from None


def _check_output_dir(folder: Path) -> None:
    """Fail once, clearly, when the output folder cannot be made or written (not once per image)."""
    try:
        ensure_writable_folder(folder)
    except OSError as error:
        raise AdainError(f"cannot write to the output folder {folder}: {error.strerror or error}") from None


def _drop_looks_with_bad_styles(
    job: Job, work: dict[int, list[Output]], bank: _StyleBank, reporter: Reporter, grids: _Grids
) -> set[int]:
    """The indices of looks whose styles did not load; the outputs they spoil are reported as failed."""
    dropped: set[int] = set()
    for k, error in bank.errors.items():
        spoiled = {col for col, look in enumerate(job.looks) if k in look.styles} - dropped
        dropped |= spoiled
        affected = [
            (row, output) for row, outputs in work.items() for output in outputs
            if any(col in spoiled for col, _ in output.renders)
        ]  # fmt: skip
        reporter.failed(
            job.styles[k].path, error, [job.record(row, output, "failed", error=error) for row, output in affected]
        )
        for row, output in affected:
            grids.fail(row, output)
    return dropped


class _Grids:
    """One contact sheet per α, filled as results arrive; a sheet with no result in it is not written."""

    def __init__(self, canvases: dict[float, GridCanvas]) -> None:
        self.canvases = canvases
        self.filled: Counter[float] = Counter()

    def __bool__(self) -> bool:
        return bool(self.canvases)

    def put(self, row: int, output: Output, image: Image.Image) -> None:
        (col, alpha), *_ = output.renders
        if alpha in self.canvases:
            self.canvases[alpha].put(row, col, image)
            self.filled[alpha] += 1

    def fail(self, row: int, output: Output) -> None:
        (col, alpha), *_ = output.renders
        if alpha in self.canvases:
            self.canvases[alpha].mark_failed(row, col)

    def put_row_header(self, row: int, image: Image.Image) -> None:
        for canvas in self.canvases.values():
            canvas.put_row_header(row, image)

    def save(self, job: Job, reporter: Reporter) -> None:
        for alpha, canvas in self.canvases.items():
            if not self.filled[alpha]:
                continue
            path = job.grid_path(alpha)
            try:
                images.save_pil(canvas.image, path, job.images.quality)
                reporter.summary.grids.append(path)
            except ImageError as error:
                reporter.failed(path, str(error))


def _make_grids(job: Job, bank: _StyleBank, reporter: Reporter) -> _Grids:
    if not job.wants_grids():
        return _Grids({})
    rows, cols = len(job.contents), len(job.looks)
    if not GridCanvas.fits(rows, cols, job.grid_cell, labels=job.grid_labels):
        reporter.note(f"grids skipped: {rows}×{cols} cells of {job.grid_cell} px is over the image size limit")
        return _Grids({})
    canvases = {alpha: GridCanvas(rows, cols, job.grid_cell, labels=job.grid_labels_for(alpha)) for alpha in job.alphas}
    for col, look in enumerate(job.looks):
        # A look of one style is headed by that style (what the manifest records for a rebuild too).
        if len(look.styles) == 1 and look.styles[0] in bank.images:
            header = images.to_pil(bank.images[look.styles[0]].rgb)
            for canvas in canvases.values():
                canvas.put_col_header(col, header)
    return _Grids(canvases)


@dataclass(frozen=True)
class _Pending:
    future: Future[tuple[Image.Image, float]]
    output: Output
    row: int
    seconds: float  # compute time so far: the output's share of the encode and of its decode batches


class _ContentRunner:
    """Everything done for one content image: encode once, decode its renders in batches, save."""

    def __init__(
        self,
        stylizer: Stylizer,
        job: Job,
        dropped: set[int],
        bank: _StyleBank,
        reporter: Reporter,
        grids: _Grids,
        saver: ThreadPoolExecutor,
    ) -> None:
        self.stylizer, self.job, self.dropped, self.bank = stylizer, job, dropped, bank
        self.reporter, self.grids, self.saver = reporter, grids, saver
        self.batch_size = job.batch_size or auto_batch_size(stylizer.device)
        self.pending: deque[_Pending] = deque()
        styles_for = lambda rgb: bank.lookup_for(job.color, rgb)  # noqa: E731
        self.clips = ClipRunner(stylizer, job, reporter, styles_for, self.batch_size)

    def run(self, row: int, source: Source, future: Future, outputs: list[Output]) -> None:
        outputs = [o for o in outputs if not any(col in self.dropped for col, _ in o.renders)]
        if source.clip:
            self._run_clip(row, source, future, outputs)
            return
        try:
            loaded = future.result()
        except ImageError as error:
            self._fail(row, outputs, source.path, str(error))
            return
        for note in loaded.notes:
            self.reporter.note(f"{source.path}: {note}")
        if self.grids:
            self.grids.put_row_header(row, images.to_pil(loaded.rgb))
        todo = [output for output in outputs if not self._skip_existing(row, output)]
        if not todo:
            return
        ext = todo[0].path.suffix.lstrip(".")
        if loaded.transparency is not None and ext not in images.FORMATS_WITH_ALPHA:
            self.reporter.note(f"{source.path}: transparency composited on white ({ext} has no alpha)")
        try:
            self._write_companions(source, loaded)
            self._stylize(row, source, loaded, todo)
        except ImageError as error:  # something a look needed for this content (a mask) could not be read
            self._fail(row, todo, source.path, str(error))
        except (RuntimeError, MemoryError) as error:
            if not is_out_of_memory(error):
                raise
            height, width = loaded.size
            message = f"{source.path}: out of memory at {width}×{height} (try a smaller --content-size or --batch-size)"
            self._fail(row, todo, source.path, message)

    def _run_clip(self, row: int, source: Source, future: Future, outputs: list[Output]) -> None:
        todo = [output for output in outputs if not self._skip_existing(row, output)]
        if not todo:
            return
        for written in self.clips.run(row, source, future, todo, self._fail):
            if self.grids and written.first is not None:  # the clip's cell shows its first frame
                self.grids.put(row, written.output, thumbnail(images.to_pil(written.first), self.job.grid_cell))

    def _fail(self, row: int, outputs: list[Output], path: Path, message: str) -> None:
        self.reporter.failed(
            path, message, [self.job.record(row, output, "failed", error=message) for output in outputs]
        )
        for output in outputs:
            self.grids.fail(row, output)

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
        self.reporter.skipped(self.job.record(row, output, "skipped"))
        if self.grids:
            with contextlib.suppress(OSError, ValueError), Image.open(output.path) as existing:
                self.grids.put(row, output, existing)
        return True

    def _decoded(self, content: Content, renders: list[tuple[int, float]]) -> Iterator[tuple[Tensor, float]]:
        """The result of every (look, α) render and its share of the decode time, in order: targets once per
        look, decodes in batches."""
        color, rgb = self.job.color, content.image.rgb
        styles = self.bank.lookup_for(color, rgb)
        blends = Blends(
            self.stylizer,
            content.feat,
            target=lambda col: self.job.looks[col].target(content, styles),
            size=content.image.size,
            batch_size=self.batch_size,
        )
        # At α = 0 every look decodes the content's own features: decode that once, not once per look.
        # Results stream out in render order as soon as they exist; a shared one is kept until its last use.
        keys: list[Render] = [(col if alpha else None, alpha) for col, alpha in renders]
        last_use = {key: index for index, key in enumerate(keys)}
        unique = list(dict.fromkeys(keys))
        last_decode = {look: index for index, (look, _) in enumerate(unique)}
        decoded: dict[Render, tuple[Tensor, float]] = {}
        position, done = 0, 0
        for batch in _chunks(unique, self.batch_size):
            started = time.perf_counter()
            results = blends.decode(batch)
            share = (time.perf_counter() - started) / len(batch)
            for key, result in zip(batch, results, strict=True):
                decoded[key] = (color.restore(result, rgb) if color else result, share)
            done += len(batch)
            for look, _ in batch:
                if look is not None and last_decode[look] < done:
                    blends.forget(look)
            while position < len(keys) and keys[position] in decoded:
                key = keys[position]
                yield decoded[key] if last_use[key] > position else decoded.pop(key)
                position += 1

    def _stylize(self, row: int, source: Source, loaded: LoadedImage, todo: list[Output]) -> None:
        color, started = self.job.color, time.perf_counter()
        feat = self.stylizer.encode(color.encoder_input(loaded.rgb) if color else loaded.rgb)
        content = Content(source, loaded, feat, ops.mean_std(feat))
        encode_share = (time.perf_counter() - started) / len(todo)
        results = self._decoded(content, [render for output in todo for render in output.renders])
        for output in todo:
            pictures, seconds = zip(*(next(results) for _ in output.renders), strict=True)
            if not all(bool(torch.isfinite(picture).all()) for picture in pictures):
                # NaN or inf would be written as black pixels that look like a result.
                message = f"{output.path}: not written: the result has NaN or infinite values (check the decoder)"
                self._fail(row, [output], output.path, message)
                continue
            if len(pictures) == 1:
                future = self.saver.submit(self._save, pictures[0], output.path, loaded.transparency)
            else:
                shape = self.job.sheet or (1, len(pictures))
                future = self.saver.submit(self._save_sheet, pictures, output.path, shape)
            self.pending.append(_Pending(future, output, row, encode_share + sum(seconds)))
            self.drain(limit=4 * self.batch_size)
        for note in content.notes:  # what the looks found while making their targets
            self.reporter.note(note)

    def _save(self, result: Tensor, path: Path, transparency: Tensor | None) -> tuple[Image.Image, float]:
        started = time.perf_counter()
        saved = images.save_image(result, path, quality=self.job.images.quality, transparency=transparency)
        return thumbnail(saved, self.job.grid_cell) if self.grids else saved, time.perf_counter() - started

    def _save_sheet(self, results: Sequence[Tensor], path: Path, shape: tuple[int, int]) -> tuple[Image.Image, float]:
        started = time.perf_counter()
        rows, cols = shape
        labels = Labels(cells=tuple(look.label for look in self.job.looks)) if self.job.grid_labels else None
        canvas = GridCanvas(rows, cols, self.job.grid_cell, headers=False, labels=labels)
        for index, result in enumerate(results):
            canvas.put(*divmod(index, cols), images.to_pil(result))
        images.save_pil(canvas.image, path, self.job.images.quality)
        return canvas.image, time.perf_counter() - started

    def drain(self, limit: int) -> None:
        """Collect finished saves, waiting for the oldest while more than `limit` are pending."""
        while self.pending and (len(self.pending) > limit or self.pending[0].future.done()):
            item = self.pending.popleft()
            try:
                saved, save_seconds = item.future.result()
            except ImageError as error:
                self._fail(item.row, [item.output], item.output.path, str(error))
                continue
            self.reporter.written(
                self.job.record(item.row, item.output, "written", seconds=item.seconds + save_seconds)
            )
            self.grids.put(item.row, item.output, saved)
