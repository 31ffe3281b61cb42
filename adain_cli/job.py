"""What a job is: its contents, styles, looks and α values, the outputs they make and their names,
the slice of them one process writes, and the manifest that lets the grids be rebuilt from disk."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from PIL import Image
from torch import Tensor

from adain_cli import images
from adain_cli.errors import AdainError
from adain_cli.files import atomic_path
from adain_cli.grid import Labels
from adain_cli.images import Source
from adain_cli.looks import ColorMethod, Look
from adain_cli.report import Record, Status

MANIFEST_GLOB = ".adain-job-*.json"


@dataclass(frozen=True)
class ImageOptions:
    content_size: int = 512
    style_size: int = 512
    crop: bool = False
    ext: str = "png"
    quality: int = 95
    max_pixels: int = images.DEFAULT_MAX_PIXELS


# Extra images written beside a content's outputs, as (name, image): e.g. spatial's mask preview.
CompanionFn = Callable[[Source, Tensor], list[tuple[str, Image.Image]]]


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
        return images.output_ext(self.images.ext, content.path)

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

    def manifest(self) -> dict[str, object]:
        """What `grid.grids_from_manifest` needs to rebuild this job's grids from the files on disk."""
        rel = lambda path: str(path.relative_to(self.output_dir))  # noqa: E731
        return {
            "version": 1,
            "contents": [str(c.path.resolve()) for c in self.contents],
            "headers": [str(self.styles[look.styles[0]].path.resolve()) if len(look.styles) == 1 else None
                        for look in self.looks],
            "cells": {f"{a:.2f}": [[rel(self.output_path(c, look.name, a)) for look in self.looks]
                                   for c in self.contents] for a in self.alphas},
            "grids": {f"{a:.2f}": rel(self.grid_path(a)) for a in self.alphas},
            "grid_cell": self.grid_cell,
            "labels": self._manifest_labels(),
            "images": asdict(self.images),
        }  # fmt: skip

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

    def _manifest_labels(self) -> dict[str, list[str]] | None:
        if not self.grid_labels:
            return None
        return {"columns": [look.label for look in self.looks], "rows": [self.row_label(c) for c in self.contents]}

    def grid_labels_for(self, alpha: float) -> Labels | None:
        """The words on the α grid: look and content names, and α in the corner."""
        if not self.grid_labels:
            return None
        rows = tuple(self.row_label(content) for content in self.contents)
        return Labels(columns=tuple(look.label for look in self.looks), rows=rows, corner=f"alpha {alpha:.2f}")

    @staticmethod
    def row_label(content: Source) -> str:
        return str(content.rel_dir / content.label) if content.rel_dir != Path() else content.label

    def grid_path(self, alpha: float) -> Path:
        method = f"_{self.color.value}" if self.color else ""
        ext = "png" if self.images.ext == "auto" else self.images.ext
        return self.output_dir / f"grid_{self.command}{method}_{self.key}_alpha{alpha:.2f}.{ext}"

    @property
    def manifest_path(self) -> Path:
        return self.output_dir / MANIFEST_GLOB.replace("*", self.key)

    def wants_grids(self) -> bool:
        return self.grid and self.sheet is None and (len(self.contents) > 1 or len(self.looks) > 1)

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


def write_manifest(job: Job) -> None:
    with atomic_path(job.manifest_path) as tmp:
        tmp.write_text(json.dumps(job.manifest(), indent=1), encoding="utf-8")


@dataclass(frozen=True)
class Manifest:
    """What a job recorded for rebuilding its grids: paths of contents and column headers, and per α
    the output file of every cell and the grid's file (both relative to the output folder)."""

    path: Path
    contents: list[str]
    headers: list[str | None]
    cells: dict[str, list[list[str]]]
    grids: dict[str, str]
    grid_cell: int
    images: ImageOptions
    labels: dict[str, list[str]] | None = None  # "columns" and "rows" when the sheets are labelled


def find_manifests(output_dir: Path) -> list[Path]:
    return sorted(output_dir.glob(MANIFEST_GLOB))


def read_manifest(path: Path) -> Manifest:
    """A job manifest, checked to have what a grid rebuild needs; one line naming the file if not."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise AdainError(f"{path}: cannot read the job manifest ({error.strerror or error})") from None
    except ValueError as error:
        raise AdainError(f"{path}: not a valid job manifest ({error}); run the job again to rewrite it") from None
    try:
        manifest = Manifest(path, list(raw["contents"]), list(raw["headers"]), dict(raw["cells"]), dict(raw["grids"]),
                            int(raw["grid_cell"]), ImageOptions(**raw["images"]), raw.get("labels"))  # fmt: skip
        rows, cols = len(manifest.contents), len(manifest.headers)
        shapes_agree = all(
            len(grid) == rows and all(len(row) == cols for row in grid) for grid in manifest.cells.values()
        )
        names_are_text = all(isinstance(name, str) for grid in manifest.cells.values() for row in grid for name in row)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise AdainError(f"{path}: not a valid job manifest (bad or missing {error}); run the job again") from None
    if not (shapes_agree and names_are_text and set(manifest.grids) == set(manifest.cells)):
        raise AdainError(f"{path}: not a valid job manifest (its cells do not match its contents); run the job again")
    return manifest
