"""The mark adain leaves on every file it writes, and how it is read back: images carry it in their EXIF
Software tag (PNG, JPEG, WebP and TIFF all carry EXIF; GIF in its comment), videos in their container's
comment. A later job never reads an earlier job's outputs back in as inputs. Torch-free."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from adain_cli import __version__
from adain_cli.inputs import is_video_name

WRITTEN_BY = f"adain {__version__}"
SOFTWARE_TAG = 0x0131


def _written_by_exif() -> bytes:
    exif = Image.Exif()
    exif[SOFTWARE_TAG] = WRITTEN_BY
    return exif.tobytes()


WRITTEN_BY_EXIF = _written_by_exif()  # EXIF that says adain wrote the file (made once: every output carries it)


def written_by_adain(path: Path) -> bool:
    """Whether `path` is an image or video adain wrote (reads the header only)."""
    return _video_written_by_adain(path) if is_video_name(path) else _image_written_by_adain(path)


def _image_written_by_adain(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            comment = image.info.get("comment", b"")
            if isinstance(comment, bytes) and comment.startswith(b"adain "):  # GIF animations
                return True
            return str(image.getexif().get(SOFTWARE_TAG, "")).startswith("adain ")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def _video_written_by_adain(path: Path) -> bool:
    import av

    try:
        with av.open(str(path)) as container:
            return str(container.metadata.get("comment", "")).startswith("adain ")
    except (av.error.FFmpegError, OSError, ValueError):
        return False
