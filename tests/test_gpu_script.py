"""benchmarks/gpu.sh starts every step on a machine without a GPU (--dry-run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_gpu_script_starts_every_step_with_dry_run():
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}  # the interpreter running the tests
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--dry-run"], capture_output=True,
                            text=True, timeout=300, env=environment)  # fmt: skip
    assert result.returncode == 0, result.stderr
    steps = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert set(steps) == {"precision", "images", "compile:", "video:", "train:"}
