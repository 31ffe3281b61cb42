"""Named pretrained weights, the cache directory, and safe checkpoint loading.

Checkpoints are always read with `torch.load(..., weights_only=True)`, so a hostile `.pth` cannot
run code. The public files are plain flat-Sequential state_dicts; `adain train` checkpoints carry
the same state_dict under a "decoder" key beside their metadata, and load the same way.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import math
import os
import pickle
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from adain_cli.errors import WeightsError
from adain_cli.files import atomic_path, ensure_writable_folder
from adain_cli.model import Decoder, Encoder, iter_public_keys, load_public_state_dict
from adain_cli.registry import (  # noqa: F401 (re-exported: the registry is part of this module's interface)
    REGISTRY,
    WeightSpec,
    cache_dir,
    cached_digest,
    cached_path,
    lookup,
    missing_message,
    remember_digest,
    sha256_of,
)


def prepare_cache() -> Path:
    """The cache folder, created if needed and checked to be writable: one line naming it if not."""
    folder = cache_dir()
    try:
        ensure_writable_folder(folder)
    except FileExistsError:
        raise WeightsError(f"the cache folder {folder} is a file; set ADAIN_HOME to a folder") from None
    except OSError as error:
        raise WeightsError(
            f"cannot write to the cache folder {folder} ({error.strerror or error}); set ADAIN_HOME to a writable "
            "folder, or pass --encoder/--decoder PATH"
        ) from None
    return folder


def load_checkpoint(path: Path, *, mmap: bool = False) -> object:
    """`torch.load(path, weights_only=True)` on the CPU: a file that is damaged, not a checkpoint, or asks to
    run code is one line naming it (WeightsError), and nothing in it runs."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:
        unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if unsafe:
            raise WeightsError(
                f"{path}: refused to load: it asks to run {unsafe.group(1)}, and a weights file holds only tensors"
            ) from None
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint (not a weights-only pickle)") from None
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        first_line = str(error).splitlines()[0].split(". ")[0][:160]
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint ({first_line})") from None


def read_state_dict(path: Path, keep: Collection[str] | None = None) -> dict[str, Tensor]:
    """A flat {key: tensor} dict from a checkpoint file, refusing anything but plain tensors.

    With `keep`, only those keys (others are dropped unread where the file allows it). Zip-format files
    (torch.save's since PyTorch 1.6) are memory-mapped, so tensors that are dropped are never read from
    disk: relu4_2 … relu5_4 are three quarters of `vgg_normalised.pth`. Older files are read whole.
    """
    if not path.is_file():
        raise WeightsError(f"{path}: no such checkpoint file")
    loaded = load_checkpoint(path, mmap=zipfile.is_zipfile(path))
    if isinstance(loaded, dict):
        for key in ("decoder", "state_dict"):
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise WeightsError(f"{path}: not a state_dict of tensors")
    state = {str(k).removeprefix("module."): v for k, v in loaded.items()}
    if keep is not None:
        state = {key: value for key, value in state.items() if key in keep}
    broken = next(
        (key for key, value in state.items() if value.is_floating_point() and not value.isfinite().all()), None
    )
    if broken is not None:
        raise WeightsError(
            f"{path}: tensor {broken!r} has NaN or infinite values (a diverged training run?); use another checkpoint"
        )
    return state


def _load_into(module: Encoder | Decoder, path: Path, role: str) -> None:
    state = read_state_dict(path, keep={public for public, _ in iter_public_keys(module)})
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


# ---------------------------------------------------------------------------------------------
# Download


@dataclass(frozen=True)
class FetchOptions:
    """How a missing registered file may be fetched."""

    offline: bool = False
    verify: bool = True


# (bytes received so far, total bytes or None) for a download in progress.
DownloadProgress = Callable[[int, int | None], None]
Warn = Callable[[str], None]

TIMEOUT_SECONDS = 30.0
ATTEMPTS = 3
RETRY_DELAY_SECONDS = 1.0
CHUNK = 1 << 16


