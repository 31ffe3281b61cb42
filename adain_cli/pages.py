"""A job's contact sheets, page by page: each page made when its first result arrives and written once all
its rows are done (grid.py draws; this decides what goes where)."""

from __future__ import annotations

from collections import Counter

from PIL import Image

from adain_cli import images
from adain_cli.errors import ImageError
from adain_cli.grid import GridCanvas, side_by_side
from adain_cli.job import Job, Output
from adain_cli.looks import Look
from adain_cli.report import Reporter
from adain_cli.style_bank import StyleBank


class Grids:
    """The contact sheets of a job: per α, pages of at most `job.grid_rows` contents, each made when its first
    result arrives and written (then dropped) once every row on it is done, so memory holds a page per α.
    A page with no result on it is not written; one that cannot be written is a note, not a failure."""

    def __init__(self, job: Job, pages: list[range], col_headers: dict[int, Image.Image]) -> None:
        self.job, self.pages, self.col_headers = job, pages, col_headers
        self.per_page = len(pages[0]) if pages else 1
        self.canvases: dict[tuple[float, int], GridCanvas] = {}
        self.filled: Counter[tuple[float, int]] = Counter()
        self.done_pages: set[int] = set()

    def __bool__(self) -> bool:
        return bool(self.pages)

    def _canvas(self, alpha: float, row: int) -> tuple[GridCanvas | None, int]:
        """The canvas of the page holding `row`, and the row's place on it (None once it is written)."""
        page = row // self.per_page
        if page in self.done_pages or alpha not in self.job.alphas or not self.pages:
            return None, 0
        key = (alpha, page)
        if key not in self.canvases:
            rows = self.pages[page]
            canvas = GridCanvas(len(rows), self.job.grid_columns, self.job.grid_cell,
                                labels=self.job.grid_labels_for(alpha, rows))  # fmt: skip
            for col, header in self.col_headers.items():  # the style headers on every page
                canvas.put_col_header(col, header)
            self.canvases[key] = canvas
        return self.canvases[key], row - self.pages[page].start

    def put(self, row: int, output: Output, image: Image.Image) -> None:
        (look, alpha), *_ = output.renders
        canvas, place = self._canvas(alpha, row)
        if canvas is not None:
            canvas.put(place, self.job.grid_column(row, look), image)
            self.filled[(alpha, row // self.per_page)] += 1

    def fail(self, row: int, output: Output) -> None:
        (look, alpha), *_ = output.renders
        canvas, place = self._canvas(alpha, row)
        if canvas is not None:
            canvas.mark_failed(place, self.job.grid_column(row, look))

    def put_row_header(self, row: int, image: Image.Image) -> None:
        for alpha in self.job.alphas:
            canvas, place = self._canvas(alpha, row)
            if canvas is not None:
                canvas.put_row_header(place, image)

    def flush(self, done_below: int, reporter: Reporter) -> None:
        """Write the pages all of whose rows are below `done_below` (finished), and forget them."""
        for page, rows in enumerate(self.pages):
            if page not in self.done_pages and rows.stop <= done_below:
                self.done_pages.add(page)
                for alpha in self.job.alphas:
                    self._write(alpha, page, reporter)

    def _write(self, alpha: float, page: int, reporter: Reporter) -> None:
        canvas = self.canvases.pop((alpha, page), None)
        if canvas is None or not self.filled[(alpha, page)]:
            return
        path = self.job.grid_paths(alpha)[page]
        try:
            images.save_pil(canvas.image, path, self.job.images.quality, sheet=True)
            reporter.summary.grids.append(path)
        except (ImageError, OSError, ValueError) as error:
            reporter.note(f"warning: grid {path} not written: {error}")


def make_grids(job: Job, bank: StyleBank, reporter: Reporter) -> Grids:
    """The job's grids, decided before any work; grids that cannot be made are a note. (The command says how
    many pages there are before the work: cli/notices.grid_pages.)"""
    if not (job.wants_grids() and job.shard == (0, 1)):
        return Grids(job, [], {})
    pages = job.grid_pages()
    if not pages:
        cols = job.grid_columns
        reporter.note(f"grids not written: a row of {cols} cells of {job.grid_cell} px is over the image size limit")
    if job.styles_per_content:  # no column shares a style: each cell is captioned with its own
        return Grids(job, pages, {})
    headers = {col: header for col, look in enumerate(job.looks)
               if (header := look_header(look, bank, job.grid_cell)) is not None}  # fmt: skip
    return Grids(job, pages, headers)


def look_header(look: Look, bank: StyleBank, cell: int) -> Image.Image | None:
    """A look of one style is headed by that style (what the manifest records for a rebuild too); a blend or
    a spatial look by its styles side by side."""
    pictures = [picture for k in look.styles if (picture := bank.header(k)) is not None]
    if not pictures or len(pictures) < len(look.styles):
        return None
    return pictures[0] if len(pictures) == 1 else side_by_side(pictures, cell)
