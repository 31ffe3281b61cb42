"""`adain interpolate`: weighted blends of styles, and interpolation sheets."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import AT_OWN_SIZE, as_tensor, make_image
from tests.reference import calc_mean_std, load_reference, to_uint8_reference


@pytest.fixture
def images(tmp_path):
    paths = {"content": make_image(tmp_path / "cat.png", 72, 56, seed=1)}
    for index, name in enumerate(("ink", "waves", "glass", "mosaic")):
        paths[name] = make_image(tmp_path / "styles" / f"{name}.png", 48 + 8 * index, 48, seed=10 + index)
    return paths


def read(path) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1).int()


def reference_interpolation(public_states, content, styles, weights, alpha=1.0) -> torch.Tensor:
    """decoder((1-α)·f(c) + α·Σ w_k·AdaIN(f(c), f(s_k))), written out independently."""
    vgg, dec = load_reference(*public_states)
    with torch.no_grad():
        feat = vgg(content)
        c_mean, c_std = calc_mean_std(feat)
        total = sum(weights)
        target = sum(
            (w / total) * ((feat - c_mean) / c_std * calc_mean_std(vgg(s))[1] + calc_mean_std(vgg(s))[0])
            for w, s in zip(weights, styles, strict=True)
        )
        out = dec(alpha * target + (1 - alpha) * feat)[:, :, : content.shape[2], : content.shape[3]]
    return to_uint8_reference(out)[0].int()


def test_weighted_blend_equals_an_independent_computation(run_adain, images, tmp_path, public_states):
    out = tmp_path / "out"
    result = run_adain(
        "interpolate",
        images["content"],
        images["ink"],
        images["waves"],
        "--weights",
        ".3",
        ".7",
        "-o",
        out,
        "--content-size",
        "0",
        "--style-size",
        "0",
        "--alpha",
        "0.8",
    )
    assert result.exit_code == 0, result.output
    expected = reference_interpolation(
        public_states,
        as_tensor(images["content"]),
        [as_tensor(images["ink"]), as_tensor(images["waves"])],
        [0.3, 0.7],
        alpha=0.8,
    )
    got = read(out / "cat_interpolated_ink30-waves70.png")
    assert (got - expected).abs().max() <= 1


def test_weights_one_zero_equal_plain_stylize(run_adain, images, tmp_path):
    size = AT_OWN_SIZE
    result = run_adain(
        "interpolate",
        images["content"],
        images["ink"],
        images["waves"],
        "--weights",
        "1",
        "0",
        "-o",
        tmp_path / "a",
        *size,
    )
    assert result.exit_code == 0, result.output
    result = run_adain("stylize", images["content"], "--style", images["ink"], "-o", tmp_path / "b", *size)
    assert result.exit_code == 0, result.output
    assert torch.equal(
        read(tmp_path / "a" / "cat_interpolated_ink100-waves0.png"), read(tmp_path / "b" / "cat_stylized_ink.png")
    )


def test_space_and_comma_separated_weights_give_the_same_file(run_adain, images, tmp_path):
    common = (images["content"], images["ink"], images["waves"], *AT_OWN_SIZE)
    assert run_adain("interpolate", *common, "--weights", ".3", ".7", "-o", tmp_path / "a").exit_code == 0
    assert run_adain("interpolate", *common, "--weights", ".3,.7", "-o", tmp_path / "b").exit_code == 0
    # Options first, positionals after the numbers, works too.
    assert run_adain("interpolate", "--weights", "3", "7", *common, "-o", tmp_path / "c").exit_code == 0
    name = "cat_interpolated_ink30-waves70.png"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "c" / name).read_bytes()


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([".3", ".3", ".4"], "3 weights for 2 styles"),
        ([".3", "-.7"], "must not be negative"),
        (["0", "0"], "must not all be zero"),
        (["x"], "'x' is not a number"),
    ],
)
def test_bad_weights_are_usage_errors(run_adain, images, tmp_path, weights, message):
    result = run_adain(
        "interpolate", images["content"], images["ink"], images["waves"], "--weights", *weights, "-o", tmp_path / "out"
    )
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_one_style_or_a_three_style_sheet_is_refused(run_adain, images, tmp_path):
    result = run_adain("interpolate", images["content"], images["ink"], "-o", tmp_path / "out")
    assert result.exit_code == 2 and "at least two styles" in result.stderr
    result = run_adain(
        "interpolate",
        images["content"],
        images["ink"],
        images["waves"],
        images["glass"],
        "--sheet",
        "3",
        "-o",
        tmp_path / "out",
    )
    assert result.exit_code == 2 and "2 or 4 styles" in result.stderr


def test_four_style_sheet_is_one_image_encoding_each_style_once(run_adain, images, tmp_path, count_encodes):
    out = tmp_path / "out"
    result = run_adain(
        "interpolate",
        images["content"],
        images["ink"],
        images["waves"],
        images["glass"],
        images["mosaic"],
        "--sheet",
        "3",
        "-o",
        out,
        "--content-size",
        "0",
        "--grid-cell",
        "40",
        "--json",
        "--no-grid-labels",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["cat_interpolated_ink-waves-glass-mosaic_sheet.png"]
    sheet = Image.open(out / "cat_interpolated_ink-waves-glass-mosaic_sheet.png")
    assert sheet.size == (124, 124)  # 3 × 40 and two 2 px gutters
    assert len(count_encodes) == 5  # the content once, each of the four styles once
    assert json.loads(result.stdout)["written"] == 1


def test_sheet_corners_are_the_plain_styles(run_adain, images, tmp_path):
    size = (*AT_OWN_SIZE, "--grid-cell", "72")
    result = run_adain(
        "interpolate",
        images["content"],
        images["ink"],
        images["waves"],
        "--sheet",
        "3",
        "-o",
        tmp_path / "sheet",
        *size,
        "--no-grid-labels",
    )
    assert result.exit_code == 0, result.output
    sheet = read(tmp_path / "sheet" / "cat_interpolated_ink-waves_sheet.png")
    assert tuple(sheet.shape) == (3, 72, 3 * 72 + 2 * 2)  # 2 px gutters
    run_adain("stylize", images["content"], "--style", images["waves"], "-o", tmp_path / "plain", *size)
    plain = read(tmp_path / "plain" / "cat_stylized_waves.png")
    # The last cell of the strip is style 2 alone (the cell is the 72×56 result letterboxed in 72×72).
    assert (sheet[:, 8:64, 148:220] - plain).abs().max() <= 1


def test_a_folder_of_contents_gets_the_same_blend(run_adain, images, tmp_path):
    make_image(tmp_path / "more" / "a.png", 40, 40, seed=3)
    make_image(tmp_path / "more" / "b.png", 40, 48, seed=4)
    out = tmp_path / "out"
    result = run_adain("interpolate", tmp_path / "more", images["ink"], images["waves"], "-o", out, "--grid-cell", "32",
                       *AT_OWN_SIZE)  # fmt: skip
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 5, names
    assert re.fullmatch(r"\.adain-job-[0-9a-f]{8}\.json", names[0])  # what `adain grid` rebuilds the grids from
    assert re.fullmatch(r"\.adain-pages-[0-9a-f]{8}\.json", names[1])  # what drew the pages (a resume keeps them)
    assert names[2:4] == ["a_interpolated_ink-waves.png", "b_interpolated_ink-waves.png"]
    assert re.fullmatch(r"grid_interpolate_[0-9a-f]{8}_alpha1\.00\.png", names[4])


def test_the_documented_example_works_as_typed(run_adain, images, monkeypatch, tmp_path):
    work = tmp_path / "here"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in ("content", "ink", "waves"):
        (work / images[name].name).write_bytes(images[name].read_bytes())
    result = run_adain("interpolate", "cat.png", "ink.png", "waves.png", "--weights", ".3", ".7")
    assert result.exit_code == 0, result.output
    assert (work / "cat_interpolated_ink30-waves70.png").is_file()


def test_other_weights_write_another_file(run_adain, images, tmp_path):
    size = AT_OWN_SIZE
    common = (images["content"], images["ink"], images["waves"], "-o", tmp_path, *size)
    assert run_adain("interpolate", *common, "--weights", ".3", ".7").exit_code == 0
    assert run_adain("interpolate", *common, "--weights", ".7", ".3").exit_code == 0
    assert run_adain("interpolate", *common, "--weights", "1", "2").exit_code == 0
    names = sorted(p.name for p in tmp_path.glob("cat_interpolated_*.png"))
    assert names == [
        "cat_interpolated_ink30-waves70.png",
        "cat_interpolated_ink33.33-waves66.67.png",
        "cat_interpolated_ink70-waves30.png",
    ]


@pytest.mark.parametrize("weights", [("inf", "1"), ("nan,1",), ("1", "-inf")])
def test_non_finite_weights_are_usage_errors(run_adain, images, tmp_path, weights):
    result = run_adain("interpolate", images["content"], images["ink"], images["waves"], "--weights", *weights,
                       "-o", tmp_path / "out", weights=False)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "not a finite number" in result.output
    assert not (tmp_path / "out").exists()


def test_huge_equal_weights_are_an_even_blend(run_adain, images, tmp_path):
    common = (images["content"], images["ink"], images["waves"], *AT_OWN_SIZE)
    assert run_adain("interpolate", *common, "--weights", "1e308,1e308", "-o", tmp_path / "a").exit_code == 0
    assert run_adain("interpolate", *common, "-o", tmp_path / "b").exit_code == 0
    name = "cat_interpolated_ink-waves.png"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_a_labelled_sheet_names_each_cells_weights(run_adain, images, tmp_path):
    out = tmp_path / "out"
    args = ("interpolate", images["content"], images["ink"], images["waves"], "--sheet", "3", "--content-size", "0",
            "--grid-cell", "64", "-o", out)  # fmt: skip
    assert run_adain(*args).exit_code == 0
    sheet = np.asarray(Image.open(out / "cat_interpolated_ink-waves_sheet.png")).astype(int)
    # Under the cells a band of three lines ("ink 0% ·", "waves", "100%": wrapped, not cut), 2 px gutters.
    assert sheet.shape[:2] == (64 + 3 * 14, 3 * 64 + 2 * 2)
    band = sheet[64:, :64]
    assert band.min() < 100 and band.std() > 10  # "ink 100% · waves 0%" in dark text
