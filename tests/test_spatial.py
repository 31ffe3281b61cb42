"""`adain spatial`: region-wise AdaIN with masks, background style, previews and mask errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from adain_cli import model, ops
from tests.conftest import AT_OWN_SIZE, as_tensor, make_image
from tests.reference import calc_mean_std, load_reference

SIZE = AT_OWN_SIZE


@pytest.fixture
def decoded_features(monkeypatch):
    """The feature maps the decoder receives, recorded through the real CLI run (at α = 1 each
    target enters the decoder as it is)."""
    seen = []
    original = model.Decoder.entry

    def recording(self, feat):
        seen.append(feat.detach().clone())
        return original(self, feat)

    monkeypatch.setattr(model.Decoder, "entry", recording)
    return seen


@pytest.fixture
def regions(tmp_path):
    content = make_image(tmp_path / "me.png", 128, 96, seed=1)  # 16×12 feature cells
    fg = make_image(tmp_path / "ink.png", 64, 64, seed=2)
    bg = make_image(tmp_path / "waves.png", 80, 64, seed=3)
    mask = np.zeros((96, 128), np.uint8)
    mask[:, :64] = 255  # the left half, on the 8-pixel grid: feature columns 0–7
    mask_path = tmp_path / "person.png"
    Image.fromarray(mask).save(mask_path)
    return {"content": content, "fg": fg, "bg": bg, "mask": mask_path, "dir": tmp_path}


def region_adain(feat, style_feat, cells):
    """AdaIN of `feat` with content statistics over the boolean (h, w) `cells` only."""
    values = feat[0][:, cells]  # (C, count)
    mean = values.mean(dim=1).view(1, -1, 1, 1)
    std = (values.var(dim=1, unbiased=True) + 1e-5).sqrt().view(1, -1, 1, 1)
    s_mean, s_std = calc_mean_std(style_feat)
    return (feat - mean) / std * s_std + s_mean


def test_each_region_gets_adain_over_its_own_cells(run_adain, regions, public_states, decoded_features):
    out = regions["dir"] / "out"
    result = run_adain(
        "spatial",
        regions["content"],
        "--style",
        regions["fg"],
        "--mask",
        regions["mask"],
        "--style",
        regions["bg"],
        "-o",
        out,
        *SIZE,
    )
    assert result.exit_code == 0, result.output
    assert (out / "me_spatial.png").is_file()
    vgg, _ = load_reference(*public_states)
    with torch.no_grad():
        feat = vgg(as_tensor(regions["content"]))
        fg_feat, bg_feat = vgg(as_tensor(regions["fg"])), vgg(as_tensor(regions["bg"]))
    left = torch.zeros(12, 16, dtype=torch.bool)
    left[:, :8] = True
    expected_fg, expected_bg = region_adain(feat, fg_feat, left), region_adain(feat, bg_feat, ~left)
    (target,) = decoded_features
    # Away from the border, where the smooth blending weights are exactly 0 or 1.
    torch.testing.assert_close(target[..., :6], expected_fg[..., :6], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(target[..., 10:], expected_bg[..., 10:], rtol=1e-4, atol=1e-4)
    # At the border the two are blended, with no hard step.
    weights = ops.smooth_resize(
        torch.from_numpy(np.array(Image.open(regions["mask"]))).float()[None, None] / 255, (12, 16)
    )
    blend = weights * expected_fg + (1 - weights) * expected_bg
    torch.testing.assert_close(target, blend, rtol=1e-4, atol=1e-4)


def test_without_a_background_the_rest_keeps_the_content(run_adain, regions, public_states, decoded_features):
    result = run_adain(
        "spatial",
        regions["content"],
        "--style",
        regions["fg"],
        "--mask",
        regions["mask"],
        "-o",
        regions["dir"] / "out",
        *SIZE,
    )
    assert result.exit_code == 0, result.output
    vgg, _ = load_reference(*public_states)
    with torch.no_grad():
        feat = vgg(as_tensor(regions["content"]))
    torch.testing.assert_close(decoded_features[0][..., 10:], feat[..., 10:], rtol=1e-4, atol=1e-4)


def test_an_all_white_mask_equals_plain_stylize(run_adain, regions):
    white = regions["dir"] / "white.png"
    Image.new("L", (128, 96), 255).save(white)
    spatial = run_adain(
        "spatial", regions["content"], "--style", regions["fg"], "--mask", white, "-o", regions["dir"] / "a", *SIZE
    )
    plain = run_adain("stylize", regions["content"], "--style", regions["fg"], "-o", regions["dir"] / "b", *SIZE)
    assert spatial.exit_code == 0 and plain.exit_code == 0
    a = np.array(Image.open(regions["dir"] / "a" / "me_spatial.png"))
    b = np.array(Image.open(regions["dir"] / "b" / "me_stylized_ink.png"))
    assert np.array_equal(a, b)


def test_the_original_two_style_form_equals_the_explicit_form(run_adain, regions):
    inverted = regions["dir"] / "inverted.png"
    Image.fromarray(255 - np.array(Image.open(regions["mask"]))).save(inverted)
    original = run_adain(
        "spatial",
        regions["content"],
        "--mask",
        regions["mask"],
        "--style",
        regions["fg"],
        "--style",
        regions["bg"],
        "-o",
        regions["dir"] / "a",
        *SIZE,
    )
    explicit = run_adain(
        "spatial",
        regions["content"],
        "--style",
        regions["fg"],
        "--mask",
        regions["mask"],
        "--style",
        regions["bg"],
        "--mask",
        inverted,
        "-o",
        regions["dir"] / "b",
        *SIZE,
    )
    assert original.exit_code == 0 and explicit.exit_code == 0
    a = np.array(Image.open(regions["dir"] / "a" / "me_spatial.png")).astype(int)
    b = np.array(Image.open(regions["dir"] / "b" / "me_spatial.png")).astype(int)
    assert np.abs(a - b).max() <= 1


def test_an_alpha_channel_is_a_mask(run_adain, regions):
    cutout = np.zeros((96, 128, 4), np.uint8)
    cutout[..., :3] = 40  # dark pixels everywhere: only the transparency says where the region is
    cutout[:, :64, 3] = 255
    path = regions["dir"] / "cutout.png"
    Image.fromarray(cutout, "RGBA").save(path)
    a = run_adain(
        "spatial",
        regions["content"],
        "--style",
        regions["fg"],
        "--mask",
        path,
        "--style",
        regions["bg"],
        "-o",
        regions["dir"] / "a",
        *SIZE,
    )
    b = run_adain(
        "spatial",
        regions["content"],
        "--style",
        regions["fg"],
        "--mask",
        regions["mask"],
        "--style",
        regions["bg"],
        "-o",
        regions["dir"] / "b",
        *SIZE,
    )
    assert a.exit_code == 0 and b.exit_code == 0
    assert np.array_equal(
        np.array(Image.open(regions["dir"] / "a" / "me_spatial.png")),
        np.array(Image.open(regions["dir"] / "b" / "me_spatial.png")),
    )


def test_preview_and_alphas(run_adain, regions):
    out = regions["dir"] / "out"
    result = run_adain(
        "spatial",
        regions["content"],
        "--style",
        regions["fg"],
        "--mask",
        regions["mask"],
        "--style",
        regions["bg"],
        "--preview",
        "--alpha",
        "0.5",
        "1",
        "-o",
        out,
        *SIZE,
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "me_spatial_alpha0.50.png",
        "me_spatial_alpha1.00.png",
        "me_spatial_preview.png",
    ]
    original = np.array(Image.open(regions["content"]).convert("RGB")).astype(int)
    preview = np.array(Image.open(out / "me_spatial_preview.png")).astype(int)[: original.shape[0]]  # not the legend
    # Left half (the mask) tinted red, right half (the background) grey, each at half strength.
    assert (preview[:, :60, 0] - original[:, :60, 0]).mean() > 20
    red, grey = np.array([230, 60, 60]), np.array([128, 128, 128])
    assert np.abs(preview[:, :60] - (original[:, :60] + red) / 2).max() <= 1
    assert np.abs(preview[:, 70:] - (original[:, 70:] + grey) / 2).max() <= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mask", "{mask}", "--mask", "{mask}", "--style", "{fg}"], "2 masks but only 1 styles"),
        (["--mask", "{mask}", "--style", "{fg}", "--style", "{bg}", "--style", "{bg}"], "only one style"),
        (["--style", "{fg}"], "at least one --mask"),
        (["--mask", "{mask}", "--mask-dir", "{dir}", "--style", "{fg}", "--style", "{bg}"], "not both"),
    ],
)
def test_usage_errors(run_adain, regions, args, message):
    filled = [a.format(**{k: str(v) for k, v in regions.items()}) for a in args]
    result = run_adain("spatial", regions["content"], *filled, "-o", regions["dir"] / "out")
    assert result.exit_code == 2
    assert message in result.stderr


def test_an_unreadable_mask_fails_clearly(run_adain, regions):
    bad = regions["dir"] / "bad_mask.png"
    bad.write_text("not a png")
    result = run_adain(
        "spatial", regions["content"], "--mask", bad, "--style", regions["fg"], "-o", regions["dir"] / "o"
    )
    assert result.exit_code == 1
    assert "bad_mask.png: not an image file" in result.stderr


def test_an_empty_region_is_skipped_with_a_warning_and_aspect_is_noted(run_adain, regions):
    tiny = regions["dir"] / "tiny.png"
    dot = np.zeros((50, 50), np.uint8)
    dot[0, 0] = 255
    Image.fromarray(dot).save(tiny)
    result = run_adain(
        "spatial",
        regions["content"],
        "--mask",
        tiny,
        "--style",
        regions["fg"],
        "--style",
        regions["bg"],
        "-o",
        regions["dir"] / "out",
        "--json",
        *SIZE,
    )
    assert result.exit_code == 0, result.output
    notes = " ".join(json.loads(result.stdout)["notes"])
    assert "covers no feature cell; style 1 skipped" in notes
    assert "aspect ratio" in notes


def test_mask_dir_matches_masks_by_stem(run_adain, regions):
    photos = regions["dir"] / "photos"
    masks = regions["dir"] / "masks"
    masks.mkdir()
    for name in ("a", "b", "c"):
        make_image(photos / f"{name}.jpg", 64, 48, seed=ord(name))
    for name in ("a", "b"):
        Image.open(regions["mask"]).resize((64, 48)).save(masks / f"{name}.png")
    out = regions["dir"] / "out"
    result = run_adain(
        "spatial", photos, "--mask-dir", masks, "--style", regions["fg"], "--style", regions["bg"], "-o", out, *SIZE
    )
    assert result.exit_code == 1
    # a, b and c (small, of one size) were decoded together first; c's missing mask sent each to decode alone.
    assert sorted(p.name for p in out.glob("*_spatial.png")) == ["a_spatial.png", "b_spatial.png"]
    assert "no mask named c.*" in result.stderr


@pytest.mark.parametrize(
    ("content", "masks", "error"),
    [
        ("photo.png", ["photo.old.png"], "no mask named photo.*"),  # a longer stem is another file's mask
        ("x[ab].png", ["xa.png"], "no mask named x[ab].*"),  # the stem is a name, not a pattern
        ("photo.png", ["photo.png", "photo.JPG"], "two masks match it"),
    ],
)
def test_mask_dir_takes_exact_stems_only(run_adain, regions, content, masks, error):
    folder, photos = regions["dir"] / "masks", regions["dir"] / "photos"
    folder.mkdir()
    make_image(photos / content, 64, 48, seed=1)
    for name in masks:
        Image.open(regions["mask"]).resize((64, 48)).convert("RGB").save(folder / name, format="PNG")
    out = regions["dir"] / "out"
    result = run_adain("spatial", photos, "--mask-dir", folder, "--style", regions["fg"], "--style", regions["bg"],
                       "-o", out, *SIZE)  # fmt: skip
    assert result.exit_code == 1
    assert error in result.stderr
    assert not list(out.glob("*_spatial*"))


def test_mask_dir_with_an_exact_stem_among_near_misses(run_adain, regions):
    folder, photos = regions["dir"] / "masks", regions["dir"] / "photos"
    folder.mkdir()
    make_image(photos / "photo.png", 64, 48, seed=1)
    Image.open(regions["mask"]).resize((64, 48)).save(folder / "photo.png")
    Image.new("L", (64, 48), 0).save(folder / "photo.old.png")
    styles = ("--style", regions["fg"], "--style", regions["bg"], "--no-grid", *SIZE)
    out = regions["dir"] / "out"
    result = run_adain("spatial", photos, "--mask-dir", folder, *styles, "-o", out)
    assert result.exit_code == 0, result.output
    # The same content with each candidate given by hand: the exact stem's mask is the one that was used.
    for stem in ("photo", "photo.old"):
        (out / stem).mkdir(exist_ok=True)  # `-o out/photo.old` names a folder only once it is one
        given = run_adain("spatial", photos / "photo.png", "--mask", folder / f"{stem}.png", *styles, "-o", out / stem)
        assert given.exit_code == 0, given.output
    used = np.asarray(Image.open(out / "photo_spatial.png"))
    assert np.array_equal(used, np.asarray(Image.open(out / "photo" / "photo_spatial.png")))
    assert not np.array_equal(used, np.asarray(Image.open(out / "photo.old" / "photo_spatial.png")))


def test_crop_crops_the_mask_as_it_crops_the_content(run_adain, tmp_path):
    Image.new("RGB", (128, 64), (100, 100, 100)).save(tmp_path / "wide.png")  # its centre square: columns 32–95
    mask = np.zeros((64, 128), np.uint8)
    mask[:, 48:80] = 255  # the middle quarter: columns 16–47 of the square once cropped (8–23 if squashed)
    Image.fromarray(mask).save(tmp_path / "middle.png")
    style = make_image(tmp_path / "ink.png", 32, 32, seed=2)
    out = tmp_path / "out"
    result = run_adain("spatial", tmp_path / "wide.png", "--mask", tmp_path / "middle.png", "--style", style,
                       "--crop", "--preview", "--no-grid", "-o", out, *SIZE)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "stretched" not in result.output  # the mask has the content's shape
    preview = np.array(Image.open(out / "wide_spatial_preview.png").convert("RGB")).astype(int)[:64, :64]
    tinted = np.abs(preview - 100).sum(axis=2).mean(axis=0) > 30  # per column
    assert tinted[17:47].all() and not tinted[:15].any() and not tinted[49:].any()


def test_spatial_on_a_clip_keeps_its_notes_and_previews_the_first_frame(run_adain, regions):
    from tests.test_video import make_clip

    clip = make_clip(regions["dir"] / "clip.mp4", frames=3, size=(64, 48))
    tiny = regions["dir"] / "dot.png"
    dot = np.zeros((48, 64), np.uint8)
    dot[0, 0] = 255  # covers no feature cell
    Image.fromarray(dot).save(tiny)
    out = regions["dir"] / "out"
    result = run_adain("spatial", clip, "--mask", tiny, "--style", regions["fg"], "--style", regions["bg"],
                       "--preview", "-o", out, "--json", "--no-stabilize", *SIZE)  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    notes = [note for note in summary["notes"] if "covers no feature cell; style 1 skipped" in note]
    assert len(notes) == 1, summary["notes"]  # said once for the clip, not once per frame
    preview = out / "clip_spatial_preview.png"
    assert preview.is_file() and str(preview) in summary["companions"]
    assert Image.open(preview).width == 64  # the first frame's size (with the legend band below it)
