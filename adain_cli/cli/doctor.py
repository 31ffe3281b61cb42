"""`adain doctor`: what this installation has — versions, devices and precisions, the cache and its weights."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from typing import Any

import click

from adain_cli import __version__
from adain_cli.cli.weights import weight_rows

PACKAGES = ("torch", "torchvision", "Pillow", "av", "numpy")


def versions() -> dict[str, str | None]:
    """adain's, Python's and each dependency's version (None: not installed)."""
    found: dict[str, str | None] = {"adain": __version__, "python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def devices() -> dict[str, Any]:
    """Which devices torch can use here, and the precisions each supports."""
    import torch

    from adain_cli import allocator
    from adain_cli.device import auto_precision, cpu_supports_bf16, pick_device

    cuda = torch.cuda.is_available()
    gpus = [
        {"name": torch.cuda.get_device_name(index), "bf16": torch.cuda.is_bf16_supported()}
        for index in range(torch.cuda.device_count())
    ] if cuda else []  # fmt: skip
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    device = pick_device("auto")
    precision, reason = auto_precision(device)
    return {
        "auto": {"device": str(device), "precision": precision, "reason": reason},
        "cpu": {"threads": torch.get_num_threads(), "bf16": cpu_supports_bf16(), "allocator": allocator.setting()},
        "cuda": {"available": cuda, "version": torch.version.cuda, "devices": gpus},
        "mps": {"available": mps},
    }


def report(check: bool) -> dict[str, Any]:
    from adain_cli.registry import cache_dir

    return {"versions": versions(), "devices": devices(), "cache": str(cache_dir()), "weights": weight_rows(check)}


def _lines(found: dict[str, Any]) -> list[str]:
    versions_line = ", ".join(f"{name} {version or 'not installed'}" for name, version in found["versions"].items())
    cpu, cuda, mps = found["devices"]["cpu"], found["devices"]["cuda"], found["devices"]["mps"]
    lines = [
        f"versions: {versions_line}",
        f"cpu: {cpu['threads']} threads; fp32" + (", bf16 (native)" if cpu["bf16"] else "; bf16 not native here")
        + f"; allocator: {cpu['allocator']}",
        "cuda: " + ("; ".join(f"{gpu['name']} (fp16" + (", bf16)" if gpu["bf16"] else ")") for gpu in cuda["devices"])
                    if cuda["available"] else "not available"),
        "mps: " + ("available (fp16)" if mps["available"] else "not available"),
        f"precision auto: {found['devices']['auto']['reason']}",
        f"cache: {found['cache']}",
    ]  # fmt: skip
    for row in found["weights"]:
        if not row["present"]:
            status = f"missing (≈{row['approx_mb']} MB; `adain weights download`)"
        else:
            checked = {None: "", True: ", SHA-256 ok", False: ", SHA-256 DIFFERS"}[row["verified"]]
            status = f"present, {row['bytes'] / 1e6:.1f} MB{checked}"
        lines.append(f"weights {row['name']}: {status} ({row['path']})")
    return lines


@click.command()
@click.option("--hash", "check", is_flag=True, help="Also hash the cached weights against their SHA-256.")
@click.option("--json", "as_json", is_flag=True, help="Print the same as one JSON object.")
def doctor(check: bool, as_json: bool) -> None:
    """Show what this installation has: versions, devices and precisions, the cache folder and its weights.

    \b
    adain doctor            # paste this into a bug report
    adain doctor --json --hash
    """
    found = report(check)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for line in _lines(found):
        click.echo(line)
