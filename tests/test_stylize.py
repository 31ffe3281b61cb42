"""`adain stylize` end to end through the real CLI, with random weights in the public layout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import adain_cli
from tests.conftest import as_tensor, make_image
from tests.reference import load_reference, reference_stylize, to_uint8_reference

CONTENT_SIZES = [(96, 64), (257, 311), (80, 80)]  # (width, height)


@pytest.fixture
def job_folders(tmp_path: Path) -> tuple[Path, Path]:
    contents, styles = tmp_path / "contents", tmp_path / "styles"
    for index, (width, height) in enumerate(CONTENT_SIZES):
        make_image(contents / f"photo{index}.png", width, height, seed=index)
    make_image(styles / "waves.png", 72, 56, seed=10)
    make_image(styles / "glass.jpg", 64, 64, seed=11)
    (contents / "notes.txt").write_text("not an image, skipped quietly")
    return contents, styles


def test_directory_job_writes_every_output_and_a_grid_per_alpha(run_adain, job_folders, tmp_path, count_encodes):
    contents, styles = job_folders
    out = tmp_path / "out"
    result = run_adain(
        "stylize",
        contents,
        "--style",
        styles,
        "--alpha",
        "0",
        ".5",
        "1",
        "-o",
        out,
        "--content-size",
        "0",
        "--style-size",
        "0",
        "--grid-cell",
        "32",
        "--json",
        "--no-grid-labels",
    )
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in out.glob("photo*.png"))
    assert len(written) == 18
    assert "photo1_stylized_waves_alpha0.50.png" in written
    assert "photo0_stylized_glass_alpha1.00.png" in written
    for alpha in ("0.00", "0.50", "1.00"):
        (grid_path,) = out.glob(f"grid_stylize_*_alpha{alpha}.png")
        grid = Image.open(grid_path)
        gutter = 2  # the thin white space between cells (max(2, cell // 64))
        assert grid.size == ((2 + 1) * (32 + gutter) - gutter, (3 + 1) * (32 + gutter) - gutter)  # + headers
    # Each distinct image is encoded once: 3 contents + 2 styles, not 18 or 36.
    assert len(count_encodes) == 5
    summary = json.loads(result.stdout)
    assert summary["written"] == 18 and summary["failed"] == 0 and summary["encoder_calls"] == 5
    assert not list(out.rglob("*.tmp"))


def test_outputs_equal_an_independent_computation(run_adain, job_folders, tmp_path, public_states):
    contents, styles = job_folders
    out = tmp_path / "out"
    result = run_adain(
        "stylize",
        contents / "photo1.png",
        "--style",
        styles / "waves.png",
        "--alpha",
        "0.3",
        "1",
        "-o",
        out,
        "--content-size",
        "0",
        "--style-size",
        "0",
        "--no-grid",
    )
    assert result.exit_code == 0, result.output
    vgg, dec = load_reference(*public_states)
    content, style = as_tensor(contents / "photo1.png"), as_tensor(styles / "waves.png")
    for alpha in (0.3, 1.0):
        expected = to_uint8_reference(reference_stylize(vgg, dec, content, style, alpha))[0]
        got = torch.from_numpy(np.array(Image.open(out / f"photo1_stylized_waves_alpha{alpha:.2f}.png")))
        difference = (got.permute(2, 0, 1).int() - expected.int()).abs()
        assert difference.max() <= 1, f"α={alpha}: max difference {difference.max()}"


def test_odd_sizes_come_back_at_their_own_size(run_adain, job_folders, tmp_path):
    contents, styles = job_folders
    out = tmp_path / "out"
    result = run_adain(
        "stylize", contents / "photo1.png", "--style", styles / "glass.jpg", "-o", out, "--content-size", "0"
    )
    assert result.exit_code == 0, result.output
    assert Image.open(out / "photo1_stylized_glass.png").size == (257, 311)
    assert not list(out.glob("grid_*"))  # one content and one style: no grid


def test_content_size_resizes_the_shorter_side(run_adain, job_folders, tmp_path):
    contents, styles = job_folders
    out = tmp_path / "out"
    result = run_adain(
        "stylize", contents / "photo1.png", "--style", styles / "glass.jpg", "-o", out, "--content-size", "100"
    )
    assert result.exit_code == 0, result.output
    assert Image.open(out / "photo1_stylized_glass.png").size == (100, 121)
    result = run_adain(
        "stylize",
        contents / "photo0.png",
        "--style",
        styles / "glass.jpg",
        "-o",
        out,
        "--content-size",
        "40",
        "--crop",
        "--ext",
        "jpg",
    )
    assert Image.open(out / "photo0_stylized_glass.jpg").size == (40, 40)


def test_a_corrupt_file_fails_by_name_and_the_rest_are_written(run_adain, job_folders, tmp_path):
    contents, styles = job_folders
    (contents / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    out = tmp_path / "out"
    result = run_adain("stylize", contents, "--style", styles, "-o", out, "--content-size", "0", "--json")
    assert result.exit_code == 1
    assert len(list(out.glob("photo*_stylized_*.png"))) == 6
    assert "broken.jpg" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["failed"] == 2 and summary["written"] == 6
    assert [Path(f["path"]).name for f in summary["failures"]] == ["broken.jpg"]


def test_a_bad_style_fails_its_column_only(run_adain, job_folders, tmp_path):
    contents, styles = job_folders
    (styles / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    result = run_adain("stylize", contents, "--style", styles, "-o", out, "--content-size", "0")
    assert result.exit_code == 1
    assert "empty.png: empty file" in result.stderr
    assert len(list(out.glob("photo*_stylized_*.png"))) == 6


@pytest.mark.parametrize(
    ("alpha_args", "expected"),
    [
        (["0.5"], ["photo0_stylized_glass.png"]),
        (
            ["0", ".25", ".5", ".75", "1"],
            [f"photo0_stylized_glass_alpha{a}.png" for a in ("0.00", "0.25", "0.50", "0.75", "1.00")],
        ),
        (["0,0.5,1"], [f"photo0_stylized_glass_alpha{a}.png" for a in ("0.00", "0.50", "1.00")]),
    ],
)
def test_alpha_forms(run_adain, job_folders, tmp_path, alpha_args, expected):
    contents, styles = job_folders
    out = tmp_path / "out"
    # The positional content comes after the numbers: only numeric tokens are taken by --alpha.
    result = run_adain(
        "stylize",
        "--style",
        styles / "glass.jpg",
        "--alpha",
        *alpha_args,
        contents / "photo0.png",
        "-o",
        out,
        "--content-size",
        "32",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.png") if not p.name.startswith("grid")) == sorted(expected)


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "abc", "0,2"])
def test_alpha_out_of_range_is_a_usage_error(run_adain, job_folders, tmp_path, bad):
    contents, styles = job_folders
    result = run_adain("stylize", contents, "--style", styles, "--alpha", bad, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "--alpha" in result.stderr
    assert not (tmp_path / "out").exists()


def test_recursive_mirrors_the_folder_structure(run_adain, tmp_path):
    make_image(tmp_path / "in" / "a.png", 40, 40, seed=1)
    make_image(tmp_path / "in" / "trip" / "day1" / "a.png", 40, 40, seed=2)
    make_image(tmp_path / "style.png", 40, 40, seed=3)
    out = tmp_path / "out"
    result = run_adain(
        "stylize",
        tmp_path / "in",
        "--style",
        tmp_path / "style.png",
        "-o",
        out,
        "-r",
        "--content-size",
        "0",
        "--no-grid",
    )
    assert result.exit_code == 0, result.output
    assert (out / "a_stylized_style.png").is_file()
    assert (out / "trip" / "day1" / "a_stylized_style.png").is_file()
    # Without --recursive the subfolders are not walked.
    result = run_adain(
        "stylize", tmp_path / "in", "--style", tmp_path / "style.png", "-o", tmp_path / "flat", "--content-size", "0"
    )
    assert sorted(p.name for p in (tmp_path / "flat").iterdir()) == ["a_stylized_style.png"]


def test_same_stem_never_collides(run_adain, tmp_path):
    make_image(tmp_path / "in" / "cat.png", 40, 40, seed=1)
    make_image(tmp_path / "in" / "cat.jpg", 40, 40, seed=2)
    make_image(tmp_path / "s1" / "ink.png", 40, 40, seed=3)
    make_image(tmp_path / "s2" / "ink.png", 40, 40, seed=4)
    out = tmp_path / "out"
    result = run_adain(
        "stylize",
        tmp_path / "in",
        "--style",
        tmp_path / "s1",
        "--style",
        tmp_path / "s2",
        "-o",
        out,
        "--content-size",
        "0",
        "--no-grid",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "cat_jpg_stylized_ink.png",
        "cat_jpg_stylized_ink_2.png",
        "cat_png_stylized_ink.png",
        "cat_png_stylized_ink_2.png",
    ]


def test_skip_existing_resumes_without_redoing(run_adain, job_folders, tmp_path, count_encodes):
    contents, styles = job_folders
    out = tmp_path / "out"
    args = ("stylize", contents, "--style", styles, "-o", out, "--content-size", "32", "--json")
    assert run_adain(*args).exit_code == 0
    finished = out / "photo0_stylized_glass.png"
    finished.write_bytes(finished.read_bytes())  # touch
    before = {p: p.stat().st_mtime_ns for p in out.glob("photo*.png")}
    (out / "photo2_stylized_waves.png").unlink()
    count_encodes.clear()
    result = run_adain(*args, "--skip-existing")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["written"] == 1 and summary["skipped"] == 5
    # Only what has work left is encoded: the one unfinished style and the one unfinished content.
    assert len(count_encodes) == 2
    for path, mtime in before.items():
        if path.exists() and path.name != "photo2_stylized_waves.png":
            assert path.stat().st_mtime_ns == mtime
    assert (out / "photo2_stylized_waves.png").is_file()


def test_missing_weights_say_where_they_were_looked_for(run_adain, job_folders, tmp_path, monkeypatch):
    contents, styles = job_folders
    monkeypatch.setenv("ADAIN_OFFLINE", "1")
    result = run_adain("stylize", contents, "--style", styles, "-o", tmp_path / "out", weights=False)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("adain: error:")]
    assert len(errors) == 1 and result.stderr.strip().endswith(errors[0])  # after the stage line, one line
    message = errors[0]
    assert str(tmp_path / "adain-home" / "vgg_normalised.pth") in message
    assert "offline" in message


def test_no_images_found_is_a_clear_error(run_adain, tmp_path):
    (tmp_path / "empty").mkdir()
    make_image(tmp_path / "s.png", 32, 32)
    result = run_adain("stylize", tmp_path / "empty", "--style", tmp_path / "s.png", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "no content images found" in result.stderr


def test_plain_progress_when_not_a_terminal_and_quiet(run_adain, job_folders, tmp_path):
    contents, styles = job_folders
    result = run_adain("stylize", contents, "--style", styles, "-o", tmp_path / "a", "--content-size", "32",
                       "--verbose")  # fmt: skip
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("[1/6] wrote ")
    assert "6 written, 0 skipped, 0 failed" in lines[-1]
    quiet = run_adain("stylize", contents, "--style", styles, "-o", tmp_path / "b", "--content-size", "32", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == ""


def test_version_answers_without_importing_torch():
    code = (
        "import sys\n"
        "from adain_cli.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [f"adain, version {adain_cli.__version__}", "False"]


def test_help_reads_well(run_adain):
    result = run_adain("--help", weights=False)
    assert result.exit_code == 0 and "stylize" in result.output
    result = run_adain("stylize", "--help", weights=False)
    assert "--alpha A [A ...]" in result.output and "--skip-existing" in result.output


def test_resized_size_is_torchvisions_rule():
    from torchvision.transforms.functional import _compute_resized_output_size

    from adain_cli.images import resized_size

    assert resized_size(683, 1086, 512) == (512, 814)  # the long side is truncated, as the reference does
    for height in range(40, 1400, 37):
        for width in (height - 13, height + 1, 2 * height + 5, 333):
            expected = tuple(_compute_resized_output_size((height, width), [512]))
            assert resized_size(height, width, 512) == expected, (height, width)


@pytest.mark.slow
def test_default_sizes_match_the_reference_script_on_awkward_aspect_ratios(run_adain, public_states, tmp_path):
    """The reference resizes with torchvision's Resize(512) on the PIL image; so must we, to the pixel."""
    from torchvision import transforms

    shapes = {"wide": (1086, 683), "tall_upscaled": (300, 451)}  # (width, height): one shrunk, one enlarged
    for name, (width, height) in shapes.items():
        make_image(tmp_path / "c" / f"{name}.jpg", width, height, seed=len(name))
    style = make_image(tmp_path / "style.png", 301, 199, seed=5)
    out = tmp_path / "out"
    result = run_adain("stylize", tmp_path / "c", "--style", style, "--alpha", "0.6", "-o", out, "--no-grid")
    assert result.exit_code == 0, result.output
    vgg, dec = load_reference(*public_states)
    prepare = transforms.Compose([transforms.Resize(512), transforms.ToTensor()])
    style_tensor = prepare(Image.open(style).convert("RGB"))[None]
    for name in shapes:
        content = prepare(Image.open(tmp_path / "c" / f"{name}.jpg").convert("RGB"))[None]
        expected = to_uint8_reference(reference_stylize(vgg, dec, content, style_tensor, 0.6))[0]
        got = torch.from_numpy(np.array(Image.open(out / f"{name}_stylized_style.png"))).permute(2, 0, 1)
        assert got.shape == expected.shape, name
        assert (got.int() - expected.int()).abs().max() <= 1, name


