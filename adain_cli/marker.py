"""The mark adain leaves on every file it writes, and how it is read back: images carry it in their EXIF
Software tag (PNG, JPEG, WebP and TIFF all carry EXIF; GIF in its comment), videos in their container's
comment. A later job never reads an earlier job's outputs back in as inputs; `--skip-existing` keeps an output
that is complete and carries the mark of the look that would make it now (`is_done`). Torch-free, and cheap:
the header and the file's structure, never its pixels, so a resumed job decides from the names alone, before
any content is decoded or any style encoded. A zero-byte or truncated file is not done."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from adain_cli.inputs import is_video_name, open_header
from adain_cli.version import __version__

WRITTEN_BY = f"adain {__version__}"
SOFTWARE_TAG = 0x0131
_JPEG_END = b"\xff\xd9"


def mark(made: str | None = None) -> str:
    """The mark of a file adain wrote; `made` is what made it (a job's `made_id`), so a resume can tell an output
    made by the same look from one made by another under the same name."""
    return WRITTEN_BY if made is None else f"{WRITTEN_BY}; made {made}"


def exif_mark(made: str | None = None) -> bytes:
    """EXIF that carries `mark(made)` in its Software tag."""
    if made is None:
        return WRITTEN_BY_EXIF
    return _exif(mark(made))


def _exif(text: str) -> bytes:
    exif = Image.Exif()
    exif[SOFTWARE_TAG] = text
    return exif.tobytes()


WRITTEN_BY_EXIF = _exif(WRITTEN_BY)  # made once: every grid page and preview carries it


def written_by_adain(path: Path) -> bool:
    """Whether `path` is an image or video adain wrote (reads the header only)."""
    return read_mark(path) is not None


def read_mark(path: Path) -> str | None:
    """The mark adain left on `path`, or None where adain did not write it."""
    found = _video_mark(path) if is_video_name(path) else _image_mark(path)
    return found if found.startswith("adain ") else None


def _image_mark(path: Path) -> str:
    try:
        with Image.open(path) as image:
            return image_mark(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return ""


def image_mark(image: Image.Image) -> str:
    """The mark text in an image just opened (its GIF comment or EXIF Software tag), read from the header
    alone, so `image.verify()` may still follow."""
    comment = image.info.get("comment", b"")
    if isinstance(comment, bytes) and comment.startswith(b"adain "):  # GIF animations
        return comment.decode("utf-8", errors="replace")
    if image.format == "PNG" and "exif" not in image.info:
        return ""  # EXIF after the pixels (Pillow would decode them to find it); adain writes it before them
    return str(image.getexif().get(SOFTWARE_TAG, ""))


def _video_mark(path: Path) -> str:
    import av

    try:
        with av.open(str(path)) as container:  # Matroska/WebM keep their tags upper-case (COMMENT)
            tags = {key.lower(): value for key, value in container.metadata.items()}
            return str(tags.get("comment", ""))
    except (av.error.FFmpegError, OSError, ValueError):
        return ""


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
