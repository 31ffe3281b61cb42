"""Stylizing clips (videos, animated images): frames stream from the decoder through the encoder, the
temporal stabiliser and the decoder into one writer per output, so memory does not grow with length."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch
from torch import Tensor

from adain_cli import images, ops
from adain_cli.device import is_out_of_memory, out_of_memory_message
from adain_cli.errors import ImageError
from adain_cli.images import LoadedImage
from adain_cli.inputs import Source
from adain_cli.job import Job, Output
from adain_cli.looks import Content, StyleLookup, encoder_input
from adain_cli.report import Event, Reporter
from adain_cli.stylizer import Blends, Stylizer
from adain_cli.temporal import Stabilizer
from adain_cli.video.read import ClipInfo, Frame, probe, read_frames
from adain_cli.video.write import ClipWriter

# What the job runner lends a clip: style statistics for a first frame, grid cells, failure reports.
StylesFor = Callable[[Tensor], StyleLookup]


@dataclass
class _Open:
    """An output being written: its writer, its first frame (for the grid) and its compute time."""

    output: Output
    writer: ClipWriter
    first: Tensor | None = None
    seconds: float = 0.0
    failed: str = ""
    notes: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _writing(output: Output, info: ClipInfo, max_frames: int | None, made: str) -> Iterator[_Open]:
    """An output's writer, open for the block; a failure when it closes (a full disk once the last frame is
    in, an encoder refusing the audio) fails that output by name, and the other outputs are still kept."""
    item = _Open(output, ClipWriter(output.path, info, max_frames=max_frames, made=made))
    try:
        with item.writer:
            yield item
    except ImageError as error:
        item.failed = item.failed or str(error)


def _center_square(frame: Frame) -> Frame:
    """`--crop` on a clip: every frame's centre square, by the rule images use (`images.center_square`)."""
    transparency = None if frame.transparency is None else images.center_square(frame.transparency).contiguous()
    size = (int(frame.rgb.shape[1]), int(frame.rgb.shape[2]))
    return Frame(frame.index, images.center_square(frame.rgb).contiguous(), transparency, cropped_from=size)


def _fail_all(outputs: list[_Open], message: str) -> None:
    """Every output of the clip fails (those already failed keep their own reason)."""
    for item in outputs:
        item.failed = item.failed or message


def load_clip(source: Source) -> ClipInfo:
    return probe(source.path)


