"""An independent implementation of the public AdaIN networks and numerics, for tests only.

Written straight from the public checkpoints' layout (flat nn.Sequential with ReflectionPad2d
modules, as the public checkpoints are laid out), sharing no code with adain_cli, so that tests
comparing against it check the package rather than restate it.
"""

from __future__ import annotations

import torch
from torch import nn


def _pad_conv_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.ReLU()]


def public_vgg() -> nn.Sequential:
    """All 53 modules of vgg_normalised.pth."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    blocks = [(3, 64, 2), (64, 128, 2), (128, 256, 4), (256, 512, 4), (512, 512, 4)]
    for index, (cin, cout, convs) in enumerate(blocks):
        for conv in range(convs):
            layers += _pad_conv_relu(cin if conv == 0 else cout, cout)
        if index < len(blocks) - 1:
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
    assert len(layers) == 53, len(layers)
    return nn.Sequential(*layers)


def public_decoder() -> nn.Sequential:
    """All 29 modules of decoder.pth."""
    up = lambda: nn.Upsample(scale_factor=2, mode="nearest")  # noqa: E731
    layers: list[nn.Module] = _pad_conv_relu(512, 256) + [up()]
    layers += _pad_conv_relu(256, 256) + _pad_conv_relu(256, 256) + _pad_conv_relu(256, 256)
    layers += _pad_conv_relu(256, 128) + [up()]
    layers += _pad_conv_relu(128, 128) + _pad_conv_relu(128, 64) + [up()]
    layers += _pad_conv_relu(64, 64) + [nn.ReflectionPad2d(1), nn.Conv2d(64, 3, 3)]
    assert len(layers) == 29, len(layers)
    return nn.Sequential(*layers)


TAP_SLICES = {"relu1_1": (0, 4), "relu2_1": (4, 11), "relu3_1": (11, 18), "relu4_1": (18, 31)}


def load_reference(encoder_state: dict, decoder_state: dict) -> tuple[nn.Sequential, nn.Sequential]:
    vgg, dec = public_vgg(), public_decoder()
    vgg.load_state_dict(encoder_state)
    dec.load_state_dict(decoder_state)
    return vgg[:31].eval(), dec.eval()


def reference_taps(vgg: nn.Sequential, image: torch.Tensor) -> dict[str, torch.Tensor]:
    taps, x = {}, image
    for name, (start, stop) in TAP_SLICES.items():
        x = vgg[start:stop](x)
        taps[name] = x
    return taps


def calc_mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    n, c = feat.shape[:2]
    var = feat.view(n, c, -1).var(dim=2) + eps
    return feat.view(n, c, -1).mean(dim=2).view(n, c, 1, 1), var.sqrt().view(n, c, 1, 1)


def adaptive_instance_normalization(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    s_mean, s_std = calc_mean_std(style)
    c_mean, c_std = calc_mean_std(content)
    return (content - c_mean.expand_as(content)) / c_std.expand_as(content) * s_std + s_mean


@torch.no_grad()
def reference_stylize(vgg, dec, content: torch.Tensor, style: torch.Tensor, alpha: float) -> torch.Tensor:
    """The reference pipeline for one (1,3,H,W) content and style, cropped to the content size."""
    c = vgg(content)
    t = adaptive_instance_normalization(c, vgg(style))
    out = dec(t * alpha + c * (1 - alpha))
    return out[:, :, : content.shape[2], : content.shape[3]]


def to_uint8_reference(image: torch.Tensor) -> torch.Tensor:
    return image.clamp(0, 1).mul(255).add(0.5).floor().to(torch.uint8)


def coral_reference(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The references' colour transfer (coral) in float32, step by step: recolour (3,H,W) `source` to `target`."""

    def flat(x):
        f = x.reshape(3, -1)
        return f, f.mean(1, keepdim=True), f.std(1, keepdim=True)

    def sqrtm(m):
        u, d, v = torch.svd(m)
        return u @ torch.diag(d.pow(0.5)) @ v.t()

    s, s_mean, s_std = flat(source)
    t, t_mean, t_std = flat(target)
    s_norm, t_norm = (s - s_mean) / s_std, (t - t_mean) / t_std
    s_cov = s_norm @ s_norm.t() + torch.eye(3)
    t_cov = t_norm @ t_norm.t() + torch.eye(3)
    out = sqrtm(t_cov) @ torch.inverse(sqrtm(s_cov)) @ s_norm
    return (out * t_std + t_mean).reshape(source.shape)
