"""The networks as one ONNX model: content, style and α in, the stylized image out.

The graph computes what `adain stylize` computes for one content and one style: relu4_1 features of
both, AdaIN of the content's to the style's statistics, the blend (1 − α)·f(c) + α·AdaIN, the decoder
(its resize-convolutions folded, as `Stylizer` runs them), the crop back to exactly the content's
size, and the clamp to [0, 1] that saving applies. Everything is float32.

    content  float32 (1, 3, H, W)    RGB in [0, 1]; H and W dynamic, at least 9
    style    float32 (1, 3, Hs, Ws)  RGB in [0, 1]; dynamic
    alpha    float32 ()              style strength in [0, 1]
    image    float32 (1, 3, H, W)    RGB in [0, 1]
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from adain_cli import ops
from adain_cli.model import Decoder, Encoder, fold_resize_convs

OPSET = 18
INPUTS = ("content", "style", "alpha")
OUTPUTS = ("image",)


class StylizeGraph(nn.Module):
    """One content, one style, α → the stylized image at the content's size (see the module's doc)."""

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        self.decoder = fold_resize_convs(decoder).eval().requires_grad_(False)

    def forward(self, content: Tensor, style: Tensor, alpha: Tensor) -> Tensor:
        feat = self.encoder.encode(content)
        target = ops.adain(feat, self.encoder.encode(style))
        image = self.decoder(feat + alpha * (target - feat))
        # Ceil-mode pooling grows a side that is not a multiple of 8 at the bottom and right.
        return image[:, :, : content.shape[2], : content.shape[3]].clamp(0.0, 1.0)


def export_onnx(encoder: Encoder, decoder: Decoder, path: Path) -> Path:
    """Write the ONNX model to `path` (atomically); returns it. Needs the `onnx` package."""
    from adain_cli.files import atomic_path

    graph = StylizeGraph(encoder, decoder)
    example = (torch.rand(1, 3, 64, 72), torch.rand(1, 3, 56, 64), torch.tensor(0.5))
    # The tracing exporter: torch.export specialises ceil-mode pooling to the example's sizes modulo 8.
    dynamic = {"content": {2: "height", 3: "width"}, "style": {2: "style_height", 3: "style_width"},
               "image": {2: "height", 3: "width"}}  # fmt: skip
    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"torch\.onnx")  # the exporter's own notes, not the user's
        torch.onnx.export(graph, example, str(tmp), input_names=list(INPUTS), output_names=list(OUTPUTS),
                          opset_version=OPSET, dynamic_axes=dynamic, dynamo=False)  # fmt: skip
    return path
