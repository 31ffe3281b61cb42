"""Image I/O: reading any real-world file into a float RGB tensor, saving atomically, finding inputs.

Everything that touches pixels on disk goes through here, so EXIF rotation, odd modes, alpha,
the clamp-and-round on save, and atomic writes are handled in exactly one place.
"""

from __future__ import annotations

import io
import math
import os
import re
import threading
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from torch import Tensor

from adain_cli import __version__
from adain_cli.errors import AdainError, ImageError
from adain_cli.files import atomic_path

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".apng", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".jfif"}
)
OUTPUT_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "tif": "TIFF", "tiff": "TIFF"}
FORMATS_WITH_ALPHA = frozenset({"png", "webp", "tif", "tiff"})
_SAVE_OPTIONS = {"PNG": {"compress_level": 6}, "TIFF": {"compression": "tiff_deflate"}}


def output_ext(requested: str, content: Path) -> str:
    """The extension of an output: `requested`, or with `auto` the content's own where it is a format we
    write (a .jpeg stays .jpeg, a .jfif becomes .jpg), else png."""
    if requested != "auto":
        return requested
    own = content.suffix.lower().lstrip(".")
    return "jpg" if own == "jfif" else own if own in OUTPUT_FORMATS else "png"


DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's decompression-bomb limit
MIN_SIDE = 8  # three 2× poolings must leave one feature cell per side, and two in all (for a std)

_SRGB = ImageCms.createProfile("sRGB")


@dataclass
class LoadedImage:
    """An image as the model takes it: RGB in [0, 1], shaped (3, H, W), float32.

    `transparency` is the (1, H, W) alpha channel, when the file had one; `notes` says what was done to
    get here that a user may want to know (first frame of an animation, colour profile converted).
    """

    rgb: Tensor
    transparency: Tensor | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[2])


# warnings.catch_warnings swaps the process's filter list; our own threads take turns with it, so it is
# always put back as it was.
_PILLOW_WARNINGS = threading.Lock()


def open_header(path: Path) -> Image.Image:
    """`Image.open` (the header only), with Pillow's decompression-bomb warning silenced here alone: adain checks
    its own limit from the header. Pillow's global limit is left as it is; over twice that, Pillow refuses."""
    with _PILLOW_WARNINGS, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def _over_limit(path: Path, pixels: int, max_pixels: int, size: str = "") -> ImageError:
    return ImageError(f"{path}: {size}{pixels:,} pixels, over the limit of {max_pixels:,} (raise it with --max-pixels)")


def _pillow_refused(path: Path, error: Image.DecompressionBombError, max_pixels: int) -> ImageError:
    """Pillow refuses a file over twice its own limit before adain sees the header: say which limit it was."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    pixels = int(found.group(1)) if found else 0
    if pixels > max_pixels:
        return _over_limit(path, pixels, max_pixels)
    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    return ImageError(f"{path}: {pixels:,} pixels, over Pillow's own limit of {limit:,} (twice "
                      "PIL.Image.MAX_IMAGE_PIXELS, which the adain library leaves as the program set it)")  # fmt: skip


def _open(path: Path, max_pixels: int) -> Image.Image:
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file")
    try:
        image = open_header(path)
        width, height = image.size
        if width * height > max_pixels:
            raise _over_limit(path, width * height, max_pixels, f"{width}×{height} is ")
        image.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError as error:
        raise _pillow_refused(path, error, max_pixels) from None
    except MemoryError:
        raise ImageError(f"{path}: not enough memory to decode it") from None
    except Exception as error:
        # A decoder fed a damaged file can raise almost anything; it is still one bad file, reported by name.
        raise ImageError(f"{path}: cannot read image ({type(error).__name__}: {error})") from None
    return image


def _to_srgb(image: Image.Image, notes: list[str]) -> Image.Image:
    """Convert through the embedded ICC profile when there is one (CMYK, wide-gamut RGB)."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "CMYK"):
        return image.convert("RGB")
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        notes.append("embedded colour profile could not be read; colours used as stored")
        return image.convert("RGB")
    if image.mode == "CMYK":
        notes.append("CMYK converted to sRGB through its colour profile")
    return converted


# A plane of pixels on its way to the model: an 8-bit PIL image (resized as the reference resizes),
# or float32 values in [0, 1] for deeper images (16-bit, float), shaped (H, W, 3) or (H, W).
Plane = Image.Image | np.ndarray


