"""The weights of blends and interpolation sheets: plain numbers, torch-free, so that a job is planned
(and its usage errors found) before torch is imported."""

from __future__ import annotations

import math
from collections.abc import Sequence


def normalize_weights(weights: Sequence[float]) -> list[float]:
    """Scale finite, non-negative weights to sum to 1 (any size: 1e308, 1e308 is an even blend)."""
    if not all(math.isfinite(w) for w in weights):
        raise ValueError(f"weights must be finite numbers, got {', '.join(f'{w:g}' for w in weights)}")
    if any(w < 0 for w in weights):
        raise ValueError(f"weights must not be negative, got {list(weights)}")
    largest = max(weights, default=0.0)
    if largest <= 0:
        raise ValueError("weights must not all be zero")
    scaled = [w / largest for w in weights]  # dividing by the largest first keeps the sum from overflowing
    return [w / sum(scaled) for w in scaled]


def sheet_weights(styles: int, steps: int) -> tuple[tuple[int, int], list[tuple[float, ...]]]:
    """The paper's interpolation figure: (rows, cols) and the style weights of each cell, row-major.

    Two styles: a 1×steps strip from style 1 to style 2. Four styles: a steps×steps sheet whose
    corners are styles 1 (top left), 2 (top right), 3 (bottom left) and 4 (bottom right), with the
    weights bilinear in between.
    """
    if steps < 2:
        raise ValueError("a sheet needs at least 2 steps")
    ticks = [i / (steps - 1) for i in range(steps)]
    if styles == 2:
        return (1, steps), [(1.0 - t, t) for t in ticks]
    if styles == 4:
        cells: list[tuple[float, ...]] = [
            ((1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v) for v in ticks for u in ticks
        ]
        return (steps, steps), cells
    raise ValueError(f"a sheet takes 2 or 4 styles, not {styles}")
