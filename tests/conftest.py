from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image

from adain_cli import model
from adain_cli.cli import cli
from tests.public_weights import random_public_state_dicts

REPO = Path(__file__).resolve().parent.parent
# Subprocesses of the tests (`python -m adain_cli`, torchrun's workers) import this checkout, wherever they run
# and whether or not it is installed; the tests of the installed wheel clear this for their own commands.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the user's cache, and none can reach a real weights server: downloads go to a
    closed port on 127.0.0.1 unless a test starts its own server."""
    for name in ("ADAIN_OFFLINE", "ADAIN_NO_VERIFY", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ADAIN_WEIGHTS_MIRROR", "http://127.0.0.1:9/no-server")
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
def run_adain(weight_files):
    """Invoke the real CLI in-process with the test weights; returns click's Result."""
    encoder, decoder = weight_files

    def invoke(*args: str | Path, weights: bool = True) -> Result:
        argv = [str(a) for a in args]
        if weights:
            argv += ["--encoder", str(encoder), "--decoder", str(decoder)]
        return CliRunner().invoke(cli, argv, catch_exceptions=False)

    return invoke


def as_tensor(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)[None].float() / 255


@pytest.fixture
def count_encodes(monkeypatch):
    """Every encoder forward pass of the test, by input shape."""
    calls = []
    original = model.Encoder.forward

    def counting(self, image, upto="relu4_1"):
        calls.append(tuple(image.shape))
        return original(self, image, upto)

    monkeypatch.setattr(model.Encoder, "forward", counting)
    return calls


def run_module(*args: str, processes: int = 0, timeout: int = 300) -> subprocess.CompletedProcess[str]:
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
