"""`adain train`: train or fine-tune a decoder; one option per TrainConfig field."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from adain_cli import defaults
from adain_cli.cli.jobs import check_weights_names, fetch_weights, stderr_console
from adain_cli.cli.options import CommonOptions, DeviceType

if TYPE_CHECKING:
    from adain_cli.train_config import TrainConfig

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
    help="Continue the run in this folder exactly where its last checkpoint left off (with its data folders "
    "and encoder).",
)
@click.option("--overwrite", is_flag=True, help="Start a new run in a folder that holds an earlier one.")
@train_options
@click.option("--encoder", "--vgg", "encoder", default=None, help="Encoder weights: a name or a path.")
@click.option("--init-decoder", default=None, help="Start from these decoder weights (fine-tune).")
@click.option(
    "--precision",
    type=click.Choice(defaults.PRECISIONS),
    default=None,
    help="auto: bf16 (or fp16) autocast on CUDA, fp32 elsewhere.",
)
@click.option("--device", default=None, type=DeviceType(),
              help="auto, cpu, cuda, cuda:N or mps (under torchrun: one GPU per rank).")  # fmt: skip
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
    overwrite: bool,
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

    from adain_cli.device import pick_device
    from adain_cli.progress import TrainView
    from adain_cli.train import check_new_run_dir, checkpoint_config, read_checkpoint, train
    from adain_cli.train_config import TrainConfig

    console = stderr_console()
    given = {k: v for k, v in overrides.items() if v is not None}
    for name, value in (("precision", precision), ("device", device), ("resize", resize)):
        if value is not None:
            given[name] = value
    fetch = partial(fetch_weights, offline=offline, no_verify=no_verify, console=console, quiet=quiet)
    if resume is not None:
        if overwrite:
            raise click.UsageError("--overwrite starts a new run; --resume continues one: give one of them")
        config = checkpoint_config(resume, read_checkpoint(resume))
        paths = {"--content-dir": content_dir, "--style-dir": style_dir, "-o/--output": run_dir}
        _refuse_contradictions(config, resume, paths)
        moved_encoder = _encoder_for_resume(config.encoder, encoder, init_decoder, fetch)
        config = replace(config, run_dir=resume, encoder=moved_encoder or config.encoder, **given)
    else:
        if content_dir is None or style_dir is None or run_dir is None:
            named = (("--content-dir", content_dir), ("--style-dir", style_dir), ("-o/--output", run_dir))
            missing = [flag for flag, value in named if value is None]
            raise click.UsageError(f"missing {', '.join(missing)} (or use --resume RUN_DIR)")
        check_new_run_dir(run_dir, overwrite)
        check_weights_names(encoder, init_decoder)
        pick_device(device or "auto")  # a bad --device is a usage error before any download
        encoder_path = fetch(encoder or defaults.ENCODER)
        init_path = fetch(init_decoder) if init_decoder else None
        config = TrainConfig(content_dir, style_dir, run_dir, encoder_path, init_path, **given)
    with TrainView(console, quiet=quiet) as view:
        result = train(config, view.callbacks(), resume=resume is not None, overwrite=overwrite)
    if not quiet:
        console.print(f"trained to iteration {result.iterations:,}; decoder written to {result.decoder}", markup=False)


def _same_folder(given: Path, recorded: Path) -> bool:
    return given.resolve() == recorded.resolve()


def _refuse_contradictions(config: TrainConfig, resume: Path, paths: dict[str, Path | None]) -> None:
    """A resumed run reads the folders it started with (its data stream is a function of them): a data
    folder or run folder given with --resume must be that one."""
    recorded = {"--content-dir": config.content_dir, "--style-dir": config.style_dir, "-o/--output": resume}
    differ = [
        f"{flag} {given} (the run's is {recorded[flag]})"
        for flag, given in paths.items()
        if given is not None and not _same_folder(given, recorded[flag])
    ]
    if differ:
        raise click.UsageError(
            f"--resume {resume} continues that run as it started; it contradicts {'; '.join(differ)}. "
            "Leave these out, or start a new run with -o"
        )


def _encoder_for_resume(
    recorded: Path, encoder: str | None, init_decoder: str | None, fetch: Callable[[str], Path]
) -> Path | None:
    """The encoder a resumed run uses when --encoder is given: honoured only where the run's own file is gone
    (moved: the same weights at a new place); any other encoder would change the losses mid-run."""
    if init_decoder is not None:
        raise click.UsageError("--init-decoder starts a new run; a resumed run continues from its checkpoint")
    if encoder is None:
        return None
    check_weights_names(encoder)
    given = fetch(encoder)
    if recorded.is_file() and given.resolve() != recorded.resolve():
        raise click.UsageError(
            f"--encoder {encoder} differs from the encoder the run was started with ({recorded}); leave it out "
            "(it is needed only when that file has moved)"
        )
    return given
