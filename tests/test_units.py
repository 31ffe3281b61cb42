"""The pure pieces on their own: spatial statistics, sheet weights, shard slicing, output labels."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from adain_cli import ops
from adain_cli.inputs import Source, with_unique_labels
from adain_cli.job import Job
from adain_cli.looks import style_looks


def test_masked_statistics_are_those_of_the_masked_cells_alone():
    feat = torch.randn(1, 4, 6, 5, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 1, 6, 5)
    mask[..., :3, 1:4] = 1
    stats = ops.masked_mean_std(feat, mask)
    cells = feat[..., :3, 1:4].reshape(1, 4, -1)
    torch.testing.assert_close(stats.mean.flatten(), cells.mean(dim=2).flatten())
    torch.testing.assert_close(stats.std.flatten(), (cells.var(dim=2) + ops.EPS).sqrt().flatten())
    full = ops.masked_mean_std(feat, torch.ones(1, 1, 6, 5))
    torch.testing.assert_close(full.mean, ops.mean_std(feat).mean)
    with pytest.raises(ValueError, match="two feature cells"):
        ops.masked_mean_std(feat, torch.zeros(1, 1, 6, 5))


def test_cell_coverage_counts_pixels_per_eight_pixel_cell():
    mask = torch.zeros(1, 1, 16, 20)  # 2×3 cells; the last column of cells is half padding
    mask[..., :8, :4] = 1
    coverage = ops.cell_coverage(mask, (2, 3))
    assert coverage.shape == (1, 1, 2, 3)
    assert coverage[0, 0, 0, 0] == pytest.approx(0.5) and coverage[0, 0, 1].sum() == 0


def test_one_region_over_everything_is_plain_adain():
    generator = torch.Generator().manual_seed(1)
    content, style = torch.randn(1, 3, 4, 4, generator=generator), torch.randn(1, 3, 5, 5, generator=generator)
    region = ops.Region(ops.mean_std(style), torch.ones(1, 1, 32, 32))
    torch.testing.assert_close(ops.spatial_adain(content, [region]), ops.adain(content, style))


def test_sheet_weights():
    shape, strip = ops.sheet_weights(2, 5)
    assert shape == (1, 5) and strip[0] == (1.0, 0.0) and strip[-1] == (0.0, 1.0) and strip[2] == (0.5, 0.5)
    shape, sheet = ops.sheet_weights(4, 3)
    assert shape == (3, 3) and len(sheet) == 9
    assert [sheet[0], sheet[2], sheet[6], sheet[8]] == [(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1)]
    assert sheet[4] == (0.25, 0.25, 0.25, 0.25) and all(sum(w) == pytest.approx(1) for w in sheet)
    with pytest.raises(ValueError):
        ops.sheet_weights(3, 4)


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_split_the_outputs_exactly_and_evenly(count):
    contents = tuple(Source(Path(f"c{i}.png"), label=f"c{i}") for i in range(5))
    styles = tuple(Source(Path(f"s{i}.png"), label=f"s{i}") for i in range(3))
    job = Job(contents, styles, tuple(style_looks(styles)), Path("out"), alphas=(0.5, 1.0))
    every = [output.path for content in contents for output in job.outputs(content)]
    slices = []
    for index in range(count):
        mine = replace(job, shard=(index, count)).shard_outputs()
        slices.append([output.path for row in sorted(mine) for output in mine[row]])
    assert [path for part in slices for path in part] == every  # contiguous, in order, nothing twice
    assert max(map(len, slices)) - min(map(len, slices)) <= 1


def test_labels_are_unique_within_a_folder():
    places = [("a/ink.jpg", ""), ("b/ink.png", ""), ("c/ink.png", ""), ("x/ink.png", "sub"), ("odd:na*me.png", "")]
    sources = [Source(Path(path), rel_dir=Path(folder)) for path, folder in places]
    labels = [(str(s.rel_dir), s.label) for s in with_unique_labels(sources)]
    assert labels == [(".", "ink_jpg"), (".", "ink"), (".", "ink_2"), ("sub", "ink"), (".", "odd_na_me")]
