"""`adain doctor`: what this installation has — versions, devices and precisions, the cache and its weights."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from adain_cli.cli.models import model_rows
from adain_cli.version import __version__

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

    found = {"versions": versions(), "devices": devices(), "cache": str(cache_dir()), "models": model_rows(check)}
    return {**found, "problems": problems(found)}


def cache_problem(folder: Path) -> str | None:
    """Why the cache folder cannot hold the models (None when it can, or can be made)."""
    import os

    if folder.exists() and not folder.is_dir():
        return f"the cache folder {folder} is a file; set ADAIN_HOME to a folder"
    existing = next((parent for parent in (folder, *folder.parents) if parent.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"the cache folder {folder} cannot be made ({existing} is a file); set ADAIN_HOME to a folder"
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        return f"the cache folder {folder} is not writable here; set ADAIN_HOME to a writable folder"
    return None


def problems(found: dict[str, Any]) -> list[str]:
    """What stops adain from working here: the cache folder, and (with --hash) cached files that are not the
    release. Missing models are none: they download on first use."""
    found_problems = [problem] if (problem := cache_problem(Path(found["cache"]))) else []
    return found_problems + [f"{row['path']} is not the published {row['name']} (SHA-256 differs)"
                             for row in found["models"] if row["verified"] is False]  # fmt: skip


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
    for row in found["models"]:
        if not row["present"]:
            status = f"missing (≈{row['approx_mb']} MB; `adain models download`)"
        else:
            checked = {None: "", True: ", SHA-256 ok", False: ", SHA-256 DIFFERS"}[row["verified"]]
            status = f"present, {row['bytes'] / 1e6:.1f} MB{checked}"
        lines.append(f"model {row['name']}: {status} ({row['path']})")
    return lines + [f"problem: {problem}" for problem in found["problems"]]


@click.command()
@click.option("--hash/--no-hash", "check", default=True, show_default=True,
              help="Hash the cached models against their known SHA-256 (once per file: the verdict is remembered; "
              "--no-hash: a quick look).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the same as one JSON object.")
def doctor(check: bool, as_json: bool) -> None:
    """Show what this installation has: versions, devices and precisions, the cache folder and its models.

    \b
    adain doctor            # paste this into a bug report
    adain doctor --json

    Exits 1 when it finds a problem (each a `problem:` line): a cache folder that cannot hold the models
    (ADAIN_HOME a file, not writable), or a cached file that is not the release (unless --no-hash). Missing
    models are not a problem: they download on first use.
    """
    found = report(check)
    if as_json:
        click.echo(json.dumps(found, indent=2))
    else:
        for line in _lines(found):
            click.echo(line)
    if found["problems"]:
        click.get_current_context().exit(1)
