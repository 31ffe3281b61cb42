"""`adain stylize` and `adain preserve-color`: every content with every style, at every α."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from adain_cli.cli.jobs import plan_job, run
from adain_cli.cli.options import (
    COLOR_METHODS,
    CommonOptions,
    DrawOptions,
    alpha_option,
    common_options,
    draw_options,
    style_option,
)
from adain_cli.cli.types import AdainCommand, SectionOption


def _contents_and_styles(func: Any) -> Any:
    func = style_option(required=True, help="A style image, folder or style bank; repeat for more")(func)
    return click.argument("content", nargs=-1, type=click.Path(exists=True, path_type=Path, allow_dash=True))(func)


def _stylize_every_pair(
    command: str, content: tuple[Path, ...], styles: tuple[Path, ...], alphas: tuple[float, ...], color: str | None,
    kwargs: dict[str, Any],
) -> None:  # fmt: skip
    opts, draws = CommonOptions.pop(kwargs), DrawOptions.pop(kwargs)
    job = plan_job(opts, command, content, styles, alphas=alphas, color=color,
                   styles_per_content=draws.styles_per_content, seed=draws.seed)  # fmt: skip
    run(opts, job)


@click.command(cls=AdainCommand)
@_contents_and_styles
@alpha_option
@draw_options
@common_options
def stylize(content: tuple[Path, ...], styles: tuple[Path, ...], alphas: tuple[float, ...], **kwargs: Any) -> None:
    """Stylize every CONTENT (image, video or animation; file or folder) with every --style, at every α.

    \b
    adain stylize photos/ --style starry.jpg --alpha 0.5 -o out/
    adain stylize clip.mp4 --style ink -o out/                  # a video: sound kept
    adain stylize imagenet/ -r --style wikiart/ --styles-per-content 1 -o out/   # a dataset

    Writes OUTPUT/{content}_stylized_{style}.{ext} (_alpha{α} added when several α are asked for) and a
    content×style grid per α. To keep the contents' colours: `adain preserve-color`.
    """
    _stylize_every_pair("stylize", content, styles, alphas, None, kwargs)


@click.command("preserve-color", cls=AdainCommand)
@_contents_and_styles
@click.option(
    "--method",
    cls=SectionOption,
    type=click.Choice(COLOR_METHODS),
    default="coral",
    show_default=True,
    help="coral: recolour the style to the content first. luminance: stylize the luminance only.",
)
@alpha_option
@draw_options
@common_options
def preserve_color(
    content: tuple[Path, ...], styles: tuple[Path, ...], method: str, alphas: tuple[float, ...], **kwargs: Any
) -> None:
    """Stylize like `stylize`, keeping each CONTENT's own colours.

    \b
    adain preserve-color photos/ --style ink.jpg --method luminance -o out/

    \b
    coral      match the style image's colour mean and covariance to the content, then stylize
    luminance  stylize the luminance only and put the content's chroma back (colours kept exactly)

    Writes OUTPUT/{content}_stylized_{style}_{method}.{ext} and one grid per α.
    """
    _stylize_every_pair("preserve-color", content, styles, alphas, method, kwargs)
