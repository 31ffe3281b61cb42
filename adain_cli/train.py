"""Training (or fine-tuning) a decoder: losses, the loop, previews (checkpoints: train_checkpoint.py; data: train_data).

A run stops at the first non-finite loss, keeping its last good checkpoint; Ctrl-C, SIGTERM and
SIGHUP save one first. Only rank 0 logs and writes.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from adain_cli import images, ops
from adain_cli.device import DTYPES, process_group, rank_device, torchrun_launch
from adain_cli.errors import AdainError, ImageError
from adain_cli.files import atomic_path
from adain_cli.model import TAPS, Decoder, Encoder
from adain_cli.sheets.drawing import GridCanvas
from adain_cli.train_checkpoint import (
    CHECKPOINT,
    checkpoint_config,
    read_checkpoint,
    restore_checkpoint,
    save_checkpoint,
    save_decoder,
)
from adain_cli.train_config import TrainConfig, learning_rate
from adain_cli.train_data import CONTENTS, STYLES, ImageStream, Shard, batches, find_training_images
from adain_cli.weights import load_decoder, load_encoder

__all__ = ["TrainConfig", "checkpoint_config", "learning_rate", "read_checkpoint", "train"]  # the command's

FINAL_DECODER = "decoder.pth"
LOG = "log.jsonl"
PREVIEWS = "previews"
RUN_FILES = (CHECKPOINT, FINAL_DECODER, LOG)


# ---------------------------------------------------------------------------------------------
# The run folder


def check_new_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Refuse to start a new run over an earlier one (its checkpoint, decoder or log) unless `overwrite`."""
    held = [name for name in RUN_FILES if (run_dir / name).exists()]
    if held and not overwrite:
        continue_it = f"continue it with --resume {run_dir}, " if CHECKPOINT in held else ""
        raise AdainError(
            f"{run_dir} already holds a run ({', '.join(held)}); {continue_it}pick a new folder, "
            "or start afresh there with --overwrite"
        )


PREVIEW_PATTERN = "iter_*.png"


def _clear_run_dir(run_dir: Path) -> None:
    """For --overwrite: the earlier run's checkpoint, log and previews go (its decoder.pth is replaced at the
    end), so that neither a --resume nor the log can mix the two runs."""
    for stale in [run_dir / CHECKPOINT, run_dir / LOG, *(run_dir / PREVIEWS).glob(PREVIEW_PATTERN)]:
        stale.unlink(missing_ok=True)


def _remove_stale_temporaries(run_dir: Path) -> None:
    """The temporary files of a run that was killed while writing (a checkpoint cut short by SIGKILL)."""
    for folder, names in ((run_dir, RUN_FILES), (run_dir / PREVIEWS, (PREVIEW_PATTERN,))):
        for name in names:
            for stale in folder.glob(f".{name}.*.tmp"):
                stale.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Losses


@dataclass(frozen=True)
class Losses:
    content: Tensor
    style: Tensor
    total: Tensor


def adain_losses(encoder: Encoder, decoder: nn.Module, content: Tensor, style: Tensor, config: TrainConfig) -> Losses:
    """L = w_c·L_c + w_s·L_s with L_c = MSE(f(g(t)), t), t = AdaIN(f(c), f(s)), and L_s the mean/std
    matching of relu1_1 … relu4_1 (the paper's eq. 11–12, the reference's numerics)."""
    with torch.no_grad():
        style_taps = encoder(style)
        content_feat = encoder.encode(content)
        target = ops.adain(content_feat, style_taps["relu4_1"])
    generated = decoder(target)
    generated_taps = encoder(generated)
    loss_content = F.mse_loss(generated_taps["relu4_1"].float(), target.float())
    loss_style = torch.zeros((), device=content.device)
    for tap in TAPS:
        got, want = ops.mean_std(generated_taps[tap].float()), ops.mean_std(style_taps[tap].float())
        loss_style = loss_style + F.mse_loss(got.mean, want.mean) + F.mse_loss(got.std, want.std)
    total = config.content_weight * loss_content + config.style_weight * loss_style
    return Losses(loss_content, loss_style, total)


# ---------------------------------------------------------------------------------------------
# The loop


@dataclass(frozen=True)
class LogRecord:
    iteration: int
    loss_content: float
    loss_style: float
    lr: float
    seconds: float
    skipped: int = 0


@dataclass
class TrainCallbacks:
    """How the loop reports: the CLI renders these with rich."""

    on_start: Callable[[int, int], None] = lambda start, total: None
    on_log: Callable[[LogRecord], None] = lambda record: None
    on_checkpoint: Callable[[int, Path], None] = lambda iteration, path: None
    on_interrupt: Callable[[int, Path], None] = lambda iteration, path: None  # stopping: saving a checkpoint now