class ClipRunner:
    """Everything done for one clip: probe, open one writer per output, then frame by frame encode once,
    stabilise, decode every output's render, and hand the frames to the writers."""

    def __init__(
        self,
        stylizer: Stylizer,
        job: Job,
        reporter: Reporter,
        styles_for: StylesFor,
        batch_size: int,
        *,
        companions: Callable[[Source, LoadedImage], None] = lambda source, loaded: None,
    ) -> None:
        self.stylizer, self.job, self.reporter = stylizer, job, reporter
        self.styles_for, self.batch_size, self.companions = styles_for, batch_size, companions

    def run(self, row: int, source: Source, future: Future, todo: list[Output], fail: Callable) -> list[_Open]:
        """Write `todo` for the clip; returns the outputs that were written (failures go to `fail`)."""
        try:
            info: ClipInfo = future.result()
        except ImageError as error:
            fail(row, todo, source.path, str(error))
            return []
        if self.job.sheet is not None:
            fail(row, todo, source.path, f"{source.path}: interpolation sheets are made of images, not clips")
            return []
        size = images.resized_size(
            info.height, info.width, self.job.images.content_size, enlarge=self.job.images.enlarge
        )
        shown = (min(size),) * 2 if self.job.images.crop else size
        try:
            images.check_size(source.path, (info.height, info.width), shown, max_pixels=self.job.images.max_pixels)
        except ImageError as error:
            fail(row, todo, source.path, str(error))
            return []
        with contextlib.ExitStack() as stack:
            cut = self.job.video.max_frames
            open_outputs = [
                stack.enter_context(_writing(output, info, cut, self.job.made_id(row, output))) for output in todo
            ]
            try:
                self._stylize(source, info, size, open_outputs)
            except ImageError as error:  # the clip itself broke (truncated, undecodable): nothing of it is kept
                _fail_all(open_outputs, str(error))
            except (RuntimeError, MemoryError) as error:  # on the device or the host: this clip fails, the job goes on
                if not is_out_of_memory(error):
                    raise
                _fail_all(open_outputs, out_of_memory_message(source.path, shown))
            for item in open_outputs:
                if item.failed:
                    item.writer.abandon()
        written = [item for item in open_outputs if not item.failed]
        for item in open_outputs:
            if item.failed:
                fail(row, [item.output], item.output.path, item.failed)
        for item in written:
            video = {"frames": item.writer.written.frames, "fps": item.writer.written.fps,
                     "audio": item.writer.written.audio, "seconds": round(item.seconds, 3)}  # fmt: skip
            record = self.job.record(row, item.output, "written", seconds=item.seconds, video=video)
            self.reporter.written(record)
            for note in item.writer.written.notes:
                self.reporter.note(f"{item.output.path}: {note}")
        return written

    def _stylize(self, source: Source, info: ClipInfo, size: tuple[int, int], outputs: list[_Open]) -> int:
        video = self.job.video
        stabilize = Stabilizer(video.stabilize if info.kind == "video" else 0.0)
        renders = [output.output.renders[0] for output in outputs]
        styles: StyleLookup | None = None
        count, started = 0, time.perf_counter()
        crop = self.job.images.crop
        said: set[str] = set()
        for frame in read_frames(info, size=size, max_frames=video.max_frames):
            if crop:
                frame = _center_square(frame)
            if styles is None:  # colours are kept to the first frame's: one recoloured style per clip
                styles = self.styles_for(frame.rgb)
                # What is written beside a content (spatial's --preview) shows the clip's first frame.
                self.companions(source, LoadedImage(frame.rgb, frame.transparency, cropped_from=frame.cropped_from))
            results, seconds, notes = self._frame(source, frame, renders, stabilize, styles)
            for note in notes:  # what the looks found (a mask covering no cell): said once per clip
                if note not in said:
                    said.add(note)
                    self.reporter.note(note, source.path)
            for item, result in zip(outputs, results, strict=True):
                self._hand_over(item, result, frame, seconds / len(outputs))
            count += 1
            rate = count / (time.perf_counter() - started)
            self.reporter.progress(Event("frames", source.path, f"{rate:.2f}", count=count, total=info.frames or 0))
        if count == 0:
            raise ImageError(f"{source.path}: the clip has no frames")
        return count

    def _frame(
        self, source: Source, frame: Frame, renders: list[tuple[int, float]], stabilize: Stabilizer, styles: StyleLookup
    ) -> tuple[list[Tensor], float, list[str]]:
        """Every output's picture of one frame, the time it took, and what the looks noted on it."""
        started, color = time.perf_counter(), self.job.color
        feat = stabilize(self.stylizer.encode(encoder_input(color, frame.rgb)))
        loaded = LoadedImage(frame.rgb, frame.transparency, cropped_from=frame.cropped_from)
        content = Content(source, loaded, feat, ops.mean_std(feat))
        size = (int(frame.rgb.shape[1]), int(frame.rgb.shape[2]))
        blends = Blends(self.stylizer, feat, target=lambda col: self.job.looks[col].target(content, styles),
                        size=size, batch_size=self.batch_size)  # fmt: skip
        results: list[Tensor] = []
        for start in range(0, len(renders), self.batch_size):
            batch = renders[start : start + self.batch_size]
            decoded = blends.decode([(look if alpha else None, alpha) for look, alpha in batch])
            results += [color.restore(result, frame.rgb) if color else result for result in decoded]
        return results, time.perf_counter() - started, content.notes

    @staticmethod
    def _hand_over(item: _Open, result: Tensor, frame: Frame, seconds: float) -> None:
        if item.failed:
            return
        if not bool(torch.isfinite(result).all()):
            item.failed = f"{item.output.path}: not written: frame {frame.index} has NaN or infinite values"
            return
        item.first = result if item.first is None else item.first
        item.seconds += seconds
        pixels = images.to_uint8(result)
        transparency = None if frame.transparency is None else images.to_uint8(frame.transparency)[:, :, 0]
        try:
            item.writer.write(pixels, transparency)
        except ImageError as error:
            item.failed = str(error)
