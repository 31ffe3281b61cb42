"""Contact sheets: content×style grids with thumbnail headers, and plain sheets of results."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from adain_cli.defaults import MAX_PIXELS

BACKGROUND = (255, 255, 255)
EMPTY_CELL = (225, 225, 225)  # a cell not produced (yet)
FAILED_CELL = (244, 204, 204)  # a cell whose output failed, crossed out
FAILED_INK = (190, 40, 40)
TEXT = (30, 30, 30)


def thumbnail(image: Image.Image, cell: int) -> Image.Image:
    """The image scaled (up or down) to fit a cell×cell square, keeping its aspect ratio."""
    thumb = image.convert("RGBA") if image.mode in ("RGBA", "LA", "P") else image.convert("RGB")
    return ImageOps.contain(thumb, (cell, cell), Image.Resampling.LANCZOS)


MIN_LABEL_WIDTH = 64  # a labelled column is at least this wide, so a caption at a 16 px cell is still a word
GRID_ROWS = 100  # rows of contents on one page of a grid


def column_width(cell: int, labels: bool) -> int:
    """The width of a column: the cell, or the room a caption needs when that is wider."""
    return max(cell, MIN_LABEL_WIDTH) if labels else cell


def rows_per_page(cols: int, cell: int, *, labels: bool, most: int = GRID_ROWS) -> int:
    """How many rows of contents one page holds: at most `most`, and within the image size limit with its
    header row and column (0: not even one row fits)."""
    row_pixels = (cols + 1) * column_width(cell, labels) * (cell + (caption_height(cell) if labels else 0))
    return max(0, min(most, MAX_PIXELS // row_pixels - 1))


def page_ranges(rows: int, per_page: int) -> list[range]:
    """The rows of each page; none when a page cannot hold a row."""
    if per_page <= 0:
        return []
    return [range(start, min(rows, start + per_page)) for start in range(0, rows, per_page)]


def page_path(base: Path, page: int, pages: int, *, cell: int | None = None) -> Path:
    """The file of page `page` (0-based) of `pages`: `base` with the cell size when it is not the job's
    (`_c16`) and the page number when there are several (`_p02`), always a PNG."""
    tag = (f"_c{cell}" if cell is not None else "") + (f"_p{page + 1:02d}" if pages > 1 else "")
    return base.with_name(f"{base.stem}{tag}.png")


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
        self.pitch = column_width(cell, labels is not None)
        self.cols = cols
        width, height = (cols + self.offset) * self.pitch, (rows + self.offset) * (cell + self.band)
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
        height = cell + (caption_height(cell) if labels else 0)
        return (rows + extra) * (cols + extra) * column_width(cell, labels) * height <= MAX_PIXELS

    def _origin(self, row: int, col: int) -> tuple[int, int]:
        """The top left of cell (row, col), centred in its column."""
        return col * self.pitch + (self.pitch - self.cell) // 2, row * (self.cell + self.band)

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
        fitted = _fit(self.draw, printable, font, self.pitch - 4)
        x, y = col * self.pitch, self._origin(row, col)[1]
        width = self.draw.textlength(fitted, font=font)
        self.draw.text((x + (self.pitch - width) / 2, y + self.cell + self.band / 2), fitted, font=font, fill=color,
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
