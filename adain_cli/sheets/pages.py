"""A job's contact sheets as it runs, the one thing the runner talks to about grids: made at the start
(`Sheets.start`), fed each result as it is written (`put`, `fail`, `put_row_header`, `put_existing`),
told when rows are done (`flush`) and closed at the end (`finish`: the last pages, the manifest, the records).

Each page is made when its first result arrives and written once all its rows are done, so memory holds a
page per α (and the pages being written). A page is encoded and written in a thread of its own, beside the
network (a page of a hundred rows is a PNG of over 10 megapixels: more than a second of encoding), at most
`PAGES_IN_FLIGHT` at once, and the run waits for them at the end (or at an interrupt) before it records them.
Only the pages `records.plan_pages` finds due are drawn: a resume keeps every page that would
come out the same. Thumbnails come from the results in memory; only a due page's cells that this run keeps
(--skip-existing) are read back from their files.
"""

from __future__ import annotations

import contextlib
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor

from PIL import Image, ImageOps

from adain_cli import images
from adain_cli.errors import AdainError, ImageError
from adain_cli.inputs import Source, open_header
from adain_cli.job import Job, Output
from adain_cli.job_styles import JobStyles
from adain_cli.looks import Look
from adain_cli.report import Reporter
from adain_cli.sheets.drawing import GridCanvas, side_by_side
from adain_cli.sheets.manifest import write_manifest
from adain_cli.sheets.names import draws_pages, grid_column, grid_columns, page_labels, wants_grids
from adain_cli.sheets.records import Page, PagePlan, remove_stale, write_records

Key = tuple[float, int]  # (α, page number)
PAGES_IN_FLIGHT = 2  # pages handed to the writer and not yet written; one more waits for the oldest


