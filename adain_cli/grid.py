"""Contact sheets: content×style grids with thumbnail headers, and plain sheets of results."""

from __future__ import annotations

import contextlib
from pathlib import Path

from PIL import Image, ImageOps

from adain_cli import images
from adain_cli.errors import AdainError
from adain_cli.images import DEFAULT_MAX_PIXELS

BACKGROUND = (255, 255, 255)
EMPTY_CELL = (225, 225, 225)  # a cell not produced (yet)
FAILED_CELL = (240, 170, 170)  # a cell whose output failed


def thumbnail(image: Image.Image, cell: int) -> Image.Image:
    """The image scaled (up or down) to fit a cell×cell square, keeping its aspect ratio."""
    thumb = image.convert("RGBA") if image.mode in ("RGBA", "LA", "P") else image.convert("RGB")
    return ImageOps.contain(thumb, (cell, cell), Image.Resampling.LANCZOS)


class GridCanvas:
    """A rows×cols sheet of equal square cells, with an optional header row and header column.

    Cells are filled as results arrive, so a grid of a large job never holds more than itself.
    """

    def __init__(self, rows: int, cols: int, cell: int, headers: bool = True) -> None:
        self.cell, self.offset = cell, 1 if headers else 0
        width, height = (cols + self.offset) * cell, (rows + self.offset) * cell
        self.image = Image.new("RGB", (width, height), BACKGROUND)
        for row in range(rows):
            for col in range(cols):
                self._fill(row + self.offset, col + self.offset, EMPTY_CELL)

    @staticmethod
    def fits(rows: int, cols: int, cell: int, headers: bool = True) -> bool:
        extra = 1 if headers else 0
        return (rows + extra) * (cols + extra) * cell * cell <= DEFAULT_MAX_PIXELS

    def _fill(self, row: int, col: int, colour: tuple[int, int, int]) -> None:
        x, y = col * self.cell, row * self.cell
        self.image.paste(colour, (x, y, x + self.cell, y + self.cell))

    def _paste(self, row: int, col: int, image: Image.Image) -> None:
        thumb = thumbnail(image, self.cell)
        self._fill(row, col, BACKGROUND)
        x = col * self.cell + (self.cell - thumb.width) // 2
        y = row * self.cell + (self.cell - thumb.height) // 2
        self.image.paste(thumb, (x, y), thumb if thumb.mode == "RGBA" else None)

    def put(self, row: int, col: int, image: Image.Image) -> None:
        self._paste(row + self.offset, col + self.offset, image)

    def mark_failed(self, row: int, col: int) -> None:
        self._fill(row + self.offset, col + self.offset, FAILED_CELL)

    def put_row_header(self, row: int, image: Image.Image) -> None:
        self._paste(row + self.offset, 0, image)

    def put_col_header(self, col: int, image: Image.Image) -> None:
        self._paste(0, col + self.offset, image)


def grids_from_manifest(output_dir: Path, cell: int | None = None) -> list[Path]:
    """Build the grids of every job recorded in `output_dir` from the files on disk (after `--shard`
    runs, or under torchrun).

    The result is pixel for pixel what a single-process run fills in memory: the same thumbnails of
    the same saved files and the same prepared content and style headers; a missing cell stays grey.
    """
    from adain_cli.job import find_manifests

    manifests = find_manifests(output_dir)
    if not manifests:
        raise AdainError(f"{output_dir}: no job manifest to build grids from (run a job with grids into it first)")
    return [path for manifest in manifests for path in grids_of_manifest(manifest, cell)]


def grids_of_manifest(manifest_path: Path, cell: int | None = None) -> list[Path]:
    """The grids of the one job recorded in `manifest_path`."""
    from adain_cli.job import read_manifest

    manifest = read_manifest(manifest_path)
    output_dir, options = manifest_path.parent, manifest.images
    cell = cell or manifest.grid_cell
    contents, headers = manifest.contents, manifest.headers
    if not GridCanvas.fits(len(contents), len(headers), cell):
        raise AdainError(f"grids of {len(contents)}×{len(headers)} cells of {cell} px are over the image size limit")

    def header(source: str | None, size: int) -> Image.Image | None:
        if source is None:
            return None
        with contextlib.suppress(AdainError):
            return images.to_pil(images.load(Path(source), size, options.crop, options.max_pixels).rgb)
        return None

    row_headers = [header(c, options.content_size) for c in contents]
    col_headers = [header(h, options.style_size) for h in headers]
    written = []
    for alpha, rows in manifest.cells.items():
        canvas = GridCanvas(len(contents), len(headers), cell)
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
