"""The networks against an independent implementation of the public layout."""

from __future__ import annotations

import pytest
import torch

from adain_cli import ops
from adain_cli.model import (
    TAPS,
    Decoder,
    Encoder,
    ReflectConv3x3,
    load_public_state_dict,
    public_state_dict,
)
from tests.reference import (
    adaptive_instance_normalization,
    calc_mean_std,
    load_reference,
    public_decoder,
    public_vgg,
    reference_taps,
)


def test_public_state_dicts_load_unchanged(public_states):
    encoder_state, decoder_state = public_states
    assert set(encoder_state) == set(public_vgg().state_dict())
    assert set(decoder_state) == set(public_decoder().state_dict())
    ignored = load_public_state_dict(Encoder(), encoder_state)
    assert sorted(ignored, key=lambda k: int(k.split(".")[0]))[0] == "32.weight"
    assert load_public_state_dict(Decoder(), decoder_state) == []


def test_decoder_has_the_public_parameter_count():
    assert sum(p.numel() for p in Decoder().parameters()) == 3_505_219  # the public decoder.pth


@pytest.fixture(params=["plain pads", "border fix"])
def border_fix(request, monkeypatch) -> None:
    """Run a test with ReflectConv3x3's plain padding, and again with its border-fix path everywhere."""
    if request.param == "border fix":
        monkeypatch.setattr(ReflectConv3x3, "BORDER_FIX_MIN_BYTES", 0)


@pytest.mark.parametrize("size", [(64, 64), (57, 83)])
def test_encoder_taps_and_decoder_match_the_reference(public_states, size, border_fix):
    encoder_state, decoder_state = public_states
    vgg, dec = load_reference(encoder_state, decoder_state)
    encoder, decoder = Encoder().eval(), Decoder().eval()
    load_public_state_dict(encoder, encoder_state)
    load_public_state_dict(decoder, decoder_state)
    image = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, theirs = encoder(image), reference_taps(vgg, image)
        assert list(ours) == list(TAPS)
        for name in TAPS:
            torch.testing.assert_close(ours[name], theirs[name], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(decoder(ours["relu4_1"]), dec(theirs["relu4_1"]), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("size", [(9, 8), (12, 13), (20, 11)])
def test_reflect_conv_equals_padding_then_convolving(size, layout, border_fix):
    torch.manual_seed(0)
    conv = ReflectConv3x3(5, 7).to(memory_format=layout)
    x = torch.randn(2, 5, *size).contiguous(memory_format=layout).requires_grad_()
    ours = conv(x)
    expected = torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"), conv.weight, conv.bias
    )
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)
    grads = torch.autograd.grad(ours.square().sum(), (x, conv.weight))
    expected_grads = torch.autograd.grad(expected.square().sum(), (x, conv.weight))
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-4, atol=1e-4)


def test_encoder_stops_at_the_tap_asked_for(public_states):
    encoder = Encoder().eval()
    with torch.no_grad():
        assert list(encoder(torch.rand(1, 3, 32, 32), upto="relu2_1")) == ["relu1_1", "relu2_1"]


def test_public_state_dict_round_trips(public_states):
    decoder = Decoder()
    load_public_state_dict(decoder, public_states[1])
    written = public_state_dict(decoder)
    assert set(written) == set(public_states[1])
    for key, value in written.items():
        assert torch.equal(value, public_states[1][key])


def test_wrong_shape_and_missing_key_are_named(public_states):
    state = dict(public_states[1])
    state["5.weight"] = torch.zeros(3, 3)
    with pytest.raises(ValueError, match=r"'5.weight' has shape \(3, 3\), expected \(256, 256, 3, 3\)"):
        load_public_state_dict(Decoder(), state)
    del state["5.weight"]
    with pytest.raises(KeyError, match=r"5\.weight"):
        load_public_state_dict(Decoder(), state)


def test_mean_std_and_adain_match_the_reference_numerics():
    gen = torch.Generator().manual_seed(2)
    content, style = torch.randn(2, 8, 5, 7, generator=gen), torch.randn(2, 8, 6, 4, generator=gen) * 3 + 1
    mean, std = ops.mean_std(content)
    ref_mean, ref_std = calc_mean_std(content)
    torch.testing.assert_close(mean, ref_mean)
    torch.testing.assert_close(std, ref_std)
    torch.testing.assert_close(ops.adain(content, style), adaptive_instance_normalization(content, style))
    # The output takes on the style's statistics.
    out_mean, out_std = ops.mean_std(ops.adain(content, style))
    torch.testing.assert_close(out_mean, calc_mean_std(style)[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out_std, calc_mean_std(style)[1], rtol=1e-3, atol=1e-3)


def test_blend_is_the_papers_trade_off():
    content, target = torch.ones(1, 2, 2, 2), torch.full((1, 2, 2, 2), 3.0)
    torch.testing.assert_close(ops.blend(content, target, 0.25), torch.full((1, 2, 2, 2), 1.5))
    assert ops.blend(content, target, 1.0) is target
    torch.testing.assert_close(ops.blend(content, target, 0.0), content)


def test_only_large_maps_on_a_cpu_take_the_border_fix_path():
    conv = ReflectConv3x3(64, 64)
    fix_from = ReflectConv3x3.BORDER_FIX_MIN_BYTES // 4
    assert conv._pad_costs_page_faults(torch.empty(1, 1, 1, 1).expand(1, 64, 512, 512))  # 67 MB padded
    assert not conv._pad_costs_page_faults(torch.empty(1, 1, 1, 1).expand(1, 256, 128, 128))  # 17 MB
    assert not conv._pad_costs_page_faults(torch.empty(1, 1, 1, 1, device="meta").expand(1, 1, fix_from, 1))
