"""The registered pretrained weights, the cache folder, and what a `--encoder/--decoder` value means.

Torch-free, so that a bad weights name is refused (and `adain models path` answers) before torch loads.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from adain_cli.errors import UsageError

RELEASE_URL = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0"
CHECKPOINT_SUFFIXES = (".pth", ".pt")


def _mirror() -> str:
    """Where the models download from: ADAIN_MODELS_MIRROR (ADAIN_WEIGHTS_MIRROR, its name before 0.2, still
    read), else the release page."""
    return os.environ.get("ADAIN_MODELS_MIRROR") or os.environ.get("ADAIN_WEIGHTS_MIRROR") or RELEASE_URL


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
        return f"{_mirror().rstrip('/')}/{self.filename}"


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


def cache_dir() -> Path:
    """$ADAIN_HOME, else $XDG_CACHE_HOME/adain, else ~/.cache/adain."""
    if os.environ.get("ADAIN_HOME"):
        return Path(os.environ["ADAIN_HOME"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "adain"
    return Path.home() / ".cache" / "adain"


def cached_path(spec: WeightSpec) -> Path:
    return cache_dir() / spec.filename


def looks_like_path(text: str) -> bool:
    """Whether a weights value names a file: an existing one, or anything ending in .pth/.pt or holding a
    path separator. `--decoder decoder.pth` is the user's own file, never the cached official one."""
    return (
        text.endswith(CHECKPOINT_SUFFIXES)
        or any(separator in text for separator in ("/", "\\", os.sep))
        or text.startswith("~")
        or Path(text).exists()
    )


def lookup(name_or_path: str) -> WeightSpec | Path:
    """A registered spec for a bare registered name, or the checkpoint file a path names.

    A path that does not exist, or a bare name that is not registered, is a usage error naming it.
    """
    if looks_like_path(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise UsageError(f"{path}: no such checkpoint file" + (" (it is a folder)" if path.is_dir() else ""))
        return path
    spec = REGISTRY.get(name_or_path)
    if spec is None:
        raise UsageError(f"{name_or_path!r} is neither a checkpoint file nor a registered name ({', '.join(REGISTRY)})")
    return spec


def missing_message(spec: WeightSpec, why: str = "") -> str:
    """What to do when a registered file is not in the cache and cannot be downloaded now: one line."""
    files = ", ".join(f"{other.filename} (≈{other.approx_mb} MB)" for other in REGISTRY.values())
    because = f" and cannot be downloaded ({why})" if why else ""
    return (
        f"{spec.filename} ({spec.role}) is not in the cache at {cached_path(spec)}{because}; "
        f"either run `adain models download` where there is network, or put {files} in {cache_dir()} by hand "
        f"(from {spec.url.rsplit('/', 1)[0]}/; `adain models path {spec.name}` prints the exact path), "
        "or set ADAIN_MODELS_MIRROR=URL to a mirror that serves them, or pass files of your own with --encoder PATH "
        "and --decoder PATH"
    )


def cached_digest(path: Path) -> str:
    """The SHA-256 of a cached checkpoint, hashed once per size and modification time: the verdict is kept beside
    it in `.{name}.sha256`, so only a file that changed is read again."""
    digest = remembered_digest(path)
    if digest is None:
        digest = sha256_of(path)
        remember_digest(path, digest)
    return digest


def remembered_digest(path: Path) -> str | None:
    """The SHA-256 kept for `path`, while the file has the size and modification time it had then."""
    try:
        status = path.stat()
        kept_stamp, digest = path.with_name(f".{path.name}.sha256").read_text(encoding="ascii").strip().rsplit(" ", 1)
    except (OSError, ValueError):
        return None
    return digest if kept_stamp == f"{status.st_size} {status.st_mtime_ns}" and len(digest) == 64 else None


def remember_digest(path: Path, digest: str) -> None:
    """Keep `digest` as the SHA-256 of `path` as it is now (a cache folder that cannot be written keeps nothing)."""
    status = path.stat()
    with contextlib.suppress(OSError):
        path.with_name(f".{path.name}.sha256").write_text(f"{status.st_size} {status.st_mtime_ns} {digest}\n")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
