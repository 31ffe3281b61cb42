"""The `adain` command: a click group of thin commands over the one engine.

Each command parses its options into plain dataclasses, builds a `Job`, and hands it to `run`.
Nothing here imports torch at module level, so `adain --version` and `--help` answer at once.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import click

from adain_cli import __version__
from adain_cli.errors import AdainError

if TYPE_CHECKING:
    from adain_cli.images import Source
    from adain_cli.job import Job
    from adain_cli.looks import Look
    from adain_cli.report import Summary

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# A number as float() reads it (inf and nan too, so they reach the option and are refused by name).
_ONE_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)"
_NUMBER = re.compile(rf"^({_ONE_NUMBER})(,({_ONE_NUMBER})?)*$", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Options that take several numbers: `--alpha 0 .5 1`, `--alpha 0,.5,1`


class NumberList(click.ParamType):
    """A comma-separated list of floats, each checked against [low, high] when given."""

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


# ---------------------------------------------------------------------------------------------
# Options every image command shares


@dataclass(frozen=True)
class CommonOptions:
    output: Path
    recursive: bool
    content_size: int
    style_size: int
    crop: bool
    ext: str
    quality: int
    max_pixels: int
    encoder: str
    decoder: str
    offline: bool
    no_verify: bool
    device: str
    precision: str
    batch_size: int
    compile_model: bool
    tile: int
    max_memory: int | None
    shard: tuple[int, int] | None
    grid: bool
    grid_cell: int
    skip_existing: bool
    quiet: bool
    json: bool

    @classmethod
    def pop(cls, kwargs: dict[str, Any]) -> CommonOptions:
        return cls(**{name: kwargs.pop(name) for name in cls.__dataclass_fields__})


_FETCH_OPTIONS: list[Callable] = [
    click.option(
        "--offline", is_flag=True, envvar="ADAIN_OFFLINE", help="Never download weights (also ADAIN_OFFLINE=1)."
    ),
    click.option(
        "--no-verify",
        is_flag=True,
        envvar="ADAIN_NO_VERIFY",
        help="Accept downloaded weights whose SHA-256 does not match, with a warning (also ADAIN_NO_VERIFY=1).",
    ),
]

_COMMON_OPTIONS: list[Callable] = [
    click.option(
        "-o",
        "--output",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(),
        help="Folder for the results (created if needed).  [default: the current folder]",
    ),
    click.option("--recursive", "-r", is_flag=True, help="Walk subfolders and mirror them under OUTPUT."),
    click.option(
        "--content-size",
        type=click.IntRange(min=0),
        default=512,
        show_default=True,
        help="Resize contents so the shorter side is this (0 keeps the original size).",
    ),
    click.option(
        "--style-size",
        type=click.IntRange(min=0),
        default=512,
        show_default=True,
        help="Resize styles so the shorter side is this (0 keeps the original size).",
    ),
    click.option("--crop", is_flag=True, help="Centre-crop contents and styles to squares after resizing."),
    click.option(
        "--ext", type=click.Choice(["png", "jpg", "webp"]), default="png", show_default=True, help="Output format."
    ),
    click.option(
        "--quality",
        type=click.IntRange(1, 100),
        default=95,
        show_default=True,
        help="Quality for jpg and webp outputs.",
    ),
    click.option(
        "--max-pixels",
        type=click.IntRange(min=1),
        default=178_956_970,
        show_default=True,
        help="Refuse inputs larger than this many pixels.",
    ),
    click.option(
        "--encoder",
        "--vgg",
        "encoder",
        default="vgg_normalised",
        show_default=True,
        help="Encoder weights: a registered name or a .pth path.",
    ),
    click.option(
        "--decoder", default="decoder", show_default=True, help="Decoder weights: a registered name or a .pth path."
    ),
    *_FETCH_OPTIONS,
    click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps."),
    click.option(
        "--precision",
        type=click.Choice(["auto", "fp32", "fp16", "bf16"]),
        default="auto",
        show_default=True,
        help="auto: fp16 on CUDA, fp32 on CPU.",
    ),
    click.option(
        "--batch-size",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Images decoded together (0: 1 on a CPU, 8 on CUDA, 4 on MPS).",
    ),
    click.option(
        "--tile",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Process images in tiles of this many pixels (0: only when over --max-memory).",
    ),
    click.option(
        "--max-memory",
        type=ByteSize(),
        default=None,
        help="Memory one network pass may use before images are tiled, e.g. 4GB "
        "(default: 80% of free GPU memory, half the RAM on a CPU).",
    ),
    click.option(
        "--shard",
        type=ShardType(),
        default=None,
        help="Do only the K-th of N equal slices of the job (then `adain grid OUTPUT` for the grids).",
    ),
    click.option(
        "--compile",
        "compile_model",
        is_flag=True,
        help="torch.compile the networks (slow first image; pays off on long GPU jobs).",
    ),
    click.option("--grid/--no-grid", default=True, show_default=True, help="Write one contact sheet per α."),
    click.option(
        "--grid-cell",
        type=click.IntRange(min=16),
        default=256,
        show_default=True,
        help="Side of one grid cell in pixels.",
    ),
    click.option("--skip-existing", is_flag=True, help="Leave outputs that already exist (resume a job)."),
    click.option("--quiet", "-q", is_flag=True, help="No progress or summary; errors only."),
    click.option("--json", "json", is_flag=True, help="Print a machine-readable summary on stdout."),
]


def common_options(func: Callable) -> Callable:
    for option in reversed(_COMMON_OPTIONS):
        func = option(func)
    return func


# ---------------------------------------------------------------------------------------------
# Running a job and reporting it


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def build_job(
    opts: CommonOptions,
    contents: Sequence[Source],
    styles: Sequence[Source],
    looks: Sequence[Look],
    alphas: Sequence[float],
    color: str | None = None,
    **extra: Any,
) -> Job:
    from adain_cli.job import ImageOptions, Job
    from adain_cli.looks import ColorMethod

    image_options = ImageOptions(opts.content_size, opts.style_size, opts.crop, opts.ext, opts.quality, opts.max_pixels)
    return Job(
        contents=tuple(contents),
        styles=tuple(styles),
        looks=tuple(looks),
        output_dir=opts.output,
        alphas=tuple(dict.fromkeys(alphas)),
        images=image_options,
        grid=opts.grid,
        grid_cell=opts.grid_cell,
        skip_existing=opts.skip_existing,
        batch_size=opts.batch_size,
        color=ColorMethod(color) if color else None,
        **extra,
    )


def find_inputs(paths: Sequence[Path], recursive: bool, what: str, mirror: bool = True) -> list[Source]:
    from adain_cli.images import discover

    found = discover(paths, recursive, mirror)
    if not found:
        raise AdainError(f"no {what} images found in {', '.join(str(p) for p in paths)}")
    return found


def fetch_weights(name_or_path: str, offline: bool, no_verify: bool, console: Any, quiet: bool = False) -> Path:
    """A checkpoint path for a name or path, downloading a registered file on first use."""
    from adain_cli import weights
    from adain_cli.progress import DownloadView

    options = weights.FetchOptions(offline=offline, verify=not no_verify)
    with DownloadView(console, name_or_path, quiet) as view:
        return weights.resolve(name_or_path, options, view, lambda m: console.print(f"warning: {m}", markup=False))


def run(opts: CommonOptions, job: Job) -> None:
    """Load the model once, run the job with progress, print the summary, exit with its status.

    Under torchrun each rank does its slice of the job on its own device; once all are done, rank 0
    builds the grids from the files on disk.
    """
    from dataclasses import replace

    from adain_cli.device import process_group, rank_device, torchrun_launch
    from adain_cli.grid import grids_of_manifest
    from adain_cli.progress import JobProgress
    from adain_cli.runner import run_job
    from adain_cli.stylizer import Stylizer

    launch = torchrun_launch()
    if launch.world > 1 and opts.shard:
        raise click.UsageError("--shard splits a job without torchrun; under torchrun the ranks split it")
    job = replace(job, shard=opts.shard or (launch.rank, launch.world))
    quiet = opts.quiet or launch.rank > 0
    console = _stderr_console()
    encoder, decoder = (
        fetch_weights(name, opts.offline, opts.no_verify, console, quiet) for name in (opts.encoder, opts.decoder)
    )
    tile = -(-opts.tile // 8) * 8 if opts.tile else None  # tiles start on the encoder's 8-pixel grid
    if tile is not None and tile < 64:
        raise click.BadParameter("tiles must be at least 64 pixels", param_hint="'--tile'")
    device = rank_device(opts.device, launch)
    stylizer = Stylizer.from_files(encoder, decoder, device=str(device), precision=opts.precision,
                                   compile=opts.compile_model, tile=tile, max_memory=opts.max_memory)  # fmt: skip
    # Only a barrier is needed between the ranks, so gloo serves on any device.
    with process_group(launch, "gloo"):
        with JobProgress(console, quiet=quiet) as progress:
            summary = run_job(stylizer, job, progress)
        if launch.world > 1:
            import torch.distributed as dist

            dist.barrier()
            if launch.rank == 0 and job.wants_grids():
                summary.grids = grids_of_manifest(job.manifest_path)
    if not quiet:
        _print_summary(console, summary)
    if opts.json and launch.rank == 0:
        click.echo(json.dumps(summary.to_json(), indent=2))
    click.get_current_context().exit(EXIT_FAILED if summary.failures else 0)


def _print_summary(console: Any, summary: Summary) -> None:
    rate = len(summary.written) / summary.seconds if summary.seconds > 0 else 0.0
    status = "[red]" if summary.failures else "[green]"
    console.print(
        f"{status}{len(summary.written)} written[/], {len(summary.skipped)} skipped, "
        f"{summary.failed} failed in {summary.seconds:.1f} s ({rate:.2f} images/s)"
        + (f"; {len(summary.grids)} grid(s)" if summary.grids else "")
    )
    for note in summary.notes:
        console.print(f"  note: {note}", markup=False)
    for failure in summary.failures:
        console.print(f"  failed: {failure.error}", markup=False)


# ---------------------------------------------------------------------------------------------
# The commands


class UserError(click.ClickException):
    """An `AdainError` on its way out: one line on stderr, exit 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"adain: error: {self.message}", err=True)


