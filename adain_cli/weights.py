"""Named pretrained weights, the cache directory, and safe checkpoint loading.

Checkpoints are always read with `torch.load(..., weights_only=True)`, so a hostile `.pth` cannot
run code. The public files are plain flat-Sequential state_dicts; `adain train` checkpoints carry
the same state_dict under a "decoder" key beside their metadata, and load the same way.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from adain_cli.errors import WeightsError
from adain_cli.model import Decoder, Encoder, load_public_state_dict

RELEASE_URL = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0"


@dataclass(frozen=True)
class WeightSpec:
    """A registered checkpoint: its file name in the cache, where it comes from, what it must hash to."""

    name: str
    filename: str
    sha256: str
    approx_mb: int
    role: str  # "encoder" or "decoder"

    @property
    def url(self) -> str:
        return f"{os.environ.get('ADAIN_WEIGHTS_MIRROR', RELEASE_URL).rstrip('/')}/{self.filename}"


REGISTRY: dict[str, WeightSpec] = {
    spec.name: spec
    for spec in (
        WeightSpec(
            "vgg_normalised",
            "vgg_normalised.pth",
            "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a",
            80,
            "encoder",
        ),
        WeightSpec(
            "decoder",
            "decoder.pth",
            "379ca41d59f3a37eed3599bbbc2560c19da5c458870a5ffd3a9dd41aa88f9472",
            14,
            "decoder",
        ),
    )
}
DEFAULT_ENCODER = "vgg_normalised"
DEFAULT_DECODER = "decoder"


def cache_dir() -> Path:
    """$ADAIN_HOME, else $XDG_CACHE_HOME/adain, else ~/.cache/adain."""
    if os.environ.get("ADAIN_HOME"):
        return Path(os.environ["ADAIN_HOME"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "adain"
    return Path.home() / ".cache" / "adain"


def cached_path(spec: WeightSpec) -> Path:
    return cache_dir() / spec.filename


def lookup(name_or_path: str) -> WeightSpec | None:
    """The registered spec for a name (or its file name), or None for a path."""
    key = name_or_path.removesuffix(".pth")
    return REGISTRY.get(key) if not any(sep in name_or_path for sep in "/\\") else None


def missing_message(spec: WeightSpec) -> str:
    return (
        f"{spec.filename} ({spec.role}) not found at {cached_path(spec)}; "
        f"run `adain weights download {spec.name}`, or download {spec.url} there "
        f"(set ADAIN_HOME to use another folder), or pass --{spec.role} PATH"
    )


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """A flat {key: tensor} dict from a checkpoint file, refusing anything but plain tensors."""
    if not path.is_file():
        raise WeightsError(f"{path}: no such checkpoint file")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "unsafe content"
        raise WeightsError(f"{path}: refused to load: it is not a plain weights file ({first_line[:160]})") from None
    except (RuntimeError, OSError, EOFError, ValueError) as error:
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint ({str(error).splitlines()[0][:160]})") from None
    if isinstance(loaded, dict):
        for key in ("decoder", "state_dict"):
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise WeightsError(f"{path}: not a state_dict of tensors")
    return {str(k).removeprefix("module."): v for k, v in loaded.items()}


def _load_into(module: Encoder | Decoder, path: Path, role: str) -> None:
    state = read_state_dict(path)
    try:
        load_public_state_dict(module, state)
    except KeyError as error:
        raise WeightsError(f"{path}: not an AdaIN {role} checkpoint: key {error.args[0]!r} is missing") from None
    except ValueError as error:
        raise WeightsError(f"{path}: not an AdaIN {role} checkpoint: {error}") from None


def load_encoder(path: Path) -> Encoder:
    """The frozen encoder from a `vgg_normalised.pth`-layout file (layers after relu4_1 dropped)."""
    encoder = Encoder()
    _load_into(encoder, path, "encoder")
    return encoder.eval().requires_grad_(False)


def load_decoder(path: Path) -> Decoder:
    """A decoder from a `decoder.pth`-layout file (or an `adain train` checkpoint)."""
    decoder = Decoder()
    _load_into(decoder, path, "decoder")
    return decoder.eval()


def resolve(name_or_path: str) -> Path:
    """The checkpoint file for a registered name (in the cache) or a path."""
    spec = lookup(name_or_path)
    if spec is None:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise WeightsError(f"{path}: no such checkpoint file")
        return path
    path = cached_path(spec)
    if not path.is_file():
        raise WeightsError(missing_message(spec))
    return path
