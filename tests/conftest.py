from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image

from adain_cli import model
from adain_cli.cli import cli
from adain_cli.device import usable_cores
from tests.public_weights import random_public_state_dicts

REPO = Path(__file__).resolve().parent.parent
# Contents and styles at their own (tiny) size: what most tests run at, so they stay fast.
AT_OWN_SIZE = ("--content-size", "0", "--style-size", "0")
# Subprocesses of the tests (`python -m adain_cli`, torchrun's workers) import this checkout, wherever they run
# and whether or not it is installed; the tests of the installed wheel clear this for their own commands.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))

# A suite started in the background by a non-interactive shell (`pytest … &`) inherits SIGINT ignored, and so
# would every process it starts. `adain` leaves an ignored SIGINT ignored (as `nohup` asks), so the tests of
# Ctrl-C would wait out their limit: the suite's own processes get Python's usual SIGINT back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Under pytest-xdist (`-n auto`) the workers share the cores: each, and every process it starts, gets its share
# of threads, so two workers on two cores do not each run two-thread convolutions against the other.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = max(1, usable_cores() // _WORKERS)
    os.environ["OMP_NUM_THREADS"] = str(_THREADS)
    torch.set_num_threads(_THREADS)

# The one limit for a subprocess of the tests, or for waiting on an event in one. Generous: on a 2-core
# machine shared with other work a start of torch alone can take a minute. A limit only turns a hang into a
# failure; no test asserts on elapsed time.
SUBPROCESS_TIMEOUT = 1200


def run_benchmark(name: str, cwd: Path | None = None) -> list[str]:
    """`benchmarks/NAME --quick` (its toy sizes) in its own process at one thread; the lines it printed."""
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / name), "--quick"], capture_output=True,
                            text=True, timeout=SUBPROCESS_TIMEOUT, cwd=cwd,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the user's cache, and none can reach a real weights server: downloads go to a
    closed port on 127.0.0.1 unless a test starts its own server."""
    for name in ("ADAIN_OFFLINE", "ADAIN_NO_VERIFY", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ADAIN_MODELS_MIRROR", "http://127.0.0.1:9/no-server")
    monkeypatch.setenv("ADAIN_HOME", str(tmp_path / "adain-home"))


@pytest.fixture(scope="session")
def public_states() -> tuple[dict, dict]:
    return random_public_state_dicts(seed=0)


@pytest.fixture(scope="session")
def weight_files(tmp_path_factory: pytest.TempPathFactory, public_states) -> tuple[Path, Path]:
    """Random-initialised weights in the exact public layout, written once per session."""
    folder = tmp_path_factory.mktemp("weights")
    encoder_state, decoder_state = public_states
    torch.save(encoder_state, folder / "vgg_normalised.pth")
    torch.save(decoder_state, folder / "decoder.pth")
    return folder / "vgg_normalised.pth", folder / "decoder.pth"


def make_image(path: Path, width: int, height: int, seed: int = 0, mode: str = "RGB") -> Path:
    """A smooth random image (noise blurred by upsampling), so resizing and JPEG behave naturally."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert(mode).save(path)
    return path


@pytest.fixture
def scene(tmp_path: Path) -> dict[str, Path]:
    """A folder of two small photos (`photos/p0.png`, `p1.png`, 40×32), one style (`style.png`) and where the
    outputs go (`out`, not made)."""
    for index in range(2):
        make_image(tmp_path / "photos" / f"p{index}.png", 40, 32, seed=index)
    make_image(tmp_path / "style.png", 32, 32, seed=9)
    return {"photos": tmp_path / "photos", "style": tmp_path / "style.png", "out": tmp_path / "out"}


def cli_runner() -> CliRunner:
    """A CliRunner that keeps stderr apart from stdout: click 8.1 mixes them unless told not to, and 8.2 removed
    the switch (it always keeps them apart)."""
    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    return CliRunner()


@pytest.fixture
def run_adain(weight_files):
    """Invoke the real CLI in-process with the test weights; returns click's Result."""
    encoder, decoder = weight_files

    def invoke(*args: str | Path, weights: bool = True) -> Result:
        argv = [str(a) for a in args]
        if weights:
            argv += ["--encoder", str(encoder), "--decoder", str(decoder)]
        return cli_runner().invoke(cli, argv, catch_exceptions=False)

    return invoke


def as_tensor(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)[None].float() / 255


@pytest.fixture
def count_encodes(monkeypatch):
    """Every image through the encoder in the test, by its shape (a batch of N adds N entries)."""
    calls = []
    original = model.Encoder.forward

    def counting(self, image, upto="relu4_1"):
        calls.extend([tuple(image.shape[1:])] * image.shape[0])
        return original(self, image, upto)

    monkeypatch.setattr(model.Encoder, "forward", counting)
    return calls


def run_module(*args: str, processes: int = 0, timeout: int = SUBPROCESS_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """`python -m adain_cli ARGS` in a subprocess, under torchrun with `processes` ranks when given.

    One thread per process, so results do not depend on how many processes share the cores.
    """
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)] if processes else []
    command = [sys.executable, *launcher, "-m", "adain_cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip


@pytest.fixture(scope="session")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the built wheel (and sdist) of this checkout are: CI's, or one built now."""
    from tests.installed import build_dist

    given = os.environ.get("ADAIN_TEST_DIST")
    return Path(given) if given else build_dist(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def installed_bin(dist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh environment with the wheel installed (CI's ADAIN_TEST_VENV, or one made now)."""
    from tests.installed import make_venv

    given = os.environ.get("ADAIN_TEST_VENV")
    if given:
        return Path(given) / ("Scripts" if os.name == "nt" else "bin")
    (wheel,) = dist_dir.glob("adain_cli-*.whl")
    return make_venv(tmp_path_factory.mktemp("venv"), wheel)


def wait_until(condition: Callable[[], bool], process: subprocess.Popen, what: str) -> None:
    """Poll until `condition()` holds; fail (killing `process`) if the process ends first or the limit passes.

    For events a subprocess shows only on disk (a file appearing); a test then acts on the event, never on
    the time that has passed."""
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the process ended (status {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {what} within {SUBPROCESS_TIMEOUT} s")
        time.sleep(0.02)


def read_until(stream, process: subprocess.Popen, predicate: Callable[[str], bool], what: str) -> list[str]:
    """The lines read from `stream` up to and including the first that satisfies `predicate`.

    A watchdog kills `process` after SUBPROCESS_TIMEOUT, so a process that hangs without printing fails the
    test instead of blocking it."""
    watchdog = threading.Timer(SUBPROCESS_TIMEOUT, process.kill)
    watchdog.start()
    lines = []
    try:
        for raw in stream:
            line = raw.decode() if isinstance(raw, bytes) else raw
            lines.append(line)
            if predicate(line):
                return lines
    finally:
        watchdog.cancel()
    pytest.fail(f"the output ended before {what}: {''.join(lines)[-2000:]}")


def finish(process: subprocess.Popen) -> tuple[str, str]:
    """The rest of stdout and stderr (as text) once `process` has ended, within the limit."""
    out, err = process.communicate(timeout=SUBPROCESS_TIMEOUT)
    return tuple(text.decode() if isinstance(text, bytes) else (text or "") for text in (out, err))
