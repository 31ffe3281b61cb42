"""The settings of a training run (no torch here, so the CLI can show the defaults without loading it)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from adain_cli.errors import AdainError

RESIZE_MODES = ("shorter-side", "square")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run. Defaults are the reference PyTorch port's."""

    content_dir: Path
    style_dir: Path
    run_dir: Path
    encoder: Path
    init_decoder: Path | None = None
    iterations: int = 160_000
    batch_size: int = 8
    lr: float = 1e-4
    lr_decay: float = 5e-5
    style_weight: float = 10.0
    content_weight: float = 1.0
    content_size: int = 512
    style_size: int = 512
    crop_size: int = 256
    resize: str = "shorter-side"  # or "square": squash to size × size (the PyTorch port)
    seed: int = 0
    workers: int = 2
    save_every: int = 10_000
    log_every: int = 10
    precision: str = "auto"
    device: str = "auto"

    def to_json(self) -> str:
        return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()})

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """Raises ValueError (bad JSON) or TypeError (unknown or missing fields)."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise TypeError(f"expected a JSON object, got {type(raw).__name__}")
        paths = {"content_dir", "style_dir", "run_dir", "encoder", "init_decoder"}
        fields: dict[str, Any] = {k: Path(v) if k in paths and v is not None else v for k, v in raw.items()}
        if "image_size" in fields:  # a run from before 0.2, when one --image-size served contents and styles
            size = fields.pop("image_size")
            fields.setdefault("content_size", size)
            fields.setdefault("style_size", size)
        return cls(**fields)  # unknown or missing fields: TypeError

    def check(self) -> None:
        if self.resize not in RESIZE_MODES:
            raise AdainError(f"--resize {self.resize!r} is not one of {', '.join(RESIZE_MODES)}")
        for name, size in (("--content-size", self.content_size), ("--style-size", self.style_size)):
            if self.crop_size > size:
                raise AdainError(f"--crop-size {self.crop_size} is larger than {name} {size}")
        if self.crop_size < 16:
            raise AdainError("--crop-size must be at least 16")


def learning_rate(config: TrainConfig, iteration: int) -> float:
    """The reference's inverse decay: lr / (1 + decay · i)."""
    return config.lr / (1.0 + config.lr_decay * iteration)
