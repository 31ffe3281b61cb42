"""What a job is: its contents, styles, looks and α values, the outputs they make and their names,
and the slice of them one process writes (`manifest.py` records a job for rebuilding its grids)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from adain_cli import defaults
from adain_cli.errors import AdainError
from adain_cli.grid import GRID_ROWS, Labels, page_path, page_ranges, rows_per_page
from adain_cli.inputs import Source, output_ext
from adain_cli.looks import ColorMethod, Look
from adain_cli.report import Record, Status

if TYPE_CHECKING:
    from torch import Tensor


@dataclass(frozen=True)
class ImageOptions:
    content_size: int = 512
    style_size: int = 512
    crop: bool = False
    ext: str = "png"
    quality: int = 95
    max_pixels: int = defaults.MAX_PIXELS


# Extra images written beside a content's outputs, as (name, image): e.g. spatial's mask preview.
CompanionFn = Callable[[Source, "Tensor"], list[tuple[str, Image.Image]]]


@dataclass(frozen=True)
class VideoOptions:
    """How clips (videos, animated images) are written: container, a frame limit, temporal stability."""

    ext: str | None = None  # None: the content's own container
    max_frames: int | None = None  # a quick preview of the first frames
    stabilize: float = 0.8  # Stabilizer strength for videos; 0 turns it off


@dataclass(frozen=True)
class Output:
    """One file a job writes for a content: a single result, or a sheet of several renders."""

    path: Path
    renders: tuple[tuple[int, float], ...]  # (look index, α), row-major on a sheet


@dataclass(frozen=True)
class Job:
    """Everything `run_job` needs; built by a command from its options (the engine never sees click).

    With `sheet` = (rows, cols) each content gets one sheet per α holding every look as a cell
    (`{content}_{sheet_name}.{ext}`), instead of one file per look and a contents×looks grid.
    """

    contents: tuple[Source, ...]
    styles: tuple[Source, ...]
    looks: tuple[Look, ...]
    output_dir: Path
    alphas: tuple[float, ...] = (1.0,)
    images: ImageOptions = ImageOptions()
    grid: bool = True
    grid_cell: int = 256
    grid_labels: bool = True  # style and content names, α, weights and failures written on the sheets
    grid_rows: int = GRID_ROWS  # contents on one page of a grid; a taller sheet is split into pages
    skip_existing: bool = False
    batch_size: int = 0  # decodes per call; 0 picks one for the device (auto_batch_size)
    sheet: tuple[int, int] | None = None
    sheet_name: str = "sheet"
    color: ColorMethod | None = None  # keep the content's colours this way
    companions: CompanionFn | None = None
    shard: tuple[int, int] = (0, 1)  # (index, count): this process writes one contiguous slice of the outputs
    command: str = "stylize"  # the command that made the looks, for grid names and reports
    video: VideoOptions = VideoOptions()

    @cached_property
    def key(self) -> str:
        """A short id of what this job writes: its contents and looks. Re-running the same job gives the same
        key (so it resumes); another job into the same folder gets its own grids and manifest."""
        identity = [
            self.command,
            self.color.value if self.color else None,
            self.sheet_name if self.sheet else None,
            [look.name for look in self.looks],
            [str(content.rel_dir / content.label) for content in self.contents],
        ]
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:8]

    def _suffix(self, alpha: float) -> str:
        method = f"_{self.color.value}" if self.color else ""
        return method + (f"_alpha{alpha:.2f}" if len(self.alphas) > 1 else "")

    def output_path(self, content: Source, name: str, alpha: float) -> Path:
        return self.companion_path(content, f"{name}{self._suffix(alpha)}")

    def companion_path(self, content: Source, name: str) -> Path:
        return self.output_dir / content.rel_dir / f"{content.label}_{name}.{self._ext(content)}"

    def _ext(self, content: Source) -> str:
        if content.clip:
            return self.video.ext or content.path.suffix.lower().lstrip(".")
        return output_ext(self.images.ext, content.path)

    def outputs(self, content: Source) -> list[Output]:
        if self.sheet is not None:
            looks = range(len(self.looks))
            return [
                Output(self.output_path(content, self.sheet_name, a), tuple((k, a) for k in looks)) for a in self.alphas
            ]
        return [
            Output(self.output_path(content, look.name, alpha), ((col, alpha),))
            for col, look in enumerate(self.looks)
            for alpha in self.alphas
        ]

    def shard_outputs(self) -> dict[int, list[Output]]:
        """This shard's outputs by content index: a contiguous slice of all outputs in content order, so
        shards balance exactly and a content is encoded by at most two of them."""
        every = [(row, output) for row, content in enumerate(self.contents) for output in self.outputs(content)]
        index, count = self.shard
        mine: dict[int, list[Output]] = {}
        for row, output in every[len(every) * index // count : len(every) * (index + 1) // count]:
            mine.setdefault(row, []).append(output)
        return mine

    def record(
        self, row: int, output: Output, status: Status, *, error: str = "", seconds: float = 0.0, **extra: Any
    ) -> Record:
        """What `output` of content `row` is, for reports: its content, styles with weights, α and look."""
        looks = [self.looks[look] for look, _ in output.renders]
        # A sheet's cells blend the same styles with different weights: it has no one weight per style.
        styles = {k: None if look.weights is None or len(looks) > 1 else look.weights[index]
                  for look in looks for index, k in enumerate(look.styles)}  # fmt: skip
        return Record(
            path=output.path,
            content=self.contents[row].path,
            styles=tuple((self.styles[k].path, weight) for k, weight in styles.items()),
            alpha=output.renders[0][1],
            command=self.command,
            method=self.color.value if self.color else None,
            status=status,
            error=error,
            seconds=seconds,
            **extra,
        )

    def grid_labels_for(self, alpha: float, page: range | None = None) -> Labels | None:
        """The words on (a page of) the α grid: look and content names, and α in the corner."""
        if not self.grid_labels:
            return None
        rows = tuple(self.row_label(self.contents[row]) for row in page or range(len(self.contents)))
        return Labels(columns=tuple(look.label for look in self.looks), rows=rows, corner=f"alpha {alpha:.2f}")

    @staticmethod
    def row_label(content: Source) -> str:
        return str(content.rel_dir / content.label) if content.rel_dir != Path() else content.label

    def grid_path(self, alpha: float) -> Path:
        """The α grid's name (of its first page with a number when it has several); always a PNG, whatever
        --ext is (PNG holds any sheet within the pixel limit)."""
        method = f"_{self.color.value}" if self.color else ""
        return self.output_dir / f"grid_{self.command}{method}_{self.key}_alpha{alpha:.2f}.png"

    def wants_grids(self) -> bool:
        return self.grid and self.sheet is None and (len(self.contents) > 1 or len(self.looks) > 1)

    def grid_pages(self) -> list[range]:
        """The rows of contents on each page of a grid, decided before any work: none when even one row of
        looks is over the image size limit, or the job writes no grids (a shard: `adain grid` does)."""
        if not (self.wants_grids() and self.shard == (0, 1)):
            return []
        per_page = rows_per_page(len(self.looks), self.grid_cell, labels=self.grid_labels, most=self.grid_rows)
        return page_ranges(len(self.contents), per_page)

    def grid_paths(self, alpha: float) -> list[Path]:
        pages = self.grid_pages()
        return [page_path(self.grid_path(alpha), page, len(pages)) for page in range(len(pages))]

    def check_names(self) -> None:
        """Refuse a job in which two outputs would get the same file name."""
        seen: dict[Path, Path] = {}
        for content in self.contents:
            for output in self.outputs(content):
                if output.path in seen:
                    raise AdainError(
                        f"two outputs would both be written to {output.path}: from {seen[output.path]} "
                        f"and from {content.path}"
                    )
                seen[output.path] = content.path
