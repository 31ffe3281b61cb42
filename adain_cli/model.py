"""The AdaIN networks: a VGG-19 encoder up to relu4_1 with named taps, and its mirror decoder.

Both are built from a config list (as torchvision's vgg.py does) and laid out in named stages.
The public checkpoints (`vgg_normalised.pth`, `decoder.pth`) are flat `nn.Sequential` state_dicts;
`public_key_map` derives, from the same config, which public index each of our convolutions is,
so those files load unchanged and `adain train` can write the public layout back.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")

# Encoder tokens in public order: "rgb" is the 1×1 conv that turns RGB in [0, 1] into Caffe's
# BGR·255 − mean (one public module); an int is Pad, Conv3×3(→int), ReLU (three public modules);
# "M" is a ceil-mode 2×2 max pool (one module); a tap name ends a stage (no module).
ENCODER_CONFIG: tuple[int | str, ...] = (
    "rgb", 64, "relu1_1",
    64, "M", 128, "relu2_1",
    128, "M", 256, "relu3_1",
    256, 256, 256, "M", 512, "relu4_1",
)  # fmt: skip

# Decoder tokens: an int is Pad, Conv3×3(→int), ReLU; "U" is a nearest ×2 upsample; "out" is the
# final Pad, Conv3×3(→3) with no activation. The decoder is one stage.
DECODER_CONFIG: tuple[int | str, ...] = (256, "U", 256, 256, 256, 128, "U", 128, 64, "U", 64, "out")

ENCODER_CHANNELS = 512


class ReflectConv3x3(nn.Conv2d):
    """A 3×3 convolution of the input padded by one pixel of reflection, as in the public networks.

    Padding makes a new tensor. On a CPU one of 32 MiB or more comes from glibc as fresh mmap'd pages,
    and their page faults cost more than the copy (a 64-channel 512 px map: 47 ms to pad, against 5 ms
    once its memory is reused). Zero padding costs nothing (the convolution does it inside), and the
    two differ only in the one-pixel border of the output; so such large maps are convolved with zero
    padding and then just that border is recomputed, exactly, from reflection-padded strips two pixels
    deep. Smaller maps, and maps on a GPU (whose allocator reuses memory), are padded and convolved
    plainly: the strips are thin convolutions that run far below peak, and on a 256-channel 128 px
    map they cost 10 ms against a 1 ms pad (on AVX2 and AVX-512 alike). Same parameters and results
    either way.
    """

    BORDER_FIX_MIN_BYTES = 32 * 2**20  # glibc's largest mmap threshold: above it every allocation is fresh

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 3)

    def forward(self, x: Tensor) -> Tensor:
        # An exported graph (ONNX) is padded plainly: glibc's pages are not its runtime's concern, and a
        # traced shape test would be frozen to the example's size.
        if torch.jit.is_tracing() or not self._pad_costs_page_faults(x):
            return self._conv(F.pad(x, (1, 1, 1, 1), mode="reflect"))
        out = self._conv(x, padding=1)
        # F.pad's order is (left, right, top, bottom).
        out[..., :, :1] = self._conv(F.pad(x[..., :, :2], (1, 0, 1, 1), mode="reflect"))
        out[..., :, -1:] = self._conv(F.pad(x[..., :, -2:], (0, 1, 1, 1), mode="reflect"))
        out[..., :1, :] = self._conv(F.pad(x[..., :2, :], (1, 1, 1, 0), mode="reflect"))
        out[..., -1:, :] = self._conv(F.pad(x[..., -2:, :], (1, 1, 0, 1), mode="reflect"))
        return out

    def _pad_costs_page_faults(self, x: Tensor) -> bool:
        n, c, h, w = x.shape
        return x.device.type == "cpu" and n * c * (h + 2) * (w + 2) * x.element_size() >= self.BORDER_FIX_MIN_BYTES

    def _conv(self, x: Tensor, padding: int = 0) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, padding=padding)


# Which taps of a 3×3 kernel land on each tap of the 4-tap transposed kernel, along one axis (see
# `resize_conv_kernel`): rows are the transposed taps 0…3, columns the original taps 0…2.
_RESIZE_TAPS = ((0, 0, 1), (0, 1, 1), (1, 1, 0), (1, 0, 0))


def resize_conv_kernel(weight: Tensor) -> Tensor:
    """The stride-2 transposed-convolution kernel (C_in, C_out, 4, 4) equal to a ×2 nearest upsample,
    a reflection pad of 1 and the 3×3 convolution `weight` (C_out, C_in, 3, 3).

    Reflect-padding the upsampled map by one pixel is upsampling the low-resolution map replicate-padded
    by one pixel, cropped by one. On that map output row 2i + a (phase a) sees low-res rows i + a + t,
    t ∈ {0, 1}: phase 0 takes the 3×3 taps {0} and {1, 2}, phase 1 takes {0, 1} and {2}. A transposed
    convolution with stride 2 and padding 3 gives row 2i + a the transposed tap 3 − a − 2t of row
    i + a + t, so each phase's summed taps go to their own transposed tap, and the four phases come out
    interleaved with no scatter: 16 multiply-adds per low-res pixel and channel pair instead of 36.
    """
    taps = torch.tensor(_RESIZE_TAPS, dtype=weight.dtype, device=weight.device)
    return torch.einsum("ky,lx,oiyx->iokl", taps, taps, weight)


class ResizeConv3x3(nn.Module):
    """×2 nearest upsample, reflection pad 1 and a 3×3 convolution, computed from the low-resolution map
    (`resize_conv_kernel`) without ever making the upsampled one. For inference: the kernel is folded
    once from the convolution's weights, which stay as the parameters (so the state_dict is unchanged)
    but no longer drive the output; load weights before folding."""

    kernel: Tensor

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.weight, self.bias = conv.weight, conv.bias
        kernel = resize_conv_kernel(conv.weight.detach().float()).to(conv.weight.dtype)
        self.register_buffer("kernel", kernel, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        low_res = F.pad(x, (1, 1, 1, 1), mode="replicate")
        return F.conv_transpose2d(low_res, self.kernel, self.bias, stride=2, padding=3)


def _build(config: Sequence[int | str], in_channels: int) -> tuple[dict[str, list[nn.Module]], dict[str, str]]:
    """Layers per named stage, and {"<stage>.<layer>": public Sequential index} for every conv."""
    stages: dict[str, list[nn.Module]] = {}
    key_map: dict[str, str] = {}
    layers: list[nn.Module] = []
    conv_positions: dict[int, int] = {}  # layer index in the current stage -> public index
    channels, public_index = in_channels, 0

    def close_stage(name: str) -> None:
        nonlocal layers, conv_positions
        stages[name] = layers
        key_map.update({f"{name}.{layer}": str(public) for layer, public in conv_positions.items()})
        layers, conv_positions = [], {}

    for token in config:
        if token == "rgb":
            conv_positions[len(layers)] = public_index
            layers.append(nn.Conv2d(channels, channels, 1))
            public_index += 1
        elif token in ("M", "U"):
            pool = nn.MaxPool2d(2, 2, ceil_mode=True)
            layers.append(pool if token == "M" else nn.Upsample(scale_factor=2, mode="nearest"))
            public_index += 1
        elif token == "out":
            conv_positions[len(layers)] = public_index + 1  # after the public ReflectionPad2d
            layers.append(ReflectConv3x3(channels, 3))
            public_index += 2
        elif isinstance(token, int):
            conv_positions[len(layers)] = public_index + 1
            layers += [ReflectConv3x3(channels, token), nn.ReLU(inplace=True)]
            channels, public_index = token, public_index + 3
        else:
            close_stage(token)
    if layers:
        close_stage("body")
    return stages, key_map


class Encoder(nn.Module):
    """VGG-19 from the input up to relu4_1, returning every tap by name."""

    def __init__(self) -> None:
        super().__init__()
        stages, self.public_keys = _build(ENCODER_CONFIG, 3)
        self.stages = nn.ModuleDict({name: nn.Sequential(*layers) for name, layers in stages.items()})

    def forward(self, image: Tensor, upto: str = "relu4_1") -> dict[str, Tensor]:
        """All taps from relu1_1 up to and including `upto`, for RGB images in [0, 1]."""
        taps: dict[str, Tensor] = {}
        x = image
        for name, stage in self.stages.items():
            x = stage(x)
            taps[name] = x
            if name == upto:
                break
        return taps

    def encode(self, image: Tensor) -> Tensor:
        """relu4_1 features, the only ones stylization needs."""
        return self.forward(image)["relu4_1"]


class Decoder(nn.Module):
    """The mirror of the encoder: relu4_1 features back to an RGB image (no final activation)."""

    def __init__(self) -> None:
        super().__init__()
        stages, self.public_keys = _build(DECODER_CONFIG, ENCODER_CHANNELS)
        self.stages = nn.ModuleDict({name: nn.Sequential(*layers) for name, layers in stages.items()})

    @property
    def body(self) -> nn.Sequential:
        return cast(nn.Sequential, self.stages["body"])

    def forward(self, feat: Tensor) -> Tensor:
        return self.body(feat)

    def entry(self, feat: Tensor) -> Tensor:
        """The first convolution, before its ReLU: linear in `feat`, so a blend of entries is the entry of the blend."""
        return self.body[0](feat)

    def from_entry(self, entry: Tensor) -> Tensor:
        """The rest of the decoder, from `entry`'s output to the image."""
        return self.body[1:](entry)


