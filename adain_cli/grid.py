"""Contact sheets: content×style grids with thumbnail headers, and plain sheets of results."""

from __future__ import annotations

from PIL import Image, ImageOps

from adain_cli.images import DEFAULT_MAX_PIXELS

BACKGROUND = (255, 255, 255)
EMPTY_CELL = (225, 225, 225)  # where an output failed, so a gap is visible


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

    def put_row_header(self, row: int, image: Image.Image) -> None:
        self._paste(row + self.offset, 0, image)

    def put_col_header(self, col: int, image: Image.Image) -> None:
        self._paste(0, col + self.offset, image)
