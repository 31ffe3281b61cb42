"""Planning a job: from a `Request` (what to stylize, with what, how, where) to the `Job` the runner runs, and
the notes worth telling the user before any work (renamed inputs, earlier outputs not read back in, …).

The command line only turns its options into a `Request` and prints; a library user gets the same job from
the same request: `run_job(stylizer, plan(Request(...)).job)`. Torch-free, so a job is planned, and a bad
request refused, before torch loads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from adain_cli import defaults, inputs
from adain_cli.bankfile import is_bank
from adain_cli.errors import AdainError, UsageError
from adain_cli.inputs import Source
from adain_cli.job import ImageOptions, Job, VideoOptions
from adain_cli.looks import ColorMethod, Look, interpolation_look, sheet_looks, style_looks
from adain_cli.marker import written_by_adain

COMMANDS = ("stylize", "preserve-color", "interpolate", "spatial")


@dataclass(frozen=True)
class Request:
    """A job as asked for. Paths are as given (files or folders; str or Path); `listed` are contents read from a
    list (one path a line), named and drawn by their path relative to `list_root` (default: the folder they all
    share), as a recursive walk of that folder names them."""

    contents: Sequence[Path] = ()
    styles: Sequence[Path] = ()
    output: Path = Path()  # a folder, or for a job with one output its file (the extension picks the format)
    command: str = "stylize"  # which looks: one of COMMANDS
    alphas: Sequence[float] = (1.0,)
    color: str | None = None  # keep the contents' colours: "coral" or "luminance"
    weights: Sequence[float] | None = None  # interpolate: one per style (default: equal)
    sheet: int | None = None  # interpolate: the N×N (4 styles) or 1×N (2 styles) interpolation figure
    masks: Sequence[Path] = ()  # spatial: one mask image per region …
    mask_dirs: Sequence[Path] = ()  # … or one folder of masks (by content stem) per region
    preview: bool = False  # spatial: also write each content with its regions tinted
    recursive: bool = False
    listed: Sequence[Path] = ()
    list_file: Path | None = None  # where `listed` came from (never replaced by an output)
    list_root: Path | None = None
    images: ImageOptions = field(default_factory=ImageOptions)
    video: VideoOptions = field(default_factory=VideoOptions)
    name_template: str | None = None
    grid: bool = True
    grid_cell: int = defaults.GRID_CELL
    grid_labels: bool = True
    grid_rows: int = defaults.GRID_ROWS
    skip_existing: bool = False
    batch_size: int = 0
    styles_per_content: int = 0  # dataset mode: N styles drawn for each content (0: every style)
    seed: int = 0
    shard: tuple[int, int] = (0, 1)

    def __post_init__(self) -> None:  # paths may be given as strings; the planner sees Paths
        for name in ("contents", "styles", "listed", "masks", "mask_dirs"):
            object.__setattr__(self, name, tuple(Path(path) for path in getattr(self, name)))
        object.__setattr__(self, "output", Path(self.output))


@dataclass
class Plan:
    job: Job
    notes: list[str] = field(default_factory=list)  # one line each, said before any work


def plan(request: Request) -> Plan:
    """The job `request` asks for, checked as far as can be without loading an image or torch. Raises
    `UsageError` for a request that cannot mean anything, `AdainError` when no input is found."""
    if request.command not in COMMANDS:
        raise UsageError(f"unknown command {request.command!r} (one of {', '.join(COMMANDS)})")
    if request.command == "preserve-color" and request.color is None:
        request = replace(request, color="coral")
    notes: list[str] = []
    one_file = names_one_file(request.output)
    folder = request.output.parent if one_file else request.output
    contents = _contents(request, folder, notes)
    styles = _styles(request, folder, notes)
    looks, extra = _looks(request, styles)
    job = Job(
        contents=tuple(contents),
        styles=tuple(styles),
        looks=tuple(looks),
        output_dir=Path() if one_file else request.output,
        alphas=tuple(dict.fromkeys(request.alphas)),
        images=request.images,
        grid=request.grid,
        grid_labels=request.grid_labels,
        skip_existing=request.skip_existing,
        batch_size=request.batch_size,
        color=ColorMethod(request.color) if request.color else None,
        command=request.command,
        video=request.video,
        name_template=request.name_template,
        styles_per_content=request.styles_per_content,
        seed=request.seed,
        shard=request.shard,
        reads=(*extra.pop("reads", ()), *([request.list_file] if request.list_file else [])),
        grid_cell=request.grid_cell,
        grid_rows=request.grid_rows,
        **extra,
    )
    if one_file:
        job = _one_file(job, request.output)
    if request.name_template is None:  # under a --name template a content is named by its stem, not its label
        notes += [f"{line} (another input has the same name)" for line in inputs.renamed(contents)]
    notes += [f"{line} (another input has the same name)" for line in inputs.renamed(styles)]
    return Plan(job, notes)


def names_one_file(output: Path) -> bool:
    """Whether `output` names one output file (`result.png`) rather than a folder (`inputs.names_an_output_file`:
    an extension adain does not write is refused)."""
    return inputs.names_an_output_file(output)


def _contents(request: Request, output: Path, notes: list[str]) -> list[Source]:
    if not request.contents and not request.listed:
        raise UsageError("give at least one content (a file or folder), or a list of them (--files-from)")
    found = _not_ours(inputs.discover(request.contents, recursive=request.recursive, videos=True), output,
                      "content", notes)  # fmt: skip
    found += listed_sources(request.listed, request.list_root)
    unique = {source.path.resolve(): source for source in reversed(found)}  # the first mention of a file wins
    found = [source for source in found if unique.get(source.path.resolve()) is source]
    if not found:
        raise AdainError(inputs.none_found(request.contents, "content", recursive=request.recursive, videos=True))
    if (note := inputs.unwalked(request.contents, recursive=request.recursive, output=output)) is not None:
        notes.append(note)
    return inputs.with_unique_labels(found)


def listed_sources(paths: Sequence[Path], root: Path | None = None) -> list[Source]:
    """Contents from a list, each under its folder relative to `root` (default: the deepest folder they all
    share): the names and the dataset-mode draws a recursive walk of `root` would give them."""
    if not paths:
        return []
    folders = [os.path.abspath(path.parent) for path in paths]
    base = os.path.abspath(root) if root is not None else os.path.commonpath(folders)
    sources = []
    for path, folder in zip(paths, folders, strict=True):
        if os.path.commonpath([base, folder]) != base:
            raise UsageError(f"{path} (listed) is not inside the list's root {root}")
        sources.append(Source(path, Path(os.path.relpath(folder, base)), clip=inputs.is_clip(path)))
    return sources


def _styles(request: Request, output: Path, notes: list[str]) -> list[Source]:
    if not request.styles:
        raise UsageError("give at least one style (--style)")
    if request.command in ("interpolate", "spatial"):
        # Each style given is one blend weight or one region: a style given twice is two (no folders, no merging).
        folder = next((style for style in request.styles if style.is_dir()), None)
        if folder is not None:
            raise UsageError(f"{folder} is a folder; each style of {request.command} is one image (or a style bank)")
        given = [s for path in request.styles for s in (inputs.bank_sources(path) if is_bank(path) else [Source(path)])]
        return inputs.with_unique_labels(given)
    return find_styles(request.styles, recursive=request.recursive, output=output, notes=notes)


def find_styles(
    paths: Sequence[Path],
    *,
    recursive: bool = False,
    mirror: bool = False,
    output: Path | None = None,
    notes: list[str] | None = None,
) -> list[Source]:
    """The style images in `paths` (files, folders, style banks), less those adain wrote in `output`; with
    `mirror`, each remembers its folder relative to the folder given."""
    found = inputs.discover(paths, recursive=recursive, mirror=mirror, banks=True)
    if output is not None:
        found = _not_ours(found, output, "style", notes if notes is not None else [])
    if not found:
        raise AdainError(inputs.none_found(paths, "style", recursive=recursive, videos=False))
    if notes is not None and (note := inputs.unwalked(paths, recursive=recursive, output=output)) is not None:
        notes.append(note)
    return found


def _not_ours(found: list[Source], output: Path, what: str, notes: list[str]) -> list[Source]:
    """`found` less any image adain itself wrote in the `output` folder (earlier outputs, grids and previews are
    never read back in as inputs; said once)."""
    folder = output.resolve()
    ours = {s.path for s in found if s.path.resolve().is_relative_to(folder) and written_by_adain(s.path)}
    if ours:
        notes.append(f"{len(ours)} image(s) adain wrote in the output folder {output} are not read as {what}s")
    return [source for source in found if source.path not in ours]


def _looks(request: Request, styles: list[Source]) -> tuple[list[Look], dict[str, Any]]:
    """The looks of the job and the Job fields only this command sets."""
    if request.command == "interpolate":
        return _interpolation(request, styles)
    if request.command == "spatial":
        return _spatial(request, styles)
    for name, given in (("--weights", request.weights), ("--sheet", request.sheet), ("--mask", request.masks)):
        if given:
            raise UsageError(f"{name} belongs to another command than {request.command}")
    return style_looks(styles), {}


def _interpolation(request: Request, styles: list[Source]) -> tuple[list[Look], dict[str, Any]]:
    if len(styles) < 2:
        raise UsageError("interpolate needs at least two styles (for one, use `adain stylize`)")
    if request.sheet is not None:
        if request.weights is not None:
            raise UsageError("--sheet sets the weights of every cell itself: give --sheet or --weights")
        try:
            looks, shape, name = sheet_looks(styles, request.sheet)
        except ValueError as error:
            raise UsageError(f"--sheet: {error}") from None
        return looks, {"sheet": shape, "sheet_name": name}
    weights = request.weights or (1.0,) * len(styles)
    if len(weights) != len(styles):
        raise UsageError(f"--weights: {len(weights)} weights for {len(styles)} styles")
    try:
        return [interpolation_look(styles, weights)], {}
    except ValueError as error:
        raise UsageError(f"--weights: {error}") from None


def _spatial(request: Request, styles: list[Source]) -> tuple[list[Look], dict[str, Any]]:
    from adain_cli.spatial import MaskCache, MaskSpec, preview_companions, spatial_look

    if request.masks and request.mask_dirs:
        raise UsageError("use --mask or --mask-dir, not both")
    spec = MaskSpec(files=tuple(request.masks), folders=tuple(request.mask_dirs))
    if spec.regions == 0:
        raise UsageError("give at least one --mask (or --mask-dir)")
    if spec.regions > len(styles):
        raise UsageError(f"{spec.regions} masks but only {len(styles)} styles: each mask needs a style")
    if len(styles) > spec.regions + 1:  # one more than the masks is the background; two more is a mistake
        raise UsageError(
            f"{len(styles)} styles for {spec.regions} masks: only one style (the last) can be the background"
        )
    cache = MaskCache(spec, request.images.max_pixels)
    companions = preview_companions(styles, cache) if request.preview else None
    return [spatial_look(styles, cache)], {"companions": companions, "reads": spec.every_file()}


def _one_file(job: Job, target: Path) -> Job:
    """The job with its one output written to `target` (its extension picks the format); a job with more
    outputs than one, or a clip's, cannot be."""
    count = sum(len(job.outputs(content)) for content in job.contents)
    if count != 1:
        raise UsageError(f"-o {target} names one file, but this job writes {count} outputs; give a folder instead")
    if job.contents[0].clip:
        raise UsageError(f"{job.contents[0].path} is a video; give a folder for its output (-o)")
    return replace(job, output_dir=target.parent, output_file=target, grid=False)
