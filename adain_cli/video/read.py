"""Frame streams in: video files through PyAV (its wheel carries ffmpeg), animated GIF, WebP and PNG through
Pillow; what a clip is (`probe`) and its frames decoded in a background thread (`read_frames`).

PyAV rather than imageio's ffmpeg pipe: it gives the exact frame rate, the rotation side data and the
audio packets (`audio.py` copies them without re-encoding). Frames are decoded in the background with a
small bounded queue, so memory does not grow with a clip's length and the network never waits on the codec.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image, ImageSequence
from torch import Tensor

from adain_cli.errors import ImageError
from adain_cli.inputs import is_video_name

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
        raise ImageError(f"{path}: cannot read the video ({first_line(error)})") from None


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
        raise ImageError(f"{path}: cannot read the animation ({first_line(error)})") from None


def first_line(error: BaseException) -> str:
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
        raise ImageError(f"{info.path}: cannot decode frames ({type(error).__name__}: {first_line(error)})") from None


def _video_frames(info: ClipInfo) -> Iterator[Image.Image]:
    import av

    try:
        with av.open(str(info.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                yield frame.to_image()
    except av.error.FFmpegError as error:
        raise ImageError(f"{info.path}: the video is damaged or truncated ({first_line(error)})") from None


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
