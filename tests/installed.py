"""The package as users install it: a wheel built from this checkout, installed into a fresh virtual
environment (not editable), whose `adain` console script the tests run from folders outside the checkout.

CI builds the wheel and the sdist once with `python -m build` and names the folder in ADAIN_TEST_DIST and the
environment in ADAIN_TEST_VENV; elsewhere both are made here, once per test session. The environment sees
the system's site-packages, so torch and the other dependencies are not installed a second time, while
`adain_cli` itself comes from the wheel alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def build_dist(folder: Path) -> Path:
    """A wheel (and, where `build` is installed, an sdist) of this checkout in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(folder), str(REPO)], check=True, capture_output=True)  # fmt: skip
    return folder


def make_venv(folder: Path, wheel: Path) -> Path:
    """A fresh environment with `wheel` installed into it; returns its bin folder."""
    venv.EnvBuilder(system_site_packages=True, with_pip=True, clear=True).create(folder)
    bin_dir = folder / ("Scripts" if os.name == "nt" else "bin")
    # --force-reinstall: an adain-cli the system site-packages already holds must not stand in for the wheel.
    install = ["install", "--quiet", "--no-deps", "--no-index", "--force-reinstall", "--disable-pip-version-check"]
    subprocess.run([str(bin_dir / "python"), "-m", "pip", *install, str(wheel)], check=True, capture_output=True)
    return bin_dir


def clean_environment(bin_dir: Path, **extra: str) -> dict[str, str]:
    """The environment a user's shell has: the installed `adain` first on PATH, and nothing that would
    let Python find this checkout instead of the installed package."""
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    environment["PATH"] = f"{bin_dir}{os.pathsep}{environment.get('PATH', '')}"
    return {**environment, "OMP_NUM_THREADS": "1", **extra}
