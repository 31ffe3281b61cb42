"""The package as users install it: a wheel built from this checkout, installed into a fresh virtual
environment (not editable), whose `adain` console script the tests run from folders outside the checkout.

CI (`.ci/run`) builds the wheel and the sdist once, installs the wheel with its dependencies into the
environment the tests run in, and names the two in ADAIN_TEST_DIST and ADAIN_TEST_VENV. Run on their own
(`python -m pytest`, from a venv or not), the tests make both here, once per session: the environment gets
the wheel alone, and a `.pth` file lets it read the dependencies from the interpreter running the tests (its
site-packages, not this checkout), so torch is not installed a second time and nothing is installed into,
or removed from, that interpreter.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
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
    """A fresh environment with `wheel` installed into it (its dependencies read from this interpreter's
    site-packages); returns its bin folder."""
    venv.EnvBuilder(system_site_packages=False, with_pip=True, clear=True).create(folder)
    bin_dir = folder / ("Scripts" if os.name == "nt" else "bin")
    # --force-reinstall and a folder outside the checkout: `python -m pip` run from the checkout would take the
    # adain_cli.egg-info a build leaves there for an installed adain-cli, and install nothing.
    install = ["install", "--quiet", "--no-deps", "--no-index", "--force-reinstall", "--disable-pip-version-check"]
    subprocess.run([str(bin_dir / "python"), "-m", "pip", *install, str(wheel)], check=True, capture_output=True,
                   cwd=folder)  # fmt: skip
    find_site = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    own_site = subprocess.run([str(bin_dir / "python"), "-c", find_site], check=True, capture_output=True, text=True)
    # A plain folder line in a .pth goes on sys.path after the environment's own site-packages (so the wheel's
    # adain_cli wins) and the .pth files in that folder are not run (so an editable install of this checkout
    # there cannot stand in for the wheel).
    (Path(own_site.stdout.strip()) / "zz_dependencies_of_the_test_run.pth").write_text(
        "\n".join(dependency_folders()) + "\n", encoding="utf-8"
    )
    return bin_dir


def dependency_folders() -> list[str]:
    """Where this interpreter finds installed packages: its site-packages (a venv's, or the system's) and the
    user's, never this checkout."""
    folders = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    unique = dict.fromkeys(str(Path(folder).resolve()) for folder in folders if Path(folder).is_dir())
    return [folder for folder in unique if not Path(folder).is_relative_to(REPO)]


def clean_environment(bin_dir: Path, **extra: str) -> dict[str, str]:
    """The environment a user's shell has: the installed `adain` first on PATH, and nothing that would
    let Python find this checkout instead of the installed package."""
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    environment["PATH"] = f"{bin_dir}{os.pathsep}{environment.get('PATH', '')}"
    return {**environment, "OMP_NUM_THREADS": "1", **extra}
