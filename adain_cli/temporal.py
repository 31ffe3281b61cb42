"""Temporal stability for video: relu4_1 features averaged over time where the content is still.

Per-frame AdaIN renormalises every frame with its own statistics and passes sensor noise through the
encoder and decoder, so a still scene shimmers. Smoothing only the statistics μ(x), σ(x) does not help
against per-pixel noise, which the features themselves carry; an exponential average of the features does, but it
would smear motion. So each feature cell is averaged only as far as it looks like noise: a cell whose
change from the running average is small next to the map's spread is blended into it, a cell that
changed a lot (motion) follows the new frame, and a jump in the channel statistics (a scene cut)
starts the average afresh. The first frame, and the first after a cut, is used exactly as it is, so a
single image or the first frame of a clip gets the same result as without stabilisation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from adain_cli import defaults, ops


class Stabilizer:
    """Feed it one frame's (1, C, H, W) features at a time, in order; it returns the features to stylize.

    `strength` in [0, 1) is how much of the running average a still cell keeps each frame (0: off).
    `motion` is the change, in units of the channels' spread, at which a cell counts as moving and
    follows the new frame alone; `cut` the mean jump of the channel means, in the same units, that
    resets the average.
    """

    def __init__(self, strength: float = defaults.STABILIZE_STRENGTH, *, motion: float = 0.6, cut: float = 0.5) -> None:
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"strength must be in [0, 1), got {strength}")
        self.strength, self.motion, self.cut = strength, motion, cut
        self.average: Tensor | None = None
        self.cuts = 0

    def __call__(self, feat: Tensor) -> Tensor:
        if self.strength == 0.0:
            return feat
        if self.average is None or self.average.shape != feat.shape or self._is_cut(feat):
            self.cuts += self.average is not None
            self.average = feat.float()
            return feat
        spread = ops.mean_std(self.average).std.float().mean(dim=1, keepdim=True)  # (1, 1, 1, 1)
        change = (feat.float() - self.average).abs().mean(dim=1, keepdim=True) / spread  # (1, 1, H, W)
        keep = self.strength * (1.0 - change / self.motion).clamp(0.0, 1.0)
        self.average = keep * self.average + (1.0 - keep) * feat.float()
        return self.average.to(feat.dtype)

    def _is_cut(self, feat: Tensor) -> bool:
        assert self.average is not None  # a cut is only looked for once there is an average
        before, now = ops.mean_std(self.average), ops.mean_std(feat.float())
        jump = ((now.mean - before.mean).abs() / before.std).mean()
        return bool(jump > self.cut) or not bool(torch.isfinite(jump))
