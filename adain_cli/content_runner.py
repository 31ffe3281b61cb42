"""One content's work in a job: encode it (tiny ones of one size together), decode its looks × alphas in
batches, hand its outputs to the savers, and report each output once its file is at its final name."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from adain_cli import allocator, images, ops, signals
from adain_cli.clips import ClipRunner
from adain_cli.device import auto_batch_size, is_out_of_memory, is_small_image, out_of_memory_message
from adain_cli.errors import ImageError
from adain_cli.images import LoadedImage, Pixels
from adain_cli.inputs import Source
from adain_cli.job import Job, Output
from adain_cli.job_styles import JobStyles
from adain_cli.looks import Content, encoder_input
from adain_cli.report import Reporter
from adain_cli.sheets.drawing import GridCanvas, Labels, thumbnail
from adain_cli.sheets.pages import Sheets
from adain_cli.stylizer import Blends, Stylizer, decode_together
from adain_cli.video.read import ClipInfo


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def is_small(loaded: LoadedImage | ClipInfo) -> bool:
    return isinstance(loaded, LoadedImage) and is_small_image(loaded.size[0] * loaded.size[1])


@dataclass(frozen=True)
class Load:
    """A content of the job in order: its source and loading future, or neither when nothing is left to make."""

    row: int
    source: Source | None = None
    future: Future | None = None

    @property
    def small_size(self) -> tuple[int, int] | None:
        """The size of an image under 128² pixels, once loaded (None for anything else: a clip, a failed load).

        It waits for the load, so that which contents share an encoding pass depends only on the job."""
        if self.future is None or self.future.exception() is not None:
            return None
        loaded = self.future.result()
        return loaded.size if is_small(loaded) else None


def encode_groups(loads: Iterator[Load], size: int) -> Iterator[list[Load]]:
    """The loads in order, in lists: consecutive small images of one size go together, up to `size` of them
    (to be encoded in one pass); anything else goes alone."""
    group: list[Load] = []
    for load in loads:
        if group and (len(group) == size or group[0].small_size is None or load.small_size != group[0].small_size):
            yield group
            group = []
        group.append(load)
    if group:
        yield group


HELD_RESULTS_BYTES = 64 * 2**20  # the most a group decoded together keeps before its saves


@dataclass(frozen=True)
class Prepared:
    """What was done for a content together with others of its size: its features and its share of the time
    encoding them took; where they were decoded together too, the content and its results in render order."""

    feat: Tensor
    seconds: float
    content: Content | None = None
    results: list[tuple[Pixels | None, float]] | None = None


@dataclass(frozen=True)
class Pending:
    future: Future[tuple[Image.Image, float]]
    output: Output
    row: int
    seconds: float  # compute time so far: the output's share of the encode and of its decode batches


class ContentRunner:
    """Everything done for one content image: encode once, decode its renders in batches, save."""

    def __init__(
        self,
        stylizer: Stylizer,
        job: Job,
        dropped: set[int],
        styles: JobStyles,
        reporter: Reporter,
        sheets: Sheets,
        saver: ThreadPoolExecutor,
        finished: set[Path],
        *,
        savers: int = 2,
    ) -> None:
        self.stylizer, self.job, self.dropped, self.styles, self.finished = stylizer, job, dropped, styles, finished
        self.reporter, self.sheets, self.saver = reporter, sheets, saver
        self.batch_size = job.batch_size or auto_batch_size(stylizer.device)
        self.pending: deque[Pending] = deque()
        # Results held for saving: enough to keep every saver busy, a few batches at least.
        self.pending_limit = max(4 * self.batch_size, 2 * savers)
        self._reported: Pending | None = None  # the save last reported (an interrupt may come before its pop)
        self._last_size: tuple[int, int] | None = None  # of the last content decoded
        styles_for = lambda rgb: styles.lookup_for(job.color, rgb)  # noqa: E731
        self.clips = ClipRunner(stylizer, job, reporter, styles_for, self.batch_size, companions=self._write_companions)

    def split(self, outputs: list[Output]) -> tuple[list[Output], list[Output]]:
        """(to make, to skip) of a content's outputs, less those of looks whose styles failed: with
        --skip-existing, those already complete on disk are skipped."""
        live = [o for o in outputs if not any(col in self.dropped for col, _ in o.renders)]
        return [o for o in live if o.path not in self.finished], [o for o in live if o.path in self.finished]

    def skip(self, row: int, existing: list[Output]) -> None:
        """Report the outputs of `row` left as they are; on a grid page drawn again they show what is on disk."""
        for output in existing:
            self.reporter.skipped(self.job.record(row, output, "skipped"))
            self.sheets.put_existing(row, output)

    def oldest_pending_row(self, otherwise: int) -> int:
        """The first row whose saves are still running (grid pages before it are finished)."""
        return self.pending[0].row if self.pending else otherwise

    @property
    def encode_group_size(self) -> int:
        """How many small contents of one size are encoded in one pass (--batch-size 1: each alone)."""
        return self.job.batch_size or auto_batch_size(self.stylizer.device, 1)

    def prepare_together(self, group: list[Load], todo: dict[int, list[Output]]) -> dict[int, Prepared]:
        """A group of small same-size contents encoded in one pass and, where each has fewer renders than a
        decode batch (`todo`: the outputs to make, by row), decoded together too; by row (empty for a group of
        one: it is done as it runs). Anything that goes wrong decoding together leaves each content to decode
        alone, and to report its own failure."""
        encoded = self._encode_together(group)
        if not encoded:
            return {}
        alone = {row: Prepared(feat, seconds) for row, (feat, seconds) in encoded.items()}
        renders = {load.row: [render for output in todo[load.row] for render in output.renders] for load in group}
        height, width = group[0].small_size or (0, 0)
        held = sum(len(each) for each in renders.values()) * height * width * 3  # the 8-bit results, until saved
        if any(len(each) >= self.encode_group_size for each in renders.values()) or held > HELD_RESULTS_BYTES:
            return alone  # each fills its own decode batches (or a huge --batch-size would hold too much)
        parts = [(Content(load.source, load.future.result(), feat, ops.mean_std(feat)), renders[load.row])
                 for load, (feat, _) in zip(group, encoded.values(), strict=True)
                 if load.source is not None and load.future is not None]  # fmt: skip
        try:
            results = iter(list(self._decoded(parts)))
        except (ImageError, RuntimeError, MemoryError) as error:  # a mask unread, out of memory: each alone
            if isinstance(error, RuntimeError) and not is_out_of_memory(error):
                raise
            return alone
        return {
            row: Prepared(feat, seconds, content, [next(results) for _ in renders[row]])
            for (row, (feat, seconds)), (content, _) in zip(encoded.items(), parts, strict=True)
        }

    def _encode_together(self, group: list[Load]) -> dict[int, tuple[Tensor, float]]:
        """The features of a group of small same-size contents encoded in one pass, and each one's share of
        its time, by row (empty for a group of one)."""
        if len(group) < 2 or self.stylizer.tile_plan(*group[0].small_size or (0, 0), batch=len(group)) is not None:
            return {}  # alone, or over the memory budget together: each is encoded (and tiled if need be) alone
        color, started = self.job.color, time.perf_counter()
        rgbs = [load.future.result().rgb for load in group if load.future is not None]
        try:
            feats = self.stylizer.encode(torch.stack([encoder_input(color, rgb) for rgb in rgbs]))
        except (RuntimeError, MemoryError) as error:
            if not is_out_of_memory(error):
                raise
            return {}  # each is tried alone, and reported alone if it still does not fit
        share = (time.perf_counter() - started) / len(group)
        return {load.row: (feats[index : index + 1], share) for index, load in enumerate(group)}

    def run(self, row: int, source: Source, future: Future, outputs: list[Output], prepared: Prepared | None) -> None:
        """Make `outputs` (what `remaining` left) of content `row` from its loading `future` (and what was
        `prepared` for it together with others of its size)."""
        if source.clip:
            self._run_clip(row, source, future, outputs)
            return
        try:
            loaded = future.result()
        except ImageError as error:
            self._fail(row, outputs, source.path, str(error))
            return
        for note in loaded.notes:
            self.reporter.note(note, source.path)
        if loaded.size != self._last_size:  # memory kept for the old size's blocks would only fragment
            allocator.return_kept_memory()
            self._last_size = loaded.size
        if self.sheets.wants(row):
            self.sheets.put_row_header(row, images.to_pil(loaded.rgb))
        todo = outputs
        ext = todo[0].path.suffix.lstrip(".").lower()
        if loaded.transparency is not None and ext not in images.FORMATS_WITH_ALPHA:
            self.reporter.note(f"transparency composited on white ({ext} has no alpha)", source.path)
        try:
            self._write_companions(source, loaded)
            self._stylize(row, source, loaded, todo, prepared)
        except ImageError as error:  # something a look needed for this content (a mask) could not be read
            self._fail(row, todo, source.path, str(error))
        except (RuntimeError, MemoryError) as error:
            if not is_out_of_memory(error):
                raise
            self._fail(row, todo, source.path, out_of_memory_message(source.path, loaded.size))

    def _run_clip(self, row: int, source: Source, future: Future, outputs: list[Output]) -> None:
        for written in self.clips.run(row, source, future, outputs, self._fail):
            if self.sheets.wants(row) and written.first is not None:  # the clip's cell shows its first frame
                self.sheets.put(row, written.output, thumbnail(images.to_pil(written.first), self.job.grid_cell))

    def _fail(self, row: int, outputs: list[Output], path: Path, message: str) -> None:
        self.reporter.failed(
            path, message, [self.job.record(row, output, "failed", error=message) for output in outputs]
        )
        for output in outputs:
            self.sheets.fail(row, output)

    def _write_companions(self, source: Source, loaded: LoadedImage) -> None:
        if self.job.companions is None:
            return
        for name, image in self.job.companions(source, loaded):
            path = self.job.companion_path(source, name)
            images.save_pil(image, path, self.job.images.quality)
            self.reporter.summary.companions.append(path)

    def _decoded(self, parts: list[tuple[Content, list[tuple[int, float]]]]) -> Iterator[tuple[Pixels | None, float]]:
        """The 8-bit result of every (look, α) render of each content in turn (None where it is not finite) and
        its share of the decode time, in order: targets once per look, decodes in batches (which may hold
        several contents, all of one size)."""
        color = self.job.color
        height, width = parts[0][0].image.size
        batch_size = self.job.batch_size or auto_batch_size(self.stylizer.device, height * width)
        blends = [
            Blends(self.stylizer, content.feat, target=self._targets(content), size=content.image.size,
                   batch_size=batch_size)
            for content, _ in parts
        ]  # fmt: skip
        # At α = 0 every look decodes the content's own features: decode that once, not once per look.
        # Results stream out in render order as soon as they exist; a shared one is kept until its last use.
        keys = [(index, col if alpha else None, alpha) for index, (_, renders) in enumerate(parts)
                for col, alpha in renders]  # fmt: skip
        last_use = {key: position for position, key in enumerate(keys)}
        unique = list(dict.fromkeys(keys))
        last_decode = {(index, look): position for position, (index, look, _) in enumerate(unique)}
        decoded: dict[tuple[int, int | None, float], tuple[Pixels | None, float]] = {}
        position, done = 0, 0
        for batch in _chunks(unique, batch_size):
            started = time.perf_counter()
            results = decode_together([(blends[index], (look, alpha)) for index, look, alpha in batch])
            if color:
                rgbs = [parts[index][0].image.rgb for index, _, _ in batch]
                results = torch.stack([color.restore(result, rgb) for result, rgb in zip(results, rgbs, strict=True)])
            # Checked and rounded to 8 bits here, once per batch: the savers are left only the encoding.
            finite = torch.isfinite(results).flatten(1).all(dim=1).tolist()
            pixels = images.to_uint8(results)
            share = (time.perf_counter() - started) / len(batch)
            for key, picture, ok in zip(batch, pixels, finite, strict=True):
                decoded[key] = (picture if ok else None, share)
            done += len(batch)
            for index, look, _ in batch:
                if look is not None and last_decode[(index, look)] < done:
                    blends[index].forget(look)
            while position < len(keys) and keys[position] in decoded:
                key = keys[position]
                yield decoded[key] if last_use[key] > position else decoded.pop(key)
                position += 1

    def _targets(self, content: Content) -> Callable[[int], Tensor]:
        styles = self.styles.lookup_for(self.job.color, content.image.rgb)
        return lambda col: self.job.looks[col].target(content, styles)

    def _stylize(
        self, row: int, source: Source, loaded: LoadedImage, todo: list[Output], prepared: Prepared | None
    ) -> None:
        color, started = self.job.color, time.perf_counter()
        if prepared is None:
            feat = self.stylizer.encode(encoder_input(color, loaded.rgb))
            prepared = Prepared(feat, 0.0)
        content = prepared.content or Content(source, loaded, prepared.feat, ops.mean_std(prepared.feat))
        encode_share = (prepared.seconds + time.perf_counter() - started) / len(todo)
        alpha = None if loaded.transparency is None else images.to_uint8(loaded.transparency)
        renders = [render for output in todo for render in output.renders]
        results = iter(prepared.results) if prepared.results is not None else self._decoded([(content, renders)])
        for output in todo:
            pictures, seconds = zip(*(next(results) for _ in output.renders), strict=True)
            if any(picture is None for picture in pictures):
                # NaN or inf would be written as black pixels that look like a result.
                message = f"{output.path}: not written: the result has NaN or infinite values (check the decoder)"
                self._fail(row, [output], output.path, message)
                continue
            made = self.job.made_id(row, output)
            if len(pictures) == 1:
                size = loaded.original_size if self.job.images.output_size == "original" else None
                future = self.saver.submit(self._save, pictures[0], output.path, alpha, size, made)
            else:
                shape = self.job.sheet or (1, len(pictures))
                future = self.saver.submit(self._save_sheet, pictures, output.path, shape, made)
            self.pending.append(Pending(future, output, row, encode_share + sum(seconds)))
            self.drain(limit=self.pending_limit)
        for note in content.notes:  # what the looks found while making their targets
            self.reporter.note(note)

    def _save(
        self, pixels: Pixels, path: Path, alpha: Pixels | None, size: tuple[int, int] | None, made: str
    ) -> tuple[Image.Image, float]:
        started = time.perf_counter()
        saved = images.save_pixels(pixels, path, quality=self.job.images.quality, alpha=alpha, size=size, made=made)
        return thumbnail(saved, self.job.grid_cell) if self.sheets else saved, time.perf_counter() - started

    def _save_sheet(
        self, results: Sequence[Pixels], path: Path, shape: tuple[int, int], made: str
    ) -> tuple[Image.Image, float]:
        started = time.perf_counter()
        rows, cols = shape
        labels = Labels(cells=tuple(look.label for look in self.job.looks)) if self.job.grid_labels else None
        canvas = GridCanvas(rows, cols, self.job.grid_cell, headers=False, labels=labels)
        for index, result in enumerate(results):
            canvas.put(*divmod(index, cols), Image.fromarray(result))
        images.save_pil(canvas.image, path, self.job.images.quality, made=made)
        return canvas.image, time.perf_counter() - started

    def settle(self) -> None:
        """After an interrupt: drop the saves not yet started, wait for those running, and report every output
        that reached its final name, so the ledger equals the files on disk."""
        for item in self.pending:
            item.future.cancel()
        self.pending = deque(item for item in self.pending if not item.future.cancelled())
        self.drain(0)

    def drain(self, limit: int) -> None:
        """Collect finished saves, waiting for the oldest while more than `limit` are pending."""
        while self.pending and (len(self.pending) > limit or self.pending[0].future.done()):
            item = self.pending[0]  # popped once reported: an interrupt in between leaves it to `settle`
            if item is not self._reported:
                self._report(item)
            self.pending.popleft()

    def _report(self, item: Pending) -> None:
        try:
            saved, save_seconds = item.future.result()
        except ImageError as error:
            self._reported = item
            self._fail(item.row, [item.output], item.output.path, str(error))
            return
        with signals.deferred():  # a stop signal here would lose the record of a file at its final name
            seconds = item.seconds + save_seconds
            self.reporter.written(self.job.record(item.row, item.output, "written", seconds=seconds))
            self._reported = item
        self.sheets.put(item.row, item.output, saved)
