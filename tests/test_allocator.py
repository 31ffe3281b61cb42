"""The program keeps freed memory for the next large tensors (glibc); the library never changes the allocator."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from adain_cli import allocator
from tests.conftest import REPO, make_image

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.parametrize(
    "environ", [{"MALLOC_ARENA_MAX": "2"}, {"LD_PRELOAD": "libjemalloc.so.2"}, {"ADAIN_DEFAULT_MALLOC": "1"}]
)
def test_a_users_own_allocator_setting_is_left_alone(environ):
    assert allocator.keep_freed_memory(environ) is False


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_the_program_keeps_freed_memory_and_the_library_does_not(tmp_path, weight_files):
    make_image(tmp_path / "c.png", 24, 16)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from adain_cli import allocator, api\n"
        "from adain_cli.cli import main\n"
        "stylizer = api.Stylizer.from_files(Path(sys.argv[2]), Path(sys.argv[3]), device='cpu')\n"
        "api.stylize(sys.argv[1], sys.argv[1], content_size=0, stylizer=stylizer)\n"
        "print('library', allocator._libc is not None)\n"
        "try:\n"
        "    main(['--version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "allocator.return_kept_memory()\n"
        "print(allocator.setting())\n"
        "print('program', allocator._libc is not None)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c.png"), *map(str, weight_files)],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "library False" and lines[-1] == "program True"
    assert lines[-2].startswith("freed memory kept")  # what `adain doctor` shows


def test_kept_memory_is_given_back_when_the_content_size_changes(run_adain, tmp_path, monkeypatch):
    from adain_cli import allocator

    calls = []
    monkeypatch.setattr(allocator, "return_kept_memory", lambda: calls.append(1))
    for name, width in (("a", 24), ("b", 24), ("c", 32), ("d", 32)):
        make_image(tmp_path / "in" / f"{name}.png", width, 16)
    style = make_image(tmp_path / "s.png", 16, 16)
    result = run_adain("stylize", tmp_path / "in", "--style", style, "-o", tmp_path / "out", "--content-size", "0")
    assert result.exit_code == 0, result.output
    assert len(calls) == 2  # before the first content of each size: its blocks would not fit the old holes
