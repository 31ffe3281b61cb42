"""Drawing contact sheets: a canvas of square cells with thumbnail headers and captions that fit (a job's
grid pages, a sheet of one content's looks, spatial's legend); what goes on them is decided elsewhere."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from adain_cli.defaults import GRID_ROWS, MAX_PIXELS

BACKGROUND = (255, 255, 255)
EMPTY_CELL = (225, 225, 225)  # a cell not produced (yet)
FAILED_CELL = (244, 204, 204)  # a cell whose output failed, crossed out
FAILED_INK = (190, 40, 40)
TEXT = (30, 30, 30)


def thumbnail(image: Image.Image, cell: int) -> Image.Image:
    """The image scaled (up or down) to fit a cell×cell square, keeping its aspect ratio."""
    thumb = image.convert("RGBA") if image.mode in ("RGBA", "LA", "P") else image.convert("RGB")
    return ImageOps.contain(thumb, (cell, cell), Image.Resampling.LANCZOS)


def side_by_side(pictures: Sequence[Image.Image], cell: int) -> Image.Image:
    """The pictures next to each other in one cell×cell square (the header of a look of several styles)."""
    square = Image.new("RGB", (cell, cell), BACKGROUND)
    slot = cell // len(pictures)
    for index, picture in enumerate(pictures):
        thumb = ImageOps.contain(picture.convert("RGB"), (max(1, slot - 1), cell), Image.Resampling.LANCZOS)
        square.paste(thumb, (index * slot + (slot - thumb.width) // 2, (cell - thumb.height) // 2))
    return square


MIN_LABEL_WIDTH = 64  # a labelled column is at least this wide, so a caption at a 16 px cell is still a word
MAX_CAPTION_LINES = 3  # a caption wraps onto at most this many lines before its font shrinks
MIN_FONT = 8  # the smallest font a caption shrinks to; past that its last line ends in an ellipsis


def column_width(cell: int, labels: bool) -> int:
    """The width of a column: the cell, or the room a caption needs when that is wider."""
    return max(cell, MIN_LABEL_WIDTH) if labels else cell


def gutter(cell: int) -> int:
    """The white space between neighbouring cells: thin, but enough to tell one picture from the next."""
    return max(2, cell // 64)


def sheet_size(rows: int, cols: int, cell: int, *, lines: int = 0) -> tuple[int, int]:
    """Width and height of a rows×cols sheet (headers included in the counts) whose caption bands hold
    `lines` lines (0: no captions)."""
    pitch, band, space = column_width(cell, lines > 0), caption_height(cell, lines), gutter(cell)
    return cols * (pitch + space) - space, rows * (cell + band + space) - space


def rows_per_page(cols: int, cell: int, *, labels: bool, most: int = GRID_ROWS) -> int:
    """How many rows of contents one page holds: at most `most`, and within the image size limit with its
    header row and column, whatever its captions wrap to (0: not even one row fits)."""
    lines = MAX_CAPTION_LINES if labels else 0
    width, row_height = sheet_size(1, cols + 1, cell, lines=lines)
    space = gutter(cell)
    rows = (MAX_PIXELS // width + space) // (row_height + space)
    return max(0, min(most, rows - 1))


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


def caption_height(cell: int, lines: int = 1) -> int:
    """The height of the caption band under each row of a labelled sheet, for captions of `lines` lines."""
    return lines * max(14, cell // 10)


def font_size(cell: int) -> int:
    """The caption font at `cell`, before a long caption shrinks it."""
    return max(9, round(caption_height(cell) * 0.7))


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.lru_cache(maxsize=16)
def _font(size: int) -> Font:
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

    def texts(self) -> tuple[str, ...]:
        return (*self.columns, *self.rows, self.corner, *self.cells)


class GridCanvas:
    """A rows×cols sheet of equal square cells, with an optional header row and header column, and with
    `labels` a caption band under every row of cells.

    Cells are filled as results arrive, so a grid of a large job never holds more than itself.
    """

    def __init__(self, rows: int, cols: int, cell: int, *, headers: bool = True, labels: Labels | None = None):
        self.cell, self.offset, self.labels = cell, 1 if headers else 0, labels
        self.pitch, self.space = column_width(cell, labels is not None), gutter(cell)
        self.lines = caption_lines(labels.texts(), _font(font_size(cell)), self.pitch - 4) if labels else 0
        self.band = caption_height(cell, self.lines)
        self.cols = cols
        self.image = Image.new("RGB", sheet_size(rows + self.offset, cols + self.offset, cell, lines=self.lines),
                               BACKGROUND)  # fmt: skip
        self.draw = ImageDraw.Draw(self.image)
        for row in range(rows):
            for col in range(cols):
                self._fill(row + self.offset, col + self.offset, EMPTY_CELL)
        if labels is not None:
            self._write_labels(labels, rows)

    @staticmethod
    def fits(rows: int, cols: int, cell: int, *, headers: bool = True, labels: bool = False) -> bool:
        extra = 1 if headers else 0
        width, height = sheet_size(rows + extra, cols + extra, cell, lines=MAX_CAPTION_LINES if labels else 0)
        return width * height <= MAX_PIXELS

    def _origin(self, row: int, col: int) -> tuple[int, int]:
        """The top left of cell (row, col), centred in its column."""
        left = col * (self.pitch + self.space) + (self.pitch - self.cell) // 2
        return left, row * (self.cell + self.band + self.space)

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
        """`text` centred in the band under cell (row, col): wrapped onto the band's lines, in a smaller font
        when it needs more, and shortened with an ellipsis only when even the smallest font cannot hold it."""
        if not self.band or not text:
            return
        font, lines = fit_caption(printable(text), font_size(self.cell), self.pitch - 4, self.band, self.lines)
        left, top = col * (self.pitch + self.space), self._origin(row, col)[1] + self.cell
        step = self.band / max(self.lines, len(lines))
        first = top + (self.band - step * len(lines)) / 2 + step / 2
        for index, line in enumerate(lines):
            width = self.draw.textlength(line, font=font)
            self.draw.text((left + (self.pitch - width) / 2, first + index * step), line, font=font, fill=color,
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


def with_legend(picture: Image.Image, entries: Sequence[tuple[tuple[int, int, int], str]]) -> Image.Image:
    """`picture` with a legend band under it: one line per entry, a swatch of its colour then its words."""
    size = max(10, min(24, picture.width // 32))
    pitch, swatch = round(size * 1.6), size
    sheet = Image.new("RGB", (picture.width, picture.height + pitch * len(entries) + size // 2), BACKGROUND)
    sheet.paste(picture.convert("RGB"), (0, 0))
    draw, font = ImageDraw.Draw(sheet), _font(size)
    for index, (color, text) in enumerate(entries):
        middle = picture.height + size // 4 + pitch * index + pitch // 2
        draw.rectangle((size // 2, middle - swatch // 2, size // 2 + swatch, middle + swatch // 2), fill=color,
                       outline=TEXT)  # fmt: skip
        left = size * 2
        draw.text((left, middle), _fit(text, font, picture.width - left - 2), font=font, fill=TEXT, anchor="lm")
    return sheet


def printable(text: str) -> str:
    """`text` with control characters as spaces (a file name may hold a newline)."""
    return "".join(c if c.isprintable() else " " for c in text)


def caption_lines(texts: Sequence[str], font: Font, width: float) -> int:
    """How many lines the longest of `texts` wraps to at `font` (1 to MAX_CAPTION_LINES)."""
    wrapped = (len(wrap(printable(text), font, width)) for text in texts if text)
    return min(MAX_CAPTION_LINES, max(wrapped, default=1))


def fit_caption(text: str, size: int, width: float, band: int, lines: int) -> tuple[Font, list[str]]:
    """The largest font from `size` down to MIN_FONT at which `text` wraps into the band (`lines` lines at
    `size`, more at a smaller font), and its lines; at MIN_FONT the last line that fits ends in an ellipsis."""
    for smaller in range(size, MIN_FONT - 1, -1):
        font = _font(smaller)
        room = max(lines, int(band // (smaller * 1.25)))
        wrapped = wrap(text, font, width)
        if len(wrapped) <= room:
            return font, wrapped
    *kept, rest = wrapped[: room - 1] + [" ".join(wrapped[room - 1 :])]
    return font, [*kept, _fit(rest, font, width)]


def wrap(text: str, font: Font, width: float) -> list[str]:
    """`text` on lines at most `width` wide: broken after a " · " between a blend's styles first, then
    between words, and inside a word only when the word alone is too wide."""
    lines: list[str] = []
    for piece in _pieces(text, font, width):
        if lines and font.getlength((lines[-1] + piece).rstrip()) <= width:
            lines[-1] += piece
        else:
            lines.append(piece)
    return [line.rstrip() for line in lines] or [""]


def _pieces(text: str, font: Font, width: float) -> Iterator[str]:
    for part in re.split(r"(?<= · )", text):
        if font.getlength(part.rstrip()) <= width:
            yield part
            continue
        for word in re.split(r"(?<= )", part):
            while len(word) > 1 and font.getlength(word.rstrip()) > width:
                cut = max(1, _longest_start(word, font, width))
                yield word[:cut]
                word = word[cut:]
            yield word


def _longest_start(text: str, font: Font, width: float, suffix: str = "") -> int:
    """How many leading characters of `text`, followed by `suffix`, fit in `width` pixels."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle] + suffix) <= width:
            low = middle
        else:
            high = middle - 1
    return low


def _fit(text: str, font: Font, width: float) -> str:
    """`text`, or its longest start followed by an ellipsis, that is at most `width` pixels wide."""
    if font.getlength(text) <= width:
        return text
    return text[: _longest_start(text, font, width, "…")] + "…"
