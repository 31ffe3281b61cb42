"""The manifest a job leaves in its output folder, and the grids rebuilt from it.

A job with grids records its contents, column headers and, per α, the file of every cell and of the grid
(`.adain-job-{job id}.json`). After `--shard` runs, or under torchrun, `adain grid` builds the grids from it
and the files on disk, pixel for pixel as one process fills them in memory.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from adain_cli import images
from adain_cli.errors import AdainError
from adain_cli.files import atomic_path
from adain_cli.grid import GridCanvas, Labels
from adain_cli.job import ImageOptions, Job

MANIFEST_GLOB = ".adain-job-*.json"


def manifest_path(job: Job) -> Path:
    return job.output_dir / MANIFEST_GLOB.replace("*", job.key)


def manifest_of(job: Job) -> dict[str, object]:
    """What `grids_of_manifest` needs to rebuild this job's grids from the files on disk."""
    rel = lambda path: str(path.relative_to(job.output_dir))  # noqa: E731
    return {
        "version": 1,
        "contents": [str(c.path.resolve()) for c in job.contents],
        "headers": [str(job.styles[look.styles[0]].path.resolve()) if len(look.styles) == 1 else None
                    for look in job.looks],
        "cells": {f"{a:.2f}": [[rel(job.output_path(c, look.name, a)) for look in job.looks]
                               for c in job.contents] for a in job.alphas},
        "grids": {f"{a:.2f}": rel(job.grid_path(a)) for a in job.alphas},
        "grid_cell": job.grid_cell,
        "labels": _labels(job),
        "images": asdict(job.images),
    }  # fmt: skip


def _labels(job: Job) -> dict[str, list[str]] | None:
    if not job.grid_labels:
        return None
    return {"columns": [look.label for look in job.looks], "rows": [job.row_label(c) for c in job.contents]}


def write_manifest(job: Job) -> None:
    with atomic_path(manifest_path(job)) as tmp:
        tmp.write_text(json.dumps(manifest_of(job), indent=1), encoding="utf-8")


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


def grids_from_manifest(output_dir: Path, cell: int | None = None) -> list[Path]:
    """Build the grids of every job recorded in `output_dir` from the files on disk (after `--shard`
    runs, or under torchrun).

    The result is pixel for pixel what a single-process run fills in memory: the same thumbnails of
    the same saved files and the same prepared content and style headers; a missing cell stays grey.
    """
    manifests = find_manifests(output_dir)
    if not manifests:
        raise AdainError(f"{output_dir}: no job manifest to build grids from (run a job with grids into it first)")
    return [path for manifest in manifests for path in grids_of_manifest(manifest, cell)]


def grids_of_manifest(manifest_path: Path, cell: int | None = None) -> list[Path]:
    """The grids of the one job recorded in `manifest_path`."""
    manifest = read_manifest(manifest_path)
    output_dir, options = manifest_path.parent, manifest.images
    cell = cell or manifest.grid_cell
    contents, headers = manifest.contents, manifest.headers
    if not GridCanvas.fits(len(contents), len(headers), cell, labels=manifest.labels is not None):
        raise AdainError(f"grids of {len(contents)}×{len(headers)} cells of {cell} px are over the image size limit")

    def header(source: str | None, size: int) -> Image.Image | None:
        if source is None:
            return None
        with contextlib.suppress(AdainError):
            return images.to_pil(images.load(Path(source), size, crop=options.crop, max_pixels=options.max_pixels).rgb)
        return None

    row_headers = [header(c, options.content_size) for c in contents]
    col_headers = [header(h, options.style_size) for h in headers]
    written = []
    for alpha, rows in manifest.cells.items():
        labels = None
        if manifest.labels is not None:
            words = manifest.labels
            labels = Labels(tuple(words["columns"]), tuple(words["rows"]), f"alpha {float(alpha):.2f}")
        canvas = GridCanvas(len(contents), len(headers), cell, labels=labels)
        for index, image in enumerate(col_headers):
            if image is not None:
                canvas.put_col_header(index, image)
        for row, (image, cells) in enumerate(zip(row_headers, rows, strict=True)):
            if image is not None:
                canvas.put_row_header(row, image)
            for col, relative in enumerate(cells):
                with contextlib.suppress(OSError, ValueError), Image.open(output_dir / relative) as result:
                    canvas.put(row, col, result)
        target = output_dir / manifest.grids[alpha]
        images.save_pil(canvas.image, target, options.quality)
        written.append(target)
    return written