def _planes(image: Image.Image, notes: list[str]) -> tuple[Plane, Plane | None]:
    """The colour (RGB) and transparency of an upright image, as 8-bit PIL images where the file is 8-bit."""
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16/32-bit grayscale: scale by the bit depth instead of letting Pillow clip to 8 bits.
        gray = np.asarray(image, dtype=np.float32)
        peak = 1.0 if mode == "F" else 65535.0
        gray = np.clip(gray / peak, 0.0, 1.0)
        return np.repeat(gray[:, :, None], 3, axis=2), None
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        return rgba.convert("RGB"), rgba.getchannel("A")
    return _to_srgb(image, notes), None


def _open_upright(path: Path, max_pixels: int) -> tuple[Image.Image, list[str]]:
    """The file's (first) frame with its EXIF orientation applied, and notes on what was done."""
    image = _open(path, max_pixels)
    notes: list[str] = []
    if getattr(image, "n_frames", 1) > 1:
        notes.append(f"{image.n_frames} frames; used the first")
        image.seek(0)
    try:
        image = ImageOps.exif_transpose(image) or image
    except (OSError, ValueError, TypeError):
        notes.append("unreadable EXIF orientation ignored")
    return image, notes


def _resized_plane(plane: Plane, size: tuple[int, int]) -> Plane:
    """`plane` at (height, width): torchvision's resize of the PIL image, exactly as the reference scripts
    resize (PIL's antialiased bilinear filter on 8-bit pixels); deeper images are resized in float."""
    if isinstance(plane, Image.Image):
        if (plane.height, plane.width) == size:
            return plane
        from torchvision.transforms import functional as TF

        return TF.resize(plane, list(size), interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    tensor = torch.from_numpy(np.ascontiguousarray(plane))
    tensor = tensor.permute(2, 0, 1) if tensor.dim() == 3 else tensor[None]
    resized = resize(tensor, size)
    return (resized.permute(1, 2, 0) if plane.ndim == 3 else resized[0]).numpy()


def _as_tensor(plane: Plane) -> Tensor:
    """(C, H, W) float32 in [0, 1]."""
    values = np.asarray(plane, dtype=np.float32)
    if isinstance(plane, Image.Image):
        values = values / 255.0
    tensor = torch.from_numpy(np.ascontiguousarray(values))
    return tensor.permute(2, 0, 1).contiguous() if tensor.dim() == 3 else tensor[None].contiguous()


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read any supported file as RGB in [0, 1], upright (EXIF applied), with its alpha if any."""
    image, notes = _open_upright(path, max_pixels)
    return _converted(path, image, (image.height, image.width), notes=notes)


def resized_size(height: int, width: int, shorter_side: int) -> tuple[int, int]:
    """The (height, width) with the shorter side scaled to `shorter_side` (0 keeps the size).

    torchvision's rule for `Resize(n)`, which the reference scripts use: the long side is truncated,
    not rounded (1086×683 at 512 is 814×512).
    """
    if shorter_side <= 0:
        return height, width
    short, long = min(height, width), max(height, width)
    if short == shorter_side:
        return height, width
    new_long = int(shorter_side * long / short)
    return (shorter_side, new_long) if height <= width else (new_long, shorter_side)


def resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Antialiased bilinear resize of a (C, H, W) float tensor (for images deeper than 8 bits, and training)."""
    if tuple(image.shape[1:]) == size:
        return image
    out = F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    return out.clamp_(0.0, 1.0)


def center_square(image: Tensor) -> Tensor:
    """The largest centred square of a (C, H, W) tensor, placed as torchvision's `CenterCrop` places it: the
    offset is half the excess rounded half to even (an excess of 3 starts at 2), as the reference crops."""
    height, width = image.shape[1:]
    side = min(height, width)
    top, left = round((height - side) / 2), round((width - side) / 2)
    return image[:, top : top + side, left : left + side]


def check_size(path: Path, original: tuple[int, int], size: tuple[int, int], *, max_pixels: int) -> None:
    """Refuse, before any pixel is resized, an image whose resized size is over the limit or too small."""
    height, width = size
    if height * width > max_pixels:
        raise ImageError(
            f"{path}: {original[1]}×{original[0]} becomes {width}×{height} after resizing, "
            f"{width * height:,} pixels, over the limit of {max_pixels:,} (use a smaller --content-size or "
            "--style-size, or raise --max-pixels)"
        )
    if min(height, width) < MIN_SIDE or math.ceil(height / MIN_SIDE) * math.ceil(width / MIN_SIDE) < 2:
        raise ImageError(
            f"{path}: too small ({width}×{height} after resizing; at least {MIN_SIDE} px a side, "
            f"and more than {MIN_SIDE}×{MIN_SIDE})"
        )


def load(path: Path, shorter_side: int, *, crop: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image and prepare it for the model: upright, RGB (and alpha), the shorter side resized to
    `shorter_side` as the reference scripts resize (0 keeps the size), optionally centre-cropped."""
    image, notes = _open_upright(path, max_pixels)
    original = (image.height, image.width)
    size = resized_size(*original, shorter_side)
    check_size(path, original, size if not crop else (min(size),) * 2, max_pixels=max_pixels)
    loaded = _converted(path, image, size, notes=notes)
    if crop:
        transparency = None if loaded.transparency is None else center_square(loaded.transparency)
        return LoadedImage(center_square(loaded.rgb).contiguous(), transparency, notes)
    return loaded


def _converted(path: Path, image: Image.Image, size: tuple[int, int], *, notes: list[str]) -> LoadedImage:
    """An opened image as tensors at `size` (height, width)."""
    try:
        rgb, transparency = _planes(image, notes)
        rgb_tensor = _as_tensor(_resized_plane(rgb, size))
        transparency_tensor = None if transparency is None else _as_tensor(_resized_plane(transparency, size))
    except (OSError, ValueError) as error:
        raise ImageError(f"{path}: cannot convert {image.mode} pixels ({error})") from None
    except MemoryError:
        raise ImageError(f"{path}: not enough memory for {size[1]}×{size[0]} pixels") from None
    return LoadedImage(rgb_tensor, transparency_tensor, notes)


def load_mask(path: Path, size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Tensor, list[str]]:
    """A mask in [0, 1] shaped (1, H, W), resized to `size` (H, W), and notes for the user.

    Any image works: its transparency when it has some (a cut-out PNG), else its luminance
    (white = 1). A mask whose aspect ratio differs from the target's by more than 1% is noted.
    """
    loaded = read_image(path, max_pixels)
    notes = [f"mask {path}: {note}" for note in loaded.notes]
    if loaded.transparency is not None and bool((loaded.transparency < 1.0).any()):
        mask = loaded.transparency
    else:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        mask = (loaded.rgb * weights).sum(dim=0, keepdim=True)
    height, width = loaded.size
    ratio = (width / height) / (size[1] / size[0])
    if abs(ratio - 1.0) > 0.01:
        notes.append(f"mask {path}: aspect ratio {width}×{height} differs from the content's; stretched to fit")
    return resize(mask, size), notes


# ---------------------------------------------------------------------------------------------
# Saving


def to_uint8(image: Tensor) -> np.ndarray:
    """(C, H, W) float in nominal [0, 1] → (H, W, C) uint8, clamped and rounded to nearest."""
    scaled = image.detach().float().clamp(0.0, 1.0).mul(255.0).add_(0.5).floor_()
    return scaled.to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def to_pil(image: Tensor, transparency: Tensor | None = None) -> Image.Image:
    """A PIL image of a (3, H, W) tensor, RGBA when an alpha channel is given."""
    if transparency is not None:
        return Image.fromarray(to_uint8(torch.cat([image.float().cpu(), transparency.float().cpu()])), "RGBA")
    return Image.fromarray(to_uint8(image), "RGB")


def flatten_alpha(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Composite an RGBA image onto a solid background (for formats without transparency)."""
    if image.mode != "RGBA":
        return image
    canvas = Image.new("RGB", image.size, background)
    canvas.paste(image, mask=image.getchannel("A"))
    return canvas


def save_pil(image: Image.Image, path: Path, quality: int = 95) -> None:
    """Save atomically in the format named by the extension; flatten alpha where it cannot be kept."""
    ext = path.suffix.lower().lstrip(".")
    fmt = OUTPUT_FORMATS.get(ext)
    if fmt is None:
        raise ImageError(f"{path}: unsupported output format {ext!r} (use one of {', '.join(OUTPUT_FORMATS)})")
    if ext not in FORMATS_WITH_ALPHA:
        image = flatten_alpha(image)
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else _SAVE_OPTIONS[fmt]
    try:
        with atomic_path(path) as tmp:
            image.save(tmp, format=fmt, exif=_WRITTEN_BY_ADAIN, **options)
    except OSError as error:
        raise ImageError(f"{path}: cannot write ({error.strerror or error})") from None


# Every image adain writes says so in its EXIF Software tag (PNG, JPEG, WebP and TIFF all carry EXIF),
# so that a later job never reads an earlier job's outputs back in as contents.
_SOFTWARE_TAG = 0x0131
_WRITTEN_BY = f"adain {__version__}"
_exif = Image.Exif()
_exif[_SOFTWARE_TAG] = _WRITTEN_BY
_WRITTEN_BY_ADAIN = _exif.tobytes()
del _exif


def written_by_exif() -> bytes:
    """EXIF that says adain wrote the file."""
    return _WRITTEN_BY_ADAIN


def written_by_adain(path: Path) -> bool:
    """Whether `path` is an image adain wrote (reads the header only)."""
    try:
        with Image.open(path) as image:
            comment = image.info.get("comment", b"")
            if isinstance(comment, bytes) and comment.startswith(b"adain "):  # GIF animations
                return True
            return str(image.getexif().get(_SOFTWARE_TAG, "")).startswith("adain ")
    except (OSError, ValueError, SyntaxError):
        return False


def save_image(image: Tensor, path: Path, *, quality: int = 95, transparency: Tensor | None = None) -> Image.Image:
    """Clamp, round and save a (3, H, W) tensor atomically; returns the saved PIL image."""
    pil = to_pil(image, transparency)
    save_pil(pil, path, quality)
    return pil


# ---------------------------------------------------------------------------------------------
# Finding inputs and naming outputs


@dataclass(frozen=True)
class Source:
    """An input: where it is, the folder it mirrors to under OUT, its name in outputs, and whether it is a clip
    (a video or an animated image; decided once, when it is found)."""

    path: Path
    rel_dir: Path = Path()
    label: str = ""
    clip: bool = False


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


def _video_extensions() -> frozenset[str]:
    from adain_cli.video import VIDEO_FORMATS  # video.py builds on this module, so it is imported late

    return frozenset(VIDEO_FORMATS)


def discover(
    inputs: Iterable[Path], recursive: bool = False, mirror: bool = True, *, videos: bool = False
) -> list[Source]:
    """Image files named directly, plus the images inside named directories.

    Files named directly are taken whatever their extension (the user asked for them; one that
    cannot be read fails by name later); inside a directory, files without an image extension are
    skipped quietly (video files are found too with `videos`). With `mirror`, each file found in a
    recursive walk remembers its folder relative to the directory given, so outputs can mirror the
    structure.
    """
    found: list[Source] = []
    seen: set[Path] = set()
    for given in inputs:
        if given.is_dir():
            extensions = IMAGE_EXTENSIONS | _video_extensions() if videos else IMAGE_EXTENSIONS
            pairs = [(path, path.parent.relative_to(given)) for path in _walk(given, recursive, extensions)]
        else:
            pairs = [(given, Path())]
        for path, rel_dir in pairs:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(Source(path, rel_dir if mirror else Path(), clip=videos and _is_clip(path)))
    return with_unique_labels(found)


def _is_clip(path: Path) -> bool:
    from adain_cli.video import is_clip

    return is_clip(path)


def safe_stem(path: Path) -> str:
    """A file stem usable inside another file name."""
    return "".join("_" if c in '/\\:*?"<>|' else c for c in path.stem) or "image"


def with_unique_labels(sources: list[Source]) -> list[Source]:
    """Give each source a label unique within its output folder.

    The label is the file stem. Where two files share a stem, the extension is added if that tells
    them apart (a.jpg, a.png → a_jpg, a_png); what is still equal gets a counter (ink, ink-2).
    Names never collide silently.
    """

    def stem_key(source: Source) -> tuple[Path, str]:
        return source.rel_dir, safe_stem(source.path).casefold()

    def ext_key(source: Source) -> tuple[Path, str, str]:
        return (*stem_key(source), source.path.suffix.casefold())

    stem_counts = Counter(stem_key(s) for s in sources)
    ext_counts = Counter(ext_key(s) for s in sources)
    used: set[tuple[Path, str]] = set()
    labelled: list[Source] = []
    for source in sources:
        label = safe_stem(source.path)
        if stem_counts[stem_key(source)] > 1 and ext_counts[ext_key(source)] == 1 and source.path.suffix:
            label = f"{label}_{source.path.suffix.lstrip('.').lower()}"
        candidate, number = label, 2
        while (source.rel_dir, candidate.casefold()) in used:
            candidate, number = f"{label}-{number}", number + 1
        used.add((source.rel_dir, candidate.casefold()))
        labelled.append(replace(source, label=candidate))
    return labelled
