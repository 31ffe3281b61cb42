"""SIGTERM and SIGHUP stop a run like Ctrl-C: cleanup runs, exit status 128 + signal number."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from adain_cli.signals import Terminated, deferred, describe, exit_status, interrupts_as_keyboard
from tests.conftest import finish, make_image, read_until


def test_sigterm_and_sighup_raise_terminated_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        with pytest.raises(Terminated) as caught, interrupts_as_keyboard():
            signal.raise_signal(signum)  # delivered to this thread; the handler has run when it returns
            pytest.fail("the signal did not raise")
        assert caught.value.signum == signum
        assert isinstance(caught.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) is before
    assert [exit_status(Terminated(signal.SIGTERM)), exit_status(Terminated(signal.SIGHUP))] == [143, 129]
    assert (exit_status(KeyboardInterrupt()), describe(KeyboardInterrupt())) == (130, "SIGINT")


def test_an_ignored_signal_stays_ignored_and_repeats_do_not_cut_cleanup_short(monkeypatch):
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with interrupts_as_keyboard():
            signal.raise_signal(signal.SIGHUP)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
    cleaned = False
    with pytest.raises(Terminated), interrupts_as_keyboard():
        try:
            signal.raise_signal(signal.SIGTERM)
            pytest.fail("SIGTERM did not raise")
        finally:
            signal.raise_signal(signal.SIGTERM)  # a second SIGTERM during cleanup is ignored
            cleaned = True
    assert cleaned


def test_a_deferred_block_finishes_before_the_interrupt_is_raised():
    for signum, kind in ((signal.SIGTERM, Terminated), (signal.SIGINT, KeyboardInterrupt)):
        done = []
        with pytest.raises(kind), interrupts_as_keyboard():
            with deferred():
                signal.raise_signal(signum)
                done.append("the rest of the block")
            pytest.fail("the interrupt was not raised at the block's end")
        assert done == ["the rest of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_stop_signal_while_a_record_is_written_loses_no_record(tmp_path, weight_files):
    """SIGTERM arriving as the first output's JSON line is being written: the line is written whole and the
    ledger still equals the files on disk."""
    for index in range(6):
        make_image(tmp_path / "in" / f"c{index}.png", 16, 16, seed=index)
    style = make_image(tmp_path / "style.png", 16, 16, seed=9)
    encoder, decoder = weight_files
    out = tmp_path / "out"
    args = ["stylize", str(tmp_path / "in"), "--style", str(style), "-o", str(out), "--encoder", str(encoder),
            "--decoder", str(decoder), "--content-size", "0", "--style-size", "0", "--no-grid", "--quiet",
            "--json-lines"]  # fmt: skip
    code = f"""
import os, signal, sys
from adain_cli.cli import main, streams
write = streams.echo
def echo(text):
    if '"written"' in text:
        os.kill(os.getpid(), signal.SIGTERM)  # its handler runs before the next line of Python
    write(text)
streams.echo = echo
sys.argv = ["adain", *{args!r}]
main()
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert result.returncode == 143, result.stderr
    written = {Path(json.loads(line)["path"]).name for line in result.stdout.splitlines()}
    assert written and written == {path.name for path in out.glob("*.png")}


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
                   "--batch-size", "1", "--content-size", "0", "--quiet", "--json-lines"]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        read_until(process.stdout, process, lambda line: '"written"' in line, "the first output's record")
        process.send_signal(signum)
        _, stderr = finish(process)
        name = signal.Signals(signum).name
        assert process.returncode == 128 + signum, stderr
        assert stderr.splitlines() == [
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
