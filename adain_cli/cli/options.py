"""Option types and the options every image command shares, generated from one typed table."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import click

from adain_cli import defaults
from adain_cli.cli import streams
from adain_cli.errors import AdainError

# A number as float() reads it (inf and nan too, so they reach the option and are refused by name).
_ONE_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)"
_NUMBER = re.compile(rf"^({_ONE_NUMBER})(,({_ONE_NUMBER})?)*$", re.IGNORECASE)


class NumberList(click.ParamType):
    """A comma-separated list of finite floats, each checked against [low, high] when given."""

    name = "numbers"

    def __init__(self, low: float | None = None, high: float | None = None) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[float, ...]:
        if isinstance(value, tuple):
            return value
        numbers: list[float] = []
        for part in str(value).split(","):
            if not part.strip():
                continue
            try:
                number = float(part)
            except ValueError:
                self.fail(f"{part.strip()!r} is not a number", param, ctx)
            if not math.isfinite(number):
                self.fail(f"{part.strip()!r} is not a finite number", param, ctx)
            if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
                self.fail(f"{part.strip()} is out of range {self._range()}", param, ctx)
            numbers.append(number)
        if not numbers:
            self.fail("expected at least one number", param, ctx)
        return tuple(numbers)

    def _range(self) -> str:
        if self.high is None:
            return f"(must be at least {self.low:g})"
        return f"[{self.low:g}, {self.high:g}]"


class ByteSize(click.ParamType):
    """A size such as 512MB, 4GB or 1.5GiB (plain numbers are bytes)."""

    name = "size"
    _UNITS: ClassVar[dict[str, int]] = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
              "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
        if not match or match.group(2).lower() not in self._UNITS:
            self.fail(f"{value!r} is not a size like 512MB or 4GB", param, ctx)
        return int(float(match.group(1)) * self._UNITS[match.group(2).lower()])


class ShardType(click.ParamType):
    """K/N with 1 ≤ K ≤ N: the K-th of N equal slices of a job (for scheduler array jobs)."""

    name = "K/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(value))
        if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
            self.fail(f"{value!r} is not K/N with 1 ≤ K ≤ N (e.g. 2/8)", param, ctx)
        return int(match.group(1)) - 1, int(match.group(2))


class StyleType(click.ParamType):
    """A style: a path is that file or folder; a bare name that names nothing here is a shipped sample style
    (`--style waves`)."""

    name = "style"

    def __init__(self, *, folders: bool = True) -> None:
        self.folders = folders

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        from adain_cli.errors import UsageError
        from adain_cli.inputs import style_path

        try:
            path = value if isinstance(value, Path) else style_path(str(value))
        except UsageError as error:
            self.fail(str(error), param, ctx)
        if not self.folders and path.is_dir():
            self.fail(f"{path} is a folder; give a style image", param, ctx)
        return path

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        from adain_cli.inputs import sample_style_names

        names = [CompletionItem(name) for name in sample_style_names() if name.startswith(incomplete)]
        return [*names, CompletionItem(incomplete, type="file")]


class DeviceType(click.ParamType):
    """auto, cpu, cuda, cuda:N or mps, checked by its spelling alone (whether the device exists is asked of
    torch later, once it is loaded)."""

    name = "device"
    CHOICES = ("auto", "cpu", "cuda", "cuda:0", "mps")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", str(value).strip().lower()):
            self.fail(f"unknown device {value!r} (use auto or cpu; or cuda, cuda:N, mps)", param, ctx)
        return str(value).strip().lower()

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(choice) for choice in self.CHOICES if choice.startswith(incomplete)]


class WeightsType(click.ParamType):
    """A registered weights name or a checkpoint path, as typed (which it is is decided when it is loaded);
    completes to the registered names and to files."""

    name = "name|path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return str(value)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        from adain_cli.registry import REGISTRY

        names = [CompletionItem(name) for name in REGISTRY if name.startswith(incomplete)]
        return [*names, CompletionItem(incomplete, type="file")]


class VariadicOption(click.Option):
    """An option whose value may be spread over several following numeric arguments."""


class AdainCommand(click.Command):
    """A command that joins `--opt 0 .5 1` into `--opt 0,.5,1` for its variadic options.

    Click options take a fixed number of values, so the numbers that follow a variadic option are
    gathered before click parses. Only tokens that read as numbers are taken, so positional paths
    after the option are left alone (a path literally named like a number needs `--` or to come first).
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        names = {opt for p in self.params if isinstance(p, VariadicOption) for opt in p.opts}
        joined: list[str] = []
        index = 0
        while index < len(args):
            token = args[index]
            joined.append(token)
            index += 1
            if token == "--":
                joined.extend(args[index:])
                break
            if token in names:
                values = []
                while index < len(args) and _NUMBER.match(args[index]):
                    values.append(args[index].strip(","))
                    index += 1
                if values:
                    joined.append(",".join(values))
        return super().parse_args(ctx, joined)


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


