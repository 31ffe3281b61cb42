"""Pictures a program hands the library: a path, a PIL image, a numpy array or a tensor, one or a batch.

Each is prepared for the model exactly as `adain stylize` prepares a file (the reference's resize of the 8-bit
image, then the optional centre crop), and results go back in the caller's own kind: a PIL image for a path or
a PIL image, a uint8 array for an array, a float tensor in [0, 1] for a tensor (a batch for a batch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from adain_cli import defaults, images

Picture = Union[str, "os.PathLike[str]", Image.Image, np.ndarray, Tensor]
Kind = Literal["pil", "array", "tensor"]


@dataclass(frozen=True)
class Prepared:
    """Pictures as the model takes them: each RGB (3, H, W) in [0, 1] at its prepared size, with its alpha."""

    images: tuple[images.LoadedImage, ...]
    kind: Kind
    batched: bool


def prepare(picture: Picture, shorter_side: int, *, crop: bool = False,
            max_pixels: int = defaults.MAX_PIXELS) -> Prepared:  # fmt: skip
    """One picture or a batch, resized so the shorter side is `shorter_side` (0 keeps the size)."""
    if isinstance(picture, (str, os.PathLike)):
        loaded = images.load(Path(picture), shorter_side, crop=crop, max_pixels=max_pixels)
        return Prepared((loaded,), "pil", batched=False)
    if isinstance(picture, Image.Image):
        return Prepared((images.prepare(picture, shorter_side, crop=crop, max_pixels=max_pixels),), "pil", False)
    if isinstance(picture, np.ndarray):
        return Prepared((_prepared_array(picture, shorter_side, crop, max_pixels),), "array", batched=False)
    if isinstance(picture, Tensor):
        batch = _as_batch(picture)
        prepared = tuple(_prepared_tensor(image, shorter_side, crop, max_pixels) for image in batch)
        return Prepared(prepared, "tensor", batched=picture.dim() == 4)
    raise TypeError(f"expected a path, a PIL image, a numpy array or a tensor, got {type(picture).__name__}")


def _as_batch(picture: Tensor) -> Tensor:
    if picture.dim() == 3:
        picture = picture[None]
    if picture.dim() != 4 or picture.shape[1] != 3 or picture.shape[0] == 0:
        raise ValueError(f"expected an RGB tensor shaped (3, H, W) or (N, 3, H, W), got {tuple(picture.shape)}")
    return picture


def _prepared_array(array: np.ndarray, shorter_side: int, crop: bool, max_pixels: int) -> images.LoadedImage:
    """An (H, W, 3) or (H, W) array: 8-bit ones go the way an 8-bit file goes, float ones are in [0, 1]."""
    if array.dtype == np.uint8:
        return images.prepare(Image.fromarray(array), shorter_side, crop=crop, max_pixels=max_pixels, name="array")
    values = np.asarray(array, dtype=np.float32)
    values = np.repeat(values[:, :, None], 3, axis=2) if values.ndim == 2 else values
    if values.ndim != 3 or values.shape[2] != 3:
        raise ValueError(f"expected an array shaped (H, W, 3) or (H, W), got {array.shape}")
    return _prepared_tensor(torch.from_numpy(values).permute(2, 0, 1), shorter_side, crop, max_pixels)


def _prepared_tensor(image: Tensor, shorter_side: int, crop: bool, max_pixels: int) -> images.LoadedImage:
    height, width = int(image.shape[1]), int(image.shape[2])
    size = images.resized_size(height, width, shorter_side)
    images.check_size(Path("tensor"), (height, width), size if not crop else (min(size),) * 2, max_pixels=max_pixels)
    rgb = images.resize(image.detach().float().cpu().clamp(0.0, 1.0), size)
    return images.LoadedImage(images.center_square(rgb).contiguous() if crop else rgb.contiguous())


def returned(results: list[Tensor], content: Prepared) -> Image.Image | np.ndarray | Tensor:
    """Results (3, H, W) in the kind of picture the content came as (alpha kept for a PIL image that had it)."""
    clamped = [result.detach().float().clamp(0.0, 1.0).cpu() for result in results]
    if content.kind == "tensor":
        return torch.stack(clamped) if content.batched else clamped[0]
    if content.kind == "array":
        return images.to_uint8(clamped[0])
    return images.to_pil(clamped[0], content.images[0].transparency)
