"""Inputs: what a file is (image, video, animation), finding them in folders, and their names in outputs.

Torch-free, so that a job is planned (and a bad input refused) before torch loads.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image

from adain_cli import bankfile
from adain_cli.errors import AdainError, UsageError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".apng", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".jfif"}
)
VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
ANIMATION_FORMATS = {".gif": "GIF", ".webp": "WEBP", ".png": "PNG", ".apng": "PNG"}
OUTPUT_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "tif": "TIFF", "tiff": "TIFF"}


def names_an_output_file(output: Path) -> bool:
    """Whether `-o OUTPUT` names one output file (its extension one adain writes) rather than a folder. A name
    ending like a file adain does not write (`r.bmp`, `r.gif`, `r.xyz`) and not an existing folder is neither:
    a UsageError naming the extensions it writes, rather than a new folder of that name."""
    if output.is_dir():
        return False
    ext = output.suffix.lower().lstrip(".")
    if ext in OUTPUT_FORMATS:
        return True
    media = f".{ext}" in IMAGE_EXTENSIONS or f".{ext}" in VIDEO_FORMATS
    if media or (ext.isalpha() and len(ext) <= 4):
        writable = ", ".join(f".{name}" for name in OUTPUT_FORMATS)
        raise UsageError(f"-o {output}: adain writes one output as {writable} (not .{ext}); for a folder of that "
                         "name, create it first")  # fmt: skip
    return False


def output_ext(requested: str, content: Path) -> str:
    """The extension of an output: `requested`, or with `auto` the content's own, as it is spelled, where it is
    a format we write (a .jpeg stays .jpeg, a .JPG stays .JPG, a .jfif becomes .jpg), else png."""
    if requested != "auto":
        return requested
    own = content.suffix.lstrip(".")
    return "jpg" if own.lower() == "jfif" else own if own.lower() in OUTPUT_FORMATS else "png"


# warnings.catch_warnings swaps the process's filter list; our own threads take turns with it, so it is
# always put back as it was.
_PILLOW_WARNINGS = threading.Lock()


def open_header(path: Path) -> Image.Image:
    """`Image.open` (the header only), with Pillow's decompression-bomb warning silenced here alone: adain checks
    its own limit from the header. Pillow's global limit is left as it is; over twice that, Pillow refuses."""
    with _PILLOW_WARNINGS, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def is_video_name(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_FORMATS


def is_clip(path: Path) -> bool:
    """A video file, or an image file with more than one frame (an animated GIF, WebP or PNG).

    Reads the header only (`is_animated` stops at the second frame). A file that cannot be opened, or one over
    Pillow's pixel limit, is not a clip: loading it as an image reports why, by name.
    """
    if is_video_name(path):
        return True
    if path.suffix.lower() not in ANIMATION_FORMATS:
        return False
    try:
        with open_header(path) as image:
            return bool(getattr(image, "is_animated", False))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


@dataclass(frozen=True)
class Source:
    """An input: where it is, the folder it mirrors to under OUT, its name in outputs, and whether it is a clip
    (a video or an animated image; decided once, when it is found)."""

    path: Path
    rel_dir: Path = Path()
    label: str = ""
    clip: bool = False
    bank: Path | None = None  # a style from a style bank (`adain styles encode`): its file, and its row there
    bank_row: int = 0

    @property
    def key(self) -> object:
        """What makes two sources one input: the file, or a bank's row."""
        return (self.bank.resolve(), self.bank_row) if self.bank is not None else self.path.resolve()


def sample_styles_folder() -> Path | None:
    """The eight shipped sample styles: inside the installed package, or in the checkout this runs from."""
    package = Path(__file__).resolve().parent
    if (package / "sample_styles").is_dir():
        return package / "sample_styles"
    if (package.parent / "pyproject.toml").is_file() and (package.parent / "sample_styles").is_dir():
        return package.parent / "sample_styles"
    return None


def sample_style_names() -> list[str]:
    folder = sample_styles_folder()
    return sorted(path.stem for path in folder.glob("*.jpg")) if folder else []


def style_path(value: str) -> Path:
    """What a `--style` value means: a path is that file or folder; a bare name (no path separator, no
    extension) that names nothing here is the shipped sample style of that name (`--style waves`)."""
    path = Path(value).expanduser()
    if path.exists():
        return path
    if path.is_symlink():  # a link named here means that link, even one to nothing: never the sample of its name
        raise UsageError(f"{value} is a symbolic link to {os.readlink(path)}, which does not exist")
    bare = not any(separator in value for separator in ("/", "\\", os.sep)) and not path.suffix and value
    if bare:
        folder = sample_styles_folder()
        if folder is not None and (folder / f"{value}.jpg").is_file():
            return folder / f"{value}.jpg"
        names = ", ".join(sample_style_names()) or "none shipped here"
        raise UsageError(f"{value!r} does not exist here and is not a sample style ({names})")
    raise UsageError(f"{value} does not exist")


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _unreadable_folder(error: OSError) -> None:
    """A folder a recursive walk cannot list is an error naming it, never a silent gap in the job."""
    raise AdainError(f"cannot read the folder {error.filename} ({error.strerror or error}); fix its permissions or "
                     "leave it out")  # fmt: skip


def _walk(root: Path, recursive: bool, extensions: frozenset[str]) -> Iterator[Path]:
    if not recursive:
        yield from sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in extensions)
        return
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=_unreadable_folder):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop or a second link to the same folder
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames.sort()
        for name in sorted(filenames):
            candidate = Path(dirpath) / name
            if candidate.suffix.lower() in extensions:
                yield candidate


