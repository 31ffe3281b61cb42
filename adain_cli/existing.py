"""Whether an output already exists for `--skip-existing`: a file at its name that is complete enough to keep.

Torch-free and cheap (the header and the file's structure, never its pixels), so a resumed job decides from the
names alone, before any content is decoded or any style encoded. A zero-byte or truncated file is not done.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from adain_cli.inputs import is_video_name, open_header
from adain_cli.marker import image_mark, mark, read_mark

_JPEG_END = b"\xff\xd9"


def is_done(path: Path, made: str) -> bool:
    """Complete, and marked as made by `made` (a job's `made_id`): an output --skip-existing keeps. An image is
    opened once for both."""
    if is_video_name(path):
        return is_complete(path) and read_mark(path) == mark(made)
    return _nonempty(path) and _image_mark_if_complete(path) == mark(made)


def is_complete(path: Path) -> bool:
    """A non-empty file whose header reads (and, for a PNG, whose chunks check out up to its end)."""
    if not _nonempty(path):
        return False
    return _video_is_readable(path) if is_video_name(path) else _image_mark_if_complete(path) is not None


def _nonempty(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def _image_mark_if_complete(path: Path) -> str | None:
    """The image's mark ("" for none) when its header reads and its structure checks out to the end, else None."""
    try:
        with open_header(path) as image:
            image_format = image.format
            found = image_mark(image)
            image.verify()  # PNG: every chunk's CRC up to IEND, so a cut file fails
        if image_format == "JPEG":
            with path.open("rb") as file:
                file.seek(-2, 2)
                if file.read(2) != _JPEG_END:
                    return None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return None
    return found


def _video_is_readable(path: Path) -> bool:
    """The container opens and holds a video stream (a cut MP4 lacks its index and does not open)."""
    import av

    try:
        with av.open(str(path)) as container:
            return bool(container.streams.video)
    except (av.error.FFmpegError, OSError, ValueError):
        return False
