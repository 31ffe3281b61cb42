"""adain: arbitrary neural style transfer with Adaptive Instance Normalization (Huang & Belongie, 2017).

The library under the `adain` command. One image, then a whole job as the command runs it (each style encoded
once, outputs saved atomically, one grid per α); the pretrained weights download into the cache on first use:

    import adain_cli

    adain_cli.stylize("sample_styles/mosaic.jpg", "sample_styles/ink.jpg", alpha=0.8).save("mosaic_ink.png")

    styles = ["sample_styles/ink.jpg", "sample_styles/waves.jpg"]
    request = adain_cli.Request(contents=["sample_styles/"], styles=styles, output="out", alphas=(0.5, 1.0),
                                images=adain_cli.ImageOptions(content_size=128))
    planned = adain_cli.plan(request)  # what `adain stylize` would run; planned.notes: what it would say first
    summary = adain_cli.run_job(adain_cli.default_stylizer(), planned.job)  # progress=callback for the events
    print(len(summary.written), "written,", summary.failed, "failed")

    augment = adain_cli.StyleAugment("sample_styles/", p=0.5, alpha=(0.2, 1.0))  # a training loop: docs/augment.md

Names are imported on first use, so `import adain_cli` itself is instant and loads no torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from adain_cli.version import __version__

# Public name → the module that defines it.
_EXPORTS = {
    "stylize": "api",
    "interpolate": "api",
    "default_stylizer": "api",
    "Stylizer": "stylizer",
    "StyleAugment": "augment",
    "Job": "job",
    "ImageOptions": "job",
    "run_job": "runner",
    "plan": "planner",
    "Request": "planner",
    "Plan": "planner",
    "Summary": "report",
    "Event": "report",
    "Look": "looks",
    "ColorMethod": "looks",
    "style_looks": "looks",
    "interpolation_look": "looks",
    "Source": "inputs",
    "discover": "inputs",
    "load": "images",
    "AdainError": "errors",
}

__all__ = [
    "AdainError",
    "ColorMethod",
    "Event",
    "ImageOptions",
    "Job",
    "Look",
    "Plan",
    "Request",
    "Source",
    "StyleAugment",
    "Stylizer",
    "Summary",
    "__version__",
    "default_stylizer",
    "discover",
    "interpolate",
    "interpolation_look",
    "load",
    "plan",
    "run_job",
    "style_looks",
    "stylize",
]

if TYPE_CHECKING:
    from adain_cli.api import default_stylizer, interpolate, stylize
    from adain_cli.augment import StyleAugment
    from adain_cli.errors import AdainError
    from adain_cli.images import load
    from adain_cli.inputs import Source, discover
    from adain_cli.job import ImageOptions, Job
    from adain_cli.looks import ColorMethod, Look, interpolation_look, style_looks
    from adain_cli.planner import Plan, Request, plan
    from adain_cli.report import Event, Summary
    from adain_cli.runner import run_job
    from adain_cli.stylizer import Stylizer


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'adain_cli' has no attribute {name!r}")
    value = getattr(import_module(f"adain_cli.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