@dataclass
class TrainResult:
    iterations: int
    decoder: Path
    records: list[LogRecord] = field(default_factory=list)
    interrupted: bool = False


def _training_dtype(precision: str, device: torch.device) -> torch.dtype:
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if precision not in DTYPES:
        raise AdainError(f"unknown precision {precision!r}")
    if DTYPES[precision] != torch.float32 and device.type != "cuda":
        raise AdainError("mixed-precision training runs on CUDA only; use --precision fp32 here")
    return DTYPES[precision]


def _preview_samples(content_paths: list[Path], style_paths: list[Path], crop: int) -> tuple[Tensor, Tensor]:
    """Up to 3 contents and 3 styles, centre-cropped, fixed for the whole run."""

    def take(paths: list[Path]) -> Tensor:
        picked = []
        for path in paths:
            with contextlib.suppress(ImageError):
                picked.append(images.center_square(images.load(path, crop).rgb))
            if len(picked) == 3:
                break
        if not picked:
            raise AdainError(f"no readable image for the previews among {len(paths)} files (e.g. {paths[0]})")
        return torch.stack(picked)

    return take(content_paths), take(style_paths)


@torch.no_grad()
def write_preview(path: Path, encoder: Encoder, decoder: Decoder, contents: Tensor, styles: Tensor, cell: int) -> None:
    decoder.eval()
    canvas = GridCanvas(len(contents), len(styles), cell)
    for col, style in enumerate(styles):
        canvas.put_col_header(col, images.to_pil(style))
    style_stats = ops.mean_std(encoder.encode(styles))
    content_feats = encoder.encode(contents)
    for row, content in enumerate(contents):
        canvas.put_row_header(row, images.to_pil(content))
        feat = content_feats[row : row + 1].expand(len(styles), -1, -1, -1)
        results = decoder(ops.adain(feat, style_stats))
        for col, result in enumerate(results):
            canvas.put(row, col, images.to_pil(result))
    decoder.train()
    images.save_pil(canvas.image, path)


def train(
    config: TrainConfig, callbacks: TrainCallbacks | None = None, resume: bool = False, overwrite: bool = False
) -> TrainResult:
    """Run (or continue) training; only rank 0 logs and writes. Ctrl-C saves a checkpoint first.

    A new run refuses a folder holding an earlier run unless `overwrite`."""
    callbacks = callbacks or TrainCallbacks()
    config.check()
    if not resume:
        check_new_run_dir(config.run_dir, overwrite)
    launch = torchrun_launch()
    device = rank_device(config.device, launch)
    with process_group(launch, "nccl" if device.type == "cuda" else "gloo"):
        return _train(config, callbacks, resume, Shard(launch.rank, launch.world), device)


def _train(
    config: TrainConfig, callbacks: TrainCallbacks, resume: bool, shard: Shard, device: torch.device
) -> TrainResult:
    leader = shard.rank == 0
    dtype = _training_dtype(config.precision, device)
    content_paths = find_training_images(config.content_dir, "content", exclude=config.run_dir)
    style_paths = find_training_images(config.style_dir, "style", exclude=config.run_dir)
    torch.manual_seed(config.seed)

    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    encoder = load_encoder(config.encoder).to(device).to(memory_format=memory_format)
    decoder = load_decoder(config.init_decoder) if config.init_decoder else Decoder()
    decoder = decoder.to(device).to(memory_format=memory_format).train()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=config.lr)
    start = 0
    if resume:
        start = restore_checkpoint(config.run_dir / CHECKPOINT, read_checkpoint(config.run_dir), decoder, optimizer)
    model: nn.Module = decoder
    if shard.world > 1:
        model = nn.parallel.DistributedDataParallel(
            decoder, device_ids=[device.index] if device.type == "cuda" else None
        )
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    if leader:
        config.run_dir.mkdir(parents=True, exist_ok=True)
        (config.run_dir / PREVIEWS).mkdir(exist_ok=True)
        _remove_stale_temporaries(config.run_dir)
        if not resume:
            _clear_run_dir(config.run_dir)
    preview = _preview_samples(content_paths, style_paths, config.crop_size) if leader else None
    pin = device.type == "cuda"
    content_batches = batches(
        ImageStream(content_paths, config, shard, CONTENTS), start, config.iterations, config, pin
    )
    style_batches = batches(ImageStream(style_paths, config, shard, STYLES), start, config.iterations, config, pin)

    result = TrainResult(start, config.run_dir / FINAL_DECODER)
    if resume and leader:
        _truncate_log(config.run_dir / LOG, start)
    callbacks.on_start(start, config.iterations)
    started = time.perf_counter()
    iteration = start
    skipped = 0
    try:
        for (content, skip_c), (style, skip_s) in zip(content_batches, style_batches, strict=False):
            skipped += skip_c + skip_s
            lr = learning_rate(config, iteration)
            for group in optimizer.param_groups:
                group["lr"] = lr
            content = content.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            style = style.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                losses = adain_losses(encoder, model, content, style, config)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(losses.total).backward()
            _stop_unless_finite(losses, iteration + 1, config, shard)  # before the step: weights stay good
            scaler.step(optimizer)
            scaler.update()
            iteration += 1
            if iteration % config.log_every == 0 or iteration == config.iterations or iteration == start + 1:
                record = _log_record(losses, iteration, lr, time.perf_counter() - started, skipped, shard)
                if leader:
                    _append_log(config.run_dir / LOG, record)
                    result.records.append(record)
                    callbacks.on_log(record)
            if iteration % config.save_every == 0 and iteration < config.iterations:
                _save_all(config, encoder, decoder, optimizer, iteration, preview, leader, callbacks)
    except KeyboardInterrupt:
        if leader:
            callbacks.on_interrupt(iteration, config.run_dir / CHECKPOINT)
        _save_all(config, encoder, decoder, optimizer, iteration, preview, leader, callbacks)
        result.iterations, result.interrupted = iteration, True
        raise
    finally:
        content_batches.close()  # the loaders' workers are shut down now, not left to the interpreter's exit
        style_batches.close()
    _save_all(config, encoder, decoder, optimizer, iteration, preview, leader, callbacks)
    if leader:
        save_decoder(result.decoder, decoder)
    result.iterations = iteration
    return result


