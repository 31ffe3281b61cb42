"""Image I/O: reading any real-world file into a float RGB tensor, saving atomically, finding inputs.

Everything that touches pixels on disk goes through here, so EXIF rotation, odd modes, alpha,
the clamp-and-round on save, and atomic writes are handled in exactly one place.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from torch import Tensor

from adain_cli import defaults
from adain_cli.errors import ImageError
from adain_cli.files import atomic_file
from adain_cli.inputs import OUTPUT_FORMATS, open_header
from adain_cli.marker import exif_mark

FORMATS_WITH_ALPHA = frozenset({"png", "webp", "tif", "tiff"})
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {"PNG": {"compress_level": 6}, "TIFF": {"compression": "tiff_deflate"}}


DEFAULT_MAX_PIXELS = defaults.MAX_PIXELS
# Three 2× poolings (ceil) must leave two feature cells a side at relu4_1, for its reflection padding: 9 px
# pool to 2 cells, 8 px to 1, which the padding cannot take.
MIN_SIDE = 9

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
    original_size: tuple[int, int] | None = None  # (height, width) of what `rgb` shows, in the file's own pixels
    cropped_from: tuple[int, int] | None = None  # with --crop: the (height, width) the centre square was cut from

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[2])


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
    return converted or image.convert("RGB")


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
    frames = int(getattr(image, "n_frames", 1))
    if frames > 1:
        notes.append(f"{frames} frames; used the first")
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


def resized_size(height: int, width: int, shorter_side: int, *, enlarge: bool = True) -> tuple[int, int]:
    """The (height, width) with the shorter side scaled to `shorter_side` (0 keeps the size; so does a
    shorter side already below it when `enlarge` is False).

    torchvision's rule for `Resize(n)`, which the reference scripts use: the long side is truncated,
    not rounded (1086×683 at 512 is 814×512).
    """
    if shorter_side <= 0:
        return height, width
    short, long = min(height, width), max(height, width)
    if short == shorter_side or (short < shorter_side and not enlarge):
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
    if min(height, width) < MIN_SIDE:
        raise ImageError(f"{path}: too small ({width}×{height} after resizing; at least {MIN_SIDE} px a side)")


def load(path: Path, shorter_side: int, *, crop: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
         enlarge: bool = True) -> LoadedImage:  # fmt: skip
    """Read an image and prepare it for the model: upright, RGB (and alpha), the shorter side resized to
    `shorter_side` as the reference scripts resize (0 keeps the size; without `enlarge` only ever smaller),
    optionally centre-cropped."""
    image, notes = _open_upright(path, max_pixels)
    return _prepared(path, image, shorter_side, crop=crop, max_pixels=max_pixels, notes=notes, enlarge=enlarge)


def prepare(image: Image.Image, shorter_side: int, *, crop: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
            name: str = "image") -> LoadedImage:  # fmt: skip
    """An image already opened (a PIL image a program holds), prepared exactly as `load` prepares a file."""
    notes: list[str] = []
    with contextlib.suppress(OSError, ValueError, TypeError):
        image = ImageOps.exif_transpose(image) or image
    return _prepared(Path(name), image, shorter_side, crop=crop, max_pixels=max_pixels, notes=notes)


def _prepared(path: Path, image: Image.Image, shorter_side: int, *, crop: bool, max_pixels: int,
              notes: list[str], enlarge: bool = True) -> LoadedImage:  # fmt: skip
    original = (image.height, image.width)
    size = resized_size(*original, shorter_side, enlarge=enlarge)
    check_size(path, original, size if not crop else (min(size),) * 2, max_pixels=max_pixels)
    loaded = _converted(path, image, size, notes=notes)
    if crop:
        transparency = None if loaded.transparency is None else center_square(loaded.transparency)
        return LoadedImage(center_square(loaded.rgb).contiguous(), transparency, notes, (min(original),) * 2, size)
    loaded.original_size = original
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


def load_mask(
    path: Path,
    size: tuple[int, int],
    max_pixels: int = DEFAULT_MAX_PIXELS,
    *,
    cropped_from: tuple[int, int] | None = None,
) -> tuple[Tensor, list[str]]:
    """A mask in [0, 1] shaped (1, H, W), resized to `size` (H, W), and notes for the user.

    Any image works: its transparency when it has some (a cut-out PNG), else its luminance
    (white = 1). A mask whose aspect ratio differs from the target's by more than 1% is noted.
    For a content centre-cropped from `cropped_from` (H, W), the mask is resized to that and cropped the
    same way, so it covers what the content shows.
    """
    loaded = read_image(path, max_pixels)
    notes = [f"mask {path}: {note}" for note in loaded.notes]
    if loaded.transparency is not None and bool((loaded.transparency < 1.0).any()):
        mask = loaded.transparency
    else:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        mask = (loaded.rgb * weights).sum(dim=0, keepdim=True)
    height, width = loaded.size
    target = cropped_from or size
    ratio = (width / height) / (target[1] / target[0])
    if abs(ratio - 1.0) > 0.01:
        notes.append(f"mask {path}: aspect ratio {width}×{height} differs from the content's; stretched to fit")
    if cropped_from is None:
        return resize(mask, size), notes
    return center_square(resize(mask, cropped_from)).contiguous(), notes


# ---------------------------------------------------------------------------------------------
# Saving


# 8-bit pixels, (H, W, C) and C-contiguous, as Image.fromarray takes them without a copy.
Pixels = np.ndarray


def to_uint8(image: Tensor) -> Pixels:
    """(C, H, W) float in nominal [0, 1] → (H, W, C) uint8, clamped and rounded to nearest; a batch
    (N, C, H, W) → (N, H, W, C), each item contiguous."""
    scaled = image.detach().float().clamp(0.0, 1.0).mul(255.0).add_(0.5).floor_()
    return np.ascontiguousarray(scaled.to(torch.uint8).movedim(-3, -1).cpu().numpy())


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


def save_pil(
    image: Image.Image, path: Path, quality: int = defaults.QUALITY, *, sheet: bool = False, made: str | None = None
) -> None:
    """Save atomically in the format named by the extension; flatten alpha where it cannot be kept. The file is
    marked as adain's, with what `made` it where given (marker.mark).

    A `sheet` (a grid page of tens of megapixels) is a PNG compressed fast: 2.7× quicker to write than the
    default level, 25% larger (measured on a 776×28,781 page: 3.56 s → 1.30 s)."""
    ext = path.suffix.lower().lstrip(".")
    fmt = OUTPUT_FORMATS.get(ext)
    if fmt is None:
        raise ImageError(f"{path}: unsupported output format {ext!r} (use one of {', '.join(OUTPUT_FORMATS)})")
    if ext not in FORMATS_WITH_ALPHA:
        image = flatten_alpha(image)
    options: dict[str, Any] = {"quality": quality} if fmt in ("JPEG", "WEBP") else _SAVE_OPTIONS[fmt]
    if sheet and fmt == "PNG":
        options = {"compress_level": 1}
    try:
        with atomic_file(path) as file:
            image.save(file, format=fmt, exif=exif_mark(made), **options)
    except OSError as error:
        raise ImageError(f"{path}: cannot write ({error.strerror or error})") from None


def save_pixels(
    pixels: Pixels,
    path: Path,
    *,
    quality: int = defaults.QUALITY,
    alpha: Pixels | None = None,
    size: tuple[int, int] | None = None,
    made: str | None = None,
) -> Image.Image:
    """Save 8-bit RGB pixels (and their (H, W, 1) alpha) atomically, resized to `size` (height, width) with
    Lanczos (antialiased) when given, marked with what `made` them; returns the saved PIL image."""
    pil = Image.fromarray(np.concatenate([pixels, alpha], axis=2) if alpha is not None else pixels)
    if size is not None and pil.size != (size[1], size[0]):
        pil = pil.resize((size[1], size[0]), Image.Resampling.LANCZOS)
    save_pil(pil, path, quality, made=made)
    return pil
