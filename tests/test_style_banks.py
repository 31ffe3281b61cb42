"""Style banks (`adain styles encode`): one file of every style's statistics, drawn from as the folder it was
made from, refused with another encoder, resumable, and never read as a pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adain_cli import bankfile, banks, images
from adain_cli.errors import AdainError
from adain_cli.inputs import discover
from adain_cli.stylizer import Stylizer
from adain_cli.weights import load_encoder
from tests.conftest import AT_OWN_SIZE, make_image
from tests.public_weights import random_public_state_dicts


def _dataset(tmp_path: Path) -> tuple[Path, Path]:
    photos, paintings = tmp_path / "photos", tmp_path / "paintings"
    for index, name in enumerate(["a.png", "b.png", "sub/c.png", "sub/d.png", "e.png", "f.png"]):
        make_image(photos / name, 32, 24, seed=index)
    for index, name in enumerate(["p0.png", "p1.png", "p2.png", "deep/p3.png", "deep/p4.png"]):
        make_image(paintings / name, 24, 24, seed=10 + index)
    return photos, paintings


def _encode(run_adain, paintings: Path, bank: Path, *extra: str):
    return run_adain("styles", "encode", paintings, "-r", "--style-size", "0", "-o", bank, *extra, weights=False)


def _encoder_args(weight_files) -> list[str]:
    return ["--encoder", str(weight_files[0])]


def test_a_bank_holds_every_tap_of_every_style_without_pickle(run_adain, weight_files, tmp_path: Path) -> None:
    _, paintings = _dataset(tmp_path)
    result = _encode(run_adain, paintings, tmp_path / "paintings.bank", *_encoder_args(weight_files))
    assert result.exit_code == 0, result.output
    header = bankfile.read_header(tmp_path / "paintings.bank")
    found = discover([paintings], recursive=True)
    assert [entry.path for entry in header.entries] == [str(source.path) for source in found]
    assert [entry.rel for entry in header.entries] == ["p0.png", "p1.png", "p2.png", "deep/p3.png", "deep/p4.png"]
    # Mean and std of 64 + 128 + 256 + 512 channels in float32: 7,680 bytes a style, after the JSON header.
    assert (tmp_path / "paintings.bank").stat().st_size == header.data_offset + 5 * 7680
    stylizer = Stylizer.from_files(*weight_files, device="cpu")
    assert header.encoder_sha256 == stylizer.encoder_sha256
    rows = bankfile.read_stats(header)
    for row, source in enumerate(found):
        rgb = images.load(source.path, 0).rgb
        expected = stylizer.style_stats(rgb)  # what a job computes from the image
        got = banks.relu4_stats(rows[row : row + 1])
        torch.testing.assert_close(got.mean, expected.mean, rtol=0, atol=1e-6)
        torch.testing.assert_close(got.std, expected.std, rtol=0, atol=1e-6)
        taps = stylizer.encoder(rgb[None])
        relu1 = taps["relu1_1"].flatten(2)
        np.testing.assert_allclose(rows[row, 0, :64], relu1.mean(dim=2)[0].numpy(), atol=1e-5)
    with pytest.raises(AdainError, match="not a style bank"):
        bankfile.read_header(found[0].path)


def _records(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_dataset_mode_draws_from_a_bank_as_from_its_folder_and_encodes_no_style(
    run_adain, weight_files, tmp_path: Path, count_encodes
) -> None:
    photos, paintings = _dataset(tmp_path)
    (paintings / "broken.png").write_bytes(b"not an image")  # keeps its place in the bank, and fails alike
    bank = tmp_path / "paintings.bank"
    made = _encode(run_adain, paintings, bank, *_encoder_args(weight_files))
    assert made.exit_code == 1 and "1 style(s) could not be read" in made.stderr
    assert len(bankfile.read_header(bank).entries) == 6
    runs = {}
    for name, style in (("folder", paintings), ("bank", bank)):
        count_encodes.clear()
        result = run_adain("stylize", photos, "-r", "--style", style, "--styles-per-content", "2", "--seed", "3",
                           "-o", tmp_path / name, "--json-lines", *AT_OWN_SIZE)  # fmt: skip
        records = _records(result.stdout)
        runs[name] = records
        styles_encoded = [shape for shape in count_encodes if shape == (3, 24, 24)]
        assert (len(styles_encoded) > 0) == (name == "folder")  # the bank run reads and encodes no style
    draw = lambda records: sorted(  # noqa: E731
        (Path(r["content"]).name, Path(r["styles"][0]["path"]).name, r["status"], Path(r["path"]).name) for r in records
    )
    assert draw(runs["bank"]) == draw(runs["folder"]) and len(runs["bank"]) == 12
    assert any(status == "failed" for _, _, status, _ in draw(runs["bank"]))  # the broken style was drawn
    for record in runs["folder"]:
        if record["status"] == "written":
            folder_out = Path(record["path"])
            bank_out = tmp_path / "bank" / folder_out.relative_to(tmp_path / "folder")
            # The job encodes small styles of one size together, the bank each alone: a batch may round a
            # float's last bit differently, at most 1 grey level.
            difference = np.abs(np.array(Image.open(folder_out), int) - np.array(Image.open(bank_out), int))
            assert difference.max() <= 1


def test_a_bank_made_with_another_encoder_is_refused_by_name(run_adain, weight_files, tmp_path: Path) -> None:
    photos, paintings = _dataset(tmp_path)
    other = tmp_path / "other_vgg.pth"
    torch.save(random_public_state_dicts(seed=1)[0], other)
    bank = tmp_path / "paintings.bank"
    assert _encode(run_adain, paintings, bank, "--encoder", str(other)).exit_code == 0
    result = run_adain("stylize", photos / "a.png", "--style", bank, "-o", tmp_path / "out", *AT_OWN_SIZE)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    mine = Stylizer.from_files(*weight_files, device="cpu").encoder_sha256
    assert str(bank) in line and "another encoder" in line and str(other) in line and mine in line
    assert bankfile.read_header(bank).encoder_sha256 in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.png"))


def test_preserve_color_refuses_a_bank_in_one_line(run_adain, weight_files, tmp_path: Path) -> None:
    photos, paintings = _dataset(tmp_path)
    bank = tmp_path / "paintings.bank"
    assert _encode(run_adain, paintings, bank, *_encoder_args(weight_files)).exit_code == 0
    for command in (["preserve-color"], ["interpolate", "--preserve-color", "luminance", "--style", bank]):
        result = run_adain(*command, photos, "--style", bank, "-o", tmp_path / "out", *AT_OWN_SIZE)
        assert result.exit_code == 2
        assert len(result.stderr.strip().splitlines()) == 1 and "style bank" in result.stderr


def test_interpolate_and_grids_take_a_bank(run_adain, weight_files, tmp_path: Path) -> None:
    photos, _ = _dataset(tmp_path)
    styles = [make_image(tmp_path / "two" / name, 24, 24, seed=index) for index, name in enumerate(["x.png", "y.png"])]
    bank = tmp_path / "two.bank"
    assert _encode(run_adain, tmp_path / "two", bank, *_encoder_args(weight_files)).exit_code == 0
    content = photos / "a.png"
    blend = ("--weights", ".3", ".7", *AT_OWN_SIZE)
    from_images = run_adain("interpolate", content, *styles, "-o", tmp_path / "images", *blend)
    from_bank = run_adain("interpolate", content, bank, "-o", tmp_path / "bank", *blend)
    assert from_images.exit_code == 0 and from_bank.exit_code == 0, from_bank.output
    (made,) = (tmp_path / "bank").glob("*.png")
    assert made.name == "a_interpolated_x30-y70.png"
    assert made.read_bytes() == (tmp_path / "images" / made.name).read_bytes()
    # A grid of bank styles has its columns named, without a picture of the style (the bank has none).
    grid = run_adain("stylize", photos, "--style", bank, "-o", tmp_path / "grid", "--json", *AT_OWN_SIZE)
    assert grid.exit_code == 0, grid.output
    assert len(json.loads(grid.stdout)["grids"]) == 1


def test_an_interrupted_encode_goes_on_where_it_stopped(weight_files, tmp_path: Path, monkeypatch) -> None:
    _, paintings = _dataset(tmp_path)
    sources = discover([paintings], recursive=True)
    encoder = banks.TapEncoder(load_encoder(weight_files[0]))
    options = banks.BankOptions(style_size=0)
    whole = tmp_path / "whole.bank"
    banks.encode_styles(encoder, sources, whole, options)
    original, calls = banks.TapEncoder.row, []

    def interrupted(self, rgb):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(1)
        return original(self, rgb)

    monkeypatch.setattr(banks.TapEncoder, "row", interrupted)
    bank = tmp_path / "resumed.bank"
    with pytest.raises(KeyboardInterrupt):
        banks.encode_styles(encoder, sources, bank, options)
    assert not bank.exists() and banks.journal_path(bank).is_file()  # nothing at the bank's name
    monkeypatch.setattr(banks.TapEncoder, "row", original)
    summary = banks.encode_styles(encoder, sources, bank, options)
    assert (summary.resumed, summary.written) == (3, 2)
    assert bank.read_bytes() == whole.read_bytes() and not banks.journal_path(bank).exists()
    # A journal of other options is not resumed from.
    monkeypatch.setattr(banks.TapEncoder, "row", interrupted)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        banks.encode_styles(encoder, sources, bank, options)
    monkeypatch.setattr(banks.TapEncoder, "row", original)
    assert banks.encode_styles(encoder, sources, bank, banks.BankOptions(style_size=16)).resumed == 0
