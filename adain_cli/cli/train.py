"""`adain train`: train or fine-tune a decoder; one option per TrainConfig field."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from adain_cli import defaults
from adain_cli.cli.jobs import check_weights_names, fetch_weights, stderr_console
from adain_cli.cli.notices import KEPT_AFTER_INTERRUPT
from adain_cli.cli.options import CommonOptions
from adain_cli.cli.types import (
    JOBS,
    MAIN,
    MODELS,
    PERFORMANCE,
    TRAINING,
    AdainCommand,
    DeviceType,
    ModelType,
    option,
)

if TYPE_CHECKING:
    from adain_cli.train import TrainCallbacks
    from adain_cli.train_config import TrainConfig

# Every setting of a run, as TrainConfig names it: the option's type and what it means. Options left unset keep
# TrainConfig's default (or, with --resume, the run's own value).
TRAIN_SETTINGS: dict[str, tuple[Any, str]] = {
    "iterations": (click.IntRange(min=1), "Iterations to train to (a resumed run goes on to this many)."),
    "batch_size": (click.IntRange(min=1), "Images through the networks in one pass: content and style images per "
                   "iteration."),
    "lr": (click.FloatRange(min=0), "Adam's learning rate."),
    "lr_decay": (click.FloatRange(min=0), "Inverse decay: the rate at iteration i is lr / (1 + lr_decay·i)."),
    "style_weight": (click.FloatRange(min=0), "λ, the weight of the style loss."),
    "content_weight": (click.FloatRange(min=0), "The weight of the content loss."),
    "content_size": (click.IntRange(min=16), "Contents are resized so the shorter side is this many pixels, before "
                     "the random crop (see --resize)."),
    "style_size": (click.IntRange(min=16), "Styles are resized so the shorter side is this many pixels, before the "
                   "random crop."),
    "crop_size": (click.IntRange(min=16), "Side in pixels of the random square crop trained on."),
    "resize": (click.Choice(["shorter-side", "square"]), "shorter-side: scale the shorter side to --content-size "
               "or --style-size (the Lua original); square: squash to that size squared (the PyTorch port)."),
    "seed": (int, "Seed of the data stream and of the decoder's initial parameters (a resumed run sees the same "
             "batches)."),
    "workers": (click.IntRange(min=0), "Processes that load and crop images (0 loads in the training process)."),
    "save_every": (click.IntRange(min=1), "Write a checkpoint and previews every this many iterations."),
    "log_every": (click.IntRange(min=1), "Log the losses to log.jsonl every this many iterations."),
    "precision": (click.Choice(defaults.PRECISIONS), "The number format the networks compute in (the decoder's "
                  "parameters and the optimizer stay fp32). auto: bf16 (or fp16) on CUDA, fp32 elsewhere."),
    "device": (DeviceType(), "auto, cpu, cuda, cuda:N or mps (under torchrun: one GPU per rank)."),
}  # fmt: skip


# The help's section of each setting not among the first options.
_SECTIONS = {"save_every": JOBS, "log_every": JOBS, "workers": PERFORMANCE, "precision": PERFORMANCE,
             "device": PERFORMANCE} | dict.fromkeys(("lr", "lr_decay", "style_weight", "content_weight",
                                                     "content_size", "style_size", "crop_size", "resize", "seed"),
                                                    TRAINING)  # fmt: skip


def train_options(func: Callable) -> Callable:
    """One option per TrainConfig setting, with its default from TrainConfig itself."""
    from adain_cli.train_config import TrainConfig

    fields = TrainConfig.__dataclass_fields__
    for name, (kind, description) in reversed(TRAIN_SETTINGS.items()):
        default = fields[name].default
        shown = f"{default:_}" if isinstance(default, int) else str(default)
        func = option(f"--{name.replace('_', '-')}", name, section=_SECTIONS.get(name, MAIN), type=kind, default=None,
                      help=f"{description}  [default: {shown}]")(func)  # fmt: skip
    return func


@click.command("train", cls=AdainCommand)
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
@option(
    "--encoder",
    section=MODELS,
    type=ModelType(),
    default=None,
    help=f"The encoder model: a registered name or a .pth file.  [default: {defaults.ENCODER}]",
)
@option(
    "--init-decoder",
    section=MODELS,
    type=ModelType(),
    default=None,
    help="Start from this decoder model (a registered name or a .pth file): fine-tune it.",
)
@CommonOptions.option("offline")
@CommonOptions.option("no_verify")
@CommonOptions.option("quiet")
def train_command(
    content_dir: Path | None,
    style_dir: Path | None,
    run_dir: Path | None,
    resume: Path | None,
    overwrite: bool,
    encoder: str | None,
    init_decoder: str | None,
    offline: bool,
    no_verify: bool,
    quiet: bool,
    **settings: Any,
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
    given = {name: value for name, value in settings.items() if value is not None}
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
        pick_device(given.get("device", "auto"))  # a bad --device is a usage error before any download
        encoder_path = fetch(encoder or defaults.ENCODER)
        init_path = fetch(init_decoder) if init_decoder else None
        config = TrainConfig(content_dir, style_dir, run_dir, encoder_path, init_path, **given)
    stop = _Stopping(config.run_dir)
    with TrainView(console, quiet=quiet) as view:
        try:
            result = train(config, stop.callbacks(view.callbacks()), resume=resume is not None, overwrite=overwrite)
        except KeyboardInterrupt:
            click.get_current_context().meta[KEPT_AFTER_INTERRUPT] = stop.kept()
            raise
    if not quiet:
        console.print(f"trained to iteration {result.iterations:,}; decoder written to {result.decoder}", markup=False)


class _Stopping:
    """What an interrupted run says: at once that it is saving its checkpoint (even under -q: the save can take
    a while), and at the end what is kept in its folder and how to go on."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.saved_at: int | None = None  # the last checkpoint this process wrote whole

    def callbacks(self, view: TrainCallbacks) -> TrainCallbacks:
        from dataclasses import replace

        def checkpoint(iteration: int, path: Path) -> None:
            self.saved_at = iteration
            view.on_checkpoint(iteration, path)

        return replace(view, on_checkpoint=checkpoint, on_interrupt=self._interrupted)

    def _interrupted(self, iteration: int, path: Path) -> None:
        click.echo(f"adain: stopping at iteration {iteration:,}: saving the checkpoint to {path} …", err=True)

    def kept(self) -> str:
        from adain_cli.train import CHECKPOINT

        resume = f"resume with `adain train --resume {self.run_dir}`"
        if self.saved_at is not None:
            return f"the checkpoint of iteration {self.saved_at:,} is kept in {self.run_dir} ({resume})"
        if (self.run_dir / CHECKPOINT).is_file():  # a resumed run stopped before it wrote one
            return f"the run's earlier checkpoint in {self.run_dir} is kept as it was ({resume})"
        return "no checkpoint was written (stopped before the first one); start the run again with the same command"


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
