"""An output never replaces an input or a read-only file, and one file too small for the network fails alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import AT_OWN_SIZE, make_image

TINY = (*AT_OWN_SIZE, "--no-grid")


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    for index in range(2):
        make_image(folder / f"p{index}.png", 40, 32, seed=index)
    make_image(tmp_path / "s.png", 32, 32, seed=9)
    return folder


def unchanged(path: Path, before: bytes) -> bool:
    return path.read_bytes() == before


def test_a_name_template_writing_over_its_content_in_the_current_folder_is_refused(run_adain, photos, monkeypatch):
    monkeypatch.chdir(photos)
    before = (photos / "p0.png").read_bytes()
    result = run_adain("stylize", "p0.png", "--style", photos.parent / "s.png", "--name", "{content}", *TINY)
    assert result.exit_code == 2
    assert "the output p0.png is an input of this job" in result.stderr and result.stderr.count("\n") == 1
    assert unchanged(photos / "p0.png", before)


def test_a_folder_stylized_into_itself_under_its_own_names_is_refused_before_any_work(run_adain, photos, monkeypatch):
    befores = {path: path.read_bytes() for path in photos.iterdir()}
    loaded = []
    monkeypatch.setattr("adain_cli.cli.jobs.fetch_weights", lambda *args, **kwargs: loaded.append(args))
    result = run_adain("stylize", photos, "--style", photos.parent / "s.png", "--name", "{content}", "--ext", "auto",
                       "-o", photos, *TINY)  # fmt: skip
    assert result.exit_code == 2 and "is an input of this job" in result.stderr
    assert loaded == [], "refused before the weights were fetched"
    assert all(unchanged(path, before) for path, before in befores.items())
    assert sorted(photos.iterdir()) == sorted(befores)


@pytest.mark.parametrize("which", ["content", "style", "link to the content"])
def test_an_output_file_that_is_an_input_is_refused(run_adain, photos, which):
    content, style = photos / "p0.png", photos.parent / "s.png"
    target = {"content": content, "style": style, "link to the content": photos.parent / "link.png"}[which]
    if which.startswith("link"):
        target.symlink_to(content)
    before = target.read_bytes()
    result = run_adain("stylize", content, "--style", style, "-o", target, *TINY)
    assert result.exit_code == 2 and "is an input of this job" in result.stderr
    assert unchanged(target, before)


def test_an_output_over_a_mask_is_refused(run_adain, photos):
    mask = photos.parent / "mask.png"
    make_image(mask, 40, 32, seed=3)
    before = mask.read_bytes()
    result = run_adain("spatial", photos / "p0.png", "--mask", mask, "--style", photos.parent / "s.png", "-o", mask,
                       *TINY)  # fmt: skip
    assert result.exit_code == 2 and "is an input of this job" in result.stderr
    assert unchanged(mask, before)


def test_an_output_over_the_files_from_list_is_refused(run_adain, photos):
    listing = photos.parent / "list.png"  # a list file that happens to carry an image extension
    listing.write_text(f"{photos / 'p0.png'}\n")
    result = run_adain("stylize", "--files-from", listing, "--style", photos.parent / "s.png", "-o", listing, *TINY)
    assert result.exit_code == 2 and "is an input of this job" in result.stderr
    assert listing.read_text() == f"{photos / 'p0.png'}\n"


def test_a_read_only_file_in_an_output_s_place_is_not_replaced(run_adain, photos):
    target = photos.parent / "r.png"
    make_image(target, 8, 8, seed=5)
    before = target.read_bytes()
    os.chmod(target, 0o444)
    result = run_adain("stylize", photos / "p0.png", "--style", photos.parent / "s.png", "-o", target, *TINY)
    assert result.exit_code == 2 and "r.png exists and is read-only" in result.stderr
    assert unchanged(target, before)


def test_the_dry_run_refuses_what_the_run_refuses(run_adain, photos):
    make_image(photos / "p0.PNG", 40, 32, seed=7)  # a second content whose --name '{content}' is p0 too
    dry = run_adain("stylize", photos, "--style", photos.parent / "s.png", "--name", "{content}", "--dry-run",
                    "-o", photos.parent / "out")  # fmt: skip
    assert dry.exit_code == 1 and "two outputs would both be written to" in dry.stderr
    assert "p0.PNG" in dry.stderr and "p0.png" in dry.stderr
    assert "would write" not in dry.stdout


def test_two_close_alphas_can_be_named_apart_and_a_clash_names_both(run_adain, photos):
    content, style = photos / "p0.png", photos.parent / "s.png"
    clash = run_adain("stylize", content, "--style", style, "--alpha", "0.501,0.502", "--dry-run", "-o", photos.parent)
    assert clash.exit_code == 1
    assert "at alpha 0.501" in clash.stderr and "at alpha 0.502" in clash.stderr
    named = run_adain("stylize", content, "--style", style, "--alpha", "0.501,0.502", "--name", "{content}_{alpha:.3f}",
                      "--dry-run", "-o", photos.parent / "out")  # fmt: skip
    assert named.exit_code == 0, named.stderr
    assert "p0_0.501.png" in named.stdout and "p0_0.502.png" in named.stdout
    plain = run_adain("stylize", content, "--style", style, "--name", "{content}_{alpha}", "--dry-run", "-o", "o")
    assert "p0_1.00.png" in plain.stdout  # a bare {alpha} keeps its two decimals


def test_a_content_8_px_high_fails_by_name_and_the_rest_of_the_folder_is_written(run_adain, photos):
    for index in range(2, 6):
        make_image(photos / f"p{index}.png", 40, 32, seed=index)
    make_image(photos / "p1.png", 40, 8, seed=1)  # sorted second: the files after it must still be written
    result = run_adain("stylize", photos, "--style", photos.parent / "s.png", "-o", photos.parent / "out", *TINY)
    assert result.exit_code == 1, result.stderr
    assert "p1.png: too small (40×8 after resizing; at least 9 px a side)" in result.stderr
    assert "internal error" not in result.stderr
    written = sorted(path.name for path in (photos.parent / "out").iterdir())
    assert written == [f"p{index}_stylized_s.png" for index in (0, 2, 3, 4, 5)]


def test_a_style_8_px_wide_fails_its_outputs_and_the_other_style_s_are_written(run_adain, photos):
    make_image(photos.parent / "thin.png", 8, 32, seed=4)
    result = run_adain("stylize", photos / "p0.png", "--style", photos.parent / "thin.png", "--style",
                       photos.parent / "s.png", "-o", photos.parent / "out", *TINY)  # fmt: skip
    assert result.exit_code == 1 and "thin.png: too small" in result.stderr
    assert (photos.parent / "out" / "p0_stylized_s.png").is_file()


def test_an_output_over_the_style_bank_it_reads_is_refused(run_adain, weight_files, photos):
    bank = photos.parent / "bank.png"  # a bank whose name happens to look like an image
    made = run_adain("styles", "encode", photos.parent / "s.png", "-o", bank, "--style-size", "0", "-q",
                     "--encoder", weight_files[0], weights=False)  # fmt: skip
    assert made.exit_code == 0, made.stderr
    before = bank.read_bytes()
    result = run_adain("stylize", photos / "p0.png", "--style", bank, "-o", bank, *TINY)
    assert result.exit_code == 2 and "is an input of this job" in result.stderr
    assert unchanged(bank, before)


def test_skip_existing_keeps_a_read_only_output_of_the_same_look_and_refuses_one_of_another(run_adain, photos):
    content, out = photos / "p0.png", photos.parent / "out"
    make_image(photos.parent / "t.png", 32, 32, seed=8)
    first = run_adain("stylize", content, "--style", photos.parent / "s.png", "--name", "{content}", "-o", out, *TINY)
    assert first.exit_code == 0, first.stderr
    (written,) = out.iterdir()
    os.chmod(written, 0o444)
    before = written.read_bytes()
    same = run_adain("stylize", content, "--style", photos.parent / "s.png", "--name", "{content}", "-o", out,
                     "--skip-existing", *TINY)  # fmt: skip
    assert same.exit_code == 0, same.stderr
    other = run_adain("stylize", content, "--style", photos.parent / "t.png", "--name", "{content}", "-o", out,
                      "--skip-existing", *TINY)  # fmt: skip
    assert other.exit_code == 2 and "exists and is read-only" in other.stderr
    assert unchanged(written, before)