class Interrupted(click.ClickException):
    exit_code = EXIT_INTERRUPTED

    def show(self, file: Any = None) -> None:
        click.echo("adain: interrupted; finished outputs are kept", err=True)


class AdainGroup(click.Group):
    """Turns user-facing errors into one line and an exit code, and Ctrl-C into exit 130."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AdainError as error:
            raise UserError(str(error)) from None
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None


@click.group(cls=AdainGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="adain")
def cli() -> None:
    """Arbitrary style transfer with Adaptive Instance Normalization (Huang & Belongie, 2017).

    \b
    adain stylize photos/ --style starry.jpg --alpha 0.5 -o out/
    adain stylize photos/ --style styles/ --alpha 0 .5 1 -o out/
    adain interpolate c.jpg s1.jpg s2.jpg --weights .3 .7 -o out/
    adain spatial me.jpg --mask person.png --style fg.jpg --style bg.jpg -o out/
    adain preserve-color photos/ --style ink.jpg --method luminance -o out/

    The pretrained weights download on first use into $ADAIN_HOME (else
    $XDG_CACHE_HOME/adain, else ~/.cache/adain); see `adain weights --help`.
    Exit status: 0 all done, 1 something failed, 2 usage error, 130 interrupted.
    """


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


def content_style_arguments(func: Callable) -> Callable:
    func = click.option(
        "--style",
        "-s",
        "styles",
        multiple=True,
        required=True,
        type=click.Path(path_type=Path),
        help="A style image or folder; repeat for more.",
    )(func)
    return click.argument("content", nargs=-1, required=True, type=click.Path(path_type=Path))(func)


def _stylize_every_pair(
    command: str,
    content: tuple[Path, ...],
    styles: tuple[Path, ...],
    alphas: tuple[float, ...],
    color: str | None,
    kwargs: dict[str, Any],
) -> None:
    from adain_cli.looks import style_looks

    opts = CommonOptions.pop(kwargs)
    contents = find_inputs(content, opts.recursive, "content")
    style_sources = find_inputs(styles, opts.recursive, "style", mirror=False)
    job = build_job(opts, contents, style_sources, style_looks(style_sources), alphas, color=color, command=command)
    run(opts, job)


@cli.command(cls=AdainCommand)
@content_style_arguments
@alpha_option
@preserve_color_option
@common_options
def stylize(
    content: tuple[Path, ...], styles: tuple[Path, ...], alphas: tuple[float, ...], color: str | None, **kwargs: Any
) -> None:
    """Stylize every CONTENT image (file or folder) with every --style, at every α.

    Writes OUTPUT/{content}_stylized_{style}.{ext} (with _alpha{α} when several α are asked for)
    and one content×style grid per α.
    """
    _stylize_every_pair("stylize", content, styles, alphas, color, kwargs)


@cli.command("preserve-color", cls=AdainCommand)
@content_style_arguments
@click.option(
    "--method",
    "-m",
    type=click.Choice(["coral", "luminance"]),
    default="coral",
    show_default=True,
    help="coral: recolour the style to the content first. luminance: stylize the luminance only.",
)
@alpha_option
@common_options
def preserve_color(
    content: tuple[Path, ...], styles: tuple[Path, ...], method: str, alphas: tuple[float, ...], **kwargs: Any
) -> None:
    """Stylize like `stylize`, keeping each CONTENT's own colours.

    \b
    coral      match the style image's colour mean and covariance to the content, then stylize
    luminance  stylize the luminance only and put the content's chroma back (colours kept exactly)

    Writes OUTPUT/{content}_stylized_{style}_{method}.{ext} and one grid per α.
    """
    _stylize_every_pair("preserve-color", content, styles, alphas, method, kwargs)


@cli.command(cls=AdainCommand)
@click.argument("content", type=click.Path(path_type=Path))
@click.argument("styles", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--weights",
    "-w",
    "weights",
    cls=VariadicOption,
    type=NumberList(),
    default=None,
    metavar="W [W ...]",
    help="One weight per style, normalised to sum 1: `--weights .3 .7` or `--weights .3,.7` (default: equal).",
)
@click.option(
    "--sheet",
    type=click.IntRange(min=2),
    default=None,
    metavar="N",
    help="Write the interpolation figure instead: a strip of N (2 styles) or an N×N sheet (4 styles).",
)
@alpha_option
@preserve_color_option
@common_options
def interpolate(
    content: Path,
    styles: tuple[Path, ...],
    weights: tuple[float, ...] | None,
    sheet: int | None,
    alphas: tuple[float, ...],
    color: str | None,
    **kwargs: Any,
) -> None:
    """Stylize CONTENT (a file or folder) with a weighted blend of two or more STYLES.

    T = g((1 − α)·f(c) + α·Σ w_k·AdaIN(f(c), f(s_k))). Writes
    OUTPUT/{content}_interpolated_{style1}-{style2}….{ext}, or with --sheet one
    {content}_interpolated_…_sheet.{ext} per content.
    """
    from adain_cli import ops
    from adain_cli.images import Source, with_unique_labels
    from adain_cli.looks import interpolation_look

    opts = CommonOptions.pop(kwargs)
    if len(styles) < 2:
        raise click.UsageError("interpolate needs at least two STYLES (for one, use `adain stylize`)")
    style_sources = with_unique_labels([Source(path) for path in styles])
    if sheet is not None:
        name = "interpolated_" + "-".join(style.label for style in style_sources)
        if weights is not None:
            raise click.BadParameter("--sheet sets the weights of every cell itself", param_hint="'--weights'")
        try:
            shape, cell_weights = ops.sheet_weights(len(styles), sheet)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="'--sheet'") from None
        looks = [interpolation_look(style_sources, w, name=f"{name}_cell{i}") for i, w in enumerate(cell_weights)]
        extra = {"sheet": shape, "sheet_name": f"{name}_sheet"}
    else:
        weights = weights or (1.0,) * len(styles)
        if len(weights) != len(styles):
            raise click.BadParameter(f"{len(weights)} weights for {len(styles)} styles", param_hint="'--weights'")
        try:
            looks, extra = [interpolation_look(style_sources, weights)], {}
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="'--weights'") from None
    contents = find_inputs([content], opts.recursive, "content")
    run(opts, build_job(opts, contents, style_sources, looks, alphas, color=color, command="interpolate", **extra))


@cli.command(cls=AdainCommand)
@click.argument("content", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--style",
    "-s",
    "styles",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A style image; the k-th pairs with the k-th mask, one more is the background.",
)
@click.option(
    "--mask",
    "-m",
    "masks",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A mask image (white, or opaque, = the region); repeat, one per region.",
)
@click.option(
    "--mask-dir",
    "mask_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A folder with one mask per content, matched by file stem; repeat, one per region.",
)
@click.option("--preview", is_flag=True, help="Also write {content}_spatial_preview with the regions tinted.")
@alpha_option
@preserve_color_option
@common_options
def spatial(
    content: tuple[Path, ...],
    styles: tuple[Path, ...],
    masks: tuple[Path, ...],
    mask_dirs: tuple[Path, ...],
    preview: bool,
    alphas: tuple[float, ...],
    color: str | None,
    **kwargs: Any,
) -> None:
    """Different styles in different regions of each CONTENT (file or folder).

    \b
    adain spatial me.jpg --style ink.jpg --mask person.png --style waves.jpg -o out/
    adain spatial me.jpg --mask person.png --style fg.jpg --style bg.jpg -o out/
    adain spatial photos/ --mask-dir masks/ --style fg.jpg --style bg.jpg -o out/

    Styles and masks pair up in order; a last style without a mask is the background and covers
    what no mask claims; anything left unclaimed keeps the content. Writes {content}_spatial.{ext}.
    """

    from adain_cli.images import Source, with_unique_labels
    from adain_cli.spatial import MaskCache, MaskSpec, spatial_look
    from adain_cli.spatial import preview as tinted_preview

    opts = CommonOptions.pop(kwargs)
    if masks and mask_dirs:
        raise click.UsageError("use --mask or --mask-dir, not both")
    spec = MaskSpec(files=masks, folders=mask_dirs)
    if spec.regions == 0:
        raise click.UsageError("give at least one --mask (or --mask-dir)")
    if spec.regions > len(styles):
        raise click.UsageError(f"{spec.regions} masks but only {len(styles)} styles: each mask needs a style")
    if len(styles) > spec.regions + 1:
        raise click.UsageError(
            f"{len(styles)} styles for {spec.regions} masks: only one style (the last) can be the background"
        )
    contents = find_inputs(content, opts.recursive, "content")
    style_sources = with_unique_labels([Source(path) for path in styles])
    cache = MaskCache(spec, opts.max_pixels)
    background = len(styles) > spec.regions

    def companions(source: Source, image: Any) -> list[tuple[str, Any]]:
        return [("spatial_preview", tinted_preview(cache, background, source, image))]

    job = build_job(
        opts,
        contents,
        style_sources,
        [spatial_look(style_sources, cache)],
        alphas,
        color=color,
        companions=companions if preview else None,
        command="spatial",
    )
    run(opts, job)


_TRAIN_OVERRIDES = {
    "iterations": click.IntRange(min=1),
    "batch_size": click.IntRange(min=1),
    "lr": click.FloatRange(min=0),
    "lr_decay": click.FloatRange(min=0),
    "style_weight": click.FloatRange(min=0),
    "content_weight": click.FloatRange(min=0),
    "image_size": click.IntRange(min=16),
    "crop_size": click.IntRange(min=16),
    "seed": int,
    "workers": click.IntRange(min=0),
    "save_every": click.IntRange(min=1),
    "log_every": click.IntRange(min=1),
}


def train_options(func: Callable) -> Callable:
    """One option per TrainConfig field; unset options keep the default (or, on --resume, the run's value)."""
    from adain_cli.train_config import TrainConfig

    defaults = TrainConfig.__dataclass_fields__
    for name, kind in reversed(_TRAIN_OVERRIDES.items()):
        func = click.option(
            f"--{name.replace('_', '-')}",
            name,
            type=kind,
            default=None,
            help=f"[default: {defaults[name].default:,}]".replace(",", "_")
            if isinstance(defaults[name].default, int)
            else f"[default: {defaults[name].default}]",
        )(func)
    return func


@cli.command("train")
@click.option("--content-dir", type=click.Path(file_okay=False, path_type=Path), help="Photos (e.g. MS-COCO).")
@click.option("--style-dir", type=click.Path(file_okay=False, path_type=Path), help="Paintings (e.g. WikiArt).")
@click.option(
    "-o",
    "--output",
    "run_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder: checkpoint.pth, log.jsonl, previews/, and decoder.pth at the end.",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False, path_type=Path),
    help="Continue the run in this folder exactly where its last checkpoint left off.",
)
@train_options
@click.option("--encoder", "--vgg", "encoder", default=None, help="Encoder weights: a name or a path.")
@click.option("--init-decoder", default=None, help="Start from these decoder weights (fine-tune).")
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "fp16", "bf16"]),
    default=None,
    help="auto: bf16 (or fp16) autocast on CUDA, fp32 elsewhere.",
)
@click.option("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (under torchrun: one GPU per rank).")
@click.option("--offline", is_flag=True, envvar="ADAIN_OFFLINE", help="Never download weights.")
@click.option("--quiet", "-q", is_flag=True, help="No live display.")
def train_command(
    content_dir: Path | None,
    style_dir: Path | None,
    run_dir: Path | None,
    resume: Path | None,
    encoder: str | None,
    init_decoder: str | None,
    precision: str | None,
    device: str | None,
    offline: bool,
    quiet: bool,
    **overrides: Any,
) -> None:
    """Train (or fine-tune) a decoder; the defaults are the reference's.

    \b
    adain train --content-dir coco/ --style-dir wikiart/ -o runs/first
    adain train --resume runs/first                      # after Ctrl-C or a crash
    torchrun --nproc-per-node 4 -m adain_cli train --content-dir coco/ --style-dir wikiart/ -o runs/big

    At the end RUN_DIR/decoder.pth is a plain state_dict in the public layout: `adain stylize
    --decoder RUN_DIR/decoder.pth` and the reference code both load it.
    """
    from dataclasses import replace

    from adain_cli.progress import TrainView
    from adain_cli.train import read_checkpoint, train
    from adain_cli.train_config import TrainConfig

    console = _stderr_console()
    given = {k: v for k, v in overrides.items() if v is not None}
    if precision is not None:
        given["precision"] = precision
    if device is not None:
        given["device"] = device
    if resume is not None:
        config = TrainConfig.from_json(read_checkpoint(resume)["config"])
        config = replace(config, run_dir=resume, **given)
    else:
        missing = [
            flag
            for flag, value in (("--content-dir", content_dir), ("--style-dir", style_dir), ("-o/--output", run_dir))
            if value is None
        ]
        if missing:
            raise click.UsageError(f"missing {', '.join(missing)} (or use --resume RUN_DIR)")
        if (run_dir / "checkpoint.pth").exists():
            raise AdainError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or pick a new folder")
        encoder_path = fetch_weights(encoder or "vgg_normalised", offline, False, console, quiet)
        init_path = fetch_weights(init_decoder, offline, False, console, quiet) if init_decoder else None
        config = TrainConfig(content_dir, style_dir, run_dir, encoder_path, init_path, **given)
    with TrainView(console, quiet=quiet) as view:
        result = train(config, view.callbacks(), resume=resume is not None)
    if not quiet:
        console.print(f"trained to iteration {result.iterations:,}; decoder written to {result.decoder}", markup=False)


