"""Scripting comfort: inputs checked first, JSON records, file lists, dry runs, whole lines in a pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adain_cli.cli import cli
from tests.conftest import AT_OWN_SIZE, SUBPROCESS_TIMEOUT, cli_runner, make_image

TINY = (*AT_OWN_SIZE, "--grid-cell", "16")


@pytest.mark.parametrize(
    ("command", "missing_at"),
    [("stylize {m} --style {s}", "{m}"), ("stylize {c} --style {m}", "{m}"), ("interpolate {c} {s} {m}", "{m}"),
     ("spatial {c} --style {s} --mask {m}", "{m}"), ("spatial {c} --style {s} --mask-dir {m}", "{m}")],
)  # fmt: skip
def test_a_missing_path_is_a_usage_error_before_any_work(scene, monkeypatch, command, missing_at):
    from adain_cli import weights

    monkeypatch.setattr(weights, "resolve", lambda *a, **k: pytest.fail("weights were resolved"))
    missing = str(scene["photos"].parent / "no such.jpg")
    argv = command.format(c=scene["photos"] / "p0.png", s=scene["style"], m=missing).split(" ")
    argv = [missing if part == "{m}" else part for part in argv]
    result = cli_runner().invoke(cli, [*_rejoin(argv, missing), "-o", str(scene["out"])])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "no such.jpg" in result.stderr and "does not exist" in result.stderr
    assert not scene["out"].exists()


def _rejoin(argv: list[str], missing: str) -> list[str]:
    """The split above cuts the missing path at its space; put it back together."""
    text = " ".join(argv)
    head, _, tail = text.partition(missing)
    return [*head.split(), missing, *tail.split()]


def test_json_lines_stream_one_record_per_output(run_adain, scene):
    result = run_adain("stylize", scene["photos"], "--style", scene["style"], "--alpha", "0", "1", "-o",
                       scene["out"], "--json-lines", *TINY)  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 4
    for record in records:
        assert set(record) == {"path", "content", "styles", "alpha", "look", "status", "error", "seconds"}
        assert record["status"] == "written" and Path(record["path"]).is_file()
        assert record["styles"] == [{"path": str(scene["style"]), "weight": 1.0}]
        assert record["look"] == {"command": "stylize", "method": None}
    assert sorted(r["alpha"] for r in records) == [0.0, 0.0, 1.0, 1.0]


def test_files_from_standard_input_with_nul_separators_and_odd_names(weight_files, scene, tmp_path):
    odd = [tmp_path / "odd" / name for name in ("with space.png", "new\nline.png", "ünï-cødé.png")]
    for index, path in enumerate(odd):
        make_image(path, 24, 16, seed=20 + index)
    listing = b"\0".join(os.fsencode(path) for path in odd) + b"\0"
    runner = cli_runner()
    encoder, decoder = weight_files
    result = runner.invoke(cli, ["stylize", "--files-from", "-", "-0", "--style", str(scene["style"]), "-o",
                                 str(scene["out"]), "--json", *TINY, "--encoder", str(encoder), "--decoder",
                                 str(decoder)], input=listing)  # fmt: skip
    assert result.exit_code == 0, result.output
    written = {Path(r["content"]) for r in json.loads(result.stdout)["records"] if r["status"] == "written"}
    assert written == set(odd)


def test_files_from_a_file_naming_a_missing_path(scene, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{scene['photos'] / 'p0.png'}\n{tmp_path / 'gone.png'}\n")
    result = cli_runner().invoke(cli, ["stylize", "--files-from", str(listing), "--style", str(scene["style"])])
    assert result.exit_code == 2 and "gone.png" in result.stderr and result.stderr.count("\n") == 1


def test_dry_run_lists_outputs_without_loading_anything(run_adain, scene, monkeypatch):
    from adain_cli import stylizer

    made = run_adain("stylize", scene["photos"] / "p0.png", "--style", scene["style"], "-o", scene["out"], *AT_OWN_SIZE)
    assert made.exit_code == 0, made.stderr
    scene["out"].joinpath("p1_stylized_style.png").write_bytes(b"")  # a file at an output's name, not a finished one
    monkeypatch.setattr(stylizer.Stylizer, "from_files", lambda *a, **k: pytest.fail("networks loaded"))
    result = cli_runner().invoke(cli, ["stylize", str(scene["photos"]), "--style", str(scene["style"]), "-o",
                                      str(scene["out"]), "--skip-existing", "--dry-run"])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"would skip (exists)\t{scene['out'] / 'p0_stylized_style.png'}" in lines
    assert f"would write\t{scene['out'] / 'p1_stylized_style.png'}" in lines
    assert any(line.startswith("would write\t") and "grid_stylize_" in line for line in lines)
    assert sorted(p.name for p in scene["out"].iterdir()) == ["p0_stylized_style.png", "p1_stylized_style.png"]


def test_a_long_path_stays_on_one_line_in_a_pipe(weight_files, scene, tmp_path):
    deep = tmp_path / ("a-rather-long-folder-name-" * 6) / "out"
    weights = ("--encoder", str(weight_files[0]), "--decoder", str(weight_files[1]))
    command = [sys.executable, "-m", "adain_cli", "stylize", str(scene["photos"]), "--style", str(scene["style"]),
               "-o", str(deep), *TINY, *weights, "--verbose"]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, env={**os.environ, "COLUMNS": "80"}
    )
    assert done.returncode == 0, done.stderr
    wrote = [line for line in done.stderr.splitlines() if "wrote" in line]
    assert len(wrote) == 2 and all(line.endswith("_stylized_style.png") and str(deep) in line for line in wrote)


def test_weights_list_as_json_and_as_tab_separated_lines(tmp_path):
    result = cli_runner().invoke(cli, ["models", "list", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)["models"]
    assert [row["name"] for row in rows] == ["vgg_normalised", "decoder"] and not any(r["present"] for r in rows)
    plain = cli_runner().invoke(cli, ["models", "list"])
    lines = plain.stdout.splitlines()
    assert lines[0].split("\t") == ["name", "present", "path", "size", "verified"]
    assert all(len(line.split("\t")) == 5 for line in lines[1:])


def test_an_unexpected_error_is_one_line_unless_debugging(scene, monkeypatch):
    from adain_cli import planner

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody expected\nwith a second line")

    monkeypatch.setattr(planner, "plan", broken)
    argv = ["stylize", str(scene["photos"]), "--style", str(scene["style"]), "-o", str(scene["out"])]
    result = cli_runner().invoke(cli, argv)
    assert result.exit_code == 70
    assert result.stderr.count("\n") == 1 and "RuntimeError: something nobody expected" in result.stderr
    assert "ADAIN_DEBUG=1" in result.stderr
    monkeypatch.setenv("ADAIN_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli_runner().invoke(cli, argv, catch_exceptions=False)


@pytest.mark.parametrize("command", ["stylize", "preserve-color", "interpolate", "spatial", "train", "grid",
                                     "models"])  # fmt: skip
def test_every_command_help_shows_an_example(command):
    result = cli_runner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert f"adain {command} " in result.output or f"adain {command}\n" in result.output


def test_usage_errors_of_the_group_itself_are_one_line():
    for argv in (["--bogus"], ["no-such-command"]):
        result = cli_runner().invoke(cli, argv)
        assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "--help" in result.stderr
