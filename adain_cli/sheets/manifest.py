"""The manifest a job leaves in its output folder, from which `rebuild.py` draws its grids.

A job with grids records its contents, column headers and, per α, the file of every cell and of the grid
(`.adain-job-{job id}.json`). After `--shard` runs, or under torchrun, `adain grid` builds the grids from it
and the files on disk, pixel for pixel as one process fills them in memory.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from adain_cli.defaults import GRID_ROWS
from adain_cli.errors import AdainError
from adain_cli.files import atomic_path
from adain_cli.job import ImageOptions, Job
from adain_cli.looks import Look
from adain_cli.sheets.names import grid_path, row_label

MANIFEST_GLOB = ".adain-job-*.json"


def manifest_path(job: Job) -> Path:
    return job.output_dir / MANIFEST_GLOB.replace("*", job.key)


def manifest_of(job: Job) -> dict[str, object]:
    """What `grids_of_manifest` needs to rebuild this job's grids from the files on disk."""
    rel = lambda path: str(path.relative_to(job.output_dir))  # noqa: E731
    return {
        "version": 1,
        "contents": [str(c.path.resolve()) for c in job.contents],
        "headers": [_header(job, look) for look in job.looks],
        "cells": {f"{a:.2f}": [[rel(job.output_path(c, look.name, a)) for look in job.looks]
                               for c in job.contents] for a in job.alphas},
        "grids": {f"{a:.2f}": rel(grid_path(job, a)) for a in job.alphas},
        "grid_cell": job.grid_cell,
        "grid_rows": job.grid_rows,
        "labels": _labels(job),
        "images": asdict(job.images),
    }  # fmt: skip


def _header(job: Job, look: Look) -> str | None:
    """The image heading a look's column: its one style's file (none for a blend, or a style from a bank)."""
    style = job.styles[look.styles[0]]
    return str(style.path.resolve()) if len(look.styles) == 1 and style.bank is None else None


def _labels(job: Job) -> dict[str, list[str]] | None:
    if not job.grid_labels:
        return None
    return {"columns": [look.label for look in job.looks], "rows": [row_label(c) for c in job.contents]}


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
    grid_rows: int = GRID_ROWS


def find_manifests(output_dir: Path) -> list[Path]:
    return sorted(output_dir.glob(MANIFEST_GLOB))


def read_manifest(path: Path) -> Manifest:
    """A job manifest, checked to have what a grid rebuild needs, with every cell and grid path inside its
    folder; one line naming the file and the field if not."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise AdainError(f"{path}: cannot read the job manifest ({error.strerror or error})") from None
    except ValueError as error:
        raise AdainError(f"{path}: not a valid job manifest ({error}); run the job again to rewrite it") from None
    try:
        manifest = Manifest(path, list(raw["contents"]), list(raw["headers"]), dict(raw["cells"]), dict(raw["grids"]),
                            int(raw["grid_cell"]), ImageOptions(**raw["images"]), raw.get("labels"),
                            int(raw.get("grid_rows", GRID_ROWS)))  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise AdainError(f"{path}: not a valid job manifest (bad or missing {error}); run the job again") from None
    problem = _manifest_problem(manifest, path.parent)
    if problem:
        raise AdainError(f"{path}: not a valid job manifest ({problem}); run the job again")
    return manifest


def _manifest_problem(manifest: Manifest, folder: Path) -> str | None:
    """What is wrong with a manifest's fields, or None."""
    rows, cols = len(manifest.contents), len(manifest.headers)
    grids = manifest.cells.values()
    if not all(
        isinstance(grid, list) and len(grid) == rows and all(isinstance(row, list) and len(row) == cols for row in grid)
        for grid in grids
    ):
        return "its cells do not match its contents"  # fmt: skip
    if set(manifest.grids) != set(manifest.cells) or not all(_is_number(alpha) for alpha in manifest.grids):
        return "its α keys are not numbers matching its cells"
    if manifest.grid_cell < 16 or manifest.grid_rows < 1:
        return f"grid_cell {manifest.grid_cell} (at least 16) or grid_rows {manifest.grid_rows} (at least 1)"
    if not all(isinstance(p, str) for p in manifest.contents) or not all(
        isinstance(h, str | None) for h in manifest.headers
    ):
        return "contents and headers must be paths"
    if not _labels_fit(manifest.labels, rows, cols):
        return "labels must be lists of names, one per content and one per column"
    names = [name for grid in grids for row in grid for name in row] + list(manifest.grids.values())
    outside = next((name for name in names if not _inside(folder, name)), None)
    if outside is not None:
        return f"{outside!r} is not a path inside {folder}"
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _labels_fit(labels: object, rows: int, cols: int) -> bool:
    if labels is None:
        return True
    if not isinstance(labels, dict):
        return False
    columns, names = labels.get("columns"), labels.get("rows")
    if not (isinstance(columns, list) and isinstance(names, list)):
        return False
    words_are_text = all(isinstance(word, str) for word in [*columns, *names])
    return words_are_text and (len(columns), len(names)) == (cols, rows)


def _inside(folder: Path, name: object) -> bool:
    """A relative path that stays inside `folder` (no `..` out of it, not absolute, no link out of it)."""
    if not isinstance(name, str) or not name or Path(name).is_absolute():
        return False
    return (folder / name).resolve().is_relative_to(folder.resolve())
