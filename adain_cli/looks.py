"""Looks: the ways of turning a content's features into target features (one style, a weighted blend,
regions…), and the colour-preserving methods that change what the encoder sees."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import TYPE_CHECKING

from adain_cli import blends
from adain_cli.inputs import Source

if TYPE_CHECKING:  # a job's looks are planned without torch; ops is imported where tensors are met
    from torch import Tensor

    from adain_cli.images import LoadedImage
    from adain_cli.ops import Stats


@dataclass
class Content:
    """One content image as the looks see it: its pixels, features and their statistics."""

    source: Source
    image: LoadedImage
    feat: Tensor
    stats: Stats
    notes: list[str] = field(default_factory=list)  # what a look wants the user told about this content


StyleLookup = Callable[[int], "Stats"]
TargetFn = Callable[[Content, StyleLookup], "Tensor"]


@dataclass(frozen=True)
class Look:
    """One way of styling every content: an output-name part, the styles it needs, its target.

    `target(content, style)` returns the target features; `style(k)` gives the statistics of
    style k, encoded once per job (or once per content when colours are preserved). `label` is what
    a grid writes under the look's column (a style name, or the blend's weights).
    """

    name: str
    styles: tuple[int, ...]
    target: TargetFn
    label: str = ""
    weights: tuple[float, ...] | None = None  # each style's share of a blend; None where regions share them


def single_style_target(content: Content, style: StyleLookup, index: int) -> Tensor:
    from adain_cli import ops

    return ops.adain_with_stats(content.feat, content.stats, style(index))


def interpolation_target(content: Content, style: StyleLookup, weights: tuple[float, ...]) -> Tensor:
    from adain_cli import ops

    stats = [style(k) for k in range(len(weights))]
    return ops.interpolate(content.feat, stats, weights, content_stats=content.stats)


def weights_label(styles: Sequence[Source], weights: Sequence[float]) -> str:
    """`a 30% · b 70%`: a blend's normalised weights in whole percents, short enough for a grid cell's label."""
    return " · ".join(f"{style.label} {round(100 * w)}%" for style, w in zip(styles, weights, strict=True))


def interpolation_look(styles: Sequence[Source], weights: Sequence[float], *, name: str | None = None) -> Look:
    """Every style blended with `weights` (normalised to sum 1).

    Named `interpolated_{s1}-{s2}…` for equal weights, else with each weight in percent
    (`interpolated_ink30-waves70`), so blends with other weights never share a file name.
    """
    normalised = tuple(blends.normalize_weights(weights))
    if name is None:
        equal = max(normalised) - min(normalised) < 1e-9
        parts = [
            style.label if equal else f"{style.label}{_percent(w)}" for style, w in zip(styles, normalised, strict=True)
        ]
        name = "interpolated_" + "-".join(parts)
    target = partial(interpolation_target, weights=normalised)
    return Look(name, tuple(range(len(styles))), target, weights_label(styles, normalised), normalised)


def sheet_looks(styles: Sequence[Source], steps: int) -> tuple[list[Look], tuple[int, int], str]:
    """The cells of an interpolation sheet between 2 styles (a strip of `steps`) or 4 (`steps`×`steps`):
    their looks, the sheet's (rows, cols), and its name. Raises ValueError for another number of styles."""
    shape, cell_weights = blends.sheet_weights(len(styles), steps)
    name = "interpolated_" + "-".join(style.label for style in styles)
    looks = [interpolation_look(styles, weights, name=f"{name}_cell{i}") for i, weights in enumerate(cell_weights)]
    return looks, shape, f"{name}_sheet"


def _percent(weight: float) -> str:
    """A weight in percent with up to two decimals and no trailing zeros: 30, 33.33, 0.5."""
    return f"{100 * weight:.2f}".rstrip("0").rstrip(".")


def style_looks(styles: Sequence[Source]) -> list[Look]:
    """One look per style: `stylized_{style}` (what `adain stylize` does)."""
    return [
        Look(f"stylized_{style.label}", (k,), partial(single_style_target, index=k), style.label, (1.0,))
        for k, style in enumerate(styles)
    ]


class ColorMethod(str, Enum):
    """How a content's own colours are kept (`--preserve-color`)."""

    CORAL = "coral"  # recolour the style image to the content's colour statistics, then stylize
    LUMINANCE = "luminance"  # stylize the luminance only, then put the content's chroma back

    def encoder_input(self, content: Tensor) -> Tensor:
        """What the encoder sees of a content image."""
        from adain_cli import ops

        return ops.gray3(ops.luminance(content)) if self is ColorMethod.LUMINANCE else content

    def recolored_style(self, style: Tensor, content: Tensor) -> Tensor:
        """The style image as it is encoded for `content`."""
        from adain_cli import ops

        return ops.coral(style, content) if self is ColorMethod.CORAL else ops.match_luminance(style, content)

    def restore(self, result: Tensor, content: Tensor) -> Tensor:
        """A decoded result with what the method kept of the content put back."""
        from adain_cli import ops

        return ops.with_content_chroma(result, content) if self is ColorMethod.LUMINANCE else result


def encoder_input(color: ColorMethod | None, rgb: Tensor) -> Tensor:
    """What the encoder sees of a content image: `color`'s view of it, or the image itself."""
    return color.encoder_input(rgb) if color else rgb
