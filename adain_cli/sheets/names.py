"""Where a job's grids go and what is on each page: the names of the pages, the contents each holds, the
column of each cell and the words written on them. Decided from the job alone, before any work (torch-free)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from adain_cli.sheets.drawing import Labels, page_path, page_ranges, rows_per_page

if TYPE_CHECKING:
    from adain_cli.inputs import Source
    from adain_cli.job import Job, Output


def wants_grids(job: Job) -> bool:
    """Grids are drawn for a job of several contents or looks, unless it asked for none or writes sheets."""
    return job.grid and job.sheet is None and (len(job.contents) > 1 or len(job.looks) > 1)


def draws_pages(job: Job) -> bool:
    """This process draws the pages itself: a whole job (a shard leaves them to `adain grid`)."""
    return wants_grids(job) and job.shard == (0, 1)


def grid_columns(job: Job) -> int:
    """Cells per grid row: one per look, or in dataset mode one per style drawn for the row's content."""
    return job.styles_per_content or len(job.looks)


def grid_column(job: Job, row: int, look: int) -> int:
    """The grid column of `look`'s output for content `row`."""
    return job.drawn_looks(job.contents[row]).index(look) if job.styles_per_content else look


def grid_path(job: Job, alpha: float) -> Path:
    """The α grid's name (of its first page with a number when it has several); always a PNG, whatever
    --ext is (PNG holds any sheet within the pixel limit)."""
    method = f"_{job.color.value}" if job.color else ""
    return job.output_dir / f"grid_{job.command}{method}_{job.key}_alpha{alpha:.2f}.png"


def grid_pages(job: Job) -> list[range]:
    """The rows of contents on each page of a grid, decided before any work: none when even one row of
    looks is over the image size limit, or the job writes no grids (a shard: `adain grid` does)."""
    if not draws_pages(job):
        return []
    per_page = rows_per_page(grid_columns(job), job.grid_cell, labels=job.grid_labels, most=job.grid_rows)
    return page_ranges(len(job.contents), per_page)


def page_paths(job: Job, alpha: float | None = None) -> list[Path]:
    """The files of the pages of the α grid, or of every α's grid."""
    count = len(grid_pages(job))
    alphas = job.alphas if alpha is None else (alpha,)
    return [page_path(grid_path(job, a), page, count) for a in alphas for page in range(count)]


def stale_pages(job: Job) -> list[Path]:
    """Pages of this job's grids left by an earlier run that this one does not draw (another --grid-rows
    paged them otherwise): `grid_…_alpha1.00.png` or `…_p07.png`, never `adain grid`'s `_c16` sheets."""
    if not draws_pages(job):
        return []
    current = set(page_paths(job))
    found = []
    for alpha in job.alphas:
        base = grid_path(job, alpha)
        pattern = re.compile(rf"{re.escape(base.stem)}(_p\d{{2,}})?\.png")
        found += [path for path in base.parent.glob(f"{base.stem}*.png")
                  if pattern.fullmatch(path.name) and path not in current]  # fmt: skip
    return sorted(found)


def page_labels(job: Job, alpha: float, page: range | None = None) -> Labels | None:
    """The words on (a page of) the α grid: look and content names, and α in the corner."""
    if not job.grid_labels:
        return None
    page = page or range(len(job.contents))
    rows = tuple(row_label(job.contents[row]) for row in page)
    if job.styles_per_content:  # each row its own styles: every cell says which was drawn
        cells = tuple(job.looks[look].label for row in page for look in job.drawn_looks(job.contents[row]))
        columns = tuple(f"drawn style {k + 1}" for k in range(job.styles_per_content))
        return Labels(columns=columns, rows=rows, corner=f"alpha {alpha:.2f}", cells=cells)
    return Labels(columns=tuple(look.label for look in job.looks), rows=rows, corner=f"alpha {alpha:.2f}")


def row_label(content: Source) -> str:
    return str(content.rel_dir / content.label) if content.rel_dir != Path() else content.label


def cells_at(job: Job, alpha: float, rows: range) -> list[tuple[int, Output]]:
    """The outputs drawn on the page of `rows` of the α grid, row by row, as (content row, output)."""
    return [(row, output) for row in rows for output in job.outputs(job.contents[row])
            if output.renders[0][1] == alpha]  # fmt: skip
