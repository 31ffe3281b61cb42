"""`adain train`: train or fine-tune a decoder; one option per TrainConfig field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from adain_cli import defaults
from adain_cli.cli.jobs import check_weights_names, fetch_weights, stderr_console
from adain_cli.cli.options import CommonOptions
from adain_cli.errors import AdainError

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


@click.command("train")
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
    type=click.Choice(defaults.PRECISIONS),
    default=None,
    help="auto: bf16 (or fp16) autocast on CUDA, fp32 elsewhere.",
)
@click.option("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (under torchrun: one GPU per rank).")
@click.option(
    "--resize",
    type=click.Choice(["shorter-side", "square"]),
    default=None,
    help="Before the random crop: scale the shorter side to --image-size, keeping the aspect ratio (the Lua "
    "original) [default], or squash to --image-size × --image-size (the PyTorch port).",
)
@CommonOptions.option("offline")
@CommonOptions.option("no_verify")
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
    resize: str | None,
    offline: bool,
    no_verify: bool,
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
    from adain_cli.train import CHECKPOINT, checkpoint_config, read_checkpoint, train
    from adain_cli.train_config import TrainConfig

    console = stderr_console()
    given = {k: v for k, v in overrides.items() if v is not None}
    for name, value in (("precision", precision), ("device", device), ("resize", resize)):
        if value is not None:
            given[name] = value
    if resume is not None:
        config = replace(checkpoint_config(resume, read_checkpoint(resume)), run_dir=resume, **given)
    else:
        missing = [
            flag
            for flag, value in (("--content-dir", content_dir), ("--style-dir", style_dir), ("-o/--output", run_dir))
            if value is None
        ]
        if missing:
            raise click.UsageError(f"missing {', '.join(missing)} (or use --resume RUN_DIR)")
        if (run_dir / CHECKPOINT).exists():
            raise AdainError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or pick a new folder")
        check_weights_names(encoder, init_decoder)
        fetch = {"offline": offline, "no_verify": no_verify, "console": console, "quiet": quiet}
        encoder_path = fetch_weights(encoder or defaults.ENCODER, **fetch)
        init_path = fetch_weights(init_decoder, **fetch) if init_decoder else None
        config = TrainConfig(content_dir, style_dir, run_dir, encoder_path, init_path, **given)
    with TrainView(console, quiet=quiet) as view:
        result = train(config, view.callbacks(), resume=resume is not None)
    if not quiet:
        console.print(f"trained to iteration {result.iterations:,}; decoder written to {result.decoder}", markup=False)
