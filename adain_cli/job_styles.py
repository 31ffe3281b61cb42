"""The styles of a job: each file read and encoded once, as the contents first need it, only its statistics kept
(the images only where colours are preserved, or for the grids' column headers); a style from a style bank is
not read at all, its statistics come from the bank (and its grid column has no picture in its header, only its
name)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import torch
from PIL import Image
from torch import Tensor

from adain_cli import images, ops
from adain_cli.banks import read_bank
from adain_cli.device import auto_batch_size, is_out_of_memory, is_small_image
from adain_cli.errors import ImageError
from adain_cli.images import LoadedImage
from adain_cli.job import Job
from adain_cli.looks import ColorMethod, StyleLookup
from adain_cli.ops import Stats
from adain_cli.stylizer import Stylizer

# Dataset mode with preserved colours reads a drawn style again for each content that draws it; this many stay.
_STYLE_IMAGES_KEPT = 64


class JobStyles:
    """The styles a job's shard uses, each file read once (the same file given twice counts once).

    A style is read and encoded when `prepare` is first asked for it (the runner asks for the styles of the
    contents about to be made), so the first output does not wait for thousands of drawn styles; small styles of
    one size are encoded together, as small contents are. Without preserved colours only their statistics are
    kept: 80,000 styles take about 4 KB each. With colours preserved each content recolours the style images, so
    they are kept too; in dataset mode (a few drawn per content) a bounded number of them, read again when needed.
    """

    def __init__(self, stylizer: Stylizer, job: Job, needed: set[int], *, headers: bool) -> None:
        """The `needed` styles, to be encoded as they are asked for (those from banks are read now); with
        `headers`, every style of the job's looks is read now, for the grids."""
        self.stylizer, self.job = stylizer, job
        self.errors: dict[int, str] = {}
        self.headers: dict[int, Image.Image] = {}  # column headers of the grids, when there are grids
        self._first: dict[int, int] = {}  # style index -> index of the first style with the same file
        self._members: dict[int, list[int]] = {}  # first style index -> every style index with that file
        self._stats: dict[int, Stats] = {}
        self._met: set[int] = set()  # first style indices already read (or failed)
        self._headers = headers
        kept = _STYLE_IMAGES_KEPT if job.styles_per_content else None
        self._image = functools.lru_cache(maxsize=kept)(self._load)
        by_key: dict[object, int] = {}
        every = {k for look in job.looks for k in look.styles} if headers else set()
        for k in sorted(needed | every):
            self._first[k] = first = by_key.setdefault(job.styles[k].key, k)
            self._members.setdefault(first, []).append(k)
        self._encode = {self._first[k] for k in needed} if job.color is None else set()
        banked = {first for first in by_key.values() if job.styles[first].bank is not None}
        self._read_banks(sorted(banked & self._encode))
        self._met |= banked  # their statistics come from the bank; no image to read or to head a grid
        if headers:
            self.prepare(self._first)

    @property
    def group_size(self) -> int:
        """How many small styles of one size are encoded in one pass: as many as small contents (--batch-size 1:
        each alone)."""
        return self.job.batch_size or auto_batch_size(self.stylizer.device, 1)

    def prepare(self, styles: Iterable[int]) -> dict[int, str]:
        """Read, and without preserved colours encode, those of `styles` not read yet; the errors of those that
        could not be read, by style index (every index of a failed file)."""
        failed: dict[int, str] = {}
        small: dict[tuple[int, int], list[tuple[int, Tensor]]] = {}  # by size: styles waiting to go together
        for first in sorted({self._first[k] for k in styles} - self._met):
            self._met.add(first)
            try:
                image = self._image(first)
            except ImageError as error:
                failed |= dict.fromkeys(self._members[first], str(error))
                continue
            if self._headers:
                self.headers[first] = images.to_pil(image.rgb)
            if first in self._encode:
                if is_small_image(image.size[0] * image.size[1]):
                    waiting = small.setdefault(image.size, [])
                    waiting.append((first, image.rgb))
                    if len(waiting) == self.group_size:
                        self._encode_together(small.pop(image.size))
                else:
                    self._stats[first] = self.stylizer.style_stats(image.rgb)
            if self.job.color is None:
                self._image.cache_clear()
        for waiting in small.values():
            self._encode_together(waiting)
        self.errors |= failed
        return failed

    def _encode_together(self, styles: list[tuple[int, Tensor]]) -> None:
        """The statistics of small styles of one size from one encoder pass (each alone where there is one, or
        where the pass does not fit)."""
        height, width = styles[0][1].shape[1:]
        if len(styles) > 1 and self.stylizer.tile_plan(height, width, batch=len(styles)) is None:
            try:
                stats = ops.mean_std(self.stylizer.encode(torch.stack([rgb for _, rgb in styles])))
            except (RuntimeError, MemoryError) as error:
                if not is_out_of_memory(error):
                    raise
            else:
                for index, (first, _) in enumerate(styles):
                    self._stats[first] = Stats(stats.mean[index : index + 1], stats.std[index : index + 1])
                return
        for first, rgb in styles:
            self._stats[first] = self.stylizer.style_stats(rgb)

    def _read_banks(self, styles: list[int]) -> None:
        """The statistics of `styles` (all from banks) read from their banks, each bank checked to be of
        this encoder; a style the bank could not encode keeps its error."""
        by_bank: dict[Path, list[int]] = {}
        for k in styles:
            by_bank.setdefault(cast(Path, self.job.styles[k].bank), []).append(k)
        for bank, members in by_bank.items():
            stats, errors = read_bank(
                bank, self.stylizer.encoder_sha256, [self.job.styles[k].bank_row for k in members]
            )
            for index, k in enumerate(members):
                if errors[index]:
                    self.errors |= dict.fromkeys(self._members[k], errors[index])
                else:
                    self._stats[k] = Stats(stats.mean[index : index + 1], stats.std[index : index + 1])

    def _load(self, k: int) -> LoadedImage:
        options = self.job.images
        return images.load(self.job.styles[k].path, options.style_size, crop=options.crop,
                           max_pixels=options.max_pixels, enlarge=options.enlarge)  # fmt: skip

    def header(self, k: int) -> Image.Image | None:
        return self.headers.get(self._first[k])

    def stats(self, k: int) -> Stats:
        first = self._first[k]
        if first not in self._met:  # a style not prepared for: read and encoded now, alone
            self.prepare([k])
        return self._stats[first]

    def lookup_for(self, color: ColorMethod | None, content: Tensor) -> StyleLookup:
        """Style statistics for one content: shared by the job, or recoloured to this content."""
        if color is None:
            return self.stats
        cache: dict[int, Stats] = {}

        def recolored(k: int) -> Stats:
            first = self._first[k]
            if first not in cache:
                style = color.recolored_style(self._image(first).rgb, content)
                cache[first] = self.stylizer.style_stats(style)
            return cache[first]

        return recolored
