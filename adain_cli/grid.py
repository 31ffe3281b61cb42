"""Contact sheets: content×style grids with thumbnail headers, and plain sheets of results."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from adain_cli import images
from adain_cli.errors import AdainError
from adain_cli.images import DEFAULT_MAX_PIXELS

BACKGROUND = (255, 255, 255)
EMPTY_CELL = (225, 225, 225)  # a cell not produced (yet)
FAILED_CELL = (244, 204, 204)  # a cell whose output failed, crossed out
FAILED_INK = (190, 40, 40)
TEXT = (30, 30, 30)


def thumbnail(image: Image.Image, cell: int) -> Image.Image:
    """The image scaled (up or down) to fit a cell×cell square, keeping its aspect ratio."""
    thumb = image.convert("RGBA") if image.mode in ("RGBA", "LA", "P") else image.convert("RGB")
    return ImageOps.contain(thumb, (cell, cell), Image.Resampling.LANCZOS)


def caption_height(cell: int) -> int:
    """The height of the caption band under each row of a labelled sheet."""
    return max(14, cell // 10)


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans where the system has it (wide glyph coverage), else Pillow's own font."""
    with contextlib.suppress(OSError):
        return ImageFont.truetype("DejaVuSans.ttf", size)
    return ImageFont.load_default(size=size)


@dataclass(frozen=True)
class Labels:
    """The words on a sheet: a caption under each column header and each row header, one in the corner,
    and (for sheets without headers) one under each cell, in row-major order."""

    columns: tuple[str, ...] = ()
    rows: tuple[str, ...] = ()
    corner: str = ""
    cells: tuple[str, ...] = ()


class GridCanvas:
    """A rows×cols sheet of equal square cells, with an optional header row and header column, and with
    `labels` a caption band under every row of cells.

    Cells are filled as results arrive, so a grid of a large job never holds more than itself.
    """

    def __init__(self, rows: int, cols: int, cell: int, *, headers: bool = True, labels: Labels | None = None):
        self.cell, self.offset, self.labels = cell, 1 if headers else 0, labels
        self.band = caption_height(cell) if labels is not None else 0
        self.cols = cols
        width, height = (cols + self.offset) * cell, (rows + self.offset) * (cell + self.band)
        self.image = Image.new("RGB", (width, height), BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        for row in range(rows):
            for col in range(cols):
                self._fill(row + self.offset, col + self.offset, EMPTY_CELL)
        if labels is not None:
            self._write_labels(labels, rows)

    @staticmethod
    def fits(rows: int, cols: int, cell: int, *, headers: bool = True, labels: bool = False) -> bool:
        extra = 1 if headers else 0
        pitch = cell + (caption_height(cell) if labels else 0)
        return (rows + extra) * (cols + extra) * cell * pitch <= DEFAULT_MAX_PIXELS

    def _origin(self, row: int, col: int) -> tuple[int, int]:
        return col * self.cell, row * (self.cell + self.band)

    def _fill(self, row: int, col: int, color: tuple[int, int, int]) -> None:
        x, y = self._origin(row, col)
        self.image.paste(color, (x, y, x + self.cell, y + self.cell))

    def _paste(self, row: int, col: int, image: Image.Image) -> None:
        thumb = thumbnail(image, self.cell)
        self._fill(row, col, BACKGROUND)
        x, y = self._origin(row, col)
        x, y = x + (self.cell - thumb.width) // 2, y + (self.cell - thumb.height) // 2
        self.image.paste(thumb, (x, y), thumb if thumb.mode == "RGBA" else None)

    def _caption(self, row: int, col: int, text: str, color: tuple[int, int, int] = TEXT) -> None:
        """`text` centred in the band under cell (row, col), shortened with an ellipsis to fit its width."""
        if not self.band or not text:
            return
        font = _font(max(9, round(self.band * 0.7)))
        printable = "".join(c if c.isprintable() else " " for c in text)  # a file name may hold a newline
        fitted = _fit(self.draw, printable, font, self.cell - 4)
        x, y = self._origin(row, col)
        width = self.draw.textlength(fitted, font=font)
        self.draw.text((x + (self.cell - width) / 2, y + self.cell + self.band / 2), fitted, font=font, fill=color,
                       anchor="lm")  # fmt: skip

    def _write_labels(self, labels: Labels, rows: int) -> None:
        for col, text in enumerate(labels.columns):
            self._caption(0, col + self.offset, text)
        for row, text in enumerate(labels.rows):
            self._caption(row + self.offset, 0, text)
        if self.offset:
            self._caption(0, 0, labels.corner)
        for index, text in enumerate(labels.cells):
            row, col = divmod(index, self.cols)
            if row < rows:
                self._caption(row + self.offset, col + self.offset, text)

    def put(self, row: int, col: int, image: Image.Image) -> None:
        self._paste(row + self.offset, col + self.offset, image)

    def mark_failed(self, row: int, col: int) -> None:
        """A pale red cell crossed out, unlike one not produced yet (plain grey)."""
        self._fill(row + self.offset, col + self.offset, FAILED_CELL)
        x, y = self._origin(row + self.offset, col + self.offset)
        width = max(1, self.cell // 64)
        self.draw.line((x, y, x + self.cell - 1, y + self.cell - 1), fill=FAILED_INK, width=width)
        self.draw.line((x, y + self.cell - 1, x + self.cell - 1, y), fill=FAILED_INK, width=width)

    def put_row_header(self, row: int, image: Image.Image) -> None:
        self._paste(row + self.offset, 0, image)

    def put_col_header(self, col: int, image: Image.Image) -> None:
        self._paste(0, col + self.offset, image)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> str:
    """`text`, or its longest start followed by an ellipsis, that is at most `width` pixels wide."""
    if draw.textlength(text, font=font) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # the most characters that still fit with the ellipsis
        middle = (low + high + 1) // 2
        if draw.textlength(text[:middle] + "…", font=font) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low] + "…"


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
