"""What `pip install .` gives a user: every module in the wheel, a console script that starts, and a real job
run by it from a folder outside the checkout."""

from __future__ import annotations

import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from adain_cli import __version__
from tests.conftest import SUBPROCESS_TIMEOUT, make_image
from tests.installed import REPO, clean_environment

pytestmark = pytest.mark.slow

SHIPPED = sorted(str(path.relative_to(REPO)) for path in (REPO / "adain_cli").rglob("*")
                 if path.is_file() and "__pycache__" not in path.parts)  # fmt: skip


def test_the_wheel_holds_every_module_and_the_type_marker(dist_dir):
    (wheel,) = dist_dir.glob("adain_cli-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert [path for path in SHIPPED if path not in names] == []
    assert "adain_cli/py.typed" in names and "adain_cli/cli/__init__.py" in names
    samples = sorted(path.name for path in (REPO / "sample_styles").glob("*.jpg"))
    assert len(samples) == 8
    assert [name for name in samples if f"adain_cli/sample_styles/{name}" not in names] == []


def test_the_sdist_holds_every_module(dist_dir):
    sdists = list(dist_dir.glob("adain_cli-*.tar.gz"))
    if not sdists:
        pytest.skip("no sdist here: `python -m build` makes one (CI does); `pip wheel` makes only the wheel")
    with tarfile.open(sdists[0]) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert [path for path in SHIPPED if path not in names] == []


def test_the_installed_console_script_starts_and_runs_a_job_outside_the_checkout(installed_bin, weight_files, tmp_path):
    environment = clean_environment(installed_bin, ADAIN_HOME=str(tmp_path / "home"), ADAIN_OFFLINE="1")
    adain = str(installed_bin / "adain")

    def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(a) for a in argv], cwd=tmp_path, env=environment, capture_output=True,
                              text=True, timeout=SUBPROCESS_TIMEOUT)  # fmt: skip

    where = run(installed_bin / "python", "-c", "import adain_cli; print(adain_cli.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed_bin.parent), "adain_cli came from outside the venv"
    for argv in ([adain, "--version"], [installed_bin / "python", "-m", "adain_cli", "--version"]):
        version = run(*argv)
        assert version.returncode == 0, version.stderr
        assert version.stdout.strip().endswith(__version__)
    helped = run(adain, "--help")
    assert helped.returncode == 0 and "stylize" in helped.stdout, helped.stderr
    content, style = make_image(tmp_path / "c.png", 40, 32), make_image(tmp_path / "s.png", 32, 32, seed=1)
    encoder, decoder = weight_files
    done = run(adain, "stylize", content, "--style", style, "-o", "out", "--content-size", "0", "--style-size",
               "0", "--encoder", encoder, "--decoder", decoder)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "c_stylized_s.png").is_file()
    by_name = run(adain, "stylize", content, "--style", "waves", "-o", "named", "--content-size", "0",
                  "--style-size", "32", "--encoder", encoder, "--decoder", decoder)  # fmt: skip
    assert by_name.returncode == 0, by_name.stderr
    assert (tmp_path / "named" / "c_stylized_waves.png").is_file()  # the shipped sample style, by its name
