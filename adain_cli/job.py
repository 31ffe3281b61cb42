"""What a job is: its contents, styles, looks and α values, the outputs they make and their names,
and the slice of them one process writes (its grids are `sheets/`)."""

from __future__ import annotations

import hashlib
import json
import os
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from adain_cli import defaults
from adain_cli.errors import AdainError, UsageError
from adain_cli.inputs import Source, output_ext
from adain_cli.looks import ColorMethod, Look
from adain_cli.report import Record, Status

if TYPE_CHECKING:
    from adain_cli.images import LoadedImage


@dataclass(frozen=True)
class ImageOptions:
    content_size: int = defaults.CONTENT_SIZE
    style_size: int = defaults.STYLE_SIZE
    crop: bool = False
    ext: str = "png"
    quality: int = defaults.QUALITY
    max_pixels: int = defaults.MAX_PIXELS
    output_size: str = "processed"  # "original": each output resized back to its content's own size
    enlarge: bool = True  # False: a content or style smaller than its size is left as it is, not blown up


# Extra images written beside a content's outputs, as (name, image): e.g. spatial's mask preview.
CompanionFn = Callable[[Source, "LoadedImage"], list[tuple[str, Image.Image]]]


@dataclass(frozen=True)
class VideoOptions:
    """How clips (videos, animated images) are written: container, a frame limit, temporal stability."""

    ext: str | None = None  # None: the content's own container
    max_frames: int | None = None  # a quick preview of the first frames
    stabilize: float = defaults.STABILIZE_STRENGTH  # Stabilizer strength for videos; 0 turns it off


@dataclass(frozen=True)
class Output:
    """One file a job writes for a content: a single result, or a sheet of several renders."""

    path: Path
    renders: tuple[tuple[int, float], ...]  # (look index, α), row-major on a sheet


def draw(seed: int, rel_path: str, population: int, count: int) -> list[int]:
    """`count` distinct indices of range(`population`) drawn for one content, from the seed and the content's
    relative path alone, so a content draws the same whatever the order of the inputs, the shard, a resume or
    the machine. Floyd's sampling without replacement, its random numbers from SHA-256 (no library's
    generator whose stream could change; the modulo bias is under 2⁻³⁰ for up to 2³⁴ styles)."""
    chosen: list[int] = []
    taken: set[int] = set()
    for top in range(population - count, population):
        digest = hashlib.sha256(f"{seed}\0{rel_path}\0{top}".encode()).digest()
        pick = int.from_bytes(digest[:8], "little") % (top + 1)
        pick = top if pick in taken else pick
        taken.add(pick)
        chosen.append(pick)
    return chosen


NAME_FIELDS = ("content", "style", "alpha", "method", "look")


class Alpha(float):
    """α in a --name template: `{alpha}` is written with two decimals (0.50), `{alpha:.3f}` as asked."""

    def __format__(self, spec: str) -> str:
        return format(float(self), spec or ".2f")


def check_name_template(template: str) -> None:
    """Refuse a --name template that cannot make file names: a bad brace, an unknown field, a path separator."""
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as error:
        raise UsageError(f"--name {template!r}: {error}") from None
    unknown = next((field for field in fields if field not in NAME_FIELDS), None)
    if unknown is not None:
        known = ", ".join(f"{{{field}}}" for field in NAME_FIELDS)
        raise UsageError(f"--name {template!r}: unknown field {{{unknown}}} (use {known})")
    if "/" in template or "\\" in template:
        raise UsageError(f"--name {template!r}: a name cannot hold a path separator (outputs mirror the input folders)")


