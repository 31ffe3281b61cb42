"""The grids of a job drawn again from its manifest and the files on disk: `adain grid` after `--shard` runs,
and rank 0 under torchrun, pixel for pixel as one process fills them in memory."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from adain_cli import images
from adain_cli.errors import AdainError
from adain_cli.sheets.drawing import GridCanvas, Labels, page_path, page_ranges, rows_per_page
from adain_cli.sheets.manifest import Manifest, find_manifests, read_manifest


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
    """The grids of the one job recorded in `manifest_path`, in the same pages as the job would write them; a
    page none of whose outputs is on disk is not written (no all-grey sheet). With a `cell` other than the
    job's, the names carry it (`_c16`), so the job's own sheets are not overwritten."""
    manifest = read_manifest(manifest_path)
    output_dir, options = manifest_path.parent, manifest.images
    size = cell or manifest.grid_cell
    contents, headers = manifest.contents, manifest.headers
    labelled = manifest.labels is not None
    pages = page_ranges(len(contents), rows_per_page(len(headers), size, labels=labelled, most=manifest.grid_rows))
    if not pages:
        raise AdainError(f"grids of {len(headers)} columns of {size} px cells are over the image size limit")

    def header(source: str | None, side: int) -> Image.Image | None:
        if source is None:
            return None
        with contextlib.suppress(AdainError):
            return images.to_pil(images.load(Path(source), side, crop=options.crop, max_pixels=options.max_pixels).rgb)
        return None

    col_headers = [header(h, options.style_size) for h in headers]
    name_cell = size if cell is not None and cell != manifest.grid_cell else None
    written = []
    for alpha in manifest.cells:
        base = output_dir / manifest.grids[alpha]
        for number, rows in enumerate(pages):
            canvas = _page(manifest, alpha, rows, size, col_headers, lambda c: header(c, options.content_size))
            if canvas is None:
                continue
            target = page_path(base, number, len(pages), cell=name_cell)
            images.save_pil(canvas.image, target, options.quality, sheet=True)
            written.append(target)
    if not written:
        raise AdainError(f"{output_dir}: none of the job's outputs are there, so no grid is written")
    return written


def _page(
    manifest: Manifest, alpha: str, rows: range, cell: int, col_headers: list[Image.Image | None],
    row_header: Callable[[str], Image.Image | None],
) -> GridCanvas | None:  # fmt: skip
    """One page of the α grid from the files on disk, or None when none of its cells is there."""
    output_dir = manifest.path.parent
    labels = None
    if manifest.labels is not None:
        words = manifest.labels
        names = tuple(words["rows"][rows.start : rows.stop])
        labels = Labels(tuple(words["columns"]), names, f"alpha {float(alpha):.2f}")
    canvas = GridCanvas(len(rows), len(col_headers), cell, labels=labels)
    found = 0
    for place, row in enumerate(rows):
        for col, relative in enumerate(manifest.cells[alpha][row]):
            with contextlib.suppress(OSError, ValueError), Image.open(output_dir / relative) as result:
                canvas.put(place, col, result)
                found += 1
    if not found:
        return None
    for index, image in enumerate(col_headers):
        if image is not None:
            canvas.put_col_header(index, image)
    for place, row in enumerate(rows):
        image = row_header(manifest.contents[row])
        if image is not None:
            canvas.put_row_header(place, image)
    return canvas
