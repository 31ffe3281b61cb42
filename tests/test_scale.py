"""Scale: tiled stylization of big images, torchrun ranks and --shard slices of one job."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adain_cli import ops
from adain_cli.cli import cli
from adain_cli.cli.options import ByteSize
from adain_cli.images import load
from adain_cli.stylizer import Stylizer
from adain_cli.tiling import TilePlan, decode_tiled, encode_tiled, spans
from adain_cli.weights import load_decoder, load_encoder
from tests.conftest import cli_runner, make_image, run_module


@pytest.fixture
def stylizer(weight_files) -> Stylizer:
    return Stylizer(load_encoder(weight_files[0]), load_decoder(weight_files[1]), device="cpu", max_memory=0)


def test_tiled_features_and_images_match_untiled(stylizer, tmp_path):
    image = load(make_image(tmp_path / "big.png", 203, 170, seed=3), 0).rgb  # sides not multiples of 8
    plan = TilePlan(64)
    whole = stylizer.encode(image)
    tiled = encode_tiled(lambda crop: stylizer.encoder.encode(crop[None]), image, plan)
    assert tiled.shape == whole.shape
    torch.testing.assert_close(tiled, whole, rtol=1e-4, atol=1e-4)
    style = ops.mean_std(stylizer.encode(load(make_image(tmp_path / "s.png", 64, 64, seed=4), 0).rgb))
    target = ops.blend(whole, ops.adain(whole, style), 0.8)
    untiled = stylizer.decode(target, (170, 203))
    pieces = decode_tiled(lambda cells: stylizer.decoder(cells), target, (170, 203), plan)
    assert pieces.shape == untiled.shape
    assert (pieces - untiled).abs().max() < 1e-3


def test_spans_start_on_the_pooling_grid():
    assert spans(203, 64) == [(0, 64), (64, 128), (128, 192), (192, 203)]
    with pytest.raises(ValueError):
        TilePlan(60)


@pytest.mark.slow
def test_tile_option_and_memory_budget_give_the_untiled_result(run_adain, tmp_path):
    make_image(tmp_path / "c.png", 136, 80, seed=1)
    make_image(tmp_path / "s.png", 64, 64, seed=2)
    args = ("stylize", tmp_path / "c.png", "--style", tmp_path / "s.png", "--content-size", "0")
    assert run_adain(*args, "-o", tmp_path / "plain").exit_code == 0
    assert run_adain(*args, "-o", tmp_path / "tiled", "--tile", "64").exit_code == 0
    assert run_adain(*args, "-o", tmp_path / "budget", "--max-memory", "2MB").exit_code == 0
    plain = np.array(Image.open(tmp_path / "plain" / "c_stylized_s.png")).astype(int)
    for folder in ("tiled", "budget"):
        other = np.array(Image.open(tmp_path / folder / "c_stylized_s.png")).astype(int)
        assert np.abs(other - plain).max() <= 1, folder


def test_a_memory_budget_tiles_automatically(weight_files, tmp_path):
    small_budget = Stylizer(
        load_encoder(weight_files[0]),
        load_decoder(weight_files[1]),
        device="cpu",
        max_memory=ByteSize().convert("3MB", None, None),
    )
    image = load(make_image(tmp_path / "c.png", 160, 160), 0).rgb
    small_budget.encode(image)
    assert small_budget.tiled_images == 1
    roomy = Stylizer(load_encoder(weight_files[0]), load_decoder(weight_files[1]), device="cpu", max_memory=2**40)
    roomy.encode(image)
    assert roomy.tiled_images == 0


@pytest.mark.parametrize(("text", "expected"), [("512MB", 512 * 10**6), ("4GiB", 4 * 2**30), ("100", 100)])
def test_byte_sizes(text, expected):
    assert ByteSize().convert(text, None, None) == expected


def job_folder(tmp_path: Path) -> tuple[Path, Path]:
    for index in range(3):
        make_image(tmp_path / "in" / f"c{index}.png", 48 + 8 * index, 40, seed=index)
    for index in range(2):
        make_image(tmp_path / "styles" / f"s{index}.png", 40, 40, seed=10 + index)
    return tmp_path / "in", tmp_path / "styles"


def snapshot(folder: Path) -> dict[str, object]:
    """Every file under `folder` by relative path: pixels for images, text for the rest; not the record of when
    a run drew its grid pages (`.adain-pages-*.json`, which `adain grid` does not write)."""
    found: dict[str, object] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.match(".adain-pages-*.json")):
        key = str(path.relative_to(folder))
        if path.suffix == ".png":
            found[key] = np.array(Image.open(path)).tobytes()
        else:
            found[key] = json.loads(path.read_text()) if path.suffix == ".json" else path.read_bytes()
    return found


def stylize_args(contents: Path, styles: Path, out: Path, weight_files) -> list[str]:
    return [
        "stylize",
        str(contents),
        "--style",
        str(styles),
        "--alpha",
        "0.5",
        "1",
        "-o",
        str(out),
        "--content-size",
        "0",
        "--grid-cell",
        "32",
        "--encoder",
        str(weight_files[0]),
        "--decoder",
        str(weight_files[1]),
        "--device",
        "cpu",
    ]


def test_two_shards_and_adain_grid_equal_one_run(weight_files, tmp_path):
    contents, styles = job_folder(tmp_path)
    runner = cli_runner()
    single = runner.invoke(cli, stylize_args(contents, styles, tmp_path / "one", weight_files), catch_exceptions=False)
    assert single.exit_code == 0, single.output
    for shard in ("1/2", "2/2"):
        result = runner.invoke(
            cli,
            [*stylize_args(contents, styles, tmp_path / "split", weight_files), "--shard", shard, "--json"],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["written"] == 6  # half of 3 contents × 2 styles × 2 α
    grids = runner.invoke(cli, ["grid", str(tmp_path / "split")], catch_exceptions=False)
    assert grids.exit_code == 0, grids.output
    assert snapshot(tmp_path / "split") == snapshot(tmp_path / "one")
    assert len(snapshot(tmp_path / "one")) == 12 + 2 + 1  # outputs, grids, the job manifest


def test_bad_shards_are_usage_errors(run_adain, tmp_path):
    contents, styles = job_folder(tmp_path)
    for bad in ("0/2", "3/2", "x"):
        result = run_adain("stylize", contents, "--style", styles, "-o", tmp_path / "o", "--shard", bad)
        assert result.exit_code == 2 and "K/N" in result.stderr


@pytest.mark.slow
def test_torchrun_two_ranks_equal_one_run(weight_files, tmp_path):
    contents, styles = job_folder(tmp_path)
    done = run_module(*stylize_args(contents, styles, tmp_path / "one", weight_files))
    assert done.returncode == 0, done.stderr[-3000:]
    done = run_module(*stylize_args(contents, styles, tmp_path / "two", weight_files), processes=2)
    assert done.returncode == 0, done.stderr[-3000:]
    assert snapshot(tmp_path / "two") == snapshot(tmp_path / "one")
