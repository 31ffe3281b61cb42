"""The one-call front door: `adain_cli.stylize(content, style, alpha=…)` and `adain_cli.interpolate(content,
styles, weights=…)` compute what `adain stylize` and `adain interpolate` compute with their default options.

Without a `stylizer`, the pretrained networks are loaded on first use (downloaded into the cache if needed,
on the best device) and kept for later calls; pass `stylizer=Stylizer.from_pretrained(...)` to choose.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image
from torch import Tensor

from adain_cli import defaults
from adain_cli.pictures import Picture
from adain_cli.stylizer import Stylizer


@functools.cache
def default_stylizer() -> Stylizer:
    """The pretrained networks on the best device, loaded once per process."""
    return Stylizer.from_pretrained()


def stylize(
    content: Picture,
    style: Picture,
    *,
    alpha: float = 1.0,
    content_size: int = defaults.CONTENT_SIZE,
    style_size: int = defaults.STYLE_SIZE,
    crop: bool = False,
    preserve_color: str | None = None,
    stylizer: Stylizer | None = None,
) -> Image.Image | np.ndarray | Tensor:
    """`content` in the style of `style` (see `Stylizer.stylize`)."""
    return (stylizer or default_stylizer()).stylize(content, style, alpha=alpha, content_size=content_size,
                                                    style_size=style_size, crop=crop,
                                                    preserve_color=preserve_color)  # fmt: skip


def interpolate(
    content: Picture,
    styles: Sequence[Picture],
    *,
    weights: Sequence[float] | None = None,
    alpha: float = 1.0,
    content_size: int = defaults.CONTENT_SIZE,
    style_size: int = defaults.STYLE_SIZE,
    crop: bool = False,
    preserve_color: str | None = None,
    stylizer: Stylizer | None = None,
) -> Image.Image | np.ndarray | Tensor:
    """`content` in a blend of `styles` (see `Stylizer.interpolate`)."""
    return (stylizer or default_stylizer()).interpolate(content, styles, weights=weights, alpha=alpha,
                                                        content_size=content_size, style_size=style_size, crop=crop,
                                                        preserve_color=preserve_color)  # fmt: skip
