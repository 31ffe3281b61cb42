"""Pure tensor math of AdaIN: statistics, normalisation, blends and colour transfer.

Every function here is free of I/O and state. Numerics follow the widely used PyTorch port:
the variance is unbiased and eps = 1e-5 is added before the square root.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from adain_cli.blends import normalize_weights, sheet_weights  # noqa: F401 (part of the tensor math's interface)

EPS = 1e-5


class Stats(NamedTuple):
    """Per-sample, per-channel mean and std, each shaped (N, C, 1, 1)."""

    mean: Tensor
    std: Tensor


def mean_std(feat: Tensor, eps: float = EPS) -> Stats:
    """Mean and std over H×W for each sample and channel (unbiased variance, eps inside the sqrt)."""
    n, c = feat.shape[:2]
    var, mean = torch.var_mean(feat.reshape(n, c, -1).float(), dim=2, unbiased=True)
    return Stats(mean.view(n, c, 1, 1).to(feat.dtype), var.add_(eps).sqrt_().view(n, c, 1, 1).to(feat.dtype))


def adain_with_stats(content: Tensor, content_stats: Stats, style_stats: Stats) -> Tensor:
    """σ(y)·(x − μ(x))/σ(x) + μ(y), with both sets of statistics given (moved to the content's device)."""
    style_mean, style_std = style_stats.mean.to(content), style_stats.std.to(content)
    return (content - content_stats.mean) / content_stats.std * style_std + style_mean


def adain(content: Tensor, style: Tensor | Stats, eps: float = EPS) -> Tensor:
    """Adaptive instance normalisation of `content` features to the statistics of `style`.

    `style` is either a feature map or its precomputed `Stats` (a style's features are only ever
    needed through their statistics, which is what lets the engine cache them cheaply).
    """
    style_stats = style if isinstance(style, Stats) else mean_std(style, eps)
    return adain_with_stats(content, mean_std(content, eps), style_stats)


def blend(content: Tensor, target: Tensor, alpha: float | Tensor) -> Tensor:
    """(1 − α)·content + α·target: the paper's content–style trade-off (α a number, or one per sample shaped
    to broadcast, e.g. (N, 1, 1, 1))."""
    if isinstance(alpha, Tensor):
        return content * (1.0 - alpha) + target * alpha
    if alpha == 1.0:
        return target
    if alpha == 0.0:
        return content
    return content * (1.0 - alpha) + target * alpha


def interpolate(
    content: Tensor, styles: Sequence[Stats], weights: Sequence[float], *, content_stats: Stats | None = None
) -> Tensor:
    """Σ w_k·AdaIN(content, style_k) with the weights normalised to sum 1."""
    if len(styles) != len(weights):
        raise ValueError(f"{len(styles)} styles but {len(weights)} weights")
    content_stats = content_stats or mean_std(content)
    out = torch.zeros_like(content)
    for stats, weight in zip(styles, normalize_weights(weights), strict=True):
        if weight:
            out = out + weight * adain_with_stats(content, content_stats, stats)
    return out


def mixed_stats(styles: Stats, index: Tensor, weights: Tensor) -> Stats:
    """Per sample, the convex mix Σ_k w_k·(μ_k, σ_k) of the styles `index` (N, K) picks from `styles` (S, C, 1, 1)
    with `weights` (N, K) that sum to 1 per row: statistics shaped (N, C, 1, 1).

    AdaIN is affine in (μ, σ), so AdaIN with the mixed statistics is Σ_k w_k·AdaIN(x, style_k): what
    `interpolate` computes, in one pass for a batch in which every sample has its own styles and weights.
    """
    index = index.to(styles.mean.device)
    shares = weights.to(styles.mean)[:, :, None, None, None]
    return Stats((styles.mean[index] * shares).sum(dim=1), (styles.std[index] * shares).sum(dim=1))


def masked_mean_std(feat: Tensor, mask: Tensor, eps: float = EPS) -> Stats:
    """Mean and std of `feat` over the cells where `mask` (N, 1, H, W, values 0/1) is 1.

    Unbiased like `mean_std`, so a mask of all ones gives exactly `mean_std(feat)`.
    """
    if bool(mask.all()):
        return mean_std(feat, eps)
    n, c = feat.shape[:2]
    flat = feat.reshape(n, c, -1).float()
    weights = mask.reshape(n, 1, -1).float()
    count = weights.sum(dim=2)
    if bool((count < 2).any()):
        raise ValueError("a region must cover at least two feature cells")
    mean = (flat * weights).sum(dim=2) / count
    var = (((flat - mean.unsqueeze(2)) ** 2) * weights).sum(dim=2) / (count - 1) + eps
    return Stats(mean.view(n, c, 1, 1).to(feat.dtype), var.sqrt().view(n, c, 1, 1).to(feat.dtype))


def masked_adain(content: Tensor, style: Stats, region: Tensor) -> Tensor:
    """AdaIN of the whole map using the content statistics of `region` only (for spatial control)."""
    return adain_with_stats(content, masked_mean_std(content, region), style)


def cell_coverage(mask: Tensor, cells: tuple[int, int], cell: int = 8) -> Tensor:
    """The fraction of each encoder cell that a (N, 1, H, W) mask covers, shaped (N, 1, *cells).

    relu4_1 sees the image in 8×8 cells (three ceil-mode 2× poolings), so the mask is padded at
    the bottom and right, as the pooling pads, and averaged over exactly those cells.
    """
    height, width = cells[0] * cell, cells[1] * cell
    padded = F.pad(mask, (0, width - mask.shape[-1], 0, height - mask.shape[-2]), mode="replicate")
    return F.avg_pool2d(padded, cell)


def smooth_resize(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """A (N, 1, H, W) mask resized smoothly (antialiased bilinear), for seamless blending."""
    return F.interpolate(mask, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0.0, 1.0)


@dataclass(frozen=True)
class Region:
    """One styled region: the style's statistics and the mask (N, 1, H, W) at image resolution."""

    style: Stats
    mask: Tensor


def spatial_adain(content: Tensor, regions: Sequence[Region], background: Stats | None = None) -> Tensor:
    """Target features with a different style per region (the paper's spatial control).

    Each region is normalised with the content statistics over its own cells (a cell belongs to
    it when the mask covers at least half of it) and the statistics of its whole style image. The
    regions are then combined with smoothly resized masks; what no mask claims takes the background
    style, normalised over the unclaimed cells, or keeps the content where there is no background.
    """
    cells = (int(content.shape[-2]), int(content.shape[-1]))
    weights = [smooth_resize(region.mask, cells) for region in regions]
    overlap = torch.stack(weights).sum(dim=0).clamp(min=1.0) if weights else torch.ones(())
    out = torch.zeros_like(content)
    claimed = torch.zeros_like(content[:, :1])
    for region, weight in zip(regions, weights, strict=True):
        weight = weight / overlap
        member = cell_coverage(region.mask, cells) >= 0.5
        out = out + weight * masked_adain(content, region.style, member)
        claimed = claimed + weight
    rest = (1.0 - claimed).clamp(min=0.0)
    if background is None:
        return out + rest * content
    unclaimed = torch.ones_like(rest, dtype=torch.bool)
    for region in regions:
        unclaimed &= cell_coverage(region.mask, cells) < 0.5
    if int(unclaimed.sum()) < 2:  # the masks cover everything: only soft edges are left
        unclaimed = torch.ones_like(unclaimed)
    return out + rest * masked_adain(content, background, unclaimed)


# A flat channel (a single-colour image, a frame faded to black) has std 0; floored here, its normalised
# values are 0 instead of NaN, and matching to it gives that flat colour. Far below one grey level, so no
# image with any variation is affected.
_MIN_COLOR_STD = 1e-6


def _flat_mean_std(image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    flat = image.reshape(3, -1).double()
    return flat, flat.mean(dim=1, keepdim=True), flat.std(dim=1, keepdim=True).clamp_min(_MIN_COLOR_STD)


def _matrix_sqrt(matrix: Tensor) -> Tensor:
    u, s, v = torch.svd(matrix)
    return u @ torch.diag(s.sqrt()) @ v.T


def _whitened_cov(normalised: Tensor) -> Tensor:
    # A sum, not a mean, plus the identity: exactly what the reference implementations compute.
    return normalised @ normalised.T + torch.eye(3, dtype=normalised.dtype, device=normalised.device)


def coral(source: Tensor, target: Tensor) -> Tensor:
    """Recolour `source` (3, H, W) to the per-channel mean and covariance of `target` (3, H', W').

    Used to match a style image to the content's colours before stylizing ("preserve colour").
    """
    src, src_mean, src_std = _flat_mean_std(source)
    tgt, tgt_mean, tgt_std = _flat_mean_std(target)
    src_norm = (src - src_mean) / src_std
    tgt_norm = (tgt - tgt_mean) / tgt_std
    transfer = _matrix_sqrt(_whitened_cov(tgt_norm)) @ torch.linalg.inv(_matrix_sqrt(_whitened_cov(src_norm)))
    out = (transfer @ src_norm) * tgt_std + tgt_mean
    return out.reshape(source.shape).to(source.dtype)


# YIQ: luminance Y and chroma I, Q (NTSC). Gatys et al. 2017 transfer style on Y only.
_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    dtype=torch.float64,
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _apply_color_matrix(matrix: Tensor, image: Tensor) -> Tensor:
    return torch.einsum("ij,...jhw->...ihw", matrix.to(image.dtype), image)


def rgb_to_yiq(image: Tensor) -> Tensor:
    """(..., 3, H, W) RGB → YIQ."""
    return _apply_color_matrix(_RGB_TO_YIQ, image)


def yiq_to_rgb(image: Tensor) -> Tensor:
    """(..., 3, H, W) YIQ → RGB."""
    return _apply_color_matrix(_YIQ_TO_RGB, image)


def luminance(image: Tensor) -> Tensor:
    """The Y channel of an RGB image, as a (..., 1, H, W) tensor."""
    return rgb_to_yiq(image)[..., :1, :, :]


def gray3(luma: Tensor) -> Tensor:
    """A (..., 1, H, W) luminance as a 3-channel gray RGB image (what the encoder takes)."""
    return luma.expand(*luma.shape[:-3], 3, *luma.shape[-2:]).contiguous()


def match_luminance(style: Tensor, content: Tensor) -> Tensor:
    """The style's luminance scaled to the content's luminance mean and std, as gray RGB."""
    style_y, content_y = luminance(style), luminance(content)
    matched = (style_y - style_y.mean()) / (style_y.std() + EPS) * content_y.std() + content_y.mean()
    return gray3(matched)


def with_content_chroma(result: Tensor, content: Tensor) -> Tensor:
    """The luminance of `result` recombined with the chroma (I, Q) of `content`."""
    chroma = rgb_to_yiq(content)[..., 1:, :, :]
    return yiq_to_rgb(torch.cat([luminance(result), chroma], dim=-3))
