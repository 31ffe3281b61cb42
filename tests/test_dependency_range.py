"""The installed command at whatever versions of its dependencies it runs with. CI runs this file twice: in
its own environment (the versions pinned in .ci/constraints.txt) and, through `.ci/floors`, in one with every
dependency at the oldest version pyproject.toml allows."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import SUBPROCESS_TIMEOUT, make_image
from tests.installed import REPO, clean_environment

pytestmark = pytest.mark.slow

USAGE_ERRORS = {
    "unknown group option": ["--bogus"],
    "unknown command": ["no-such-command"],
    "unknown command option": ["stylize", "--bogus"],
    "no content": ["stylize"],
    "alpha not a number": ["stylize", "c.png", "--style", "c.png", "--alpha", "x"],
    "missing content file": ["stylize", "nosuch.png", "--style", "c.png"],
    "bad choice": ["stylize", "c.png", "--style", "c.png", "--device", "gpu0"],
}


def run_installed(installed_bin, tmp_path, *argv: str) -> subprocess.CompletedProcess[str]:
    environment = clean_environment(installed_bin, ADAIN_HOME=str(tmp_path / "home"), ADAIN_OFFLINE="1")
    return subprocess.run([str(installed_bin / "adain"), *argv], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)  # fmt: skip


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_a_usage_error_is_one_line_and_exit_2(installed_bin, tmp_path, case):
    make_image(tmp_path / "c.png", 16, 16)
    done = run_installed(installed_bin, tmp_path, *USAGE_ERRORS[case])
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("adain") and "--help" in done.stderr


def test_plain_adain_shows_the_help_on_stderr_and_exits_2(installed_bin, tmp_path):
    done = run_installed(installed_bin, tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("Usage: adain") and "stylize" in done.stderr


def test_every_dependency_has_a_floor_and_torch_s_is_the_version_ci_pins():
    """.ci/floors reads the floors from pyproject.toml; torch and torchvision, which it does not install again,
    must have their floors at the versions CI pins, or the floor run would test something else."""
    project = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    listed = re.search(r"^dependencies = \[(.*?)^\]", project, re.M | re.S)
    assert listed, "pyproject.toml lists its dependencies"
    dependencies = re.findall(r'^\s*"([^"]+)"', listed.group(1), re.M)
    floors = dict(re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", entry).groups() for entry in dependencies)
    assert len(floors) == len(dependencies), "every dependency is NAME>=FLOOR"
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([0-9.]+)", (REPO / ".ci/constraints.txt").read_text(), re.M))
    assert (floors["torch"], floors["torchvision"]) == (pins["torch"], pins["torchvision"])
