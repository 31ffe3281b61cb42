"""Random-initialised weights in the exact public layout, for tests and benchmarks (the real checkpoints cannot
be downloaded everywhere); they drive the real loading code."""

from __future__ import annotations

import torch
from torch import Tensor

from adain_cli.model import Decoder, Encoder, iter_public_keys


def random_public_state_dicts(seed: int = 0) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Random-initialised encoder and decoder weights in the exact public layout.

    The encoder dict also carries relu4_2 … relu5_4 (indices 31–52) as the real file does.
    He initialisation keeps activations at a sane scale through the ten layers, so random
    networks behave like trained ones numerically. Used by tests and benchmarks, since the
    real checkpoints cannot be downloaded everywhere.
    """
    generator = torch.Generator().manual_seed(seed)

    def conv_weights(shape: tuple[int, ...]) -> tuple[Tensor, Tensor]:
        fan_in = shape[1] * shape[2] * shape[3]
        weight = torch.randn(shape, generator=generator) * (2.0 / fan_in) ** 0.5
        return weight, torch.randn(shape[0], generator=generator) * 0.01

    def fill(module: Encoder | Decoder) -> dict[str, Tensor]:
        shapes = module.state_dict()
        state: dict[str, Tensor] = {}
        for public_w, ours_w in list(iter_public_keys(module))[::2]:
            weight, bias = conv_weights(tuple(shapes[ours_w].shape))
            state[public_w] = weight
            state[public_w.replace(".weight", ".bias")] = bias
        return state

    encoder_state, decoder_state = fill(Encoder()), fill(Decoder())
    for index in (32, 35, 38, 42, 45, 48, 51):
        encoder_state[f"{index}.weight"], encoder_state[f"{index}.bias"] = conv_weights((512, 512, 3, 3))
    return encoder_state, decoder_state