def preserve_color_option(func: Callable) -> Callable:
    return click.option(
        "--preserve-color",
        "color",
        type=click.Choice(["coral", "luminance"]),
        is_flag=False,
        flag_value="coral",
        default=None,
        help="Keep the content's colours: coral (alone: the default) or luminance.",
    )(func)


# ---------------------------------------------------------------------------------------------
# The options every image command shares: each field of CommonOptions is one click option.


def _option(*flags: str, default: Any = False, help: str, **click_settings: Any) -> Any:
    """A CommonOptions field: its default is the option's; `flags` and the rest are how click spells it."""
    return field(default=default, metadata={"flags": flags, "help": help, "click": click_settings})


def _flag(*flags: str, help: str, **click_settings: Any) -> Any:
    return _option(*flags, help=help, is_flag=True, **click_settings)


_SIZE = click.IntRange(min=0)
_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)
_CURRENT_FOLDER = Path()


@dataclass(frozen=True)
class CommonOptions:
    output: Path = _option(  # noqa: RUF009 (a dataclasses.field, not a shared default)
        "-o",
        "--output",
        default=_CURRENT_FOLDER,
        type=click.Path(path_type=Path, allow_dash=True),
        help="Folder for the results (created if needed); or, for a job with one output, its file "
        "(result.png: the extension picks the format; - : PNG on standard output).  [default: the current folder]",
    )
    recursive: bool = _flag("--recursive", "-r", help="Walk subfolders and mirror them under OUTPUT.")
    files_from: Path | None = _option(  # noqa: RUF009
        "--files-from",
        default=None,
        type=_FILE,
        help="Read contents from FILE, one path a line (- for standard input).",
    )
    null: bool = _flag("-0", "--null", help="--files-from paths are separated by NUL (as `find -print0` writes).")
    content_size: int = _option(
        "--content-size",
        default=defaults.CONTENT_SIZE,
        type=_SIZE,
        show_default=True,
        help="Resize contents so the shorter side is this (0 keeps the original size).",
    )
    style_size: int = _option(
        "--style-size",
        default=defaults.STYLE_SIZE,
        type=_SIZE,
        show_default=True,
        help="Resize styles so the shorter side is this (0 keeps the original size).",
    )
    no_enlarge: bool = _flag(
        "--no-enlarge",
        help="Never scale an image up to --content-size or --style-size: one smaller keeps its own size "
        "(a 96×64 GIF stays 96×64); larger ones are still scaled down.",
    )
    name_template: str | None = _option(
        "--name",
        default=None,
        metavar="TEMPLATE",
        help="Output file names from {content} (the file name without extension), {style}, {alpha}, {method} and "
        "{look}, e.g. '{content}' to mirror the inputs.  [default: {content}_{look}, then _{method} and _alpha{alpha} "
        "where they tell outputs apart]",
    )
    output_size: str = _option(
        "--output-size",
        default="processed",
        type=click.Choice(["processed", "original"]),
        show_default=True,
        help="processed: outputs at the size the network ran at (--content-size). original: each image output "
        "resized (Lanczos) to its content's own size; this adds no detail.",
    )
    crop: bool = _flag("--crop", help="Centre-crop contents and styles to squares after resizing.")
    ext: str = _option(
        "--ext",
        default="png",
        type=click.Choice(defaults.OUTPUT_EXTENSIONS),
        show_default=True,
        help="Output format; auto keeps each content's own (jpg, png, webp, tif), else png.",
    )
    quality: int = _option(
        "--quality",
        default=defaults.QUALITY,
        type=click.IntRange(1, 100),
        show_default=True,
        help="Quality for jpg and webp outputs.",
    )
    max_pixels: int = _option(
        "--max-pixels",
        default=defaults.MAX_PIXELS,
        type=click.IntRange(min=1),
        show_default=True,
        help="Refuse inputs larger than this (before and after resizing).",
    )
    encoder: str = _option(
        "--encoder",
        "--vgg",
        default=defaults.ENCODER,
        type=WeightsType(),
        show_default=True,
        help="Encoder weights: a registered name or a .pth path.",
    )
    decoder: str = _option(
        "--decoder",
        default=defaults.DECODER,
        type=WeightsType(),
        show_default=True,
        help="Decoder weights: a registered name or a .pth path.",
    )
    offline: bool = _flag("--offline", envvar="ADAIN_OFFLINE", help="Never download weights (also ADAIN_OFFLINE=1).")
    no_verify: bool = _flag(
        "--no-verify",
        envvar="ADAIN_NO_VERIFY",
        help="Accept downloaded weights whose SHA-256 differs, with a warning (also "
        "ADAIN_NO_VERIFY=1); they must still load.",
    )
    device: str = _option(
        "--device", default="auto", type=DeviceType(), show_default=True, help="auto, cpu, cuda, cuda:N or mps."
    )
    precision: str = _option(
        "--precision",
        default="auto",
        type=click.Choice(defaults.PRECISIONS),
        show_default=True,
        help="auto: fp16 on CUDA, fp32 on CPU.",
    )
    batch_size: int = _option(
        "--batch-size",
        default=0,
        type=_SIZE,
        show_default=True,
        help="Images decoded together, and tiny contents (under 128² px) of one size encoded together "
        "(0: 1 on a CPU but 8 for tiny images, 8 on CUDA, 4 on MPS; 1: each content alone).",
    )
    tile: int = _option(
        "--tile",
        default=0,
        type=_SIZE,
        show_default=True,
        help="Process images in tiles of this many pixels (0: only when over --max-memory).",
    )
    max_memory: int | None = _option(
        "--max-memory",
        default=None,
        type=ByteSize(),
        help="Memory one network pass may use before images are tiled, e.g. 4GB "
        "(default: 80% of free GPU memory, half the RAM on a CPU).",
    )
    shard: tuple[int, int] | None = _option(
        "--shard",
        default=None,
        type=ShardType(),
        help="Do only the K-th of N equal slices of the job (then `adain grid OUTPUT` for the grids).",
    )
    compile_model: bool = _flag(
        "--compile", help="torch.compile the networks (slow first image; pays off on long GPU jobs)."
    )
    grid: bool = _option("--grid/--no-grid", default=True, show_default=True, help="Write one contact sheet per α.")
    grid_labels: bool = _option(
        "--grid-labels/--no-grid-labels",
        default=True,
        show_default=True,
        help="Name the styles and contents on the contact sheets.",
    )
    grid_cell: int = _option(
        "--grid-cell",
        default=defaults.GRID_CELL,
        type=click.IntRange(min=16),
        show_default=True,
        help="Side of one grid cell in pixels.",
    )
    grid_rows: int = _option(
        "--grid-rows",
        default=100,
        type=click.IntRange(min=1),
        show_default=True,
        help="Contents on one page of a grid; a taller sheet is split into pages (style headers on each).",
    )
    frames: int | None = _option(
        "--frames",
        default=None,
        type=click.IntRange(min=1),
        metavar="N",
        help="Videos and animations: stylize only the first N frames (a quick preview).",
    )
    video_ext: str | None = _option(
        "--video-ext",
        default=None,
        type=click.Choice(["mp4", "mov", "mkv", "webm", "avi", "gif", "webp"]),
        help="Container for stylized clips.  [default: the input's own]",
    )
    stabilize: bool = _option(
        "--stabilize/--no-stabilize",
        default=True,
        show_default=True,
        help="Videos: average the features of still parts over time, so noise does not flicker.",
    )
    stabilize_strength: float = _option(
        "--stabilize-strength",
        default=defaults.STABILIZE_STRENGTH,
        type=click.FloatRange(0.0, 0.99),
        show_default=True,
        help="How much of the running average a still part keeps.",
    )
    skip_existing: bool = _flag("--skip-existing", help="Leave outputs that already exist (resume a job).")
    dry_run: bool = _flag("--dry-run", help="Print what would be written (and skipped) without loading the networks.")
    quiet: bool = _flag("--quiet", "-q", help="No progress or summary; errors only.")
    verbose: bool = _flag("--verbose", help="In a pipe, a line per output too (not only a progress line now and then).")
    json: bool = _flag("--json", help="Print a JSON summary with one record per output on stdout.")
    json_lines: bool = _flag("--json-lines", help="Print one JSON record per output on stdout as each finishes.")

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
        default=0,
        type=click.IntRange(min=0),
        metavar="N",
        help="Dataset mode: each content gets N distinct styles drawn from the --style inputs (0: every style).",
    )
    seed: int = _option(
        "--seed",
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
    return click.option(*meta["flags"], option.name, default=option.default, help=meta["help"], **meta["click"])


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
