"""What drew each grid page on disk, so a resume keeps every page that would come out the same.

A page's record (`.adain-pages-{job id}.json`) holds a digest of everything its pixels come from: the cells'
outputs (their `made_id`s), the contents and styles heading it (path, size and time of each file), the cell
size, the words on it, the image options and adain's version; and the page file's own size and time. A run
draws a page again when one of its outputs is due, or when the digest or the file differ from the record.
Torch-free: `--skip-existing` over a finished job decides from these and the outputs' marks alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from adain_cli.files import atomic_path
from adain_cli.job import Job, Output
from adain_cli.report import Reporter
from adain_cli.sheets.names import cells_at, grid_pages, page_labels, page_paths, stale_pages
from adain_cli.version import __version__

RECORDS_GLOB = ".adain-pages-*.json"


@dataclass(frozen=True)
class Page:
    """One page of the α grid: its file and the contents on it."""

    alpha: float
    number: int
    rows: range
    path: Path


@dataclass(frozen=True)
class PagePlan:
    """The pages of a job's grids, and which of them this run draws."""

    pages: list[Page]
    due: set[tuple[float, int]]  # (α, page number) of the pages to draw
    stale: list[Path]  # pages of an earlier paging, to remove

    def is_due(self, alpha: float, number: int) -> bool:
        return (alpha, number) in self.due


def records_path(job: Job) -> Path:
    return job.output_dir / RECORDS_GLOB.replace("*", job.key)


def job_pages(job: Job) -> list[Page]:
    ranges = grid_pages(job)
    paths = iter(page_paths(job))
    return [Page(alpha, number, rows, next(paths)) for alpha in job.alphas for number, rows in enumerate(ranges)]


def plan_pages(job: Job, finished: set[Path]) -> PagePlan:
    """The pages to draw: each with an output still to make (not in `finished`), or whose file is not the one
    its record says would be drawn now."""
    pages, stale = job_pages(job), stale_pages(job)
    recorded = read_records(job) if finished else {}
    due = set()
    for page in pages:
        cells = cells_at(job, page.alpha, page.rows)
        if any(output.path not in finished for _, output in cells) or not _unchanged(job, page, cells, recorded):
            due.add((page.alpha, page.number))
    return PagePlan(pages, due, stale)


def _unchanged(job: Job, page: Page, cells: list[tuple[int, Output]], recorded: dict[str, object]) -> bool:
    """The page's file is there, as its record says it was drawn, from what would draw it now."""
    now = _record(job, page, cells)
    return now is not None and recorded.get(page.path.name) == now


def read_records(job: Job) -> dict[str, object]:
    """The records of the job's pages by file name; none when there are none or they do not read."""
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
        raw = json.loads(records_path(job).read_text(encoding="utf-8"))
        if raw.get("version") == 1 and isinstance(raw.get("pages"), dict):
            return dict(raw["pages"])
    return {}


def write_records(job: Job, pages: list[Page]) -> None:
    """Record `pages` (complete pages on disk: every cell a result), replacing the earlier records."""
    records = {page.path.name: _record(job, page, cells_at(job, page.alpha, page.rows)) for page in pages}
    path = records_path(job)
    if not records:
        path.unlink(missing_ok=True)
        return
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"version": 1, "pages": records}, indent=1), encoding="utf-8")


def _record(job: Job, page: Page, cells: list[tuple[int, Output]]) -> list[object] | None:
    """The page file's size and time, and the digest of what draws it (None when the file is not there)."""
    try:
        status = page.path.stat()
    except OSError:
        return None
    return [status.st_size, status.st_mtime_ns, _digest(job, page, cells)]


def _digest(job: Job, page: Page, cells: list[tuple[int, Output]]) -> str:
    headers = [] if job.styles_per_content else [[_file(job.styles[k].path) for k in look.styles] for look in job.looks]
    contents = [_file(job.contents[row].path) for row in page.rows]
    labels = page_labels(job, page.alpha, page.rows)
    identity = [
        __version__,
        page.alpha,
        [page.rows.start, page.rows.stop],
        job.grid_cell,
        asdict(labels) if labels is not None else None,
        asdict(job.images),
        headers,
        contents,
        [job.made_id(row, output) for row, output in cells],
    ]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()


def _file(path: Path) -> list[object]:
    try:
        status = path.stat()
    except OSError:
        return [str(path)]
    return [str(path), status.st_size, status.st_mtime_ns]


def remove_stale(plan: PagePlan, reporter: Reporter) -> None:
    """Remove the pages of an earlier paging of the grids (another --grid-rows), which this run does not draw."""
    for path in plan.stale:
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            reporter.note(f"warning: {path}, a grid page of an earlier paging, not removed: {error.strerror or error}")