@dataclass(frozen=True)
class SpeedLimit:
    """Give up on a download attempt when fewer than `bytes_per_second` arrived, on average, over the last
    `seconds` (like curl's --speed-limit/--speed-time): a server dripping a byte every few seconds never
    trips the per-read timeout."""

    bytes_per_second: float = 1000.0
    seconds: float = 30.0

    @classmethod
    def from_env(cls) -> SpeedLimit:
        """ADAIN_DOWNLOAD_SPEED_LIMIT (bytes/s) and ADAIN_DOWNLOAD_SPEED_TIME (seconds), else the defaults."""
        values = {}
        for field_name, variable in (("bytes_per_second", "ADAIN_DOWNLOAD_SPEED_LIMIT"),
                                     ("seconds", "ADAIN_DOWNLOAD_SPEED_TIME")):  # fmt: skip
            text = os.environ.get(variable, "").strip()
            if text:
                values[field_name] = _env_number(variable, text, positive=field_name == "seconds")
        return cls(**values)


def _env_number(variable: str, text: str, *, positive: bool) -> float:
    """A finite number of 0 or more (more than 0 with `positive`) from an environment variable."""
    try:
        value = float(text)
    except ValueError:
        raise WeightsError(f"{variable}={text!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise WeightsError(f"{variable}={text!r}: give a {'positive' if positive else 'non-negative'} number")
    return value


class _Window:
    """Bytes received over a sliding window of time, to check a SpeedLimit."""

    def __init__(self, limit: SpeedLimit) -> None:
        self.limit = limit
        self.started = self.mark_time = time.monotonic()
        self.mark_bytes = 0

    def check(self, received: int) -> None:
        now = time.monotonic()
        if now - self.mark_time < self.limit.seconds:
            return
        rate = (received - self.mark_bytes) / (now - self.mark_time)
        if rate < self.limit.bytes_per_second:
            raise _Transient(
                f"slower than {self.limit.bytes_per_second:g} bytes/s over {self.limit.seconds:g} s "
                "(ADAIN_DOWNLOAD_SPEED_LIMIT / ADAIN_DOWNLOAD_SPEED_TIME)"
            )
        self.mark_time, self.mark_bytes = now, received


class _Transient(Exception):
    """A failure worth another try (timeout, reset connection, 5xx, too slow)."""


class _Permanent(Exception):
    """A failure another try will not mend (404, no such host, refused)."""


def _describe_url_error(url: str, error: BaseException) -> str:
    reason = getattr(error, "reason", error)
    host = urllib.parse.urlparse(url).hostname
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host {host!r} (no network or DNS?)"
    if isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"no route to {host!r} (no network?)"
    if isinstance(reason, OSError) and reason.errno == errno.ECONNREFUSED:
        return f"connection to {host!r} refused"
    if isinstance(reason, TimeoutError):
        return f"timed out after {TIMEOUT_SECONDS:g} s"
    return str(reason)


def _stream(url: str, tmp: Path, *, progress: DownloadProgress, limit: SpeedLimit) -> tuple[str, int]:
    """Download `url` into `tmp`; returns (sha256, bytes). Raises _Transient or WeightsError."""
    request = urllib.request.Request(url, headers={"User-Agent": "adain-cli"})
    try:
        with (
            urllib.request.urlopen(request, timeout=min(TIMEOUT_SECONDS, limit.seconds)) as response,
            tmp.open("wb") as out,
        ):
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            digest, received, window = hashlib.sha256(), 0, _Window(limit)
            progress(0, total)
            # read1 returns what has arrived, so a dripping server is measured as it drips.
            for block in iter(lambda: response.read1(CHUNK), b""):
                out.write(block)
                digest.update(block)
                received += len(block)
                progress(received, total)
                window.check(received)
    except urllib.error.HTTPError as error:
        if error.code >= 500 or error.code == 429:
            raise _Transient(f"HTTP {error.code} {error.reason}") from None
        raise _Permanent(f"{url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        message = _describe_url_error(url, error)
        if isinstance(error.reason, (TimeoutError, ConnectionResetError)):
            raise _Transient(message) from None
        raise _Permanent(f"{url}: {message}") from None
    except (TimeoutError, ConnectionError, http.client.IncompleteRead) as error:
        raise _Transient(_describe_url_error(url, error)) from None
    except OSError as error:  # writing the temporary file: a full disk, a read-only folder
        raise WeightsError(f"cannot save the download in {tmp.parent}: {error.strerror or error}") from None
    if total is not None and received != total:
        raise _Transient(f"connection closed after {received} of {total} bytes")
    return digest.hexdigest(), received


def download(
    spec: WeightSpec,
    *,
    options: FetchOptions = FetchOptions(),
    progress: DownloadProgress = lambda done, total: None,
    warn: Warn = lambda message: None,
) -> Path:
    """Fetch `spec` into the cache: a temporary file, checked (SHA-256, and that it loads as a checkpoint of
    its layout), then renamed into place; a failed or interrupted download leaves nothing behind."""
    if options.offline:
        raise WeightsError(missing_message(spec, "offline mode is on: ADAIN_OFFLINE or --offline"))
    target = prepare_cache() / spec.filename
    limit = SpeedLimit.from_env()
    try:
        with atomic_path(target, suffix=".part") as tmp:
            digest = _download_with_retries(spec, tmp, progress=progress, limit=limit)
            if digest != spec.sha256:
                if options.verify:
                    raise WeightsError(
                        f"{spec.filename} from {spec.url} has SHA-256 {digest}, expected {spec.sha256}; "
                        "nothing was kept (use --no-verify or ADAIN_NO_VERIFY=1 to accept it anyway)"
                    )
                _check_loads(spec, tmp)
                warn(f"{spec.filename}: SHA-256 {digest} does not match the expected {spec.sha256}; kept (--no-verify)")
    except OSError as error:  # fsync or rename into place: a full disk, a vanished folder
        raise WeightsError(f"cannot save {target}: {error.strerror or error}") from None
    remember_digest(target, digest)
    return target


def _check_cached(spec: WeightSpec, path: Path, *, verify: bool, warn: Warn) -> None:
    """A file in the cache under a registered name is that release (checked once per size and mtime); anything
    else there, put by hand or left by --no-verify, is refused unless verification is off."""
    digest = cached_digest(path)
    if digest == spec.sha256:
        return
    what = f"{path}: SHA-256 {digest} is not the published {spec.sha256} of {spec.filename}"
    if not verify:
        warn(f"{what}; used anyway (--no-verify)")
        return
    raise WeightsError(
        f"{what}; for a {spec.role} of your own pass --{spec.role} PATH, or remove the file to download the release "
        "again (--no-verify or ADAIN_NO_VERIFY=1 uses it anyway)"
    )


def _check_loads(spec: WeightSpec, path: Path) -> None:
    """Refuse an unverified download that is not a checkpoint of its layout (an HTML error page, a body cut
    short), so that it never sits in the cache failing every later run."""
    try:
        (load_encoder if spec.role == "encoder" else load_decoder)(path)
    except WeightsError as error:
        reason = str(error).removeprefix(f"{path}: ")
        raise WeightsError(f"{spec.filename} from {spec.url} is not a usable {spec.role} checkpoint ({reason}); "
                           "nothing was kept") from None  # fmt: skip


def _download_with_retries(spec: WeightSpec, tmp: Path, *, progress: DownloadProgress, limit: SpeedLimit) -> str:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _stream(spec.url, tmp, progress=progress, limit=limit)[0]
        except _Permanent as error:
            raise WeightsError(missing_message(spec, str(error))) from None
        except _Transient as error:
            if attempt == ATTEMPTS:
                reason = f"{error}; tried {ATTEMPTS} times"
                raise WeightsError(missing_message(spec, f"{spec.url}: {reason}")) from None
            time.sleep(RETRY_DELAY_SECONDS * attempt)
    raise AssertionError("unreachable")


def resolve(
    name_or_path: str,
    *,
    options: FetchOptions | None = None,
    progress: DownloadProgress = lambda done, total: None,
    warn: Warn = lambda message: None,
    force: bool = False,
) -> Path:
    """The checkpoint file for a registered name (from the cache, downloaded if missing) or a path
    (`registry.lookup` says which a value is).

    With `options` None a missing registered file is an error rather than a download. With `force` a
    registered file is downloaded again; the cached one is replaced only once the new one is complete and
    checked, so a failed download leaves it as it was.
    """
    spec = lookup(name_or_path)
    if isinstance(spec, Path):
        return spec
    path = cached_path(spec)
    if path.is_file() and not (force and options is not None):
        _check_cached(spec, path, verify=options is None or options.verify, warn=warn)
        return path
    if options is None:
        raise WeightsError(missing_message(spec))
    return download(spec, options=options, progress=progress, warn=warn)
