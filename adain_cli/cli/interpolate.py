"""`adain interpolate`: a weighted blend of styles, or the interpolation sheet between them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from adain_cli.cli.jobs import plan_job, run
from adain_cli.cli.options import CommonOptions, alpha_option, common_options, preserve_color_option, style_option
from adain_cli.cli.types import AdainCommand, NumberList, SectionOption, VariadicOption


@click.command(cls=AdainCommand)
@click.argument("paths", nargs=-1, metavar="CONTENT... [STYLE STYLE...]", type=click.Path(exists=True, path_type=Path))
@style_option(help="A style image or style bank; repeat, two or more, in the order of --weights")
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
    cls=SectionOption,
    type=click.IntRange(min=2),
    default=None,
    metavar="N",
    help="Write the interpolation figure instead: a strip of N (2 styles) or an N×N sheet (4 styles).",
)
@alpha_option
@preserve_color_option
@common_options
def interpolate(
    paths: tuple[Path, ...],
    styles: tuple[Path, ...],
    weights: tuple[float, ...] | None,
    sheet: int | None,
    alphas: tuple[float, ...],
    color: str | None,
    **kwargs: Any,
) -> None:
    """Stylize every CONTENT (a file or folder) with a weighted blend of two or more styles.

    \b
    adain interpolate cat.jpg --style ink --style waves --weights .3 .7 -o out/
    adain interpolate photos/ --files-from more.txt -s ink -s waves -o out/
    adain interpolate cat.jpg ink.jpg waves.jpg --weights .3 .7   # short form: CONTENT STYLE STYLE...

    Without --style, the first path is the one CONTENT and the rest are its styles.

    T = g((1 − α)·f(c) + α·Σ w_k·AdaIN(f(c), f(s_k))). Writes
    OUTPUT/{content}_interpolated_{style1}{w1}-{style2}{w2}….{ext} (weights in percent, left out when
    equal), or with --sheet one {content}_interpolated_…_sheet.{ext} per content.
    """
    opts = CommonOptions.pop(kwargs)
    content, styles = _contents_and_styles(paths, styles, opts)
    job = plan_job(opts, "interpolate", content, styles, alphas=alphas, color=color, weights=weights, sheet=sheet)
    run(opts, job)


def _contents_and_styles(
    paths: tuple[Path, ...], styles: tuple[Path, ...], opts: CommonOptions
) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """With --style every path is a content, as in every command; without it (the short form), the first path
    is the one content and the rest its styles."""
    if styles:
        return paths, styles
    if opts.files_from is not None:
        raise click.UsageError("with --files-from, give the styles with --style (-s), one per style")
    if len(paths) < 2:
        raise click.UsageError("give the styles with --style (or: adain interpolate CONTENT STYLE STYLE...)")
    return paths[:1], paths[1:]
