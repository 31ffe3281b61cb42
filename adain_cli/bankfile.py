"""The style-bank file (`adain styles encode`): each style's feature statistics, stored without pickle.

Layout: 8 magic bytes, the header's length (8 bytes, little-endian), a JSON header (the encoder's weights
SHA-256, the taps, how the styles were resized, one entry per style: the path it was found at, its path
relative to the folder given, its size, or why it could not be read), then float32 little-endian data shaped
(styles, 2, channels): the mean, then the std, of every tap from relu1_1 to relu4_1 (960 channels: 7.5 KB a
style). Numpy reads the header and memory-maps the data, so a job is planned from the header alone (no torch)
and a shard reads only the rows it draws. No code can hide in the file: it holds JSON and numbers.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adain_cli.errors import AdainError

if TYPE_CHECKING:  # numpy is imported where the data is read: planning a job reads only the header
    import numpy as np

MAGIC = b"ADAINSB1"
FORMAT = "adain-style-bank"
TAPS = (("relu1_1", 64), ("relu2_1", 128), ("relu3_1", 256), ("relu4_1", 512))
CHANNELS = sum(channels for _, channels in TAPS)  # 960
_LENGTH = struct.Struct("<Q")


def tap_slice(name: str) -> slice:
    """Where tap `name`'s channels lie along the last axis of the data."""
    start = 0
    for tap, channels in TAPS:
        if tap == name:
            return slice(start, start + channels)
        start += channels
    raise KeyError(name)


@dataclass(frozen=True)
class Entry:
    """One style of a bank: where it was found, its path inside the folder given, its size, or its error."""

    path: str
    rel: str
    size: tuple[int, int] | None = None
    error: str = ""


@dataclass(frozen=True)
class Header:
    path: Path  # the bank file
    encoder_sha256: str
    encoder: str  # the --encoder value it was made with (for messages)
    style_size: int
    crop: bool
    enlarge: bool
    precision: str
    entries: tuple[Entry, ...]
    data_offset: int


def is_bank(path: Path) -> bool:
    """Whether `path` is a style-bank file (by its first bytes, whatever its name)."""
    try:
        with path.open("rb") as file:
            return file.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def read_header(path: Path) -> Header:
    """The header of the bank at `path`; a damaged or foreign file is one line naming it."""
    try:
        with path.open("rb") as file:
            if file.read(len(MAGIC)) != MAGIC:
                raise AdainError(f"{path}: not a style bank (made by `adain styles encode`)")
            (length,) = _LENGTH.unpack(file.read(_LENGTH.size))
            raw = json.loads(file.read(length).decode("utf-8"))
        size = path.stat().st_size
    except (OSError, struct.error, ValueError, UnicodeDecodeError) as error:
        raise AdainError(f"{path}: not a readable style bank ({error})") from None
    try:
        entries = tuple(
            Entry(e["path"], e["rel"], tuple(e["size"]) if e.get("size") else None, e.get("error", ""))
            for e in raw["styles"]
        )
        header = Header(path, raw["encoder"]["sha256"], raw["encoder"]["name"], int(raw["style_size"]),
                        bool(raw["crop"]), bool(raw["enlarge"]), raw["precision"], entries,
                        len(MAGIC) + _LENGTH.size + length)  # fmt: skip
        taps = [tuple(tap) for tap in raw["taps"]]
    except (KeyError, TypeError, ValueError) as error:
        raise AdainError(f"{path}: a style bank with a damaged header ({error})") from None
    if raw.get("format") != FORMAT or taps != [tuple(tap) for tap in TAPS]:
        raise AdainError(f"{path}: a style bank of another format or version")
    expected = header.data_offset + len(entries) * 2 * CHANNELS * 4
    if size != expected:
        raise AdainError(f"{path}: a truncated or damaged style bank ({size} bytes, expected {expected})")
    return header


def read_stats(header: Header, indices: Sequence[int] | None = None) -> np.ndarray:
    """Rows of the bank's data, float32 (len(indices), 2, CHANNELS); all of them when `indices` is None.

    Memory-mapped: only the rows asked for are read from disk."""
    import numpy as np

    count = len(header.entries)
    if count == 0:
        return np.zeros((0, 2, CHANNELS), dtype=np.float32)
    data = np.memmap(header.path, dtype="<f4", mode="r", offset=header.data_offset, shape=(count, 2, CHANNELS))
    rows = data if indices is None else data[np.asarray(indices, dtype=np.int64)]
    return np.array(rows, dtype=np.float32)


def header_json(
    *, encoder_sha256: str, encoder: str, style_size: int, crop: bool, enlarge: bool, precision: str,
    entries: Sequence[Entry],
) -> dict[str, Any]:  # fmt: skip
    return {
        "format": FORMAT,
        "version": 1,
        "encoder": {"sha256": encoder_sha256, "name": encoder},
        "taps": [list(tap) for tap in TAPS],
        "style_size": style_size,
        "crop": crop,
        "enlarge": enlarge,
        "precision": precision,
        "styles": [
            {"path": e.path, "rel": e.rel}
            | ({"size": list(e.size)} if e.size else {})
            | ({"error": e.error} if e.error else {})
            for e in entries
        ],
    }


def write(path: Path, header: dict[str, Any], stats: np.ndarray) -> None:
    """Write a bank atomically (a temporary name beside `path`, fsynced, then renamed)."""
    import numpy as np

    from adain_cli.files import atomic_file

    if stats.shape != (len(header["styles"]), 2, CHANNELS):
        raise ValueError(f"stats shaped {stats.shape} for {len(header['styles'])} styles")
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    with atomic_file(path) as file:
        file.write(MAGIC + _LENGTH.pack(len(encoded)) + encoded)
        file.write(np.ascontiguousarray(stats, dtype="<f4").tobytes())
