"""Colour preservation: coral (recolour the style first) and luminance-only transfer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from adain_cli import ops
from tests.conftest import AT_OWN_SIZE, as_tensor, make_image
from tests.reference import coral_reference, load_reference, reference_stylize, to_uint8_reference


@pytest.fixture
def pair(tmp_path):
    content = make_image(tmp_path / "room.png", 64, 48, seed=1)
    # A style with strongly different, correlated colours.
    rng = np.random.default_rng(5)
    base = rng.random((48, 56, 1))
    style = np.concatenate([base, base * 0.5 + 0.4, 1 - base * 0.8], axis=2) + rng.normal(0, 0.05, (48, 56, 3))
    style_path = tmp_path / "styles" / "glow.png"
    style_path.parent.mkdir()
    Image.fromarray((np.clip(style, 0, 1) * 255).astype(np.uint8)).save(style_path)
    return content, style_path


def channel_covariance(image: torch.Tensor) -> torch.Tensor:
    flat = image.reshape(3, -1).double()
    return torch.cov(flat)


@pytest.mark.parametrize("content_size", [(64, 64), (48, 80)])
def test_coral_maps_mean_and_covariance_onto_the_content(content_size):
    gen = torch.Generator().manual_seed(0)
    style = torch.rand(3, 64, 64, generator=gen) * torch.tensor([0.3, 1.0, 0.6])[:, None, None]
    content = torch.rand(3, *content_size, generator=gen)
    content = torch.stack([content[0], content[0] * 0.7 + content[1] * 0.3, content[2] * 0.2 + 0.5])
    out = ops.coral(style, content)
    torch.testing.assert_close(out.mean(dim=(1, 2)), content.mean(dim=(1, 2)), atol=1e-5, rtol=0)
    # The reference formula's covariance is a sum, not a mean, so the transferred covariance carries
    # the ratio of the pixel counts (exactly 1 for equal sizes), up to the O(1/N) term of its +I.
    count_ratio = (content[0].numel() - 1) / (style[0].numel() - 1)
    expected = channel_covariance(content) * count_ratio
    torch.testing.assert_close(channel_covariance(out), expected, atol=5e-4, rtol=5e-3)
    torch.testing.assert_close(out, coral_reference(style, content), atol=1e-4, rtol=1e-4)


def test_luminance_helpers_round_trip():
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ops.yiq_to_rgb(ops.rgb_to_yiq(image)), image, atol=1e-5, rtol=0)
    gray = ops.gray3(ops.luminance(image))
    assert gray.shape == (3, 8, 8) and torch.equal(gray[0], gray[2])
    matched = ops.match_luminance(image * 0.2, image)
    torch.testing.assert_close(ops.luminance(matched).mean(), ops.luminance(image).mean(), atol=1e-5, rtol=0)
    torch.testing.assert_close(ops.luminance(matched).std(), ops.luminance(image).std(), atol=1e-3, rtol=1e-3)


def test_coral_output_equals_an_independent_computation(run_adain, pair, tmp_path, public_states, count_encodes):
    content_path, style_path = pair
    out = tmp_path / "out"
    result = run_adain("preserve-color", content_path, "--style", style_path, "-o", out, *AT_OWN_SIZE)
    assert result.exit_code == 0, result.output
    vgg, dec = load_reference(*public_states)
    content, style = as_tensor(content_path), as_tensor(style_path)
    recoloured = coral_reference(style[0], content[0])[None]
    expected = to_uint8_reference(reference_stylize(vgg, dec, content, recoloured, 1.0))[0].int()
    got = torch.from_numpy(np.array(Image.open(out / "room_stylized_glow_coral.png"))).permute(2, 0, 1).int()
    assert (got - expected).abs().max() <= 1
    assert len(count_encodes) == 2


def test_luminance_keeps_the_content_chroma(run_adain, pair, tmp_path):
    content_path, style_path = pair
    out = tmp_path / "out"
    result = run_adain(
        "preserve-color", content_path, "--style", style_path, "--method", "luminance", "-o", out, "--content-size", "0"
    )
    assert result.exit_code == 0, result.output
    got = as_tensor(out / "room_stylized_glow_luminance.png")[0]
    content = as_tensor(content_path)[0]
    inside = ((got > 0.5 / 255) & (got < 254.5 / 255)).all(dim=0)  # pixels the clamp on saving left alone
    assert inside.sum() > 300  # random weights push much of the luminance out of range
    chroma_out, chroma_in = ops.rgb_to_yiq(got)[1:], ops.rgb_to_yiq(content)[1:]
    assert (chroma_out - chroma_in)[:, inside].abs().max() <= 2.0 / 255


def test_luminance_output_equals_an_independent_computation(run_adain, pair, tmp_path, public_states):
    content_path, style_path = pair
    out = tmp_path / "out"
    result = run_adain(
        "preserve-color",
        content_path,
        "--style",
        style_path,
        "--method",
        "luminance",
        "--alpha",
        "0.7",
        "-o",
        out,
        "--content-size",
        "0",
        "--style-size",
        "0",
    )
    assert result.exit_code == 0, result.output
    vgg, dec = load_reference(*public_states)
    content, style = as_tensor(content_path), as_tensor(style_path)
    yiq = torch.tensor([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])

    def to_yiq(x):
        return torch.einsum("ij,njhw->nihw", yiq, x)

    content_y, style_y = to_yiq(content)[:, :1], to_yiq(style)[:, :1]
    matched = (style_y - style_y.mean()) / (style_y.std() + 1e-5) * content_y.std() + content_y.mean()
    luma_out = reference_stylize(vgg, dec, content_y.repeat(1, 3, 1, 1), matched.repeat(1, 3, 1, 1), 0.7)
    recombined = torch.cat([to_yiq(luma_out)[:, :1], to_yiq(content)[:, 1:]], dim=1)
    expected = to_uint8_reference(torch.einsum("ij,njhw->nihw", torch.linalg.inv(yiq), recombined))[0].int()
    got = torch.from_numpy(np.array(Image.open(out / "room_stylized_glow_luminance.png"))).permute(2, 0, 1).int()
    assert (got - expected).abs().max() <= 1


def test_encoder_calls_per_pair_and_names(run_adain, tmp_path, count_encodes):
    for index in range(2):
        make_image(tmp_path / "c" / f"c{index}.png", 40, 40, seed=index)
    for index in range(3):
        make_image(tmp_path / "s" / f"s{index}.png", 40, 40, seed=10 + index)
    out = tmp_path / "out"
    result = run_adain(
        "preserve-color", tmp_path / "c", "--style", tmp_path / "s", "--alpha", "0", "1", "-o", out,
        "--grid-cell", "16", *AT_OWN_SIZE,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # Each content once, each (content, style) pair's recoloured style once: 2 + 2×3, not per α.
    assert len(count_encodes) == 2 + 2 * 3
    names = sorted(p.name for p in out.iterdir())
    assert "c1_stylized_s2_coral_alpha1.00.png" in names and len(names) == 12 + 2 + 2  # grids, manifest, page records


def test_preserve_color_on_interpolate(run_adain, pair, tmp_path):
    content_path, style_path = pair
    other = make_image(tmp_path / "other.png", 40, 40, seed=9)
    result = run_adain(
        "interpolate", content_path, style_path, other, "--preserve-color", "luminance", "-o", tmp_path / "out",
        *AT_OWN_SIZE,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "room_interpolated_glow-other_luminance.png").is_file()
