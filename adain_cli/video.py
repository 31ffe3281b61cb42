"""Frame streams in and out: video files through PyAV (its wheel carries ffmpeg), animated GIF, WebP and
PNG through Pillow.

PyAV rather than imageio's ffmpeg pipe: it gives the exact frame rate, the rotation side data and the
audio packets, which are copied into the output without re-encoding. Frames are decoded and encoded in
background threads with small bounded queues, so memory does not grow with a clip's length and the
network never waits on the codec. Outputs are written to a temporary name and renamed into place.
"""

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
import torch
from PIL import Image, ImageSequence
from torch import Tensor

from adain_cli.errors import ImageError
from adain_cli.files import atomic_path
from adain_cli.inputs import ANIMATION_FORMATS, VIDEO_FORMATS, is_video_name
from adain_cli.marker import exif_mark, mark

VIDEO_CODECS = {"webm": ("libvpx-vp9", "yuv420p"), "avi": ("mpeg4", "yuv420p")}  # others: libx264, yuv420p
AUDIO_CODECS = {"webm": "libopus", "avi": "mp3"}  # when audio must be re-encoded; others: aac
# The audio codecs each container holds as they are (packets copied); any other is re-encoded.
AUDIO_HELD = {"mp4": {"aac", "mp3", "alac"}, "mov": {"aac", "mp3", "alac", "pcm_s16le"},
              "matroska": {"aac", "mp3", "opus", "vorbis", "flac", "ac3", "pcm_s16le"},
              "webm": {"opus", "vorbis"}, "avi": {"mp3", "ac3", "pcm_s16le"}}  # fmt: skip
QUEUE_FRAMES = 8


@dataclass(frozen=True)
class ClipInfo:
    """What a clip is: its size as stored, frame rate (video) or per-frame durations (animation), and
    what must be kept on the way out."""

    path: Path
    kind: Literal["video", "animation"]
    width: int
    height: int
    frames: int | None  # None where the container does not say
    fps: Fraction | None = None
    rotation: int = 0  # degrees, from the display matrix; kept on the output
    audio: bool = False
    codec: str = ""
    durations: tuple[int, ...] = ()  # milliseconds per frame (animations)
    loop: int | None = None  # animations: 0 loops forever, None plays once
    transparency: bool = False


def probe(path: Path) -> ClipInfo:
    """Open a clip far enough to know what it is; one line naming the file if it cannot be used."""
    if not is_video_name(path):
        return _probe_animation(path)
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ImageError(f"{path}: no video stream in it")
            stream = container.streams.video[0]
            first = next(container.decode(stream), None)
            if first is None:
                raise ImageError(f"{path}: the video has no frames")
            return ClipInfo(
                path, "video", first.width, first.height, stream.frames or None,
                fps=Fraction(stream.average_rate or stream.guessed_rate or 25), rotation=int(first.rotation or 0),
                audio=bool(container.streams.audio), codec=stream.codec_context.name,
            )  # fmt: skip
    except ImageError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise ImageError(f"{path}: cannot read the video ({_first_line(error)})") from None


def _probe_animation(path: Path) -> ClipInfo:
    try:
        with Image.open(path) as image:
            durations = []
            transparency = False
            for frame in ImageSequence.Iterator(image):
                frame.load()  # WebP says a frame's duration only once it is decoded
                durations.append(int(frame.info.get("duration", 100)))
                transparency = transparency or frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info
            size = (image.width, image.height)
            loop = image.info.get("loop")
            return ClipInfo(path, "animation", *size, len(durations), durations=tuple(durations), loop=loop,
                            transparency=transparency, codec=image.format or "")  # fmt: skip
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise ImageError(f"{path}: cannot read the animation ({_first_line(error)})") from None


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]


@dataclass
class Frame:
    """One decoded frame: RGB (3, H, W) in [0, 1], and its transparency (1, H, W) where the clip has one."""

    index: int
    rgb: Tensor
    transparency: Tensor | None = None
    cropped_from: tuple[int, int] | None = None  # (height, width) before a centre crop (`--crop`)


