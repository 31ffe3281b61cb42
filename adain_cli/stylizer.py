"""The networks on a device: encode once, decode in batches, blend after the decoder's first layer,
tile what does not fit. `Stylizer.from_pretrained` is the library's front door."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from adain_cli import defaults, ops, pictures
from adain_cli.banks import encoder_fingerprint
from adain_cli.device import default_memory_budget, pick_device, pick_dtype
from adain_cli.model import Decoder, Encoder, fold_resize_convs
from adain_cli.ops import Stats
from adain_cli.pictures import Picture
from adain_cli.tiling import TilePlan, decode_tiled, encode_tiled, peak_bytes, tile_for_budget, tile_side

if TYPE_CHECKING:
    from adain_cli.weights import DownloadProgress, Warn

# One image to decode: (look index, α); the look None is the content's own features.
Render = tuple[int | None, float]


class Stylizer:
    """Encoder and decoder on one device, loaded once; every encode is counted.

    >>> stylizer = Stylizer.from_pretrained(device="auto")          # doctest: +SKIP
    >>> stylizer.stylize(Image.open("cat.jpg"), Image.open("ink.jpg"), alpha=0.8).save("out.png")  # doctest: +SKIP
    """

    def __init__(
        self,
        encoder: Encoder,
        decoder: Decoder,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        channels_last: bool = True,
        compile: bool = False,
        tile: int | None = None,
        max_memory: int | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        # Channels-last lets oneDNN and cuDNN pick their fastest convolutions (measured on a CPU:
        # 0.95 s → 0.74 s per 512 px decode in fp32), so it is on everywhere unless asked otherwise.
        self.channels_last = channels_last

        # Reduced precision runs natively (weights converted once), not under autocast: autocast
        # recasts around every reflection pad (measured on a CPU in bf16: 0.66 s → 0.46 s per decode,
        # same error). Statistics are still taken in fp32 (ops.mean_std).
        def place(module: nn.Module) -> nn.Module:
            return module.to(device=self.device, dtype=dtype).to(memory_format=self._memory_format)

        # The weights' fingerprint, which a style bank records: taken now where the conversion loses bits,
        # else when first asked for (the placed float32 weights are the given ones).
        self._encoder_sha256: str | None = None if dtype == torch.float32 else encoder_fingerprint(encoder)
        self.encoder = cast(Encoder, place(encoder.eval().requires_grad_(False)))
        # The upsample-and-convolve layers run folded (model.ResizeConv3x3): the same results, at less
        # than two thirds of the decoder's work. Folded in float32, then converted once.
        self.decoder = cast(Decoder, place(fold_resize_convs(decoder).eval().requires_grad_(False)))
        self._encode_fn, self._entry_fn = self.encoder.encode, self.decoder.entry
        self._from_entry_fn = self.decoder.from_entry
        if compile:
            self._encode_fn = torch.compile(self.encoder.encode, dynamic=True)
            self._from_entry_fn = torch.compile(self.decoder.from_entry, dynamic=True)
        self.tile = tile_side(tile)
        self.max_memory = default_memory_budget(self.device) if max_memory is None else max_memory
        self.tiled_images = 0
        self.encoder_calls = 0  # images encoded (a batch counts each of its images)

    @classmethod
    def from_files(
        cls,
        encoder: Path,
        decoder: Path,
        *,
        device: str = "auto",
        precision: str = "auto",
        compile: bool = False,
        tile: int | None = None,
        max_memory: int | None = None,
    ) -> Stylizer:
        """Load two checkpoint files (public layout or `adain train` output) onto a device."""
        from adain_cli.weights import load_decoder, load_encoder

        target = pick_device(device)
        return cls(load_encoder(encoder), load_decoder(decoder), device=target, dtype=pick_dtype(precision, target),
                   compile=compile, tile=tile, max_memory=max_memory)  # fmt: skip

    @classmethod
    def from_pretrained(
        cls,
        encoder: str = "vgg_normalised",
        decoder: str = "decoder",
        *,
        device: str = "auto",
        precision: str = "auto",
        offline: bool = False,
        verify: bool = True,
        compile: bool = False,
        tile: int | None = None,
        max_memory: int | None = None,
        progress: DownloadProgress | None = None,
        warn: Warn | None = None,
    ) -> Stylizer:
        """The networks from registered names (downloaded into the cache on first use) or `.pth` paths.

        `device` is auto, cpu, cuda, cuda:N or mps; `precision` auto, fp32, fp16 or bf16. `offline`
        never downloads; `verify=False` accepts a download whose SHA-256 differs (it must still load).
        """
        from adain_cli import weights

        options = weights.FetchOptions(offline=offline, verify=verify)
        paths = [weights.resolve(name, options=options, progress=progress or _silent, warn=warn or _silent)
                 for name in (encoder, decoder)]  # fmt: skip
        return cls.from_files(*paths, device=device, precision=precision, compile=compile, tile=tile,
                              max_memory=max_memory)  # fmt: skip

    @property
    def encoder_sha256(self) -> str:
        """SHA-256 of the encoder's weights as float32 (`banks.encoder_fingerprint`)."""
        if self._encoder_sha256 is None:
            self._encoder_sha256 = encoder_fingerprint(self.encoder)
        return self._encoder_sha256

    def tile_plan(self, height: int, width: int, batch: int = 1) -> TilePlan | None:
        """How to split an image for this device: `tile` if set, else only when over the memory budget."""
        if self.tile:
            return TilePlan(self.tile) if max(height, width) > self.tile else None
        element = torch.finfo(self.dtype).bits // 8
        if self.max_memory and peak_bytes(height, width, element, batch=batch) > self.max_memory:
            return TilePlan(tile_for_budget(self.max_memory, element, batch=batch))
        return None

    def _on_device(self, feats: Tensor) -> Tensor:
        return feats.to(self.device, self.dtype).contiguous(memory_format=self._memory_format)

    def _to_device(self, images_batch: Tensor) -> Tensor:
        if self.device.type == "cuda" and images_batch.device.type == "cpu" and not images_batch.is_pinned():
            images_batch = images_batch.pin_memory()
        moved = images_batch.to(self.device, non_blocking=True)
        return moved.to(self.dtype).contiguous(memory_format=self._memory_format)

    @property
    def _memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    @torch.inference_mode()
    def encode(self, image: Tensor) -> Tensor:
        """relu4_1 features of one (3, H, W) image or a (N, 3, H, W) batch.

        On the device, or in host memory (float32) when a single image is large enough to be tiled.
        """
        batch = image[None] if image.dim() == 3 else image
        plan = self.tile_plan(*batch.shape[2:]) if batch.shape[0] == 1 else None
        if plan is not None:
            feats = encode_tiled(lambda crop: self._encode_fn(self._to_device(crop[None])), batch[0], plan)
            self.tiled_images += 1
        else:
            feats = self._encode_fn(self._to_device(batch))
        self.encoder_calls += batch.shape[0]  # counted once done: a pass that failed is retried image by image
        return feats

    @torch.inference_mode()
    def decoder_entry(self, feats: Tensor) -> Tensor:
        """The decoder's first convolution of `feats` (before its ReLU), on the device."""
        return self._entry_fn(self._on_device(feats))

    @torch.inference_mode()
    def decode(self, feats: Tensor, size: tuple[int, int], *, entered: bool = False, host: bool = True) -> Tensor:
        """Images (N, 3, H, W) as float32 on the CPU, cropped to exactly `size` (H, W).

        `feats` are relu4_1 features, or `decoder_entry` outputs when `entered`. With `host` False, images
        decoded whole stay on the device in its precision (tiled ones are always on the host).
        With ceil-mode pooling a side that is not a multiple of 8 grows in the decoder; the extra
        rows and columns are at the bottom and right, so cropping from the top-left undoes it.
        """

        def run(cells: Tensor) -> Tensor:
            cells = self._on_device(cells)
            return self._from_entry_fn(cells if entered else self._entry_fn(cells))

        plan = self.tile_plan(*size, batch=feats.shape[0])
        if plan is not None:
            return decode_tiled(run, feats.float().cpu(), size, plan)
        images_batch = run(feats)[:, :, : size[0], : size[1]]
        return images_batch.float().cpu() if host else images_batch

    def style_stats(self, image: Tensor) -> Stats:
        return ops.mean_std(self.encode(image))

    def stylize(
        self,
        content: Picture,
        style: Picture,
        *,
        alpha: float = 1.0,
        content_size: int = defaults.CONTENT_SIZE,
        style_size: int = defaults.STYLE_SIZE,
        crop: bool = False,
        preserve_color: str | None = None,
    ) -> Image.Image | np.ndarray | Tensor:
        """What `adain stylize CONTENT --style STYLE --alpha A` computes, with the same defaults.

        `content` and `style` are each a path, a PIL image, a numpy array, or a tensor (3, H, W) or (N, 3, H, W)
        in [0, 1]; both are resized as the command resizes them (`content_size`/`style_size` 0 keeps the
        size). The result comes back in the content's kind: a PIL image for a path or PIL image, a uint8 array
        for an array, a tensor for a tensor (a batch for a batch).
        """
        return self.interpolate(content, [style], alpha=alpha, content_size=content_size, style_size=style_size,
                                crop=crop, preserve_color=preserve_color)  # fmt: skip

    def interpolate(
        self,
        content: Picture,
        styles: Sequence[Picture],
        *,
        weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        content_size: int = defaults.CONTENT_SIZE,
        style_size: int = defaults.STYLE_SIZE,
        crop: bool = False,
        preserve_color: str | None = None,
    ) -> Image.Image | np.ndarray | Tensor:
        """What `adain interpolate CONTENT S1 S2 … --weights …` computes: the styles blended with `weights`
        (normalised to sum 1; equal when None). Takes the pictures `stylize` takes."""
        from adain_cli.looks import ColorMethod

        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if not styles:
            raise ValueError("give at least one style")
        shares = ops.normalize_weights(weights if weights is not None else [1.0] * len(styles))
        if len(shares) != len(styles):
            raise ValueError(f"{len(shares)} weights for {len(styles)} styles")
        color = ColorMethod(preserve_color) if preserve_color else None
        prepared = pictures.prepare(content, content_size, crop=crop)
        style_images = [pictures.prepare(style, style_size, crop=crop).images[0].rgb for style in styles]
        shared = None if color else [self.style_stats(image) for image in style_images]
        results = []
        for loaded in prepared.images:
            rgb = loaded.rgb
            if color is None:
                stats, feat = shared or [], self.encode(rgb)
            else:
                stats = [self.style_stats(color.recolored_style(image, rgb)) for image in style_images]
                feat = self.encode(color.encoder_input(rgb))
            target = ops.interpolate(feat, stats, shares, content_stats=ops.mean_std(feat))
            blends = Blends(self, feat, target=partial(_same, target), size=loaded.size, batch_size=1)
            result = blends.decode([(0, alpha)])[0]
            results.append(color.restore(result, rgb) if color else result)
        return pictures.returned(results, prepared)


