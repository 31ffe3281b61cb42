"""`adain spatial`: a different style in each masked region of every content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from adain_cli.cli.jobs import build_job, find_contents, run, say_renamed
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
    from adain_cli.inputs import Source, with_unique_labels
    from adain_cli.spatial import MaskCache, MaskSpec, preview_companions, spatial_look

    opts = CommonOptions.pop(kwargs)
    if masks and mask_dirs:
        raise click.UsageError("use --mask or --mask-dir, not both")
    spec = MaskSpec(files=masks, folders=mask_dirs)
    if spec.regions == 0:
        raise click.UsageError("give at least one --mask (or --mask-dir)")
    if spec.regions > len(styles):
        raise click.UsageError(f"{spec.regions} masks but only {len(styles)} styles: each mask needs a style")
    if len(styles) > spec.regions + 1:  # one more than the masks is the background; two more is a mistake
        raise click.UsageError(
            f"{len(styles)} styles for {spec.regions} masks: only one style (the last) can be the background"
        )
    contents = find_contents(opts, content)
    style_sources = with_unique_labels([Source(path) for path in styles])
    say_renamed(style_sources, opts.quiet)
    cache = MaskCache(spec, opts.max_pixels)
    job = build_job(opts, command="spatial", contents=contents, styles=style_sources,
                    looks=[spatial_look(style_sources, cache)], alphas=alphas, color=color,
                    companions=preview_companions(style_sources, cache) if preview else None,
                    reads=spec.every_file())  # fmt: skip
    run(opts, job)
