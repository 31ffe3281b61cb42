"""Training data: an endless, seeded stream of random crops, sharded across torchrun ranks.

The stream is a pure function of (seed, rank, position): each epoch is a seeded permutation, each rank
takes every world-size-th element of it (its own shard), and each crop is seeded by its position. So a
run resumed from a checkpoint at iteration k sees exactly the batches the uninterrupted run saw,
whatever the number of loader processes.
"""

from __future__ import annotations

import signal
import sys
import warnings
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from adain_cli import images, inputs
from adain_cli.errors import AdainError, ImageError
from adain_cli.marker import written_by_adain
from adain_cli.train_config import TrainConfig


@dataclass(frozen=True)
class Shard:
    """Which slice of the data this process draws from."""

    rank: int = 0
    world: int = 1


CONTENTS, STYLES = 0, 1  # the two streams of a run


class ImageStream(Dataset):
    """Position p → a random crop of image number permutation_epoch[rank + world · (p mod m)].

    Unreadable images are skipped (the next one in the stream is used) and counted.
    """

    def __init__(self, paths: list[Path], config: TrainConfig, shard: Shard, stream: int) -> None:
        self.paths, self.config, self.shard, self.stream = paths, config, shard, stream
        self.per_epoch = len(range(shard.rank, len(paths), shard.world))
        if self.per_epoch == 0:
            raise AdainError(f"{len(paths)} images cannot be shared by {shard.world} processes")
        self._epoch, self._order = -1, np.arange(0)

    def index(self, position: int) -> int:
        epoch, offset = divmod(position, self.per_epoch)
        if epoch != self._epoch:
            rng = np.random.default_rng([self.config.seed, self.stream, epoch])
            self._epoch, self._order = epoch, rng.permutation(len(self.paths))
        return int(self._order[self.shard.rank + self.shard.world * offset])

    def __len__(self) -> int:  # the stream is endless; DataLoader only needs a length for its sampler
        return 2**62

    def __getitem__(self, position: int) -> tuple[Tensor, int]:
        for skipped in range(len(self.paths)):
            path = self.paths[self.index(position + skipped)]
            try:
                return self._crop(images.read_image(path).rgb, position + skipped), skipped
            except ImageError:
                continue
        raise AdainError(f"no readable image among {len(self.paths)} files")

    def _crop(self, image: Tensor, position: int) -> Tensor:
        side = self.config.content_size if self.stream == CONTENTS else self.config.style_size
        size = training_size(int(image.shape[1]), int(image.shape[2]), self.config.resize, side)
        image = images.resize(image, size)
        crop = self.config.crop_size
        rng = np.random.default_rng([self.config.seed, self.stream, self.shard.rank, position])
        top = int(rng.integers(0, size[0] - crop + 1))
        left = int(rng.integers(0, size[1] - crop + 1))
        return image[:, top : top + crop, left : left + crop].contiguous()


def training_size(height: int, width: int, resize: str, side: int) -> tuple[int, int]:
    """The (height, width) an image is resized to before its random crop."""
    if resize == "square":  # the PyTorch port: squashed, aspect ratio not kept
        return side, side
    return images.resized_size(height, width, side)  # the Lua original: shorter side


class Positions(torch.utils.data.Sampler[int]):
    """Positions start, start + 1, … for `count` samples."""

    def __init__(self, start: int, count: int) -> None:
        self.start, self.count = start, count

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.start + self.count))

    def __len__(self) -> int:
        return self.count


def find_training_images(folder: Path, what: str, exclude: Path | None = None) -> list[Path]:
    """The images under `folder`, less those under `exclude` (the run folder: its previews are never
    training data, also when it lies inside `folder`, so a resumed run reads what the first one read) and
    less any other image adain wrote (a stylized output is not a photo; its header says so)."""
    if not folder.is_dir():
        raise AdainError(f"{what} folder {folder} does not exist")
    paths = [source.path for source in inputs.discover([folder], recursive=True)]
    if exclude is not None:
        paths = [path for path in paths if not path.resolve().is_relative_to(exclude.resolve())]
    paths = [path for path in paths if not written_by_adain(path)]
    if not paths:
        raise AdainError(f"no images found in the {what} folder {folder}")
    _require_a_readable_image(paths, what, folder)
    return paths


def _require_a_readable_image(paths: list[Path], what: str, folder: Path) -> None:
    """Fail up front, by folder, when no image can be read (rather than later inside a loader worker)."""
    first_error = None
    for path in paths:
        try:
            images.read_image(path)
            return
        except ImageError as error:
            first_error = first_error or error
    raise AdainError(
        f"none of the {len(paths)} images in the {what} folder {folder} can be read (first: {first_error}); "
        "add readable images"
    )


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def prepare_worker(worker_id: int) -> None:
    """A loader worker leaves Ctrl-C, SIGTERM and SIGHUP to the main process, and is quiet when it goes.

    A terminal, `timeout` and Slurm signal the whole process group; a worker killed by one would end the run
    in the loader's "worker killed" error before the main process could save its checkpoint. The main
    process shuts the workers down when it stops, and a worker whose parent is gone exits by itself.
    A batch the worker is still handing over then meets a closed connection in multiprocessing's
    fd-sharing thread, which prints its traceback through sys.excepthook: that one case is expected."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    sys.excepthook = _quiet_about_a_departed_parent(sys.excepthook)


def _quiet_about_a_departed_parent(hook: Callable[..., object]) -> Callable[..., object]:
    def excepthook(kind: type[BaseException], value: BaseException, trace: TracebackType | None) -> object:
        if issubclass(kind, (BrokenPipeError, ConnectionResetError)):
            return None
        return hook(kind, value, trace)

    return excepthook


def batches(
    dataset: ImageStream, start_iteration: int, iterations: int, config: TrainConfig, pin: bool
) -> Generator[tuple[Tensor, int], None, None]:
    """(batch, skipped) for iterations start_iteration … iterations − 1; closing it shuts the workers down."""
    remaining = iterations - start_iteration
    if remaining <= 0:
        return
    sampler = Positions(start_iteration * config.batch_size, remaining * config.batch_size)
    # --workers is the user's choice: torch's multi-line advice when it exceeds the CPUs this process may
    # use (one, under `taskset -c 0`) is not printed among adain's one-line messages.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="This DataLoader will create", category=UserWarning)
        loader = DataLoader(
            dataset,
            batch_size=config.batch_size,
            sampler=sampler,
            num_workers=config.workers,
            pin_memory=pin,
            persistent_workers=False,
            prefetch_factor=4 if config.workers else None,
            worker_init_fn=prepare_worker,
        )
        iterator = iter(loader)
    try:
        for batch, skipped in iterator:
            yield batch, int(skipped.sum())
    finally:
        _shut_down_workers(iterator)


def _shut_down_workers(iterator: Iterator) -> None:
    """The loader's own clean-up on garbage collection, done now: a signal's traceback keeps the iterator
    alive until the interpreter exits, where multiprocessing would wait forever on workers that ignore its
    SIGTERM."""
    shutdown = getattr(iterator, "_shutdown_workers", None)  # present on the multi-process iterator only
    if shutdown is not None:
        shutdown()
