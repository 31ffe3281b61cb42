"""The temporal stabiliser on its own: off is identity, noise is averaged away, motion and cuts are followed."""

from __future__ import annotations

import itertools

import pytest
import torch

from adain_cli.temporal import Stabilizer


def frames(count: int, *, noise: float = 0.0, shift: int = 0, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    scene = torch.rand(1, 16, 12, 12, generator=generator) * 2
    return [
        torch.roll(scene, shifts=shift * index, dims=3) + noise * torch.randn(scene.shape, generator=generator)
        for index in range(count)
    ]


def flicker(sequence: list[torch.Tensor]) -> float:
    return float(torch.stack([(b - a).abs().mean() for a, b in itertools.pairwise(sequence)]).mean())


def test_strength_zero_is_the_identity_and_the_first_frame_is_unchanged():
    clip = frames(3, noise=0.1)
    assert all(torch.equal(Stabilizer(0.0)(frame), frame) for frame in clip)
    assert torch.equal(Stabilizer(0.8)(clip[0]), clip[0])
    with pytest.raises(ValueError):
        Stabilizer(1.0)


def test_a_still_noisy_scene_flickers_far_less():
    clip = frames(30, noise=0.1)
    stabilize = Stabilizer(0.8)
    smoothed = [stabilize(frame) for frame in clip]
    assert flicker(smoothed) < 0.5 * flicker(clip)


def test_a_moving_scene_is_followed():
    clip = frames(12, shift=3)
    stabilize = Stabilizer(0.8)
    for frame in clip:
        out = stabilize(frame)
        assert (out - frame).abs().mean() < 0.1 * frame.abs().mean()


def test_a_cut_starts_afresh():
    stabilize = Stabilizer(0.8)
    for frame in frames(5, noise=0.1):
        stabilize(frame)
    other = frames(1, seed=7)[0] + 3.0
    assert torch.equal(stabilize(other), other) and stabilize.cuts == 1
