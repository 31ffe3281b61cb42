"""`adain spatial`: a different style in each masked region of every content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from adain_cli.cli.jobs import plan_job, run
from adain_cli.cli.options import CommonOptions, alpha_option, common_options, preserve_color_option, style_option
from adain_cli.cli.types import OUTPUT, AdainCommand, option


@click.command(cls=AdainCommand)
@click.argument("content", nargs=-1, type=click.Path(exists=True, path_type=Path, allow_dash=True))
@style_option(
    folders=False, required=True, help="A style image: the k-th pairs with the k-th mask, one more is the background"
)
@option(
    "--mask",
    "-m",
    "masks",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A mask image (white, or opaque, = the region); repeat, one per region.",
)
@option(
    "--mask-dir",
    "mask_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder with one mask per content, matched by file stem; repeat, one per region.",
)
@option("--preview", section=OUTPUT, is_flag=True, help="Also write {content}_spatial_preview with the regions tinted.")
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
    opts = CommonOptions.pop(kwargs)
    job = plan_job(opts, "spatial", content, styles, alphas=alphas, color=color, masks=masks, mask_dirs=mask_dirs,
                   preview=preview)  # fmt: skip
    run(opts, job)
