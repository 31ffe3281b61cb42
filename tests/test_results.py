"""Every output is right or reported as failed: non-finite results, grids, job names, manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from adain_cli.cli import cli
from adain_cli.inputs import Source, discover
from adain_cli.job import ImageOptions, Job
from adain_cli.looks import style_looks
from adain_cli.runner import run_job
from adain_cli.sheets.manifest import find_manifests
from adain_cli.stylizer import Stylizer
from adain_cli.weights import load_decoder, load_encoder
from tests.conftest import AT_OWN_SIZE, cli_runner, make_image


@pytest.fixture
def folders(tmp_path: Path) -> tuple[list[Source], list[Source]]:
    for index in range(2):
        make_image(tmp_path / "c" / f"c{index}.png", 24, 16, seed=index)
        make_image(tmp_path / "s" / f"s{index}.png", 16, 16, seed=10 + index)
    return discover([tmp_path / "c"]), discover([tmp_path / "s"])


def tiny_job(contents: list[Source], styles: list[Source], out: Path, **extra) -> Job:
    options = ImageOptions(content_size=0, style_size=0)
    return Job(tuple(contents), tuple(styles), tuple(style_looks(styles)), out, images=options, grid_cell=16, **extra)


def test_a_non_finite_result_is_failed_and_not_written(weight_files, folders, tmp_path):
    stylizer = Stylizer(load_encoder(weight_files[0]), load_decoder(weight_files[1]))
    with torch.no_grad():
        stylizer.decoder.stages["body"][-1].bias[0] = float("nan")  # a diverged decoder
    summary = run_job(stylizer, tiny_job(*folders, tmp_path / "out"))
    assert summary.failed == 4 and not summary.written
    assert all("NaN or infinite" in failure.error for failure in summary.failures)
    assert not list((tmp_path / "out").iterdir())  # no black images, no grid, no manifest


def test_grids_and_manifest_only_when_a_cell_was_produced(weight_files, folders, tmp_path):
    contents, styles = folders
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    stylizer = Stylizer(load_encoder(weight_files[0]), load_decoder(weight_files[1]))
    summary = run_job(stylizer, tiny_job(contents, [*styles[:1], Source(broken, label="broken")], tmp_path / "out"))
    assert len(summary.written) == 2 and summary.failed == 2
    assert len(summary.grids) == 1 and len(find_manifests(tmp_path / "out")) == 1
    nothing = run_job(stylizer, tiny_job(contents, [Source(broken, label="broken")], tmp_path / "none"))
    assert nothing.failed == 2 and not nothing.grids
    assert not list((tmp_path / "none").iterdir())


def test_different_jobs_into_one_folder_keep_their_own_grids(run_adain, folders, tmp_path):
    contents, styles = folders
    out = tmp_path / "out"
    size = (*AT_OWN_SIZE, "--grid-cell", "16")
    first = [str(s.path) for s in styles]
    assert run_adain("stylize", *[c.path for c in contents], "--style", first[0], "--style", first[1], "-o", out,
                     *size).exit_code == 0  # fmt: skip
    assert run_adain("stylize", contents[0].path, "--style", first[0], "--style", first[1], "-o", out,
                     *size).exit_code == 0  # fmt: skip
    assert run_adain("preserve-color", *[c.path for c in contents], "--style", first[0], "--style", first[1],
                     "-o", out, *size).exit_code == 0  # fmt: skip
    grids = sorted(p.name for p in out.glob("grid_*"))
    assert len(grids) == 3 and len(find_manifests(out)) == 3, grids
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("grid_*")}
    # The same job again writes the same names (it resumes, it does not add).
    assert run_adain("stylize", contents[0].path, "--style", first[0], "--style", first[1], "-o", out,
                     *size, "--skip-existing").exit_code == 0  # fmt: skip
    assert sorted(p.name for p in out.glob("grid_*")) == sorted(before)


@pytest.mark.parametrize("text", ["{not json", '{"version": 1}', '{"contents": 3, "headers": [], "cells": {}}'])
def test_a_malformed_manifest_is_one_line(tmp_path, text):
    (tmp_path / ".adain-job-0badc0de.json").write_text(text)
    result = cli_runner().invoke(cli, ["grid", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "not a valid job manifest" in result.output
    assert ".adain-job-0badc0de.json" in result.output


def test_grid_without_any_manifest_says_so(tmp_path):
    result = cli_runner().invoke(cli, ["grid", str(tmp_path)])
    assert result.exit_code == 1 and "no job manifest" in result.output


def test_json_records_say_what_each_output_is(run_adain, folders, tmp_path):
    _, styles = folders
    broken = tmp_path / "c" / "broken.png"
    broken.write_bytes(b"not an image")
    out = tmp_path / "out"
    size = (*AT_OWN_SIZE, "--grid-cell", "16")
    result = run_adain("interpolate", tmp_path / "c", styles[0].path, styles[1].path, "--weights", "1", "3",
                       "--alpha", ".5", "1", "-o", out, "--json", *size)  # fmt: skip
    assert result.exit_code == 1
    records = json.loads(result.stdout)["records"]
    assert len(records) == 6  # 3 contents (one broken) × 2 α
    written = [r for r in records if r["status"] == "written"]
    assert len(written) == 4 and all(Path(r["path"]).is_file() and r["seconds"] > 0 for r in written)
    first = next(r for r in written if r["alpha"] == 0.5 and r["content"].endswith("c0.png"))
    assert first["styles"] == [{"path": str(styles[0].path), "weight": 0.25},
                               {"path": str(styles[1].path), "weight": 0.75}]  # fmt: skip
    assert first["look"] == {"command": "interpolate", "method": None} and first["error"] is None
    failed = [r for r in records if r["status"] == "failed"]
    assert {r["content"] for r in failed} == {str(broken)} and all("broken.png" in r["error"] for r in failed)


@pytest.mark.parametrize("layout", ["same-folder", "inside-recursive"])
def test_outputs_are_never_read_back_as_inputs(run_adain, tmp_path, layout):
    photos = tmp_path / "photos"
    for index in range(2):
        make_image(photos / f"p{index}.png", 24, 16, seed=index)
    style = make_image(tmp_path / "ink.png", 16, 16, seed=9)
    out = photos if layout == "same-folder" else photos / "out"
    argv = ["stylize", photos, "--style", style, "-o", out, "--content-size", "0", "--grid-cell", "16", "--json"]
    if layout == "inside-recursive":
        argv.append("--recursive")
    for _ in range(3):  # a resumed job run again and again does not grow
        result = run_adain(*argv, "--skip-existing")
        assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)["records"]
    assert sorted(Path(r["content"]).name for r in records) == ["p0.png", "p1.png"]
    outputs = sorted(p.name for p in out.glob("*_stylized_*"))
    assert outputs == ["p0_stylized_ink.png", "p1_stylized_ink.png"]
    assert "not read as contents" in result.stderr
    assert not list(out.rglob("out/out"))