def test_crop_is_the_references_center_crop_on_awkward_shapes(run_adain, public_states, tmp_path):
    """`--crop` places the square as torchvision's CenterCrop does (half the excess, rounded half to even), for
    contents and styles: shapes whose excess is 3 mod 4 were one pixel off before."""
    from torchvision import transforms

    shapes = {"a": (640, 427), "b": (1086, 683), "c": (203, 96), "d": (64, 131)}  # (width, height)
    for name, (width, height) in shapes.items():
        make_image(tmp_path / "c" / f"{name}.png", width, height, seed=len(name) + width)
    style = make_image(tmp_path / "style.png", 135, 64, seed=5)  # excess 71
    out = tmp_path / "out"
    result = run_adain("stylize", tmp_path / "c", "--style", style, "--crop", "--content-size", "64",
                       "--style-size", "64", "-o", out, "--no-grid")  # fmt: skip
    assert result.exit_code == 0, result.output
    vgg, dec = load_reference(*public_states)
    prepare = transforms.Compose([transforms.Resize(64), transforms.CenterCrop(64), transforms.ToTensor()])
    style_tensor = prepare(Image.open(style).convert("RGB"))[None]
    for name in shapes:
        content = prepare(Image.open(tmp_path / "c" / f"{name}.png").convert("RGB"))[None]
        expected = to_uint8_reference(reference_stylize(vgg, dec, content, style_tensor, 1.0))[0]
        got = torch.from_numpy(np.array(Image.open(out / f"{name}_stylized_style.png"))).permute(2, 0, 1)
        assert got.shape == expected.shape == (3, 64, 64), name
        assert (got.int() - expected.int()).abs().max() <= 1, name
