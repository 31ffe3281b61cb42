"""A training run's checkpoint: everything needed to continue exactly (weights, optimizer, iteration, random
state, settings), written atomically and read back checked; and the final decoder in the public layout."""

from __future__ import annotations

from pathlib import Path

import torch

from adain_cli.errors import AdainError, WeightsError
from adain_cli.files import atomic_path
from adain_cli.model import Decoder, load_public_state_dict, public_state_dict
from adain_cli.train_config import TrainConfig
from adain_cli.weights import load_checkpoint

CHECKPOINT = "checkpoint.pth"


def save_checkpoint(
    path: Path, decoder: Decoder, optimizer: torch.optim.Optimizer, iteration: int, config: TrainConfig
) -> None:
    """Everything needed to continue exactly, written to a temporary name and renamed."""
    state = {
        "decoder": public_state_dict(decoder),
        "optimizer": optimizer.state_dict(),
        "iteration": iteration,
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        "config": config.to_json(),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def save_decoder(path: Path, decoder: Decoder) -> None:
    """A plain state_dict in the public decoder.pth layout."""
    with atomic_path(path) as tmp:
        torch.save(public_state_dict(decoder), tmp)


CHECKPOINT_KEYS = ("decoder", "optimizer", "iteration", "rng", "config")


def read_checkpoint(run_dir: Path) -> dict:
    """The training checkpoint in `run_dir`, checked to be one of ours with all its parts."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise AdainError(f"nothing to resume: {path} does not exist")
    try:
        checkpoint = load_checkpoint(path)
    except WeightsError as error:  # a damaged checkpoint: say so in one line
        reason = str(error).removeprefix(f"{path}: ")
        raise AdainError(f"{path}: cannot read the checkpoint ({reason}); start a new run in another folder") from None
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing or not isinstance(checkpoint, dict):
        raise AdainError(
            f"{path} is not an adain training checkpoint (no {', '.join(missing)}); start a new run "
            "with --content-dir, --style-dir and -o (--init-decoder FILE starts from a decoder's weights)"
        )
    return checkpoint


def checkpoint_config(run_dir: Path, checkpoint: dict) -> TrainConfig:
    """The config a checkpoint was written with."""
    try:
        return TrainConfig.from_json(checkpoint["config"])
    except (TypeError, ValueError) as error:
        raise AdainError(f"{run_dir / CHECKPOINT}: its run settings cannot be read ({error})") from None


def restore_checkpoint(path: Path, checkpoint: dict, decoder: Decoder, optimizer: torch.optim.Optimizer) -> int:
    """Load weights, optimizer and random state; the iteration to continue from."""
    try:
        load_public_state_dict(decoder, checkpoint["decoder"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        iteration = int(checkpoint["iteration"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        if torch.cuda.is_available() and checkpoint["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(checkpoint["rng"]["cuda"])
    except (KeyError, ValueError, TypeError, RuntimeError) as error:
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise AdainError(f"{path}: damaged checkpoint ({reason}); start a new run in another folder") from None
    return iteration