def _silent(*_: object) -> None:
    pass


def _same(target: Tensor, _look: int) -> Tensor:
    return target


class Blends:
    """Decodes the blends (1 − α)·base + α·target of one content's features with its looks' targets.

    The decoder's first layer is a convolution, linear in its input, so blending its outputs gives
    what blending its inputs would: the base and each target go through that layer once, not once
    per α (it is a thirteenth of a decode). Images decoded in tiles blend the features instead, as
    their whole maps are not kept on the device. Targets are made when first needed and kept until
    `forget`, so a job with many styles holds only the few it is decoding.
    """

    def __init__(
        self,
        stylizer: Stylizer,
        base: Tensor,
        *,
        target: Callable[[int], Tensor],
        size: tuple[int, int],
        batch_size: int,
    ) -> None:
        self.stylizer, self.base, self.target, self.size = stylizer, base, target, size
        self.entered = stylizer.tile_plan(*size, batch=batch_size) is None
        self.inputs: dict[int | None, Tensor] = {}  # what the decoder is given, by look (None: the base)

    def decode(self, renders: Sequence[Render]) -> Tensor:
        """The images of (look, α) renders; the look None decodes the base."""
        return decode_together([(self, render) for render in renders])

    def blended(self, key: int | None, alpha: float) -> Tensor:
        """What the decoder is given for the render (key, α)."""
        return ops.blend(self._input(None), self._input(key), alpha) if alpha < 1 else self._input(key)

    def forget(self, key: int | None) -> None:
        self.inputs.pop(key, None)

    def _input(self, key: int | None) -> Tensor:
        if key not in self.inputs:
            feats = self.base if key is None else self.target(key)
            self.inputs[key] = self.stylizer.decoder_entry(feats) if self.entered else feats
        return self.inputs[key]


def decode_together(renders: Sequence[tuple[Blends, Render]]) -> Tensor:
    """The images of renders of one or more contents of one size (each with its Blends), in one decoder pass."""
    first = renders[0][0]
    inputs = torch.cat([blends.blended(*render) for blends, render in renders])
    return first.stylizer.decode(inputs, first.size, entered=first.entered)