class Sheets:
    """The pages of a job's grids being drawn: per α, pages of at most `job.grid_rows` contents. A page with no
    result on it is not written; one that cannot be written is a note, not a failure."""

    def __init__(self, job: Job, plan: PagePlan, col_headers: dict[int, Image.Image], reporter: Reporter) -> None:
        self.job, self.plan, self.col_headers, self.reporter = job, plan, col_headers, reporter
        self.per_page = len(plan.pages[0].rows) if plan.pages else 1
        self.pages: dict[Key, Page] = {(page.alpha, page.number): page for page in plan.pages}
        self.ranges = [page.rows for page in plan.pages if page.alpha == job.alphas[0]]
        self.due_rows = {row for alpha, number in plan.due for row in self.pages[(alpha, number)].rows}
        self.canvases: dict[Key, GridCanvas] = {}
        self.filled: Counter[Key] = Counter()
        self.failed: set[Key] = set()
        self.complete = [page for page in plan.pages if not plan.is_due(page.alpha, page.number)]  # kept as they are
        self.done_pages: set[int] = set()
        self._writer: ThreadPoolExecutor | None = None
        self._writing: deque[tuple[Page, Future[None], bool]] = deque()  # (page, its write, every cell a result)

    @classmethod
    def start(cls, job: Job, plan: PagePlan, styles: JobStyles, reporter: Reporter) -> Sheets:
        """The job's grids, said at the start when they are paged or not written."""
        if not draws_pages(job):
            return cls(job, PagePlan([], set(), []), {}, reporter)
        if not plan.pages:  # (paged grids are said before the work: cli/notices.grid_pages)
            cols = grid_columns(job)
            reporter.note(
                f"grids not written: a row of {cols} cells of {job.grid_cell} px is over the image size limit"
            )
        headers = {} if job.styles_per_content or not plan.due else look_headers(job, styles)
        return cls(job, plan, headers, reporter)

    def __bool__(self) -> bool:
        """Whether any page is drawn by this run."""
        return bool(self.plan.due)

    def wants(self, row: int) -> bool:
        """Whether content `row` is on a page this run draws."""
        return row in self.due_rows

    def _canvas(self, alpha: float, row: int) -> tuple[GridCanvas | None, int]:
        """The canvas of the page holding `row`, and the row's place on it (None once it is written, or when
        the page is kept as it is)."""
        key = (alpha, row // self.per_page)
        if key not in self.plan.due or key[1] in self.done_pages:
            return None, 0
        page = self.pages[key]
        if key not in self.canvases:
            canvas = GridCanvas(len(page.rows), grid_columns(self.job), self.job.grid_cell,
                                labels=page_labels(self.job, alpha, page.rows))  # fmt: skip
            for col, header in self.col_headers.items():  # the style headers on every page
                canvas.put_col_header(col, header)
            self.canvases[key] = canvas
        return self.canvases[key], row - page.rows.start

    def put(self, row: int, output: Output, image: Image.Image) -> None:
        (look, alpha), *_ = output.renders
        canvas, place = self._canvas(alpha, row)
        if canvas is not None:
            canvas.put(place, grid_column(self.job, row, look), image)
            self.filled[(alpha, row // self.per_page)] += 1

    def put_existing(self, row: int, output: Output) -> None:
        """A cell this run keeps (--skip-existing), from its file: read only when its page is drawn."""
        alpha = output.renders[0][1]
        if self._canvas(alpha, row)[0] is not None:
            with contextlib.suppress(OSError, ValueError), Image.open(output.path) as image:
                self.put(row, output, image)

    def fail(self, row: int, output: Output) -> None:
        (look, alpha), *_ = output.renders
        canvas, place = self._canvas(alpha, row)
        if canvas is not None:
            canvas.mark_failed(place, grid_column(self.job, row, look))
            self.failed.add((alpha, row // self.per_page))

    def put_row_header(self, row: int, image: Image.Image) -> None:
        for alpha in self.job.alphas:
            canvas, place = self._canvas(alpha, row)
            if canvas is not None:
                canvas.put_row_header(place, image)

    def put_row_header_from_file(self, row: int, source: Source) -> None:
        """A kept content's row header from a reduced read of its file (JPEG's draft mode), not a decode at
        --content-size; only when its page is drawn."""
        if not self.wants(row) or source.clip:
            return
        cell = self.job.grid_cell
        with contextlib.suppress(OSError, ValueError, Image.DecompressionBombError), open_header(source.path) as image:
            image.draft("RGB", (cell, cell))
            self.put_row_header(row, ImageOps.exif_transpose(image))

    def flush(self, done_below: int) -> None:
        """Write the pages all of whose rows are below `done_below` (finished), and forget them."""
        for number, rows in enumerate(self.ranges):
            if number not in self.done_pages and rows.stop <= done_below:
                self.done_pages.add(number)
                for alpha in self.job.alphas:
                    self._write(self.pages[(alpha, number)])

    def _write(self, page: Page) -> None:
        key = (page.alpha, page.number)
        canvas = self.canvases.pop(key, None)
        if canvas is None or not self.filled[key]:
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="adain-sheets")
        write = self._writer.submit(images.save_pil, canvas.image, page.path, self.job.images.quality, sheet=True)
        whole = self.filled[key] == len(page.rows) * grid_columns(self.job) and key not in self.failed
        self._writing.append((page, write, whole))
        self._settle(PAGES_IN_FLIGHT)

    def _settle(self, most: int) -> None:
        """Wait for the oldest page writes until at most `most` are in flight; count each as written or noted."""
        while len(self._writing) > most:
            page, write, whole = self._writing.popleft()
            try:
                write.result()
            except (ImageError, OSError, ValueError) as error:
                self.reporter.note(f"warning: grid {page.path} not written: {error}")
                continue
            self.reporter.summary.grids.append(page.path)
            if whole:
                self.complete.append(page)

    def _close_writer(self) -> None:
        self._settle(0)
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def finish(self) -> None:
        """At the end of a run: the last pages, the manifest of a job with results, the pages' records, and no
        page left of an earlier paging."""
        self.flush(len(self.job.contents))
        self._close_writer()
        summary = self.reporter.summary
        # Dataset mode leaves no manifest: it would list every content × style, not the draws.
        if wants_grids(self.job) and not self.job.styles_per_content and (summary.written or summary.skipped):
            try:
                write_manifest(self.job)
            except OSError as error:
                raise AdainError(
                    f"cannot write the job manifest in {self.job.output_dir}: {error.strerror or error}"
                ) from None
        self.keep_records()
        if draws_pages(self.job):
            remove_stale(self.plan, self.reporter)

    def keep_records(self) -> None:
        """Record the complete pages on disk (also after an interrupt, once the pages being written are), so
        that a resume keeps them."""
        self._close_writer()
        if draws_pages(self.job):
            with contextlib.suppress(OSError):
                write_records(self.job, self.complete)


def look_headers(job: Job, styles: JobStyles) -> dict[int, Image.Image]:
    return {col: header for col, look in enumerate(job.looks)
            if (header := look_header(look, styles, job.grid_cell)) is not None}  # fmt: skip


def look_header(look: Look, styles: JobStyles, cell: int) -> Image.Image | None:
    """A look of one style is headed by that style (what the manifest records for a rebuild too); a blend or
    a spatial look by its styles side by side."""
    pictures = [picture for k in look.styles if (picture := styles.header(k)) is not None]
    if not pictures or len(pictures) < len(look.styles):
        return None
    return pictures[0] if len(pictures) == 1 else side_by_side(pictures, cell)
