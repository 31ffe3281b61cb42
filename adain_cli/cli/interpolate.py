"""`adain interpolate`: a weighted blend of styles, or the interpolation sheet between them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from adain_cli.cli.jobs import build_job, find_contents, run, say_renamed
from adain_cli.cli.options import (
    AdainCommand,
    CommonOptions,
    NumberList,
    VariadicOption,
    alpha_option,
    common_options,
    preserve_color_option,
)


@click.command(cls=AdainCommand)
@click.argument(
    "paths", nargs=-1, required=True, metavar="CONTENT STYLE STYLE...", type=click.Path(exists=True, path_type=Path)
)
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
    paths: tuple[Path, ...],
    weights: tuple[float, ...] | None,
    sheet: int | None,
    alphas: tuple[float, ...],
    color: str | None,
    **kwargs: Any,
) -> None:
    """Stylize CONTENT (a file or folder) with a weighted blend of two or more STYLES.

    \b
    adain interpolate cat.jpg ink.jpg waves.jpg --weights .3 .7 -o out/
    adain interpolate --files-from list.txt ink.jpg waves.jpg -o out/   # every STYLE; contents from the list

    T = g((1 − α)·f(c) + α·Σ w_k·AdaIN(f(c), f(s_k))). Writes
    OUTPUT/{content}_interpolated_{style1}{w1}-{style2}{w2}….{ext} (weights in percent, left out when
    equal), or with --sheet one {content}_interpolated_…_sheet.{ext} per content.
    """
    from adain_cli.bankfile import is_bank
    from adain_cli.inputs import Source, bank_sources, with_unique_labels
    from adain_cli.looks import interpolation_look, sheet_looks

    opts = CommonOptions.pop(kwargs)
    content, styles = ((), paths) if opts.files_from is not None else (paths[:1], paths[1:])
    folder = next((style for style in styles if style.is_dir()), None)
    if folder is not None:
        raise click.BadParameter(f"{folder} is a folder; each STYLE is one image", param_hint="'STYLE'")
    # A style bank stands for every style it holds.
    style_sources = with_unique_labels(
        [source for path in styles for source in (bank_sources(path) if is_bank(path) else [Source(path)])]
    )
    if len(style_sources) < 2:
        raise click.UsageError("interpolate needs at least two STYLES (for one, use `adain stylize`)")
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
