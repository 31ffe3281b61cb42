"""Encoding and decoding images too large for the device, one tile at a time.

AdaIN needs statistics of the whole feature map, so tiling splits the two network passes, not the
method: the encoder runs tile by tile into one full relu4_1 map (kept in host memory), statistics,
targets and blends are taken on that map as usual, and the decoder runs tile by tile again.

Tiles start on the encoder's 8-pixel pooling grid and are computed with a halo of context (the
relu4_1 receptive field is 68 px wide), so their features match the untiled ones; decoded tiles
overlap and are blended with complementary linear ramps, so no seam shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from adain_cli import defaults

CELL = defaults.TILE_GRID
BYTES_PER_ACTIVATION_PIXEL = 5 * 64  # ~five live 64-channel maps at full resolution in either network


@dataclass(frozen=True)
class TilePlan:
    """Core tile side, context around it, and the blending band between neighbours (pixels)."""

    tile: int
    halo: int = 64
    overlap: int = 16

    def __post_init__(self) -> None:
        if self.tile % CELL or self.halo % CELL or self.tile < 2 * self.overlap + CELL:
            raise ValueError(f"tile {self.tile} must be a multiple of {CELL} and larger than the blending band")


def tile_side(requested: int | None) -> int | None:
    """A fixed tile size put on the encoder's 8-pixel grid (rounded up); None or 0: tiles only when needed."""
    if not requested:
        return None
    side = -(-requested // CELL) * CELL
    if side < defaults.MIN_TILE:
        raise ValueError(f"tiles must be at least {defaults.MIN_TILE} pixels, got {requested}")
    return side


def peak_bytes(height: int, width: int, element_size: int, *, batch: int = 1) -> int:
    """A conservative estimate of one network pass's activation memory for an image."""
    return BYTES_PER_ACTIVATION_PIXEL * height * width * element_size * batch


def tile_for_budget(budget: int, element_size: int, *, batch: int = 1, halo: int = 64) -> int:
    """The largest tile (multiple of 8, at least 64) whose pass, halo included, fits `budget` bytes."""
    side = math.isqrt(max(budget // (BYTES_PER_ACTIVATION_PIXEL * element_size * batch), 1)) - 2 * halo
    return max(64, side // CELL * CELL)


def spans(length: int, tile: int) -> list[tuple[int, int]]:
    """[start, end) cores covering 0…length, starting on multiples of `tile` (itself a multiple of 8)."""
    return [(start, min(start + tile, length)) for start in range(0, length, tile)]


def encode_tiled(encode: Callable[[Tensor], Tensor], image: Tensor, plan: TilePlan) -> Tensor:
    """relu4_1 features (1, C, ⌈H/8⌉, ⌈W/8⌉) of a (3, H, W) image, in float32 on the host."""
    height, width = image.shape[1:]
    out: Tensor | None = None
    for y0, y1 in spans(height, plan.tile):
        for x0, x1 in spans(width, plan.tile):
            top, left = max(0, y0 - plan.halo), max(0, x0 - plan.halo)
            crop = image[:, top : min(height, y1 + plan.halo), left : min(width, x1 + plan.halo)]
            feat = encode(crop).float().cpu()
            if out is None:
                out = torch.empty(1, feat.shape[1], -(-height // CELL), -(-width // CELL))
            tall, wide = -(-(y1 - y0) // CELL), -(-(x1 - x0) // CELL)
            row, col = (y0 - top) // CELL, (x0 - left) // CELL
            out[:, :, y0 // CELL : y0 // CELL + tall, x0 // CELL : x0 // CELL + wide] = feat[
                :, :, row : row + tall, col : col + wide
            ]
    if out is None:
        raise ValueError("cannot tile an empty image")
    return out


def _ramp(core: tuple[int, int], window: tuple[int, int], neighbours: tuple[bool, bool], overlap: int) -> Tensor:
    """Weights along one axis over `window`: 1 in the core, and linear across each boundary shared with a
    neighbour (centred on it, 2·overlap wide), so the weights of neighbouring tiles always sum to 1."""
    position = torch.arange(*window, dtype=torch.float32) + 0.5
    weight = torch.ones(window[1] - window[0])
    if neighbours[0]:
        weight = torch.minimum(weight, ((position - core[0] + overlap) / (2 * overlap)).clamp(0, 1))
    if neighbours[1]:
        weight = torch.minimum(weight, ((core[1] + overlap - position) / (2 * overlap)).clamp(0, 1))
    return weight


def decode_tiled(decode: Callable[[Tensor], Tensor], feat: Tensor, size: tuple[int, int], plan: TilePlan) -> Tensor:
    """Images (N, 3, H, W) in float32 on the host from host features (N, C, ⌈H/8⌉, ⌈W/8⌉)."""
    height, width = size
    batch = feat.shape[0]
    out = torch.zeros(batch, 3, height, width)
    rows, cols = spans(height, plan.tile), spans(width, plan.tile)
    for row, (y0, y1) in enumerate(rows):
        for col, (x0, x1) in enumerate(cols):
            top, left = max(0, y0 - plan.halo), max(0, x0 - plan.halo)
            bottom = min(-(-height // CELL) * CELL, y1 + plan.halo)
            right = min(-(-width // CELL) * CELL, x1 + plan.halo)
            cells = feat[:, :, top // CELL : -(-bottom // CELL), left // CELL : -(-right // CELL)]
            pixels = decode(cells).float().cpu()
            ky0, ky1 = max(0, y0 - plan.overlap), min(height, y1 + plan.overlap)
            kx0, kx1 = max(0, x0 - plan.overlap), min(width, x1 + plan.overlap)
            weight_y = _ramp((y0, y1), (ky0, ky1), (row > 0, row < len(rows) - 1), plan.overlap)
            weight_x = _ramp((x0, x1), (kx0, kx1), (col > 0, col < len(cols) - 1), plan.overlap)
            window = pixels[:, :, ky0 - top : ky1 - top, kx0 - left : kx1 - left]
            out[:, :, ky0:ky1, kx0:kx1] += weight_y[:, None] * weight_x[None, :] * window
    return out
