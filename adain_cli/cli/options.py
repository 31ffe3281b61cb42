"""The options every image command shares, generated from one typed table (their types: `types.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import click

from adain_cli import defaults
from adain_cli.cli import streams
from adain_cli.cli.types import (
    DATASETS,
    GRIDS,
    INPUTS,
    JOBS,
    MAIN,
    MODELS,
    OUTPUT,
    PERFORMANCE,
    VIDEO,
    ByteSize,
    DeviceType,
    ModelType,
    NumberList,
    SectionOption,
    ShardType,
    VariadicOption,
)
from adain_cli.errors import AdainError

SAMPLE_STYLES = "a sample style's name (waves, ink, …: `adain styles list`) works too"


def style_option(*, folders: bool = True, required: bool = False, help: str) -> Callable[[Callable], Callable]:
    """`--style/-s`, repeatable, in every image command: files, folders or style banks (`folders`), or the
    name of a shipped sample style."""
    from adain_cli.cli.types import StyleType

    return click.option("--style", "-s", "styles", cls=SectionOption, multiple=True, required=required,
                        type=StyleType(folders=folders), help=f"{help}; {SAMPLE_STYLES}.")  # fmt: skip


def alpha_option(func: Callable) -> Callable:
    return click.option(
        "--alpha",
        "-a",
        "alphas",
        cls=VariadicOption,
        type=NumberList(0.0, 1.0),
        default="1.0",
        show_default=True,
        metavar="A [A ...]",
        help="Style strength(s) in [0, 1]: `--alpha 0.5`, `--alpha 0 .5 1` or `--alpha 0,.5,1`.",
    )(func)


COLOR_METHODS = ("coral", "luminance")


def preserve_color_option(func: Callable) -> Callable:
    """`--preserve-color METHOD` (the value is required, so the option never takes the next argument)."""
    return click.option(
        "--preserve-color",
        "color",
        cls=SectionOption,
        type=click.Choice(COLOR_METHODS),
        default=None,
        metavar="coral|luminance",
        help="Keep the content's colours: coral recolours the styles first, luminance stylizes the luminance only.",
    )(func)


# ---------------------------------------------------------------------------------------------
# The options every image command shares: each field of CommonOptions is one click option.


def _option(*flags: str, section: str, default: Any = False, help: str, **click_settings: Any) -> Any:
    """A CommonOptions field: its default is the option's; `flags` and the rest are how click spells it,
    `section` the part of the help that lists it."""
    return field(default=default, metadata={"flags": flags, "help": help, "section": section, "click": click_settings})


def _flag(*flags: str, section: str, help: str, **click_settings: Any) -> Any:
    return _option(*flags, section=section, help=help, is_flag=True, **click_settings)


_SIZE = click.IntRange(min=0)
_FILE = click.Path(dir_okay=False, path_type=Path)
_CURRENT_FOLDER = Path()
MIN_MAX_MEMORY = 64 * 10**6  # a bare --max-memory below this is a forgotten unit, not a budget


@dataclass(frozen=True)
class CommonOptions:
    # fmt: off
    output: Path = _option(  # noqa: RUF009 (a dataclasses.field, not a shared default)
        "-o", "--output", section=MAIN, default=_CURRENT_FOLDER, type=click.Path(path_type=Path, allow_dash=True),
        help="Folder for the results; or, for a job with one output, its file (its extension picks the format; "
        "- : PNG on standard output).  [default: the current folder]",
    )
    recursive: bool = _flag("--recursive", "-r", section=MAIN, help="Walk subfolders and mirror them under OUTPUT.")
    content_size: int = _option(
        "--content-size", section=MAIN, default=defaults.CONTENT_SIZE, type=_SIZE, show_default=True,
        help="Resize contents so the shorter side is this many pixels (0 keeps the original size).",
    )
    style_size: int = _option(
        "--style-size", section=MAIN, default=defaults.STYLE_SIZE, type=_SIZE, show_default=True,
        help="Resize styles so the shorter side is this many pixels (0 keeps the original size).",
    )
    files_from: Path | None = _option(  # noqa: RUF009
        "--files-from", section=INPUTS, default=None, type=_FILE,
        help="Read contents from FILE, one path a line (- for standard input).",
    )
    list_root: Path | None = _option(  # noqa: RUF009
        "--list-root", section=INPUTS, default=None, type=click.Path(file_okay=False, path_type=Path),
        help="Name (and, in dataset mode, draw for) each --files-from path by its path relative to this folder, "
        "as `-r` over the folder would.  [default: the folder all listed files share]",
    )
    null: bool = _flag("-0", "--null", section=INPUTS,
                       help="--files-from paths are separated by NUL (as `find -print0` writes).")
    crop: bool = _flag("--crop", section=INPUTS, help="Centre-crop contents and styles to squares after resizing.")
    no_enlarge: bool = _flag(
        "--no-enlarge", section=INPUTS,
        help="Never scale an image up to --content-size or --style-size: one smaller keeps its own size "
        "(a 96×64 GIF stays 96×64); larger ones are still scaled down.",
    )
    max_pixels: int = _option(
        "--max-pixels", section=INPUTS, default=defaults.MAX_PIXELS, type=click.IntRange(min=1), show_default=True,
        help="Refuse inputs with more pixels than this (before and after resizing).",
    )
    name_template: str | None = _option(
        "--name", section=OUTPUT, default=None, metavar="TEMPLATE",
        help="Output file names from {content} (the file name without extension), {style}, {alpha}, {method} and "
        "{look}, e.g. '{content}' to mirror the inputs.  [default: {content}_{look}, then _{method} and _alpha{alpha} "
        "where they tell outputs apart]",
    )
    ext: str = _option(
        "--ext", section=OUTPUT, default="png", type=click.Choice(defaults.OUTPUT_EXTENSIONS), show_default=True,
        help="Output format; auto keeps each content's own (jpg, png, webp, tif), else png.",
    )
    quality: int = _option(
        "--quality", section=OUTPUT, default=defaults.QUALITY, type=click.IntRange(1, 100), show_default=True,
        help="Quality (1–100) of jpg and webp outputs.",
    )
    output_size: str = _option(
        "--output-size", section=OUTPUT, default="processed", type=click.Choice(["processed", "original"]),
        show_default=True,
        help="processed: outputs at the size the network ran at (--content-size). original: each image output "
        "resized (Lanczos) to its content's own size; this adds no detail.",
    )
    grid: bool = _option("--grid/--no-grid", section=GRIDS, default=True, show_default=True,
                         help="Write one contact sheet per α.")
    grid_labels: bool = _option(
        "--grid-labels/--no-grid-labels", section=GRIDS, default=True, show_default=True,
        help="Name the styles and contents on the contact sheets.",
    )
    grid_cell: int = _option(
        "--grid-cell", section=GRIDS, default=defaults.GRID_CELL, type=click.IntRange(min=16), show_default=True,
        help="Side of one grid cell in pixels.",
    )
    grid_rows: int = _option(
        "--grid-rows", section=GRIDS, default=100, type=click.IntRange(min=1), show_default=True,
        help="Contents on one page of a grid; a taller sheet is split into pages (style headers on each).",
    )
    frames: int | None = _option(
        "--frames", section=VIDEO, default=None, type=click.IntRange(min=1), metavar="N",
        help="Stylize only the first N frames (a quick preview).",
    )
    video_ext: str | None = _option(
        "--video-ext", section=VIDEO, default=None,
        type=click.Choice(["mp4", "mov", "mkv", "webm", "avi", "gif", "webp"]),
        help="Container for stylized clips.  [default: the input's own]",
    )
    stabilize: bool = _option(
        "--stabilize/--no-stabilize", section=VIDEO, default=True, show_default=True,
        help="Average the features of still parts over time, so noise does not flicker.",
    )
    stabilize_strength: float = _option(
        "--stabilize-strength", section=VIDEO, default=defaults.STABILIZE_STRENGTH, type=click.FloatRange(0.0, 0.99),
        show_default=True, help="How much of the running average a still part keeps (0–0.99).",
    )
    skip_existing: bool = _flag("--skip-existing", section=JOBS,
                                help="Leave outputs this job already made (resume a job).")
    shard: tuple[int, int] | None = _option(
        "--shard", section=JOBS, default=None, type=ShardType(),
        help="Do only the K-th of N equal slices of the job (then `adain grid OUTPUT` for the grids).",
    )
    dry_run: bool = _flag("--dry-run", section=JOBS,
                          help="Print what would be written (and skipped) without loading the networks.")
    quiet: bool = _flag("--quiet", "-q", section=JOBS, help="No progress or summary; errors only.")
    verbose: bool = _flag("--verbose", section=JOBS,
                          help="In a pipe, a line per output too (not only a progress line now and then).")
    json: bool = _flag("--json", section=JOBS,
                       help="Print one JSON object on stdout: the summary, a record per output.")
    json_lines: bool = _flag("--json-lines", section=JOBS,
                             help="Print one JSON record per output on stdout as each finishes.")
    device: str = _option(
        "--device", section=PERFORMANCE, default="auto", type=DeviceType(), show_default=True,
        help="auto, cpu, cuda, cuda:N or mps.",
    )
    precision: str = _option(
        "--precision", section=PERFORMANCE, default="auto", type=click.Choice(defaults.PRECISIONS), show_default=True,
        help="The number format the networks compute in. auto: fp16 on CUDA; fp32 on CPUs, even with native bf16 "
        "(bf16 puts up to 7% of 8-bit values more than 2 levels from fp32; `adain doctor` says which here). fp32 is "
        "the reference-exact path.",
    )
    batch_size: int = _option(
        "--batch-size", section=PERFORMANCE, default=0, type=_SIZE, show_default=True,
        help="Images through the network in one pass (0: 1 on a CPU but 8 for tiny images under 128² px, 8 on "
        "CUDA, 4 on MPS).",
    )
    tile: int = _option(
        "--tile", section=PERFORMANCE, default=0, type=_SIZE, show_default=True,
        help="Process images in square tiles of this side in pixels (0: only when over --max-memory).",
    )
    max_memory: int | None = _option(
        "--max-memory", section=PERFORMANCE, default=None, type=ByteSize(minimum=MIN_MAX_MEMORY),
        help="Memory one network pass may use before images are tiled, with a unit: 4GB, 512MB "
        "(default: 80% of free GPU memory, half the RAM on a CPU).",
    )
    io_threads: int | None = _option(
        "--io-threads", section=PERFORMANCE, default=None, type=click.IntRange(min=1), metavar="N",
        help="Threads that load contents ahead of the network, and as many that save outputs (default: half the "
        "cores this process may use, 2 to 16).",
    )
    compile_model: bool = _flag(
        "--compile", section=PERFORMANCE,
        help="torch.compile the networks (slow first image; pays off on long GPU jobs).",
    )
    encoder: str = _option(
        "--encoder", section=MODELS, default=defaults.ENCODER, type=ModelType(), show_default=True,
        help="The encoder model: a registered name (`adain models list`) or a .pth file.",
    )
    decoder: str = _option(
        "--decoder", section=MODELS, default=defaults.DECODER, type=ModelType(), show_default=True,
        help="The decoder model: a registered name (`adain models list`) or a .pth file.",
    )
    offline: bool = _flag("--offline", section=MODELS, envvar="ADAIN_OFFLINE",
                          help="Never download models (also ADAIN_OFFLINE=1).")
    no_verify: bool = _flag(
        "--no-verify", section=MODELS, envvar="ADAIN_NO_VERIFY",
        help="Accept downloaded models whose SHA-256 differs, with a warning (also ADAIN_NO_VERIFY=1); "
        "they must still load.",
    )
    # fmt: on

    @classmethod
    def pop(cls, kwargs: dict[str, Any]) -> CommonOptions:
        """Take this table's values out of a command's keyword arguments."""
        return _pop(cls, kwargs)

    @classmethod
    def option(cls, name: str) -> Callable[[Callable], Callable]:
        """The click option of one field, for a command that wants it alone (e.g. `weights download`)."""
        return _click_option(next(option for option in fields(cls) if option.name == name))


@dataclass(frozen=True)
class DrawOptions:
    """Dataset mode of `stylize` and `preserve-color`: a few styles drawn for each content."""

    styles_per_content: int = _option(
        "--styles-per-content",
        section=DATASETS,
        default=0,
        type=click.IntRange(min=0),
        metavar="N",
        help="Dataset mode: each content gets N distinct styles drawn from the --style inputs (0: every style).",
    )
    seed: int = _option(
        "--seed",
        section=DATASETS,
        default=0,
        type=int,
        show_default=True,
        help="Seed of the --styles-per-content draw (a content's draw depends only on it and its relative path).",
    )

    @classmethod
    def pop(cls, kwargs: dict[str, Any]) -> DrawOptions:
        return _pop(cls, kwargs)


def draw_options(func: Callable) -> Callable:
    return _table_options(DrawOptions, func)


def _pop(table: Any, kwargs: dict[str, Any]) -> Any:
    return table(**{option.name: kwargs.pop(option.name) for option in fields(table)})


def _table_options(table: Any, func: Callable) -> Callable:
    for option in reversed(fields(table)):
        func = _click_option(option)(func)
    return func


def _click_option(option: Any) -> Callable[[Callable], Callable]:
    meta = option.metadata
    return click.option(*meta["flags"], option.name, cls=SectionOption, section=meta["section"],
                        default=option.default, help=meta["help"], **meta["click"])  # fmt: skip


def common_options(func: Callable) -> Callable:
    return _table_options(CommonOptions, func)


def read_files_from(source: Path, null: bool) -> list[Path]:
    """Paths from a list file (`-`: standard input), one a line or NUL-separated; blank entries skipped."""
    try:
        data = streams.binary_stdin().read() if str(source) == "-" else source.read_bytes()
    except AdainError as error:  # no standard input: it was closed (`<&-`)
        raise click.BadParameter(str(error), param_hint="'--files-from'") from None
    except OSError as error:
        message = f"cannot read {source}: {error.strerror or error}"
        raise click.BadParameter(message, param_hint="'--files-from'") from None
    text = data.decode("utf-8", errors="surrogateescape")
    entries = text.split("\0") if null else text.splitlines()
    return [Path(entry) for entry in entries if entry.strip("\r\n")]
