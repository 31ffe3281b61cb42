"""`adain export onnx`: the networks as one ONNX model, for running without PyTorch."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from adain_cli.cli.jobs import check_weights_names, fetch_weights, stderr_console
from adain_cli.cli.options import CommonOptions
from adain_cli.errors import AdainError


@click.group("export")
def export() -> None:
    """Write the networks in another format (`adain export onnx --help`)."""


@export.command("onnx")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("adain.onnx"),
              show_default=True, help="The .onnx file to write (a file: `-` is refused).")  # fmt: skip
@CommonOptions.option("encoder")
@CommonOptions.option("decoder")
@CommonOptions.option("offline")
@CommonOptions.option("no_verify")
@CommonOptions.option("quiet")
def export_onnx_command(output: Path, encoder: str, decoder: str, offline: bool, no_verify: bool, quiet: bool) -> None:
    """Write encoder, AdaIN and decoder as one ONNX model (opset 18, float32).

    \b
    Inputs:  content (1, 3, H, W) and style (1, 3, Hs, Ws), RGB in [0, 1], any
             sizes of at least 9 px; alpha, a float32 scalar in [0, 1].
    Output:  image (1, 3, H, W), RGB in [0, 1]: what `adain stylize` writes
             for that content, style and alpha (within 1 grey level).
    \b
    adain export onnx -o adain.onnx
    Needs the exporter's packages: pip install 'adain-cli[onnx]'.
    """
    if output == Path("-"):
        raise click.BadParameter("an ONNX model is a file: give its name (-o adain.onnx), not -", param_hint="'-o'")
    check_weights_names(encoder, decoder)
    try:
        import onnx  # noqa: F401  (the exporter needs it; say so before loading anything)
    except ImportError:
        raise AdainError("adain export onnx needs the onnx package: pip install 'adain-cli[onnx]'") from None
    from adain_cli.export import export_onnx
    from adain_cli.files import ensure_writable_folder
    from adain_cli.weights import load_decoder, load_encoder

    with _writing(output):  # before any download: a folder that cannot take the file is one line naming it
        ensure_writable_folder(output.parent)
    console = stderr_console()
    paths = [fetch_weights(name, offline=offline, no_verify=no_verify, console=console, quiet=quiet)
             for name in (encoder, decoder)]  # fmt: skip
    encoder_net, decoder_net = load_encoder(paths[0]), load_decoder(paths[1])
    with _writing(output):
        export_onnx(encoder_net, decoder_net, output)
    if not quiet:
        click.echo(output)


@contextlib.contextmanager
def _writing(output: Path) -> Iterator[None]:
    """An OSError in the block (a read-only folder, a full disk) is one line naming `output`."""
    try:
        yield
    except OSError as error:
        raise AdainError(f"cannot write {output}: {error.strerror or error}") from None
