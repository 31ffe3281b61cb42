"""The folded resize-convolutions (model.ResizeConv3x3) against the plain public layers."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from adain_cli.device import cpu_supports_bf16
from adain_cli.model import Decoder, Encoder, ReflectConv3x3, ResizeConv3x3, fold_resize_convs, load_public_state_dict
from adain_cli.stylizer import Stylizer
from adain_cli.tiling import TilePlan, decode_tiled
from tests.reference import public_decoder


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    return float((approx.float() - exact.float()).norm() / exact.float().norm())


@pytest.fixture(scope="module")
def decoders(public_states) -> tuple[Decoder, Decoder]:
    plain = Decoder().eval().requires_grad_(False)
    load_public_state_dict(plain, public_states[1])
    return plain, fold_resize_convs(plain)


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (6, 4)])
def test_reflect_pad_of_an_upsampled_map_is_the_upsampled_replicate_pad(size):
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0))
    upsampled_then_reflected = F.pad(F.interpolate(x, scale_factor=2), (1, 1, 1, 1), mode="reflect")
    replicated_then_upsampled = F.interpolate(F.pad(x, (1, 1, 1, 1), mode="replicate"), scale_factor=2)
    assert torch.equal(upsampled_then_reflected, replicated_then_upsampled[..., 1:-1, 1:-1])


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("size", [(1, 1), (5, 3), (4, 7)])
def test_a_resize_conv_equals_upsampling_padding_and_convolving(size, layout):
    torch.manual_seed(0)
    conv = ReflectConv3x3(6, 5)
    x = torch.randn(2, 6, *size).contiguous(memory_format=layout)
    expected = conv(F.interpolate(x, scale_factor=2))
    with torch.no_grad():
        folded = ResizeConv3x3(conv).to(memory_format=layout)(x)
    assert folded.shape == expected.shape
    torch.testing.assert_close(folded, expected, rtol=1e-5, atol=1e-6)


def precisions() -> list:
    bf16 = pytest.mark.skipif(not cpu_supports_bf16(), reason="this processor has no native bf16 (AVX-512 BF16/AMX)")
    return ["fp32", pytest.param("bf16", marks=bf16)]


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@pytest.mark.parametrize("precision", precisions())
@pytest.mark.parametrize("cells", [(3, 5), (7, 4)])  # odd sizes: 24×40 and 56×32 px
def test_the_folded_decoder_equals_the_plain_one(decoders, cells, precision):
    """In fp32 within 1e-4 relative; in bf16 no further from the fp32 result than the plain bf16 decoder."""
    plain, folded = decoders
    feats = torch.randn(2, 512, *cells, generator=torch.Generator().manual_seed(1)).relu()
    exact = plain(feats)
    if precision == "fp32":
        assert relative_error(folded(feats), exact) < 1e-4
        return
    dtype = DTYPES[precision]
    plain_error = relative_error(_cast(plain, dtype)(feats.to(dtype)), exact)
    folded_error = relative_error(_cast(folded, dtype)(feats.to(dtype)), exact)
    assert folded_error < 1.1 * plain_error + 1e-4, (folded_error, plain_error)


def _cast(decoder: Decoder, dtype: torch.dtype) -> Decoder:
    return copy.deepcopy(decoder).to(dtype, memory_format=torch.channels_last)


def test_folding_keeps_the_public_state_dict_and_leaves_the_original_plain(decoders):
    plain, folded = decoders
    assert folded.state_dict().keys() == plain.state_dict().keys()
    assert any(isinstance(layer, ResizeConv3x3) for layer in folded.stages["body"])
    assert not any(isinstance(layer, ResizeConv3x3) for layer in plain.stages["body"])
    assert sum(isinstance(layer, ResizeConv3x3) for layer in folded.stages["body"]) == 3


def test_the_stylizer_decodes_folded_tiled_and_untiled(decoders):
    plain, _ = decoders
    stylizer = Stylizer(Encoder(), plain, tile=64)
    assert sum(isinstance(layer, ResizeConv3x3) for layer in stylizer.decoder.stages["body"]) == 3
    feats = torch.randn(1, 512, 13, 9, generator=torch.Generator().manual_seed(2)).relu()
    size = (100, 70)  # not a multiple of 8: the decoder's output is cropped
    with torch.no_grad():
        untiled = plain(feats)[:, :, :100, :70]
        tiled = decode_tiled(plain, feats, size, TilePlan(64))
    assert relative_error(stylizer.decode(feats, size), tiled) < 1e-4
    stylizer.tile = None
    assert relative_error(stylizer.decode(feats, size), untiled) < 1e-4


def test_the_public_layers_are_what_was_folded(public_states):
    """The reference Sequential (Upsample, ReflectionPad2d, Conv2d) and the folded decoder agree."""
    reference = public_decoder()
    reference.load_state_dict(public_states[1])
    folded = Decoder()
    load_public_state_dict(folded, public_states[1])
    feats = torch.randn(1, 512, 5, 3, generator=torch.Generator().manual_seed(3)).relu()
    with torch.no_grad():
        assert relative_error(fold_resize_convs(folded)(feats), reference(feats)) < 1e-4