def discover(
    inputs: Iterable[Path], *, recursive: bool = False, mirror: bool = True, videos: bool = False, banks: bool = False
) -> list[Source]:
    """Image files named directly, plus the images inside named directories.

    Files named directly are taken whatever their extension (the user asked for them; one that
    cannot be read fails by name later); inside a directory, files without an image extension are
    skipped quietly (video files are found too with `videos`). With `mirror`, each file found in a
    recursive walk remembers its folder relative to the directory given, so outputs can mirror the
    structure. With `banks` (for styles), a style-bank file named directly stands for the styles it holds,
    in the order, and under the paths, they were found when it was made.
    """
    found: list[Source] = []
    seen: set[object] = set()
    for given in inputs:
        if banks and given.is_file() and bankfile.is_bank(given):
            for source in bank_sources(given):
                if source.key not in seen:
                    seen.add(source.key)
                    found.append(source)
            continue
        if given.is_dir():
            extensions = IMAGE_EXTENSIONS | frozenset(VIDEO_FORMATS) if videos else IMAGE_EXTENSIONS
            pairs = [(path, path.parent.relative_to(given)) for path in _walk(given, recursive, extensions)]
        else:
            pairs = [(given, Path())]
        for path, rel_dir in pairs:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(Source(path, rel_dir if mirror else Path(), clip=videos and is_clip(path)))
    return with_unique_labels(found)


def none_found(paths: Iterable[Path], what: str, *, recursive: bool, videos: bool = False) -> str:
    """The error for a search that found no `what` image; without -r, it says when subfolders hold some."""
    paths = list(paths)
    message = f"no {what} images found in {', '.join(str(p) for p in paths)}"
    extensions = IMAGE_EXTENSIONS | frozenset(VIDEO_FORMATS) if videos else IMAGE_EXTENSIONS
    below = not recursive and any(
        given.is_dir() and next(_walk(given, True, extensions), None) is not None for given in paths
    )
    return message + (" (only in subfolders: add -r to walk them)" if below else "")


def unwalked(paths: Iterable[Path], *, recursive: bool, output: Path | None = None) -> str | None:
    """Without -r, the note that the named folders' subfolders (other than hidden ones and the output folder)
    were not searched: said once, with how many; None when there are none."""
    if recursive:
        return None
    skip = output.resolve() if output is not None else None
    count, holding = 0, []
    for given in paths:
        if given.is_dir():
            with contextlib.suppress(OSError):
                found = sum(1 for entry in given.iterdir() if not entry.name.startswith(".") and entry.is_dir()
                            and entry.resolve() != skip)  # fmt: skip
                count += found
                holding += [str(given)] if found else []
    if not count:
        return None
    plural = count > 1
    return (f"{count} subfolder{'s' if plural else ''} of {', '.join(holding)} not searched "
            f"(-r walks {'them' if plural else 'it'})")  # fmt: skip


def bank_sources(bank: Path) -> list[Source]:
    """The styles of a bank as sources: each under the path it was found at (so names, and dataset mode's draws,
    are those of the folder it was made from), its statistics to be read from the bank."""
    header = bankfile.read_header(bank)
    return [Source(Path(entry.path), bank=bank, bank_row=row) for row, entry in enumerate(header.entries)]


def safe_stem(path: Path) -> str:
    """A file stem usable inside another file name."""
    return "".join("_" if c in '/\\:*?"<>|' else c for c in path.stem) or "image"


def with_unique_labels(sources: list[Source]) -> list[Source]:
    """Give each source a label unique within its output folder.

    The label is the file stem. Where two files share a stem, the extension is added if that tells
    them apart (a.jpg, a.png → a_jpg, a_png); what is still equal gets a counter (ink, ink_2; never `-`,
    which reads like interpolate's separator).
    Names never collide silently.
    """

    def stem_key(source: Source) -> tuple[Path, str]:
        return source.rel_dir, safe_stem(source.path).casefold()

    def ext_key(source: Source) -> tuple[Path, str, str]:
        return (*stem_key(source), source.path.suffix.casefold())

    stem_counts = Counter(stem_key(s) for s in sources)
    ext_counts = Counter(ext_key(s) for s in sources)
    used: set[tuple[Path, str]] = set()
    next_number: dict[tuple[Path, str], int] = {}  # where the counter of a label goes on (linear, not quadratic)
    labelled: list[Source] = []
    for source in sources:
        label = safe_stem(source.path)
        if stem_counts[stem_key(source)] > 1 and ext_counts[ext_key(source)] == 1 and source.path.suffix:
            label = f"{label}_{source.path.suffix.lstrip('.').lower()}"
        key = (source.rel_dir, label.casefold())
        candidate, number = label, next_number.get(key, 2)
        while (source.rel_dir, candidate.casefold()) in used:
            candidate, number = f"{label}_{number}", number + 1
        next_number[key] = number
        used.add((source.rel_dir, candidate.casefold()))
        labelled.append(replace(source, label=candidate))
    return labelled


def renamed(sources: Iterable[Source]) -> list[str]:
    """One line per source whose label is not its file stem (a name two inputs share), to say so up front."""
    return [
        f"{source.path} is named {source.label} in outputs"
        for source in sources
        if source.label != safe_stem(source.path)
    ]
