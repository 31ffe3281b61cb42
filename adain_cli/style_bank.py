"""The styles of a job: each file read and encoded once, only its statistics kept (the images only where
colours are preserved, or for the grids' column headers); a style from a style bank is not read at all, its
statistics come from the bank (and its grid column has no picture in its header, only its name)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import cast

from PIL import Image
from torch import Tensor

from adain_cli import images
from adain_cli.banks import read_bank
from adain_cli.errors import ImageError
from adain_cli.images import LoadedImage
from adain_cli.job import Job
from adain_cli.looks import ColorMethod, StyleLookup
from adain_cli.ops import Stats
from adain_cli.stylizer import Stylizer

# Dataset mode with preserved colours reads a drawn style again for each content that draws it; this many stay.
_STYLE_IMAGES_KEPT = 64


class StyleBank:
    """The styles a job's shard uses, each file read once (the same file given twice counts once).

    Without preserved colours only their statistics are kept, encoded once per job: 80,000 styles take about
    4 KB each. With colours preserved each content recolours the style images, so they are kept too; in
    dataset mode (a few drawn per content) a bounded number of them, read again when needed.
    """

    def __init__(self, stylizer: Stylizer, job: Job, needed: set[int], *, headers: bool) -> None:
        """Encode the `needed` styles; with `headers`, read every style of the job's looks for the grids."""
        self.stylizer, self.job = stylizer, job
        self.errors: dict[int, str] = {}
        self.headers: dict[int, Image.Image] = {}  # column headers of the grids, when there are grids
        self._first: dict[int, int] = {}  # style index -> index of the first style with the same file
        self._stats: dict[int, Stats] = {}
        kept = _STYLE_IMAGES_KEPT if job.styles_per_content else None
        self._image = functools.lru_cache(maxsize=kept)(self._load)
        by_key: dict[object, int] = {}
        every = {k for look in job.looks for k in look.styles} if headers else set()
        for k in sorted(needed | every):
            self._first[k] = by_key.setdefault(job.styles[k].key, k)
        encode = {self._first[k] for k in needed} if job.color is None else set()
        banked = {first for first in by_key.values() if job.styles[first].bank is not None}
        self._read_banks(sorted(banked & encode))
        for first in by_key.values():
            if first in banked:  # its statistics come from the bank; no image to read or to head a grid
                continue
            try:
                image = self._image(first)
            except ImageError as error:
                self.errors[first] = str(error)
                continue
            if headers:
                self.headers[first] = images.to_pil(image.rgb)
            if first in encode:
                self._stats[first] = stylizer.style_stats(image.rgb)
            if job.color is None:
                self._image.cache_clear()
        self.errors |= {k: self.errors[first] for k, first in self._first.items() if first in self.errors}

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
                    self.errors[k] = errors[index]
                else:
                    self._stats[k] = Stats(stats.mean[index : index + 1], stats.std[index : index + 1])

    def _load(self, k: int) -> LoadedImage:
        options = self.job.images
        return images.load(self.job.styles[k].path, options.style_size, crop=options.crop,
                           max_pixels=options.max_pixels, enlarge=options.enlarge)  # fmt: skip

    def header(self, k: int) -> Image.Image | None:
        return self.headers.get(self._first[k])

    def stats(self, k: int) -> Stats:
        return self._stats[self._first[k]]

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