def _background(produce: Callable[[Callable[[Any], bool]], None], maxsize: int = QUEUE_FRAMES) -> Iterator[Any]:
    """Run `produce(put)` in a thread and yield what it puts; its exception is raised here. Leaving the
    loop early stops the thread (its next put returns False)."""
    items: queue.Queue[Any] = queue.Queue(maxsize)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                items.put(item, timeout=0.1)
                return True
        return False

    def run() -> None:
        try:
            produce(put)
            put(done)
        except BaseException as error:  # handed to the consumer, which reports it
            put(error)

    thread = threading.Thread(target=run, name="adain-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=10)


def read_frames(
    info: ClipInfo, *, size: tuple[int, int] | None = None, max_frames: int | None = None
) -> Iterator[Frame]:
    """The clip's frames in order, decoded in the background, resized to `size` (H, W) when given (with
    torchvision's resize of the 8-bit frame, as images are). Errors are one line naming the file."""
    limit = max_frames if max_frames is not None else 1 << 62

    def produce(put: Callable[[Any], bool]) -> None:
        frames = _video_frames(info) if info.kind == "video" else _animation_frames(info)
        for index, image in enumerate(frames):
            if index >= limit or not put(_to_frame(index, image, size)):
                return

    try:
        yield from _background(produce)
    except ImageError:
        raise
    except Exception as error:
        raise ImageError(f"{info.path}: cannot decode frames ({type(error).__name__}: {_first_line(error)})") from None


def _video_frames(info: ClipInfo) -> Iterator[Image.Image]:
    import av

    try:
        with av.open(str(info.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                yield frame.to_image()
    except av.error.FFmpegError as error:
        raise ImageError(f"{info.path}: the video is damaged or truncated ({_first_line(error)})") from None


def _animation_frames(info: ClipInfo) -> Iterator[Image.Image]:
    with Image.open(info.path) as image:
        for frame in ImageSequence.Iterator(image):
            yield frame.convert("RGBA" if info.transparency else "RGB")


def _to_frame(index: int, image: Image.Image, size: tuple[int, int] | None) -> Frame:
    if size is not None and (image.height, image.width) != size:
        from torchvision.transforms import functional as TF  # imported only when needed: it takes a while

        image = TF.resize(image, list(size), interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    if pixels.shape[0] == 4:
        return Frame(index, pixels[:3].contiguous(), pixels[3:].contiguous())
    return Frame(index, pixels.contiguous())


# ---------------------------------------------------------------------------------------------
# Writing


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
            raise ImageError(f"{self.path}: cannot encode ({type(self._error).__name__}: {_first_line(self._error)})")

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
                    audio = _AudioCopy(self.source, output, container_format=container_format, written=self.written)
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


OPUS_RATES = (48000, 24000, 16000, 12000, 8000)  # the only rates libopus takes (the encoder resamples to it)


def _encoder_rate(codec: str, rate: int | None) -> int:
    """The sample rate to encode at: the source's where the codec takes it, else 48 kHz (44.1 kHz to opus)."""
    if not rate or (codec == "libopus" and rate not in OPUS_RATES):
        return 48000
    return rate


class _AudioCopy:
    """The source's first audio stream, muxed into `output` as the video goes: packets copied where the
    container takes the codec, else decoded and re-encoded."""

    def __init__(self, source: ClipInfo, output: Any, *, container_format: str, written: WrittenClip) -> None:
        self.output, self.written = output, written
        self.input: Any = None
        self.packets: Iterator[Any] = iter(())
        self.pending: Any = None
        self.encoded = Fraction(0)  # the time re-encoded packets (which carry no pts) have reached
        if not source.audio:
            return
        import av

        self.input = av.open(str(source.path))
        audio_in = self.input.streams.audio[0]
        held = audio_in.codec_context.name
        if held in AUDIO_HELD.get(container_format, set()):
            self.stream = output.add_stream_from_template(audio_in)
            self.packets = (p for p in self.input.demux(audio_in) if p.dts is not None)
            self.encoder = None
            written.audio = "copied"
        else:
            codec = AUDIO_CODECS.get(container_format, "aac")
            self.stream = output.add_stream(codec, rate=_encoder_rate(codec, audio_in.codec_context.sample_rate))
            self.encoder = self.stream
            self.packets = self._reencoded(audio_in)
            written.audio = "re-encoded"
            written.notes.append(
                f"audio re-encoded from {held} to {codec} (the {container_format} container does not take {held})"
            )

    def _reencoded(self, audio_in: Any) -> Iterator[Any]:
        encoder = self.encoder
        if encoder is None:  # only a re-encoded track is read through here
            return
        for frame in self.input.decode(audio_in):
            frame.pts = None
            yield from encoder.encode(frame)
        yield from encoder.encode(None)

    def mux_until(self, seconds: Fraction | None) -> None:
        """Mux the audio packets that start by `seconds` (all of them when None)."""
        self._mux_while(lambda start: seconds is None or start <= seconds)

    def mux_before(self, end: Fraction | None) -> None:
        """Mux the audio packets left that start before `end` (all of them when None); the rest is dropped."""
        self._mux_while(lambda start: end is None or start < end)

    def _mux_while(self, keep: Callable[[Fraction], bool]) -> None:
        if self.input is None:
            return
        while True:
            packet = self.pending if self.pending is not None else next(self.packets, None)
            self.pending = None
            if packet is None:
                return
            start = self._start(packet)
            if start is not None and not keep(start):
                self.pending = packet
                return
            if packet.pts is None and packet.duration and packet.time_base:
                self.encoded += packet.duration * packet.time_base
            if self.encoder is None:
                packet.stream = self.stream
            self.output.mux(packet)

    def _start(self, packet: Any) -> Fraction | None:
        """When `packet` starts: its pts, or for a re-encoded one the length of those muxed before it."""
        if not packet.time_base:
            return None
        return packet.pts * packet.time_base if packet.pts is not None else self.encoded

    def close(self) -> None:
        if self.input is not None:
            self.input.close()
