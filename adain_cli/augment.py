"""Style augmentation in a training loop: `StyleAugment`, an nn.Module that restyles a batch of images.

Each sample is restyled with probability p, with a style drawn from a style bank, a folder or a list of
pictures, at an α drawn from a range, optionally with a random convex mix of several styles' statistics (the
paper's interpolation), optionally keeping the content's colours. The draws are made on the CPU from a
torch.Generator (or the global generator, which a DataLoader seeds per worker), so they do not depend on the
device; on a GPU the batch goes through the encoder and the decoder in one pass each (in slices where it would be
over the memory budget, tiled as the engine tiles where one image alone is), on a CPU in slices of `CPU_SLICE`
samples, which run faster than a whole batch there (its activations stay in the caches). A sample equals what
`adain_cli.stylize` (or `interpolate`, for a mix) computes for it at its own size.

    augment = adain_cli.StyleAugment("wikiart.bank", p=0.5, alpha=(0.2, 1.0), device="cuda")
    for images, labels in loader:            # images: (N, 3, H, W) in [0, 1], before Normalize
        images = normalize(augment(images.cuda()))
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import torch
from torch import Tensor, nn

from adain_cli import bankfile, defaults, images, ops, pictures
from adain_cli.banks import read_bank
from adain_cli.errors import AdainError
from adain_cli.inputs import discover
from adain_cli.looks import ColorMethod
from adain_cli.ops import Stats
from adain_cli.pictures import Picture
from adain_cli.stylizer import Stylizer

StyleSet = Union[str, "os.PathLike[str]", Sequence[Picture]]

# Samples per pass through the networks on a CPU: one. `benchmarks/bench_augment.py --slices 1 4 8 32` on an idle
# 2-core AMD EPYC (AVX2), a batch of 32×3×224², interleaved, median of 3: 1 → 2.89 images/s, 4 → 2.63, 8 → 2.65,
# the whole 32 → 2.35. A CPU convolution gains nothing from a batch, and a batch's activations (≈ 2 GB for 32)
# fall out of the caches, where one image's do not.
CPU_SLICE = 1


@dataclass(frozen=True)
class Draw:
    """What a batch of N samples was given: which are restyled, each one's K styles and their weights, its α."""

    chosen: Tensor  # (N,) bool
    styles: Tensor  # (N, K) int64: indices into StyleAugment.names
    weights: Tensor  # (N, K) float32, each row summing to 1
    alpha: Tensor  # (N,) float32


