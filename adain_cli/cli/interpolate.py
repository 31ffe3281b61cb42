"""`adain interpolate`: a weighted blend of styles, or the interpolation sheet between them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from adain_cli.cli.jobs import build_job, find_contents, run, say_renamed
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
    from adain_cli.bankfile import is_bank
    from adain_cli.inputs import Source, bank_sources, with_unique_labels
    from adain_cli.looks import interpolation_look, sheet_looks

    opts = CommonOptions.pop(kwargs)
    content, styles = _contents_and_styles(paths, styles, opts)
    folder = next((style for style in styles if style.is_dir()), None)
    if folder is not None:
        raise click.BadParameter(
            f"{folder} is a folder; each style is one image or a style bank", param_hint="'--style'"
        )
    # A style bank stands for every style it holds.
    style_sources = with_unique_labels(
        [source for path in styles for source in (bank_sources(path) if is_bank(path) else [Source(path)])]
    )
    if len(style_sources) < 2:
        raise click.UsageError("interpolate needs at least two styles (for one, use `adain stylize`)")
    say_renamed(style_sources, opts.quiet)
    extra: dict[str, Any] = {}
    if sheet is not None:
        if weights is not None:
            raise click.BadParameter("--sheet sets the weights of every cell itself", param_hint="'--weights'")
        try:
            looks, extra["sheet"], extra["sheet_name"] = sheet_looks(style_sources, sheet)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="'--sheet'") from None
    else:
        weights = weights or (1.0,) * len(style_sources)
        if len(weights) != len(style_sources):
            message = f"{len(weights)} weights for {len(style_sources)} styles"
            raise click.BadParameter(message, param_hint="'--weights'")
        try:
            looks = [interpolation_look(style_sources, weights)]
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="'--weights'") from None
    contents = find_contents(opts, content)
    job = build_job(opts, command="interpolate", contents=contents, styles=style_sources, looks=looks, alphas=alphas,
                    color=color, **extra)  # fmt: skip
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
