"""Exit 0 means every output is written and right: standard output that cannot be written fails the command, and
--skip-existing keeps only what the same look made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import AT_OWN_SIZE, REPO, SUBPROCESS_TIMEOUT, make_image

FULL_DEVICE = Path("/dev/full")


def run_into_full_device(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "ADAIN_HOME": str(cwd / "home"), "ADAIN_OFFLINE": "1"}
    with FULL_DEVICE.open("w") as full:
        return subprocess.run([sys.executable, "-m", "adain_cli", *map(str, argv)], cwd=cwd, env=environment,
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=SUBPROCESS_TIMEOUT)  # fmt: skip


COMMANDS = {
    "help": ["--help"],
    "version": ["--version"],
    "doctor": ["doctor"],
    "doctor --json": ["doctor", "--json"],
    "weights list": ["models", "list", "--no-hash"],
    "dry run": ["stylize", "c.png", "--style", "c.png", "--dry-run", "-o", "out"],
    "dry run --json": ["stylize", "c.png", "--style", "c.png", "--dry-run", "--json", "-o", "out"],
}


@pytest.mark.slow  # each runs the program, torch's import included
@pytest.mark.skipif(not FULL_DEVICE.exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("case", COMMANDS)
def test_standard_output_on_a_full_device_is_one_line_and_exit_1(tmp_path, case):
    make_image(tmp_path / "c.png", 16, 16)
    done = run_into_full_device(*COMMANDS[case], cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.splitlines()
    assert line == "adain: error: cannot write to standard output (/dev/full): No space left on device"


@pytest.mark.slow
@pytest.mark.skipif(not FULL_DEVICE.exists(), reason="needs /dev/full (Linux)")
def test_an_image_sent_to_a_full_device_fails_the_job(tmp_path, weight_files):
    make_image(tmp_path / "c.png", 24, 16)
    make_image(tmp_path / "s.png", 16, 16, seed=1)
    encoder, decoder = weight_files
    done = run_into_full_device("stylize", "c.png", "--style", "s.png", "-o", "-", "--content-size", "0",
                                "--style-size", "0", "--encoder", encoder, "--decoder", decoder, "--quiet",
                                cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1 and "cannot write to standard output (/dev/full)" in done.stderr


def test_skip_existing_keeps_only_outputs_made_by_the_same_look(run_adain, tmp_path):
    """Under --name '{content}' a rerun with another seed draws other styles into the same names: those are
    made again, and only the outputs whose mark names the same look are skipped."""
    for index in range(6):
        make_image(tmp_path / "photos" / f"p{index}.png", 24, 16, seed=index)
    for index in range(4):
        make_image(tmp_path / "paintings" / f"s{index}.png", 16, 16, seed=10 + index)
    common = ["stylize", tmp_path / "photos", "--style", tmp_path / "paintings", "--styles-per-content", "1",
              "--name", "{content}", "-o", tmp_path / "out", *AT_OWN_SIZE, "--no-grid"]  # fmt: skip
    first = run_adain(*common, "--seed", "1", "--json-lines")
    assert first.exit_code == 0, first.stderr
    drawn_first = {json.loads(line)["path"]: json.loads(line)["styles"] for line in first.stdout.splitlines()}
    again = run_adain(*common, "--seed", "2", "--skip-existing", "--json-lines")
    assert again.exit_code == 0, again.stderr
    records = [json.loads(line) for line in again.stdout.splitlines()]
    assert len(records) == 6
    for record in records:
        same_look = drawn_first[record["path"]] == record["styles"]
        assert record["status"] == ("skipped" if same_look else "written"), record
    assert any(record["status"] == "written" for record in records), "seed 2 should draw some other style"
    dry = run_adain(*common, "--seed", "1", "--skip-existing", "--dry-run", "--json-lines")
    redone = {json.loads(line)["path"] for line in dry.stdout.splitlines() if json.loads(line)["status"] == "planned"}
    assert redone == {record["path"] for record in records if record["status"] == "written"}


def test_a_cached_file_that_is_not_the_release_is_refused_by_name_and_hashed_once(run_adain, weight_files, tmp_path,
                                                                                  monkeypatch):  # fmt: skip
    from adain_cli import registry
    from adain_cli.registry import REGISTRY, cache_dir, cached_path

    monkeypatch.setenv("ADAIN_HOME", str(tmp_path / "home"))
    cache_dir().mkdir(parents=True)
    cached = cached_path(REGISTRY["decoder"])
    cached.write_bytes(weight_files[1].read_bytes())  # put there by hand: random weights, not the release
    make_image(tmp_path / "c.png", 24, 16)
    hashed = []
    real_sha256 = registry.sha256_of
    monkeypatch.setattr(registry, "sha256_of", lambda path: hashed.append(path) or real_sha256(path))
    argv = ["stylize", tmp_path / "c.png", "--style", tmp_path / "c.png", "-o", tmp_path / "out", *AT_OWN_SIZE]
    for _ in range(2):
        refused = run_adain(*argv, "--encoder", weight_files[0], weights=False)
        assert refused.exit_code == 1 and refused.stderr.count("\n") == 1
        assert f"{cached}: SHA-256 " in refused.stderr and "is not the published" in refused.stderr
        assert "pass --decoder PATH" in refused.stderr
    assert hashed == [cached], "hashed once, then known by its size and modification time"
    doctor = run_adain("doctor", weights=False)
    assert "model decoder: present" in doctor.stdout and "SHA-256 DIFFERS" in doctor.stdout and doctor.exit_code == 1
    download = run_adain("models", "download", "decoder", "--offline", weights=False)
    assert download.exit_code == 1 and "is not the published" in download.stderr
    used = run_adain(*argv, "--encoder", weight_files[0], "--no-verify", "--no-grid", weights=False)
    assert used.exit_code == 0 and "used anyway (--no-verify)" in used.stderr


@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "tif"])
def test_an_output_s_mark_and_completeness_are_read_in_one_open(tmp_path, monkeypatch, ext):
    from PIL import Image

    from adain_cli import marker
    from adain_cli.images import save_pil

    path = tmp_path / f"out.{ext}"
    save_pil(Image.new("RGB", (24, 16), (200, 10, 10)), path, made="0123456789abcdef")
    opened: list[object] = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *args, **kw: opened.append(args[0]) or real_open(*args, **kw))
    assert marker.is_done(path, "0123456789abcdef") and not marker.is_done(path, "another look")
    assert len(opened) == 2  # once per call
    if ext in ("png", "jpg"):  # their ends are checked: a file cut short is not done, whatever its mark
        path.write_bytes(path.read_bytes()[:-8])
        assert not marker.is_done(path, "0123456789abcdef")