def fold_resize_convs(decoder: Decoder) -> Decoder:
    """A copy of `decoder` for inference whose upsample-and-convolve pairs are `ResizeConv3x3`s.

    Outputs equal the plain decoder's within rounding, at less than two thirds of its work. Upsamples
    become identities, so every layer keeps its index and the state_dict its keys. Training keeps
    the plain decoder: its gradients are those of the public layout.
    """
    folded = copy.deepcopy(decoder)
    body = folded.stages["body"]
    assert isinstance(body, nn.Sequential)  # for the type checker: the decoder is one Sequential stage
    for index, (layer, following) in enumerate(itertools.pairwise(list(body))):
        if isinstance(layer, nn.Upsample) and isinstance(following, ReflectConv3x3):
            body[index], body[index + 1] = nn.Identity(), ResizeConv3x3(following)
    return folded


def public_state_dict(module: Encoder | Decoder) -> dict[str, Tensor]:
    """The module's weights under the public flat-Sequential keys (what `decoder.pth` holds)."""
    own = module.state_dict()
    return {
        f"{public}.{kind}": own[f"stages.{ours}.{kind}"].detach().clone()
        for ours, public in module.public_keys.items()
        for kind in ("weight", "bias")
    }


def iter_public_keys(module: Encoder | Decoder) -> Iterator[tuple[str, str]]:
    """(public key, our key) for every parameter, in network order."""
    for ours, public in module.public_keys.items():
        for kind in ("weight", "bias"):
            yield f"{public}.{kind}", f"stages.{ours}.{kind}"


def load_public_state_dict(module: Encoder | Decoder, state: dict[str, Tensor]) -> list[str]:
    """Load a public-layout state_dict into `module`.

    Raises KeyError / ValueError naming the first missing key or wrong shape. Keys the module does
    not need (relu4_2 … relu5_4 in `vgg_normalised.pth`) are ignored; their names are returned.
    """
    own = module.state_dict()
    remapped: dict[str, Tensor] = {}
    for public, ours in iter_public_keys(module):
        if public not in state:
            raise KeyError(public)
        value = state[public]
        if not isinstance(value, Tensor) or value.shape != own[ours].shape:
            got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"key {public!r} has shape {got}, expected {tuple(own[ours].shape)}")
        remapped[ours] = value
    module.load_state_dict(remapped)
    used = {public for public, _ in iter_public_keys(module)}
    return [key for key in state if key not in used]
