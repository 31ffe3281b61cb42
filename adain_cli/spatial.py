"""Spatial control: a different style in each masked region of every content image.

Styles pair with masks in order; one style more than masks is the background. Masks are either
the same files for every content (`--mask`) or looked up per content by file stem (`--mask-dir`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from adain_cli.errors import ImageError
from adain_cli.inputs import Source, is_image_name
from adain_cli.looks import Content, Look, StyleLookup
from adain_cli.sheets.drawing import with_legend

if TYPE_CHECKING:  # a spatial job is planned without torch; the tensor code imports it where it runs
    from PIL import Image
    from torch import Tensor

    from adain_cli.images import LoadedImage

# Tints for `--preview`, one per region in order; the background is grey.
PREVIEW_COLORS = [(230, 60, 60), (60, 120, 230), (60, 190, 90), (235, 190, 40), (170, 80, 200), (40, 200, 200)]
BACKGROUND_TINT = (128, 128, 128)


@dataclass(frozen=True)
class MaskSpec:
    """Where the masks come from: fixed files, or one folder per region searched by content stem."""

    files: tuple[Path, ...] = ()
    folders: tuple[Path, ...] = ()

    @property
    def regions(self) -> int:
        return len(self.files) or len(self.folders)

    def has_background(self, styles: int) -> bool:
        """Whether the last of `styles` styles is the background (one style more than masks)."""
        return styles > self.regions

    def every_file(self) -> tuple[Path, ...]:
        """Every file a mask may be read from (for the check that no output replaces one)."""
        in_folders = (path for folder in self.folders for path in folder.iterdir() if path.is_file())
        return (*self.files, *in_folders)

    def paths_for(self, content: Source) -> list[Path]:
        if self.files:
            return list(self.files)
        return [_mask_in_folder(folder, content.path) for folder in self.folders]


def _mask_in_folder(folder: Path, content: Path) -> Path:
    """The one image in `folder` whose stem is exactly the content's (any image extension)."""
    matches = sorted(p for p in folder.iterdir() if p.stem == content.stem and is_image_name(p) and p.is_file())
    if not matches:
        raise ImageError(f"{content}: no mask named {content.stem}.* (an image) in {folder}")
    if len(matches) > 1:
        raise ImageError(f"{content}: two masks match it in {folder}: {matches[0].name} and {matches[1].name}")
    return matches[0]


class MaskCache:
    """The masks of the content being processed, read once and shared by its target and preview."""

    def __init__(self, spec: MaskSpec, max_pixels: int) -> None:
        self.spec, self.max_pixels = spec, max_pixels
        self._key: tuple[Path, tuple[int, int], tuple[int, int] | None] | None = None
        self._masks: list[Tensor] = []
        self.notes: list[str] = []

    def masks(self, source: Source, image: LoadedImage) -> list[Tensor]:
        """The masks at `image`'s size, cropped as it was cropped (`--crop`) rather than squashed."""
        key = (source.path, image.size, image.cropped_from)
        if self._key != key:
            from adain_cli import images

            loaded = [images.load_mask(path, image.size, self.max_pixels, cropped_from=image.cropped_from)
                      for path in self.spec.paths_for(source)]  # fmt: skip
            self._masks = [mask for mask, _ in loaded]
            self.notes = [note for _, notes in loaded for note in notes]
            self._key = key
        return self._masks


def spatial_target(content: Content, style: StyleLookup, masks: MaskCache, background: bool) -> Tensor:
    """Target features of one content: each region with its style, the rest with the background."""
    from adain_cli import ops

    region_masks = masks.masks(content.source, content.image)
    content.notes.extend(masks.notes)
    regions = []
    cells = (int(content.feat.shape[-2]), int(content.feat.shape[-1]))
    for k, mask in enumerate(region_masks):
        batch_mask = mask[None].to(content.feat.device)
        if int((ops.cell_coverage(batch_mask, cells) >= 0.5).sum()) < 2:
            content.notes.append(f"{content.source.path}: mask {k + 1} covers no feature cell; style {k + 1} skipped")
            continue
        regions.append(ops.Region(style(k), batch_mask))
    return ops.spatial_adain(content.feat, regions, style(len(region_masks)) if background else None)


def spatial_look(styles: list[Source], masks: MaskCache) -> Look:
    background = masks.spec.has_background(len(styles))
    target = partial(spatial_target, masks=masks, background=background)
    return Look("spatial", tuple(range(len(styles))), target, spatial_label(styles, background))


def spatial_label(styles: list[Source], background: bool) -> str:
    """`fg · bg (background)`: the styles of a spatial look, in the order of their masks, for its grid column."""
    names = [style.label for style in styles]
    if background:
        names[-1] += " (background)"
    return " · ".join(names)


def legend(styles: list[Source], spec: MaskSpec) -> list[tuple[tuple[int, int, int], str]]:
    """Which tint is which style and mask, in the preview's colours."""
    masks = [path.name for path in spec.files] or [f"{folder.name}/" for folder in spec.folders]
    entries = [(region_tint(k), f"{styles[k].label} ← mask {mask}") for k, mask in enumerate(masks)]
    if spec.has_background(len(styles)):
        entries.append((BACKGROUND_TINT, f"{styles[-1].label} ← background (what no mask claims)"))
    return entries


def region_tint(k: int) -> tuple[int, int, int]:
    return PREVIEW_COLORS[k % len(PREVIEW_COLORS)]


def preview_companions(styles: list[Source], masks: MaskCache) -> Callable[[Source, LoadedImage], list]:
    """What `--preview` adds beside each content's output: `{content}_spatial_preview` with the regions tinted
    and a legend under it."""
    background = masks.spec.has_background(len(styles))
    entries = legend(styles, masks.spec)
    return lambda source, image: [("spatial_preview", with_legend(preview(masks, background, source, image), entries))]


def preview(masks: MaskCache, background: bool, source: Source, loaded: LoadedImage) -> Image.Image:
    """The content with each region tinted in its colour (and the background grey), to check masks."""
    import torch

    from adain_cli import images

    image = loaded.rgb
    region_masks = masks.masks(source, loaded)
    tints = [(mask, region_tint(k)) for k, mask in enumerate(region_masks)]
    if background:
        claimed = torch.stack(region_masks).sum(dim=0) if region_masks else torch.zeros_like(image[:1])
        tints.append(((1.0 - claimed).clamp(0.0, 1.0), BACKGROUND_TINT))
    canvas = image.clone()
    for mask, color in tints:
        share = mask * 0.5
        canvas = canvas * (1 - share) + torch.tensor(color).view(3, 1, 1) / 255.0 * share
    return images.to_pil(canvas)
