"""Style banks: every style of a set encoded once, its statistics at relu1_1…relu4_1 kept in one file
(`bankfile.py`), for every later job, shard and training loop to draw from without reading an image.

`encode_styles` writes a bank, resumably: each style's statistics are appended to `BANK.partial` as they are
made, a run of the same command after an interrupt encodes only the styles left, and the bank itself appears
at its name only when complete. A bank records its encoder's weights (`encoder_fingerprint`); one made with
another encoder is refused by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import Tensor

from adain_cli import bankfile, defaults, images, ops
from adain_cli.device import is_out_of_memory
from adain_cli.errors import AdainError, ImageError
from adain_cli.inputs import Source
from adain_cli.model import Encoder, public_state_dict
from adain_cli.ops import Stats
from adain_cli.report import Event, ProgressFn


def encoder_fingerprint(encoder: Encoder) -> str:
    """SHA-256 of the encoder's weights as float32 (public keys in order): the same weights give the same
    value whatever file, device or precision they come in."""
    digest = hashlib.sha256()
    for key, value in public_state_dict(encoder).items():
        digest.update(key.encode())
        digest.update(value.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


class TapEncoder:
    """The encoder on a device, giving a style's statistics at every tap (what a bank row holds)."""

    def __init__(self, encoder: Encoder, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        self.sha256 = encoder_fingerprint(encoder)
        self.device, self.dtype = torch.device(device), dtype
        placed = encoder.eval().requires_grad_(False).to(device=self.device, dtype=dtype)
        self.encoder = placed.to(memory_format=torch.channels_last)  # as the Stylizer runs it

    @torch.inference_mode()
    def row(self, rgb: Tensor) -> np.ndarray:
        """The (2, 960) float32 row of one (3, H, W) image: per tap, the mean then the std of each channel."""
        batch = rgb[None].to(self.device, self.dtype).contiguous(memory_format=torch.channels_last)
        taps = self.encoder(batch)
        stats = [ops.mean_std(taps[name]) for name, _ in bankfile.TAPS]
        mean = torch.cat([s.mean.flatten() for s in stats])
        std = torch.cat([s.std.flatten() for s in stats])
        return torch.stack([mean, std]).float().cpu().numpy()


@dataclass(frozen=True)
class BankOptions:
    """How styles are read into a bank (as `--style-size`, `--crop`, `--no-enlarge`, `--max-pixels` read them)."""

    style_size: int
    crop: bool = False
    enlarge: bool = True
    max_pixels: int = defaults.MAX_PIXELS
    encoder: str = "vgg_normalised"  # the --encoder value, recorded for messages
    precision: str = "fp32"


@dataclass
class BankSummary:
    written: int = 0  # styles encoded by this run
    resumed: int = 0  # styles taken from an interrupted run's journal
    failed: dict[str, str] = field(default_factory=dict)  # path -> why


_RECORD = struct.Struct("<qI")  # row, crc32 of the row's bytes; then 2 × 960 float32
_ROW_BYTES = 2 * bankfile.CHANNELS * 4


def journal_path(bank: Path) -> Path:
    return bank.with_name(bank.name + ".partial")


def encode_styles(
    encoder: TapEncoder, sources: Sequence[Source], bank: Path, options: BankOptions, *,
    progress: ProgressFn = lambda event: None,
) -> BankSummary:  # fmt: skip
    """Encode every style of `sources` into the bank file `bank` (see the module for resuming).

    A style that cannot be read keeps its place in the bank with its error (so the bank's styles are the
    folder's, and draws from them match), and is listed in the summary."""
    rows = np.zeros((len(sources), 2, bankfile.CHANNELS), dtype=np.float32)
    entries: list[bankfile.Entry] = []
    identity = _identity(encoder, sources, options)
    done = _resume(journal_path(bank), identity, rows)
    summary = BankSummary(resumed=len(done))
    progress(Event("start", total=len(sources), count=0))
    with _journal(journal_path(bank), identity, fresh=not done) as journal:
        for row, source in enumerate(sources):
            rel = (source.rel_dir / source.path.name).as_posix()
            if row in done:
                entries.append(bankfile.Entry(str(source.path), rel, done[row]))
                progress(Event("skipped", source.path))
                continue
            progress(Event("stage", source.path, "encoding styles", count=0))
            try:
                loaded = images.load(source.path, options.style_size, crop=options.crop,
                                     max_pixels=options.max_pixels, enlarge=options.enlarge)  # fmt: skip
                rows[row] = encoder.row(loaded.rgb)
            except (ImageError, RuntimeError) as error:
                if isinstance(error, RuntimeError) and not is_out_of_memory(error):
                    raise
                message = str(error) if isinstance(error, ImageError) else f"{source.path}: out of memory"
                summary.failed[str(source.path)] = message
                entries.append(bankfile.Entry(str(source.path), rel, error=message))
                progress(Event("failed", source.path, message))
                continue
            size = (int(loaded.rgb.shape[1]), int(loaded.rgb.shape[2]))
            _append(journal, row, size, rows[row])
            entries.append(bankfile.Entry(str(source.path), rel, size))
            summary.written += 1
            progress(Event("written", source.path))
    header = bankfile.header_json(encoder_sha256=encoder.sha256, encoder=options.encoder,
                                  style_size=options.style_size, crop=options.crop, enlarge=options.enlarge,
                                  precision=options.precision, entries=entries)  # fmt: skip
    bankfile.write(bank, header, rows)
    journal_path(bank).unlink(missing_ok=True)
    return summary


def _identity(encoder: TapEncoder, sources: Sequence[Source], options: BankOptions) -> str:
    """What a journal must match to be resumed: the encoder, the options and the list of styles."""
    listing = hashlib.sha256("\0".join(str(source.path) for source in sources).encode()).hexdigest()
    return json.dumps({"encoder": encoder.sha256, "options": [options.style_size, options.crop, options.enlarge,
                       options.max_pixels, options.precision], "styles": listing})  # fmt: skip


def _resume(journal: Path, identity: str, rows: np.ndarray) -> dict[int, tuple[int, int]]:
    """The rows an interrupted run of the same bank finished (filled into `rows`), with their sizes."""
    done: dict[int, tuple[int, int]] = {}
    with contextlib.suppress(OSError), journal.open("rb") as file:
        if file.readline().decode("utf-8", "replace").rstrip("\n") != identity:
            return {}
        record = _RECORD.size + 8 + _ROW_BYTES
        while len(chunk := file.read(record)) == record:
            row, crc = _RECORD.unpack_from(chunk)
            payload = chunk[_RECORD.size :]
            if zlib.crc32(payload) != crc or not 0 <= row < len(rows):
                break
            height, width = struct.unpack_from("<II", payload)
            rows[row] = np.frombuffer(payload[8:], dtype="<f4").reshape(2, bankfile.CHANNELS)
            done[row] = (height, width)
    return done


@contextlib.contextmanager
def _journal(path: Path, identity: str, *, fresh: bool) -> Iterator[BinaryIO]:
    """The journal, open for appending (started anew unless resuming)."""
    try:
        file = path.open("wb" if fresh else "ab")
    except OSError as error:
        raise AdainError(f"cannot write {path}: {error.strerror or error}") from None
    with file:
        if fresh:
            file.write(identity.encode() + b"\n")
        yield file


def _append(journal: BinaryIO, row: int, size: tuple[int, int], values: np.ndarray) -> None:
    payload = struct.pack("<II", *size) + np.ascontiguousarray(values, dtype="<f4").tobytes()
    journal.write(_RECORD.pack(row, zlib.crc32(payload)) + payload)
    journal.flush()


# ---------------------------------------------------------------------------------------------
# Reading a bank


def check_encoder(header: bankfile.Header, encoder_sha256: str) -> None:
    """Refuse a bank made with other encoder weights than the ones in use, naming both."""
    if header.encoder_sha256 != encoder_sha256:
        raise AdainError(
            f"{header.path} was made with another encoder ({header.encoder}, weights SHA-256 "
            f"{header.encoder_sha256}) than this one (weights SHA-256 {encoder_sha256}); make the bank again "
            "with this --encoder (`adain styles encode`)"
        )


def relu4_stats(data: np.ndarray) -> Stats:
    """The relu4_1 statistics (what AdaIN uses) of bank rows (S, 2, 960), as Stats shaped (S, 512, 1, 1)."""
    values = torch.from_numpy(np.ascontiguousarray(data[:, :, bankfile.tap_slice("relu4_1")]))
    return Stats(values[:, 0, :, None, None].contiguous(), values[:, 1, :, None, None].contiguous())


def read_bank(bank: Path, encoder_sha256: str, rows: Iterable[int] | None = None) -> tuple[Stats, list[str]]:
    """The relu4_1 statistics of `rows` of the bank (all rows when None), stacked, and each row's error ("" for
    none); the bank checked to be of this encoder first."""
    header = bankfile.read_header(bank)
    check_encoder(header, encoder_sha256)
    chosen = list(range(len(header.entries))) if rows is None else list(rows)
    return relu4_stats(bankfile.read_stats(header, chosen)), [header.entries[row].error for row in chosen]