@dataclass(frozen=True)
class Job:
    """Everything `run_job` needs; built by a command from its options (the engine never sees click).

    With `sheet` = (rows, cols) each content gets one sheet per α holding every look as a cell
    (`{content}_{sheet_name}.{ext}`), instead of one file per look and a contents×looks grid.
    """

    contents: tuple[Source, ...]
    styles: tuple[Source, ...]
    looks: tuple[Look, ...]
    output_dir: Path
    alphas: tuple[float, ...] = (1.0,)
    images: ImageOptions = ImageOptions()
    grid: bool = True
    grid_cell: int = defaults.GRID_CELL
    grid_labels: bool = True  # style and content names, α, weights and failures written on the sheets
    grid_rows: int = defaults.GRID_ROWS  # contents on one page of a grid; a taller sheet is split into pages
    skip_existing: bool = False
    batch_size: int = 0  # decodes per call; 0 picks one for the device (auto_batch_size)
    sheet: tuple[int, int] | None = None
    sheet_name: str = "sheet"
    color: ColorMethod | None = None  # keep the content's colours this way
    companions: CompanionFn | None = None
    shard: tuple[int, int] = (0, 1)  # (index, count): this process writes one contiguous slice of the outputs
    command: str = "stylize"  # the command that made the looks, for grid names and reports
    video: VideoOptions = VideoOptions()
    output_file: Path | None = None  # the one output's own path (`-o result.png`), instead of a name in output_dir

    styles_per_content: int = 0  # dataset mode: each content gets this many looks drawn for it; 0: every look
    seed: int = 0  # the seed of those draws
    name_template: str | None = None  # output names from NAME_FIELDS, e.g. "{content}"; None: the usual names
    reads: tuple[Path, ...] = ()  # other files the job reads (masks, a --files-from list): never replaced either

    def __post_init__(self) -> None:
        if self.name_template is not None:
            check_name_template(self.name_template)
        banked = next((style for style in self.styles if style.bank is not None), None)
        if self.color is not None and banked is not None:
            raise UsageError(
                f"{banked.bank} is a style bank: it holds the styles' statistics, not their images, and "
                f"--preserve-color recolours each style image to the content; give the style folder instead"
            )
        if self.styles_per_content > len(self.looks):
            raise UsageError(
                f"--styles-per-content {self.styles_per_content} is more than the {len(self.looks)} style(s) given"
            )

    @cached_property
    def key(self) -> str:
        """A short id of what this job writes: its contents and looks. Re-running the same job gives the same
        key (so it resumes), whatever order its inputs are given in; another job into the same folder gets its
        own grids and manifest."""
        identity: list[object] = [
            self.command,
            self.color.value if self.color else None,
            self.sheet_name if self.sheet else None,
            sorted(look.name for look in self.looks),
            sorted(str(content.rel_dir / content.label) for content in self.contents),
        ]
        if self.styles_per_content:
            identity.append(["draw", self.styles_per_content, self.seed])
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:8]

    def _suffix(self, alpha: float) -> str:
        method = f"_{self.color.value}" if self.color else ""
        return method + (f"_alpha{alpha:.2f}" if len(self.alphas) > 1 else "")

    def output_path(self, content: Source, name: str, alpha: float) -> Path:
        """Where the output of look (or sheet) `name` at `alpha` goes: `{content}_{name}{suffix}.{ext}`, or the
        --name template's name."""
        if self.output_file is not None:
            return self.output_file
        if self.name_template is None:
            return self._named(content, f"{name}{self._suffix(alpha)}", self._ext(content))
        return (
            self.output_dir
            / content.rel_dir
            / f"{self._templated_name(self.name_template, content, name, alpha)}.{self._ext(content)}"
        )

    def _templated_name(self, template: str, content: Source, name: str, alpha: float) -> str:
        look = self._looks_by_name.get(name)
        styles = "-".join(self.styles[k].label for k in look.styles) if look else ""
        method = self.color.value if self.color else ""
        try:
            stem = template.format(content=content.path.stem, style=styles, alpha=Alpha(alpha), method=method,
                                   look=name)  # fmt: skip
        except (ValueError, TypeError) as error:  # a format spec that does not suit its field, e.g. {content:.2f}
            raise UsageError(
                f"--name {self.name_template!r}: {error} ({{alpha}} is a number, e.g. {{alpha:.3f}}; the others text)"
            ) from None
        if not stem.strip() or stem in (".", "..") or "/" in stem:
            raise UsageError(f"--name {self.name_template!r} gives no usable file name for {content.path}: {stem!r}")
        return stem

    @cached_property
    def _looks_by_name(self) -> dict[str, Look]:
        return {look.name: look for look in self.looks}

    def companion_path(self, content: Source, name: str) -> Path:
        """An image written beside a content's outputs (spatial's preview): of a clip too, it is an image."""
        ext = "png" if content.clip and self.images.ext == "auto" else output_ext(self.images.ext, content.path)
        return self._named(content, name, ext)

    def _named(self, content: Source, name: str, ext: str) -> Path:
        return self.output_dir / content.rel_dir / f"{content.label}_{name}.{ext}"

    def _ext(self, content: Source) -> str:
        if content.clip:
            return self.video.ext or content.path.suffix.lower().lstrip(".")
        return output_ext(self.images.ext, content.path)

    @cached_property
    def _draw_order(self) -> tuple[int, ...]:
        """The look indices sorted by their style files, so a draw does not depend on the order styles are given."""
        style_paths = lambda col: [str(self.styles[k].path) for k in self.looks[col].styles]  # noqa: E731
        return tuple(sorted(range(len(self.looks)), key=style_paths))

    def drawn_looks(self, content: Source) -> list[int]:
        """The indices of the looks `content` gets: every look, or in dataset mode the ones drawn for it."""
        if not self.styles_per_content:
            return list(range(len(self.looks)))
        rel_path = (content.rel_dir / content.path.name).as_posix()
        picks = draw(self.seed, rel_path, len(self.looks), self.styles_per_content)
        return sorted(self._draw_order[pick] for pick in picks)

    def outputs(self, content: Source) -> list[Output]:
        if self.sheet is not None:
            looks = range(len(self.looks))
            return [
                Output(self.output_path(content, self.sheet_name, a), tuple((k, a) for k in looks)) for a in self.alphas
            ]
        return [
            Output(self.output_path(content, self.looks[col].name, alpha), ((col, alpha),))
            for col in self.drawn_looks(content)
            for alpha in self.alphas
        ]

    @cached_property
    def every_output(self) -> list[tuple[int, Output]]:
        """Every output of the job, every shard's, as (content row, output) in content order."""
        return [(row, output) for row, content in enumerate(self.contents) for output in self.outputs(content)]

    def shard_outputs(self) -> dict[int, list[Output]]:
        """This shard's outputs by content index: a contiguous slice of all outputs in content order, so
        shards balance exactly and a content is encoded by at most two of them."""
        every = self.every_output
        index, count = self.shard
        mine: dict[int, list[Output]] = {}
        for row, output in every[len(every) * index // count : len(every) * (index + 1) // count]:
            mine.setdefault(row, []).append(output)
        return mine

    def made_id(self, row: int, output: Output) -> str:
        """What makes `output` of content `row`, in 16 hex digits: the command, the colour method, the content and
        each render's look (its styles by file, their weights) and α. The output's mark carries it, so
        --skip-existing keeps an output only when the same look made it (another seed's draw, under the same
        --name, is made again)."""
        content = self.contents[row]
        renders = []
        for look_index, alpha in output.renders:
            look = self.looks[look_index]
            styles = [[self.styles[k].label, (self.styles[k].rel_dir / self.styles[k].path.name).as_posix()]
                      for k in look.styles]  # fmt: skip
            renders.append([look.name, styles, list(look.weights) if look.weights else None, alpha])
        made_from = (content.rel_dir / content.path.name).as_posix()
        identity = [self.command, self.color.value if self.color else None, made_from, renders]
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]

    def finished(self, work: dict[int, list[Output]]) -> set[Path]:
        """With --skip-existing, the outputs of `work` (by content row) already done: complete on disk and marked
        as made by the same look (an output of another look under the same name is made again)."""
        if not self.skip_existing:
            return set()
        return {output.path for row, outputs in work.items() for output in outputs
                if self._is_done(output.path, row, output)}  # fmt: skip

    def record(
        self, row: int, output: Output, status: Status, *, error: str = "", seconds: float = 0.0, **extra: Any
    ) -> Record:
        """What `output` of content `row` is, for reports: its content, styles with weights, α and look."""
        looks = [self.looks[look] for look, _ in output.renders]
        # A sheet's cells blend the same styles with different weights: it has no one weight per style.
        styles = {k: None if look.weights is None or len(looks) > 1 else look.weights[index]
                  for look in looks for index, k in enumerate(look.styles)}  # fmt: skip
        return Record(
            path=output.path,
            content=self.contents[row].path,
            styles=tuple((self.styles[k].path, weight) for k, weight in styles.items()),
            alpha=output.renders[0][1],
            command=self.command,
            method=self.color.value if self.color else None,
            status=status,
            error=error,
            seconds=seconds,
            **extra,
        )

    def check_outputs(self, pages: Iterable[Path] = ()) -> None:
        """Refuse, before any work (the run and --dry-run alike), a job that would lose a file: two outputs with
        one name, an output that is one of the job's inputs (the same file, also through a link), or an existing
        read-only file in an output's place, or in the place of one of the grid `pages` (`sheets.page_paths`)."""
        seen: dict[Path, tuple[int, Output]] = {}
        for row, output in self.every_output:
            if output.path in seen:
                clash = f"{self._made_from(*seen[output.path])} and {self._made_from(row, output)}"
                raise AdainError(f"two outputs would both be written to {output.path}: {clash}")
            seen[output.path] = (row, output)
        banks = {style.bank for style in self.styles if style.bank is not None}
        inputs = _file_ids([source.path for source in (*self.contents, *self.styles)] + [*banks, *self.reads])
        for path, (row, output) in seen.items():
            # A read-only file that --skip-existing keeps (the same look made it) is not replaced, so it may stay.
            _check_replaceable(path, inputs, kept=partial(self._kept, path, row, output))
        for path in pages:
            _check_replaceable(path, inputs, kept=lambda: False)

    def _kept(self, path: Path, row: int, output: Output) -> bool:
        return self.skip_existing and self._is_done(path, row, output)

    def _is_done(self, path: Path, row: int, output: Output) -> bool:
        from adain_cli.marker import is_done

        made = self.made_id(row, output)
        return is_done(path, made)

    def _made_from(self, row: int, output: Output) -> str:
        """Which content, look and α make `output`, in words (for a collision's message)."""
        look, alpha = output.renders[0]
        what = "a sheet" if self.sheet is not None else self.looks[look].label
        return f"{self.contents[row].path} with {what} at alpha {alpha:g}"


def _file_ids(paths: Iterable[Path]) -> dict[tuple[int, int], Path]:
    """The (device, inode) of each existing file: what `os.path.samefile` compares, kept in a dict."""
    ids: dict[tuple[int, int], Path] = {}
    for path in paths:
        try:
            status = path.stat()
        except OSError:
            continue
        ids.setdefault((status.st_dev, status.st_ino), path)
    return ids


def _check_replaceable(path: Path, inputs: dict[tuple[int, int], Path], *, kept: Callable[[], bool]) -> None:
    """Refuse an output over one of `inputs`, or over a read-only file unless the run keeps that file (`kept`)."""
    try:
        status = path.stat()
    except OSError:  # nothing there yet (or a dangling link, which the rename replaces)
        return
    source = inputs.get((status.st_dev, status.st_ino))
    if source is not None:
        same = "" if source == path else f" (the same file as {source})"
        raise UsageError(f"the output {path} is an input of this job{same}: choose another -o or --name")
    read_only = not status.st_mode & 0o222 or not os.access(path, os.W_OK)
    if read_only and not kept():
        raise UsageError(f"the output {path} exists and is read-only: adain does not replace it (remove it first)")
