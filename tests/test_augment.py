"""StyleAugment: a batch restyled in one pass, sample for sample what `adain_cli.stylize` and `interpolate`
compute, reproducible from a generator, in a DataLoader's workers, from a bank as from its folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision import datasets, transforms

import adain_cli
from adain_cli import banks, images
from adain_cli.errors import AdainError
from adain_cli.inputs import discover
from adain_cli.stylizer import Stylizer
from adain_cli.tiling import peak_bytes
from adain_cli.weights import load_encoder
from tests.conftest import make_image, run_benchmark
from tests.public_weights import random_public_state_dicts


@pytest.fixture
def stylizer(weight_files) -> Stylizer:
    return Stylizer.from_files(*weight_files, device="cpu")


@pytest.fixture
def styles(tmp_path: Path) -> Path:
    for index, name in enumerate(["a.png", "b.png", "c.png", "deep/d.png"]):
        make_image(tmp_path / "styles" / name, 24 + 8 * index, 24, seed=30 + index)
    return tmp_path / "styles"


def _batch(count: int = 4, height: int = 32, width: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 3, height, width, generator=torch.Generator().manual_seed(seed))


def _style(augment: adain_cli.StyleAugment, k: int) -> torch.Tensor:
    return images.load(Path(augment.names[int(k)]), 0).rgb


def test_each_sample_is_what_stylize_makes_of_it(stylizer, styles) -> None:
    augment = adain_cli.StyleAugment(styles, recursive=True, p=1.0, alpha=(0.2, 1.0), style_size=0, stylizer=stylizer)
    batch = _batch()
    draw = augment.draw(len(batch), torch.Generator().manual_seed(1))
    out = augment(batch, generator=torch.Generator().manual_seed(1))
    assert out.shape == batch.shape and out.dtype == batch.dtype and len(set(draw.alpha.tolist())) == len(batch)
    for i, sample in enumerate(batch):
        expected = adain_cli.stylize(sample, _style(augment, draw.styles[i, 0]), alpha=float(draw.alpha[i]),
                                     content_size=0, style_size=0, stylizer=stylizer)  # fmt: skip
        torch.testing.assert_close(out[i], expected, rtol=0, atol=1e-4)


def test_a_mix_is_what_interpolate_makes_with_the_same_weights(stylizer, styles) -> None:
    augment = adain_cli.StyleAugment(styles, recursive=True, p=1.0, alpha=0.8, mix=3, style_size=0, stylizer=stylizer)
    batch = _batch(3)
    draw = augment.draw(len(batch), torch.Generator().manual_seed(2))
    out = augment(batch, generator=torch.Generator().manual_seed(2))
    assert not torch.allclose(draw.weights, draw.weights[:, :1].expand_as(draw.weights))  # really mixed
    for i, sample in enumerate(batch):
        expected = adain_cli.interpolate(sample, [_style(augment, k) for k in draw.styles[i]],
                                         weights=draw.weights[i].tolist(), alpha=0.8, content_size=0, style_size=0,
                                         stylizer=stylizer)  # fmt: skip
        torch.testing.assert_close(out[i], expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("method", ["coral", "luminance"])
def test_preserved_colours_are_what_the_command_keeps(stylizer, styles, method: str) -> None:
    augment = adain_cli.StyleAugment(styles, recursive=True, p=1.0, alpha=0.6, preserve_color=method, style_size=0,
                                     stylizer=stylizer)  # fmt: skip
    batch = _batch(2)
    draw = augment.draw(len(batch), torch.Generator().manual_seed(3))
    out = augment(batch, generator=torch.Generator().manual_seed(3))
    for i, sample in enumerate(batch):
        expected = adain_cli.stylize(sample, _style(augment, draw.styles[i, 0]), alpha=0.6, content_size=0,
                                     style_size=0, preserve_color=method, stylizer=stylizer)  # fmt: skip
        torch.testing.assert_close(out[i], expected, rtol=0, atol=1e-4)


def test_p_decides_which_samples_change_and_the_others_come_back_bit_for_bit(stylizer, styles) -> None:
    batch = _batch(8)
    kept = adain_cli.StyleAugment(styles, p=0.0, style_size=0, stylizer=stylizer)(batch)
    assert torch.equal(kept, batch) and kept is not batch
    changed = adain_cli.StyleAugment(styles, p=1.0, style_size=0, stylizer=stylizer)(batch)
    assert all(not torch.allclose(a, b, atol=1e-3) for a, b in zip(changed, batch, strict=True))
    half = adain_cli.StyleAugment(styles, p=0.5, style_size=0, stylizer=stylizer)
    chosen = half.draw(8, torch.Generator().manual_seed(4)).chosen
    assert 0 < int(chosen.sum()) < 8
    out = half(batch, generator=torch.Generator().manual_seed(4))
    for i in range(8):
        assert torch.equal(out[i], batch[i]) != bool(chosen[i])


def test_the_same_generator_state_gives_the_same_batch(stylizer, styles) -> None:
    augment = adain_cli.StyleAugment(styles, p=0.5, alpha=(0.0, 1.0), mix=2, style_size=0, stylizer=stylizer)
    batch = _batch(6)
    first = augment(batch, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first, augment(batch, generator=torch.Generator().manual_seed(7)))
    assert not torch.equal(first, augment(batch, generator=torch.Generator().manual_seed(8)))
    seeded = [adain_cli.StyleAugment(styles, p=0.5, style_size=0, seed=5, stylizer=stylizer) for _ in range(2)]
    assert torch.equal(seeded[0](batch), seeded[1](batch))
    torch.manual_seed(11)  # neither: torch's global generator
    unseeded = adain_cli.StyleAugment(styles, p=0.5, style_size=0, stylizer=stylizer)
    again = unseeded(batch)
    torch.manual_seed(11)
    assert torch.equal(again, unseeded(batch))


def test_one_image_other_dtypes_and_no_gradients(stylizer, styles) -> None:
    augment = adain_cli.StyleAugment(styles, p=1.0, style_size=0, stylizer=stylizer)
    image = _batch(1)[0]
    single = augment(image, generator=torch.Generator().manual_seed(0))
    assert single.shape == image.shape
    torch.testing.assert_close(single, augment(image[None], generator=torch.Generator().manual_seed(0))[0])
    doubled = augment(image.double(), generator=torch.Generator().manual_seed(0))
    assert doubled.dtype == torch.float64
    torch.testing.assert_close(doubled.float(), single, rtol=0, atol=1e-6)
    leaf = _batch(2).requires_grad_(True)
    out = augment(leaf)
    assert not out.requires_grad and out.grad_fn is None
    layer = nn.Conv2d(3, 2, 3)
    layer(out).sum().backward()  # an ordinary tensor, usable by the model being trained
    assert layer.weight.grad is not None
    with pytest.raises(ValueError, match="float"):
        augment((image * 255).to(torch.uint8))


def test_a_batch_over_the_memory_budget_goes_in_slices_with_the_same_result(weight_files, styles) -> None:
    whole = Stylizer.from_files(*weight_files, device="cpu")
    sliced = Stylizer.from_files(*weight_files, device="cpu", max_memory=peak_bytes(32, 28, 4, batch=2))
    batch = _batch(5)
    outs = []
    for stylizer in (whole, sliced):
        augment = adain_cli.StyleAugment(styles, p=1.0, style_size=0, stylizer=stylizer)
        before = stylizer.encoder_calls
        outs.append(augment(batch, generator=torch.Generator().manual_seed(9)))
        assert stylizer.encoder_calls - before == len(batch)  # one encode per content, never per style
    assert sliced.tile_plan(32, 28, batch=5) is not None and sliced.tile_plan(32, 28, batch=2) is None
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=1e-4)  # convolutions round by batch size


def test_a_cpu_runs_the_batch_a_few_samples_at_a_time_with_the_same_result(stylizer, styles, monkeypatch) -> None:
    augment = adain_cli.StyleAugment(styles, p=1.0, alpha=(0.2, 1.0), mix=2, style_size=0, stylizer=stylizer)
    passes: list[int] = []
    encode = stylizer.encode
    monkeypatch.setattr(stylizer, "encode", lambda image: passes.append(len(image)) or encode(image))
    batch = _batch(10)
    outs = {}
    for size in (1, 3, 10):
        augment.cpu_slice, passes[:] = size, []
        outs[size] = augment(batch, generator=torch.Generator().manual_seed(12))
        assert passes == [min(size, 10 - start) for start in range(0, 10, size)]
        torch.testing.assert_close(outs[size], outs[1], rtol=0, atol=1e-4)  # convolutions round by batch size
    augment.cpu_slice = adain_cli.augment.CPU_SLICE
    assert 1 <= augment.cpu_slice < 32
    stylizer.device = torch.device("cuda")  # (only asked, not run): a GPU takes the batch whole, under the budget
    assert augment._slices(10, (32, 28)) == [slice(0, 10)]


def test_it_runs_in_a_dataloader_with_two_workers(stylizer, styles) -> None:
    augment = adain_cli.StyleAugment(styles, p=1.0, alpha=(0.5, 1.0), style_size=0, seed=3, stylizer=stylizer)
    data = datasets.FakeData(size=8, image_size=(3, 24, 32), transform=transforms.Compose([transforms.ToTensor(),
                             augment]), random_offset=0)  # fmt: skip
    plain = datasets.FakeData(size=8, image_size=(3, 24, 32), transform=transforms.ToTensor(), random_offset=0)
    runs = []
    for _ in range(2):
        loader = torch.utils.data.DataLoader(data, batch_size=2, num_workers=2)
        runs.append(torch.cat([batch for batch, _ in loader]))
    originals = torch.stack([plain[i][0] for i in range(8)])
    assert runs[0].shape == (8, 3, 24, 32) and torch.equal(runs[0], runs[1])  # seed and worker id: reproducible
    assert all(not torch.allclose(a, b, atol=1e-3) for a, b in zip(runs[0], originals, strict=True))


def test_a_bank_draws_the_styles_of_its_folder(weight_files, stylizer, styles, tmp_path: Path) -> None:
    bank = tmp_path / "styles.bank"
    banks.encode_styles(banks.TapEncoder(load_encoder(weight_files[0])), discover([styles], recursive=True), bank,
                        banks.BankOptions(style_size=0))  # fmt: skip
    kwargs = {"p": 1.0, "alpha": (0.3, 1.0), "mix": 2, "stylizer": stylizer}
    from_folder = adain_cli.StyleAugment(styles, recursive=True, style_size=0, **kwargs)
    from_bank = adain_cli.StyleAugment(bank, **kwargs)
    assert from_bank.names == from_folder.names and len(from_bank.names) == 4
    batch = _batch(4)
    drawn = [augment(batch, generator=torch.Generator().manual_seed(6)) for augment in (from_bank, from_folder)]
    torch.testing.assert_close(drawn[0], drawn[1], rtol=0, atol=1e-6)
    with pytest.raises(AdainError, match="style bank"):
        adain_cli.StyleAugment(bank, preserve_color="coral", stylizer=stylizer)
    other = tmp_path / "other.pth"
    torch.save(random_public_state_dicts(seed=1)[0], other)
    foreign = tmp_path / "foreign.bank"
    encoder = banks.TapEncoder(load_encoder(other))
    banks.encode_styles(encoder, discover([styles]), foreign, banks.BankOptions(style_size=0))
    with pytest.raises(AdainError, match="another encoder") as refused:
        adain_cli.StyleAugment(foreign, stylizer=stylizer)
    assert encoder.sha256 in str(refused.value) and stylizer.encoder_sha256 in str(refused.value)


def test_the_benchmark_runs_at_toy_sizes() -> None:
    lines = {line.split(":")[0]: line for line in run_benchmark("bench_augment.py")}
    assert {
        "machine",
        "augment batched",
        "augment library",
        "augment ratio",
        "augment ratios",
        "bank",
        "bank ratio",
    } <= set(lines)
    assert "with the bank 0 " in lines["bank"] and re.search(r"at most [01] grey level", lines["bank"])