def _log_record(losses: Losses, iteration: int, lr: float, seconds: float, skipped: int, shard: Shard) -> LogRecord:
    values = torch.stack([losses.content.detach().float(), losses.style.detach().float()])
    if shard.world > 1:
        dist.all_reduce(values)
        values /= shard.world
    content, style = values.tolist()
    return LogRecord(iteration, content, style, lr, round(seconds, 3), skipped)


def _stop_unless_finite(losses: Losses, iteration: int, config: TrainConfig, shard: Shard) -> None:
    """Raise, saving nothing, when the loss of `iteration` is NaN or infinite on any rank.

    One sync per iteration (the reference reads .item() every iteration too); all ranks stop together.
    """
    finite = torch.isfinite(losses.total.detach()).float()
    if shard.world > 1:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    if not finite.item():
        raise AdainError(f"the loss is not finite at iteration {iteration}: training diverged; {_kept(config)}")


def _stop_unless_finite_weights(decoder: Decoder, iteration: int, config: TrainConfig) -> None:
    for name, tensor in decoder.state_dict().items():
        if not torch.isfinite(tensor).all():
            problem = f"the decoder weight {name} is not finite at iteration {iteration}"
            raise AdainError(f"{problem}: training diverged; {_kept(config)}")


def _kept(config: TrainConfig) -> str:
    """What is left to the user after a divergence, and what to try."""
    path = config.run_dir / CHECKPOINT
    if not path.is_file():
        return f"no checkpoint was written; start again with a lower --lr than {config.lr:g}"
    return f"{path} is kept as it was; continue with --resume {config.run_dir} --lr LOWER (now {config.lr:g})"


def _truncate_log(path: Path, iteration: int) -> None:
    """Drop the log lines past `iteration` (written after the checkpoint, before a crash), so that
    the log of a resumed run reads as one run."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            logged = json.loads(line)["iteration"]
        except (ValueError, TypeError, KeyError):  # a line cut short by the crash
            continue
        if logged <= iteration:
            kept.append(line + "\n")
    with atomic_path(path) as tmp:
        tmp.write_text("".join(kept), encoding="utf-8")


def _append_log(path: Path, record: LogRecord) -> None:
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(asdict(record)) + "\n")


def _save_all(
    config: TrainConfig,
    encoder: Encoder,
    decoder: Decoder,
    optimizer: torch.optim.Optimizer,
    iteration: int,
    preview: tuple[Tensor, Tensor] | None,
    leader: bool,
    callbacks: TrainCallbacks,
) -> None:
    _stop_unless_finite_weights(decoder, iteration, config)  # on every rank, so that all stop together
    if not leader:
        return
    path = config.run_dir / CHECKPOINT
    save_checkpoint(path, decoder, optimizer, iteration, config)
    if preview is not None:
        device = next(decoder.parameters()).device
        write_preview(
            config.run_dir / PREVIEWS / f"iter_{iteration:06d}.png",
            encoder,
            decoder,
            preview[0].to(device),
            preview[1].to(device),
            min(config.crop_size, 256),
        )
    callbacks.on_checkpoint(iteration, path)
