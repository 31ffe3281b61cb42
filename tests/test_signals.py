"""SIGTERM and SIGHUP stop a run like Ctrl-C: cleanup runs, exit status 128 + signal number."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from adain_cli.signals import Terminated, describe, exit_status, interrupts_as_keyboard
from tests.conftest import make_image


def test_sigterm_and_sighup_raise_terminated_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        with pytest.raises(Terminated) as caught, interrupts_as_keyboard():
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler runs at the next bytecode; this is never reached in full
        assert caught.value.signum == signum
        assert isinstance(caught.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) is before
    assert [exit_status(Terminated(signal.SIGTERM)), exit_status(Terminated(signal.SIGHUP))] == [143, 129]
    assert (exit_status(KeyboardInterrupt()), describe(KeyboardInterrupt())) == (130, "SIGINT")


def test_an_ignored_signal_stays_ignored_and_repeats_do_not_cut_cleanup_short(monkeypatch):
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with interrupts_as_keyboard():
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.01)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
    cleaned = False
    with pytest.raises(Terminated), interrupts_as_keyboard():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # a second SIGTERM during cleanup is ignored
            time.sleep(0.01)
            cleaned = True
    assert cleaned


@pytest.mark.slow
def test_sigterm_and_sighup_stop_stylize_cleanly(tmp_path, weight_files):
    for index in range(40):
        make_image(tmp_path / "in" / f"c{index:02d}.png", 64, 64, seed=index)
    make_image(tmp_path / "style.png", 48, 48, seed=99)
    encoder, decoder = weight_files
    for signum in (signal.SIGTERM, signal.SIGHUP):
        out = tmp_path / f"out-{signum}"
        command = [sys.executable, "-m", "adain_cli", "stylize", str(tmp_path / "in"), "--style",
                   str(tmp_path / "style.png"), "-o", str(out), "--encoder", str(encoder), "--decoder", str(decoder),
                   "--batch-size", "1", "--content-size", "0", "--quiet"]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None and not list(out.glob("*_stylized_*.png")):
            time.sleep(0.02)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
        name = signal.Signals(signum).name
        assert process.returncode == 128 + signum, stderr.decode()
        assert stderr.decode().splitlines() == [
            f"adain: interrupted by {name}; finished outputs are kept (to resume, run the same command again with "
            "--skip-existing)"
        ]
        finished = list(out.glob("*_stylized_*.png"))
        assert 1 <= len(finished) < 40
        for path in finished:
            Image.open(path).load()  # complete files only
    assert leftovers(tmp_path) == []


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith((".tmp", ".part"))]