@cli.command("grid")
@click.argument("output", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--grid-cell", type=click.IntRange(min=16), default=None, help="Cell size (default: the job's).")
def grid_command(output: Path, grid_cell: int | None) -> None:
    """Build the grids of a job in OUTPUT from the files on disk (after `--shard` runs)."""
    from adain_cli.grid import grids_from_manifest

    for path in grids_from_manifest(output, grid_cell):
        click.echo(path)


@cli.group()
def weights() -> None:
    """List, download, locate and verify the pretrained weights.

    \b
    The cache is $ADAIN_HOME, else $XDG_CACHE_HOME/adain, else ~/.cache/adain.
    ADAIN_WEIGHTS_MIRROR=URL downloads from a mirror instead of the release page.
    """


def _weight_names(names: Sequence[str]) -> list[str]:
    from adain_cli.weights import REGISTRY

    unknown = [name for name in names if name.removesuffix(".pth") not in REGISTRY]
    if unknown:
        raise click.BadParameter(f"unknown weights {', '.join(unknown)} (known: {', '.join(REGISTRY)})")
    return [name.removesuffix(".pth") for name in names] or list(REGISTRY)


@weights.command("list")
@click.option("--verify/--no-verify", "check", default=True, show_default=True, help="Hash present files.")
def weights_list(check: bool) -> None:
    """Show each registered file: present?, path, size, verified?"""
    from rich.console import Console
    from rich.table import Table

    from adain_cli.weights import REGISTRY, cached_path, sha256_of

    table = Table("name", "present", "path", "size", "verified")
    for spec in REGISTRY.values():
        path = cached_path(spec)
        if not path.is_file():
            table.add_row(spec.name, "no", str(path), f"≈{spec.approx_mb} MB", "–")
            continue
        verified = "not checked" if not check else "yes" if sha256_of(path) == spec.sha256 else "NO (hash differs)"
        table.add_row(spec.name, "yes", str(path), f"{path.stat().st_size / 1e6:.1f} MB", verified)
    Console(highlight=False).print(table)


@weights.command("download")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True, help="Download again even if the file is present.")
@click.option("--quiet", "-q", is_flag=True, help="No progress.")
@_FETCH_OPTIONS[1]
def weights_download(names: tuple[str, ...], force: bool, quiet: bool, no_verify: bool) -> None:
    """Download NAMES (default: all) into the cache, checking size and SHA-256."""
    from adain_cli.weights import REGISTRY, cached_path

    console = _stderr_console()
    for name in _weight_names(names):
        path = cached_path(REGISTRY[name])
        if force and path.is_file():
            path.unlink()
        if path.is_file():
            console.print(f"{name}: already present at {path}", markup=False)
            continue
        fetch_weights(name, False, no_verify, console, quiet)
        console.print(f"{name}: saved to {path}", markup=False)


@weights.command("path")
@click.argument("name")
def weights_path(name: str) -> None:
    """Print where NAME lives in the cache (exit 1 if it is not there yet)."""
    from adain_cli.weights import REGISTRY, cached_path, missing_message

    spec = REGISTRY[_weight_names([name])[0]]
    click.echo(cached_path(spec))
    if not cached_path(spec).is_file():
        raise AdainError(missing_message(spec))


@weights.command("verify")
@click.argument("names", nargs=-1)
def weights_verify(names: tuple[str, ...]) -> None:
    """Check the SHA-256 of NAMES (default: all); exit 1 if any is missing or differs."""
    from adain_cli.weights import REGISTRY, cached_path, sha256_of

    problems = 0
    for name in _weight_names(names):
        spec, path = REGISTRY[name], cached_path(REGISTRY[name])
        if not path.is_file():
            click.echo(f"{name}: missing ({path})")
            problems += 1
            continue
        digest = sha256_of(path)
        if digest == spec.sha256:
            click.echo(f"{name}: ok ({path})")
        else:
            click.echo(f"{name}: SHA-256 {digest} differs from the expected {spec.sha256} ({path})")
            problems += 1
    if problems:
        raise AdainError(f"{problems} file(s) missing or not verified")


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="adain")