class StyleAugment(nn.Module):
    """Restyles a float batch (N, 3, H, W) in [0, 1], or one image (3, H, W), keeping shape, dtype and device.

    `styles`: a style bank (`adain styles encode`), a folder of style images (`recursive` to walk it), one image
    file, or a list of pictures (paths, PIL images, arrays, tensors). Images are resized to `style_size` (0
    keeps their size) and encoded once, here; a bank's styles are at the size it was made at. `p`: each sample's
    chance of being restyled (the others come back bit for bit). `alpha`: a number, or a (low, high) range drawn
    from uniformly per sample. `mix`: each restyled sample gets a random convex mix of this many styles (drawn
    with replacement; weights uniform on the simplex). `preserve_color`: "coral" or "luminance", as
    `adain preserve-color` (needs the style images, so not from a bank). `seed` or `generator`: the draws'
    source (a `generator=` given to `forward` overrides both); with neither, torch's global generator, which a
    DataLoader seeds differently in each worker. With `seed`, each DataLoader worker draws from its own
    stream, seed and worker id together.

    The networks are `stylizer`'s (else the pretrained ones, loaded on `device`) and follow the module:
    `augment.to("cuda")` moves them, and a batch on another device is moved to them and back. On a CPU the
    batch runs `cpu_slice` samples at a time (`CPU_SLICE`); the outputs are the same whatever the slice.
    """

    style_mean: Tensor  # (S, 512, 1, 1): relu4_1 statistics of the styles, buffers that follow the module
    style_std: Tensor

    def __init__(
        self,
        styles: StyleSet,
        *,
        p: float = 0.5,
        alpha: float | tuple[float, float] = 1.0,
        mix: int = 1,
        preserve_color: str | None = None,
        style_size: int = defaults.STYLE_SIZE,
        crop: bool = False,
        recursive: bool = False,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        stylizer: Stylizer | None = None,
        device: str = "cpu",
    ) -> None:
        super().__init__()
        low, high = (alpha, alpha) if isinstance(alpha, (int, float)) else alpha
        if not (0.0 <= p <= 1.0 and 0.0 <= low <= high <= 1.0 and mix >= 1):
            raise ValueError(
                f"need 0 ≤ p ≤ 1, 0 ≤ alpha low ≤ high ≤ 1 and mix ≥ 1; got p={p}, alpha={alpha}, mix={mix}"
            )
        self.p, self.alpha_range, self.mix = p, (float(low), float(high)), mix
        self.color = ColorMethod(preserve_color) if preserve_color else None
        self.stylizer = stylizer or Stylizer.from_pretrained(device=device)
        self.encoder, self.decoder = self.stylizer.encoder, self.stylizer.decoder  # so .to() moves them
        self.seed, self._generator = seed, generator
        self.cpu_slice = CPU_SLICE
        self._own: tuple[int, torch.Generator | None] = (-2, None)  # (worker id, its generator) once made
        stats, self.names, self.style_images = self._styles(styles, style_size, crop, recursive)
        if not self.names:
            raise AdainError("no usable style in the styles given")
        self.register_buffer("style_mean", stats.mean, persistent=False)
        self.register_buffer("style_std", stats.std, persistent=False)

    def _styles(
        self, styles: StyleSet, style_size: int, crop: bool, recursive: bool
    ) -> tuple[Stats, list[str], list[Tensor]]:
        """The statistics of the usable styles, their names, and their images where colours are preserved."""
        if isinstance(styles, (str, os.PathLike)) and bankfile.is_bank(Path(styles)):
            if self.color is not None:
                raise AdainError(f"{styles} is a style bank: preserve_color recolours the style images, which a bank "
                                 "does not hold; give the style folder")  # fmt: skip
            header = bankfile.read_header(Path(styles))
            stats, errors = read_bank(Path(styles), self.stylizer.encoder_sha256)
            usable = [row for row, error in enumerate(errors) if not error]
            _warn_unusable(len(errors) - len(usable), styles)
            index = torch.tensor(usable, dtype=torch.int64)
            return Stats(stats.mean[index], stats.std[index]), [header.entries[r].path for r in usable], []
        if isinstance(styles, (str, os.PathLike)):
            found = discover([Path(styles)], recursive=recursive, mirror=False)
            loaded, names = [], []
            for source in found:
                try:
                    loaded.append(images.load(source.path, style_size, crop=crop).rgb)
                    names.append(str(source.path))
                except AdainError:
                    continue
            _warn_unusable(len(found) - len(loaded), styles)
        else:
            loaded = [pictures.prepare(style, style_size, crop=crop).images[0].rgb for style in styles]
            names = [str(style) if isinstance(style, (str, os.PathLike)) else f"style {k}" for k, style in
                     enumerate(styles)]  # fmt: skip
        every = [self.stylizer.style_stats(rgb) for rgb in loaded]
        if not every:
            return Stats(torch.zeros(0, 512, 1, 1), torch.zeros(0, 512, 1, 1)), [], []
        stats = Stats(torch.cat([s.mean for s in every]).float().cpu(), torch.cat([s.std for s in every]).float().cpu())
        return stats, names, loaded if self.color is not None else []

    # -----------------------------------------------------------------------------------------
    # Drawing

    def _draw_generator(self) -> torch.Generator | None:
        """The module's generator: the one given, or one seeded from `seed` (and the DataLoader worker's id)."""
        if self._generator is not None or self.seed is None:
            return self._generator
        info = torch.utils.data.get_worker_info()
        worker = -1 if info is None else info.id
        if self._own[0] != worker:
            seed = self.seed if worker < 0 else (self.seed * 1_000_003 + worker + 1) % 2**63
            self._own = (worker, torch.Generator().manual_seed(seed))
        return self._own[1]

    def draw(self, count: int, generator: torch.Generator | None = None) -> Draw:
        """The draws for a batch of `count` samples (on the CPU): always the same number of random numbers, so
        one generator state gives one batch whatever p is."""
        source = generator if generator is not None else self._draw_generator()
        chosen = torch.rand(count, generator=source) < self.p
        styles = torch.randint(len(self.names), (count, self.mix), generator=source)
        spread = -torch.log1p(-torch.rand(count, self.mix, generator=source))  # exponential: a uniform simplex
        weights = spread / spread.sum(dim=1, keepdim=True).clamp_min(1e-12)
        low, high = self.alpha_range
        alpha = low + (high - low) * torch.rand(count, generator=source)
        return Draw(chosen, styles, weights, alpha)

    # -----------------------------------------------------------------------------------------
    # Restyling

    def forward(self, batch: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """The batch with each sample restyled with probability p (see the class)."""
        if not batch.is_floating_point() or batch.dim() not in (3, 4) or batch.shape[-3] != 3:
            raise ValueError(f"expected a float (N, 3, H, W) or (3, H, W) tensor in [0, 1], got {batch.dtype} "
                             f"{tuple(batch.shape)} (ToTensor or ConvertImageDtype makes one)")  # fmt: skip
        single = batch.dim() == 3
        batched = batch[None] if single else batch
        out = self.restyle(batched, self.draw(batched.shape[0], generator))
        return out[0] if single else out

    @torch.no_grad()
    def restyle(self, batch: Tensor, draw: Draw) -> Tensor:
        """`batch` (N, 3, H, W) restyled as `draw` says (no gradients kept; a new tensor)."""
        out = batch.detach().clone()
        rows = draw.chosen.nonzero().flatten()
        if rows.numel():
            for part in self._slices(len(rows), (int(batch.shape[-2]), int(batch.shape[-1]))):
                picked = rows[part]
                restyled = self._restyled(batch[picked.to(batch.device)].detach(), draw.styles[picked],
                                         draw.weights[picked], draw.alpha[picked])  # fmt: skip
                out[picked.to(out.device)] = restyled.to(out.device, out.dtype)
        return out

    def _slices(self, count: int, size: tuple[int, int]) -> list[slice]:
        """The batch in slices that go through the networks whole under the memory budget (one image at a time,
        tiled, where even one does not fit), and on a CPU of at most `cpu_slice` samples."""
        most = min(count, max(1, self.cpu_slice)) if self.stylizer.device.type == "cpu" else count
        step = next((b for b in range(most, 0, -1) if self.stylizer.tile_plan(*size, batch=b) is None), 1)
        return [slice(start, start + step) for start in range(0, count, step)]

    def _restyled(self, contents: Tensor, styles: Tensor, weights: Tensor, alpha: Tensor) -> Tensor:
        rgb = contents.float().clamp(0.0, 1.0)  # as the library prepares a tensor
        seen = self.color.encoder_input(rgb) if self.color is not None else rgb
        feat = self.stylizer.encode(seen)
        if self.color is None:
            style = ops.mixed_stats(Stats(self.style_mean, self.style_std), styles, weights)
        else:
            style = self._recoloured_stats(rgb, styles, weights)
        target = ops.adain_with_stats(feat, ops.mean_std(feat), style)
        blended = ops.blend(feat, target, alpha.view(-1, 1, 1, 1).to(feat))
        result = self.stylizer.decode(blended, (int(rgb.shape[-2]), int(rgb.shape[-1])), host=False).float()
        if self.color is not None:
            result = self.color.restore(result, rgb.to(result.device))
        return result.clamp(0.0, 1.0)

    def _recoloured_stats(self, rgb: Tensor, styles: Tensor, weights: Tensor) -> Stats:
        """Per sample, its styles recoloured to it and encoded (as `adain preserve-color` does), then mixed."""
        means, stds = [], []
        for sample in range(len(rgb)):
            content = rgb[sample].cpu()
            every = [self.stylizer.style_stats(self.color_method.recolored_style(self.style_images[int(k)], content))
                     for k in styles[sample]]  # fmt: skip
            mean = torch.stack([s.mean[0].float().cpu() for s in every])
            std = torch.stack([s.std[0].float().cpu() for s in every])
            mixed = ops.mixed_stats(Stats(mean, std), torch.arange(len(every))[None], weights[sample : sample + 1])
            means.append(mixed.mean)
            stds.append(mixed.std)
        return Stats(torch.cat(means), torch.cat(stds))

    @property
    def color_method(self) -> ColorMethod:
        if self.color is None:
            raise AttributeError("colours are not preserved")
        return self.color

    def _apply(self, fn: Any, recurse: bool = True) -> StyleAugment:
        """`.to()`, `.cuda()`…: the networks move, and the stylizer runs where they now are."""
        super()._apply(fn, recurse)
        weight = next(self.encoder.parameters())
        if weight.device != self.stylizer.device:
            from adain_cli.device import default_memory_budget

            self.stylizer.max_memory = default_memory_budget(weight.device)
        self.stylizer.device, self.stylizer.dtype = weight.device, weight.dtype
        return self

    def __repr__(self) -> str:  # short in a transform pipeline's listing: not the networks' every layer
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:
        return (f"{len(self.names)} styles, p={self.p}, alpha={self.alpha_range}, mix={self.mix}, "
                f"preserve_color={self.color.value if self.color else None}")  # fmt: skip


def _warn_unusable(count: int, where: object) -> None:
    if count:
        warnings.warn(f"{count} style(s) in {where} could not be read and are left out of the draw", stacklevel=3)
