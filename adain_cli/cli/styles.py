"""`adain styles`: the sample styles that ship with adain (`list`), and style banks (`encode`): every style of a
set encoded once for every later job."""

from __future__ import annotations

from pathlib import Path

import click

from adain_cli.cli.jobs import check_weights_names, fetch_weights, stderr_console
from adain_cli.cli.options import CommonOptions


@click.group()
def styles() -> None:
    """Sample styles, and style banks: styles encoded once, drawn from by any number of jobs, shards and training
    loops.

    \b
    adain styles list                   # the sample styles: `--style waves` in any command
    adain styles encode wikiart/ -r -o wikiart.bank
    adain stylize imagenet/ -r --style wikiart.bank --styles-per-content 1 --shard 3/100 -o out/
    """


@styles.command("list")
def styles_list() -> None:
    """The sample styles that ship with adain: give a name to --style in any command (`--style waves`)."""
    from adain_cli.cli import streams
    from adain_cli.inputs import sample_styles_folder

    folder = sample_styles_folder()
    for path in sorted(folder.glob("*.jpg")) if folder else []:
        streams.echo(f"{path.stem}\t{path}")


@styles.command("encode")
@click.argument("paths", nargs=-1, required=True, metavar="STYLES...", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The bank file to write (any name; written when complete).")  # fmt: skip
@CommonOptions.option("recursive")
@CommonOptions.option("style_size")
@CommonOptions.option("crop")
@CommonOptions.option("no_enlarge")
@CommonOptions.option("max_pixels")
@CommonOptions.option("encoder")
@CommonOptions.option("offline")
@CommonOptions.option("no_verify")
@CommonOptions.option("device")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "bf16"]), default="fp32", show_default=True,
              help="Of the encoder; the statistics are stored as fp32 either way.")  # fmt: skip
@CommonOptions.option("quiet")
def styles_encode(
    paths: tuple[Path, ...], output: Path, recursive: bool, style_size: int, crop: bool, no_enlarge: bool,
    max_pixels: int, encoder: str, offline: bool, no_verify: bool, device: str, precision: str, quiet: bool,
) -> None:  # fmt: skip
    """Encode every style image in STYLES (files or folders) into one bank file: each style's mean and std at
    relu1_1…relu4_1 (7.5 KB a style), its path, and the encoder's weights SHA-256.

    Give the bank wherever a style set goes: `--style BANK` in stylize and its dataset mode, or as a STYLE of
    interpolate; no style image is read or encoded again there. Not with --preserve-color (it recolours the
    style images themselves). Interrupted, the same command again encodes only the styles left.
    """
    from adain_cli.errors import AdainError

    if output.is_dir():
        raise click.BadParameter(f"{output} is a folder; give the bank's file name", param_hint="'-o'")
    check_weights_names(encoder)
    from adain_cli.inputs import renamed
    from adain_cli.planner import find_styles

    sources = find_styles(paths, recursive=recursive, mirror=True)
    for line in [] if quiet else renamed(sources):
        console_note = f"note: {line} (another input has the same name)"
        stderr_console().print(console_note, markup=False)
    from adain_cli import banks
    from adain_cli.device import pick_device, pick_dtype
    from adain_cli.progress import JobProgress
    from adain_cli.weights import load_encoder

    console = stderr_console()
    target = pick_device(device)
    weights = fetch_weights(encoder, offline=offline, no_verify=no_verify, console=console, quiet=quiet)
    tap_encoder = banks.TapEncoder(load_encoder(weights), device=target, dtype=pick_dtype(precision, target))
    options = banks.BankOptions(style_size, crop=crop, enlarge=not no_enlarge, max_pixels=max_pixels,
                                encoder=encoder, precision=precision)  # fmt: skip
    try:
        with JobProgress(console, quiet=quiet) as progress:
            summary = banks.encode_styles(tap_encoder, sources, output, options, progress=progress)
    except OSError as error:
        raise AdainError(f"cannot write the bank {output}: {error.strerror or error}") from None
    if not quiet:
        resumed = f" ({summary.resumed} from the interrupted run)" if summary.resumed else ""
        console.print(f"{summary.written + summary.resumed} styles encoded{resumed}, {len(summary.failed)} failed "
                      f"→ {output}", markup=False)  # fmt: skip
    if summary.failed:
        raise AdainError(f"{len(summary.failed)} style(s) could not be read (kept in the bank with their errors)")
