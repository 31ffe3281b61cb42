"""Frame streams out: a clip written in a background thread like its source (frame rate or durations, loop,
rotation, audio through `audio.py`), to a temporary name renamed into place once every frame is in."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from adain_cli.errors import ImageError
from adain_cli.files import atomic_path
from adain_cli.inputs import ANIMATION_FORMATS, VIDEO_FORMATS, is_video_name
from adain_cli.marker import exif_mark, mark
from adain_cli.video.audio import AudioCopy
from adain_cli.video.read import QUEUE_FRAMES, ClipInfo, first_line

VIDEO_CODECS = {"webm": ("libvpx-vp9", "yuv420p"), "avi": ("mpeg4", "yuv420p")}  # others: libx264, yuv420p


@dataclass
class WrittenClip:
    """What a writer wrote: for reports."""

    frames: int = 0
    fps: float | None = None
    audio: Literal["copied", "re-encoded", "none"] = "none"
    size: tuple[int, int] = (0, 0)
    notes: list[str] = field(default_factory=list)


class ClipWriter:
    """Writes frames to `path` in the background, as a clip like `source` (frame rate or durations, loop,
    rotation, audio); nothing appears at `path` unless every frame was written and the file closed.

    Use as a context manager; `write(rgb, transparency)` takes (H, W, 3) and (H, W) uint8 arrays.
    """

    def __init__(self, path: Path, source: ClipInfo, *, max_frames: int | None = None, made: str | None = None) -> None:
        self.path, self.source = path, source
        self.made = made  # what made the clip, in its adain mark (marker.mark)
        self.max_frames = max_frames  # --frames: a clip cut to this many frames has its audio cut there too
        self.written = WrittenClip(fps=float(source.fps) if source.fps else None)
        self._frames: queue.Queue[Any] = queue.Queue(QUEUE_FRAMES)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._atomic: contextlib.AbstractContextManager[Path] | None = None
        self._abandoned = False
        self._ended = False  # the producer's end marker (None or _ABANDON) has been taken from the queue

    def abandon(self) -> None:
        """Keep nothing of this clip when the writer closes (a frame of it went wrong)."""
        self._abandoned = True

    def __enter__(self) -> ClipWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        target = self._encode_video if is_video_name(self.path) else self._encode_animation
        self._thread = threading.Thread(target=self._run, args=(target, tmp), name="adain-encode", daemon=True)
        self._thread.start()
        return self

    def write(self, rgb: np.ndarray, transparency: np.ndarray | None = None) -> None:
        while True:
            self._raise_if_failed()
            with contextlib.suppress(queue.Full):
                self._frames.put((rgb, transparency), timeout=0.1)
                return

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, traceback: Any) -> None:
        assert self._thread is not None and self._atomic is not None
        self._frames.put(None if kind is None and not self._abandoned else _ABANDON)
        self._thread.join()
        failed = kind is not None or self._error is not None or self._abandoned
        if failed:
            with contextlib.suppress(Exception):
                self._atomic.__exit__(RuntimeError, RuntimeError("abandoned"), None)
            if kind is None and not self._abandoned:
                self._raise_if_failed()
            return
        self._atomic.__exit__(None, None, None)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            if isinstance(self._error, ImageError):
                raise self._error
            raise ImageError(f"{self.path}: cannot encode ({type(self._error).__name__}: {first_line(self._error)})")

    def _run(self, encode: Callable[[Path], None], tmp: Path) -> None:
        try:
            encode(tmp)
        except _Abandoned:
            return
        except BaseException as error:  # reported by the next write or at close
            self._error = error
            while not self._ended:  # let the producer finish; an error after its last frame has nothing to wait for
                self._take()

    def _take(self) -> Any:
        item = self._frames.get()
        self._ended = item is None or item is _ABANDON
        return item

    def _incoming(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        while True:
            item = self._take()
            if item is None:
                return
            if item is _ABANDON:
                raise _Abandoned
            yield item

    def _encode_video(self, tmp: Path) -> None:
        import av

        container_format = VIDEO_FORMATS[self.path.suffix.lower()]
        codec, pix_fmt = VIDEO_CODECS.get(container_format, ("libx264", "yuv420p"))
        fps = self.source.fps or Fraction(25)
        with av.open(str(tmp), "w", format=container_format) as output:
            output.metadata["encoder_tool"] = mark()
            output.metadata["comment"] = mark(self.made)
            stream: Any = None
            for rgb, _ in self._incoming():
                if stream is None:
                    stream = output.add_stream(codec, rate=fps)
                    stream.height, stream.width = _even(rgb.shape[0]), _even(rgb.shape[1])
                    stream.pix_fmt = pix_fmt
                    if self.source.rotation:
                        stream.set_display_rotation(self.source.rotation)
                    self.written.size = (rgb.shape[0], rgb.shape[1])
                    audio = AudioCopy(self.source, output, container_format=container_format)
                    self.written.audio = audio.kind
                    self.written.notes.extend([audio.note] if audio.note else [])
                frame = av.VideoFrame.from_ndarray(_pad_even(rgb), format="rgb24")
                frame.pts = self.written.frames
                for packet in stream.encode(frame):
                    output.mux(packet)
                    audio.mux_until(packet.pts * stream.time_base if packet.pts is not None else None)
                self.written.frames += 1
            if stream is None:
                raise ImageError(f"{self.path}: no frames to write")
            for packet in stream.encode(None):
                output.mux(packet)
            audio.mux_before(self._audio_end(fps))
            audio.close()

    def _audio_end(self, fps: Fraction) -> Fraction | None:
        """Where the audio stops: at the end of the last frame kept when --frames cut the clip, else nowhere
        (all of it is kept, also where it runs a little longer than the video)."""
        if self.max_frames is None or self.written.frames < self.max_frames:
            return None
        return Fraction(self.written.frames) / fps

    def _encode_animation(self, tmp: Path) -> None:
        # Pillow writes an animation in one call, so its frames are held until the end (animations are short).
        frames = [Image.fromarray(rgb) if mask is None else Image.fromarray(np.dstack([rgb, mask]), "RGBA")
                  for rgb, mask in self._incoming()]  # fmt: skip
        if not frames:
            raise ImageError(f"{self.path}: no frames to write")
        frame_ms = round(1000 / self.source.fps) if self.source.fps else 100
        durations = list(self.source.durations[: len(frames)]) or [frame_ms] * len(frames)
        options: dict[str, Any] = {"save_all": True, "append_images": frames[1:], "duration": durations}
        if self.source.loop is not None:
            options["loop"] = self.source.loop
        fmt = ANIMATION_FORMATS[self.path.suffix.lower()]
        if fmt == "GIF":
            options.update(disposal=2, comment=mark(self.made))
        else:
            options["exif"] = exif_mark(self.made)
        if fmt == "WEBP":
            options["lossless"] = True
        frames[0].save(tmp, format=fmt, **options)
        self.written.frames, self.written.size = len(frames), (frames[0].height, frames[0].width)
        if self.source.audio:
            self.written.notes.append(
                f"audio dropped ({self.path.suffix.lstrip('.').upper()} animations have no sound)"
            )


class _Abandoned(Exception):
    """The producer gave up (an error or an interrupt upstream): stop encoding, keep nothing."""


_ABANDON = object()


def _even(side: int) -> int:
    return side + side % 2


def _pad_even(rgb: np.ndarray) -> np.ndarray:
    """yuv420p needs even sides: an odd one gets its last row or column repeated."""
    height, width = rgb.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return np.ascontiguousarray(rgb)
    return np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
