"""`adain models`: list, download, locate and verify the pretrained models (the encoder and decoder files)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from adain_cli import exits
from adain_cli.cli.jobs import fetch_weights, stderr_console
from adain_cli.cli.options import CommonOptions
from adain_cli.errors import AdainError


@click.group(invoke_without_command=True)
@click.pass_context
def models(ctx: click.Context) -> None:
    """List, download, locate and verify the pretrained models (the encoder and decoder checkpoint files).

    \b
    adain models download            # both files, before going offline
    adain models list --json
    The cache is $ADAIN_HOME, else $XDG_CACHE_HOME/adain, else ~/.cache/adain.
    ADAIN_MODELS_MIRROR=URL downloads from a mirror instead of the release page.
    """
    if ctx.invoked_subcommand is None:  # `adain models` alone: what it can do
        click.echo(ctx.get_help())


def model_rows(check: bool) -> list[dict[str, Any]]:
    """Each registered file's status: present, path, size, and whether its SHA-256 matches (hashed with `check`,
    else as remembered from the file's last check; None where it is not known)."""
    from adain_cli.registry import REGISTRY, cached_digest, cached_path, remembered_digest

    rows = []
    for spec in REGISTRY.values():
        path = cached_path(spec)
        present = path.is_file()
        digest = (cached_digest(path) if check else remembered_digest(path)) if present else None
        verified = None if digest is None else digest == spec.sha256
        size = path.stat().st_size if present else None
        rows.append({"name": spec.name, "present": present, "path": str(path), "bytes": size,
                     "approx_mb": spec.approx_mb, "sha256": spec.sha256, "verified": verified})  # fmt: skip
    return rows


def _model_names(names: Sequence[str]) -> list[str]:
    from adain_cli.registry import REGISTRY

    unknown = [name for name in names if name.removesuffix(".pth") not in REGISTRY]
    if unknown:
        raise click.BadParameter(f"unknown model {', '.join(unknown)} (known: {', '.join(REGISTRY)})")
    return [name.removesuffix(".pth") for name in names] or list(REGISTRY)


@models.command("list")
@click.option("--hash/--no-hash", "check", default=True, show_default=True,
              help="Hash the cached models against their known SHA-256 (once per file: the verdict is remembered; "
              "--no-hash: a quick look).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help='Print one JSON object ({"models": [...]}) instead of a table.')
def models_list(check: bool, as_json: bool) -> None:
    """Show each registered file: present?, path, size, SHA-256 verified?

    \b
    adain models list --json | jq -r '.models[] | select(.present | not) | .name'
    """
    import json

    from rich.console import Console
    from rich.table import Table

    rows = model_rows(check)
    if as_json:
        click.echo(json.dumps({"models": rows}, indent=2))
        return
    columns = ("name", "present", "path", "size", "verified")
    cells = [
        (row["name"], "yes" if row["present"] else "no", row["path"],
         f"{row['bytes'] / 1e6:.1f} MB" if row["present"] else f"≈{row['approx_mb']} MB",
         "–" if not row["present"] else "not checked" if row["verified"] is None
         else "yes" if row["verified"] else "NO (hash differs)")
        for row in rows
    ]  # fmt: skip
    console = Console(highlight=False)
    if not console.is_terminal:  # a pipe gets whole, tab-separated lines
        for line in (columns, *cells):
            click.echo("\t".join(line))
        return
    table = Table(*columns)
    for line in cells:
        table.add_row(*line)
    console.print(table)


@models.command("download")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True, help="Download again even if the file is present.")
@CommonOptions.option("quiet")
@CommonOptions.option("offline")
@CommonOptions.option("no_verify")
def models_download(names: tuple[str, ...], force: bool, quiet: bool, offline: bool, no_verify: bool) -> None:
    """Download NAMES (default: all) into the cache, checking size and SHA-256."""
    from adain_cli.weights import REGISTRY, cached_digest, cached_path

    console = stderr_console()
    differs = False
    for name in _model_names(names):
        spec = REGISTRY[name]
        path = cached_path(spec)
        if path.is_file() and not force:
            digest = cached_digest(path)
            if digest == spec.sha256:
                console.print(f"{name}: already present at {path}", markup=False)
            else:
                differs = True
                console.print(f"{name}: {path} is there, but its SHA-256 {digest} is not the published {spec.sha256} "
                              "(--force downloads the release over it)", markup=False)  # fmt: skip
            continue
        fetch_weights(name, offline=offline, no_verify=no_verify, console=console, quiet=quiet, force=force)
        console.print(f"{name}: saved to {path}", markup=False)
    if differs:
        click.get_current_context().exit(exits.FAILED)


@models.command("path")
@click.argument("name")
def models_path(name: str) -> None:
    """Print where NAME lives in the cache (exit 1 if it is not there yet)."""
    from adain_cli.registry import REGISTRY, cached_path, missing_message

    spec = REGISTRY[_model_names([name])[0]]
    click.echo(cached_path(spec))
    if not cached_path(spec).is_file():
        raise AdainError(missing_message(spec))


@models.command("verify")
@click.argument("names", nargs=-1)
def models_verify(names: tuple[str, ...]) -> None:
    """Check the SHA-256 of NAMES (default: all); exit 1 if any is missing or differs."""
    from adain_cli.registry import REGISTRY, cached_path, sha256_of

    problems = 0
    for name in _model_names(names):
        spec, path = REGISTRY[name], cached_path(REGISTRY[name])
        if not path.is_file():
            click.echo(f"{name}: missing ({path})")
            problems += 1
            continue
        digest = sha256_of(path)
        if digest == spec.sha256:
            click.echo(f"{name}: ok ({path})")
        else:
            click.echo(f"{name}: SHA-256 {digest} differs from the expected {spec.sha256} ({path})")
            problems += 1
    if problems:
        raise AdainError(f"{problems} file(s) missing or not verified")


@click.command("weights", hidden=True, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def renamed_weights() -> None:
    """`adain weights` was renamed `adain models` (one meaning for "weights": interpolate's --weights)."""
    raise click.UsageError("`adain weights` is now `adain models` (e.g. `adain models download`)")
