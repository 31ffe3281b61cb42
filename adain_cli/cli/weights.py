"""`adain weights`: list, download, locate and verify the pretrained weights."""

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
def weights(ctx: click.Context) -> None:
    """List, download, locate and verify the pretrained weights.

    \b
    adain weights download            # both files, before going offline
    adain weights list --json
    The cache is $ADAIN_HOME, else $XDG_CACHE_HOME/adain, else ~/.cache/adain.
    ADAIN_WEIGHTS_MIRROR=URL downloads from a mirror instead of the release page.
    """
    if ctx.invoked_subcommand is None:  # `adain weights` alone: what it can do
        click.echo(ctx.get_help())


def weight_rows(check: bool) -> list[dict[str, Any]]:
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


def _weight_names(names: Sequence[str]) -> list[str]:
    from adain_cli.registry import REGISTRY

    unknown = [name for name in names if name.removesuffix(".pth") not in REGISTRY]
    if unknown:
        raise click.BadParameter(f"unknown weights {', '.join(unknown)} (known: {', '.join(REGISTRY)})")
    return [name.removesuffix(".pth") for name in names] or list(REGISTRY)


@weights.command("list")
@click.option("--hash/--no-hash", "check", default=True, show_default=True,
              help="Hash the present files against their known SHA-256 (--no-hash: a quick look).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def weights_list(check: bool, as_json: bool) -> None:
    """Show each registered file: present?, path, size, SHA-256 verified?

    \b
    adain weights list --json | jq -r '.[] | select(.present | not) | .name'
    """
    import json

    from rich.console import Console
    from rich.table import Table

    rows = weight_rows(check)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
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


@weights.command("download")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True, help="Download again even if the file is present.")
@click.option("--quiet", "-q", is_flag=True, help="No progress.")
@CommonOptions.option("offline")
@CommonOptions.option("no_verify")
def weights_download(names: tuple[str, ...], force: bool, quiet: bool, offline: bool, no_verify: bool) -> None:
    """Download NAMES (default: all) into the cache, checking size and SHA-256."""
    from adain_cli.weights import REGISTRY, cached_digest, cached_path

    console = stderr_console()
    differs = False
    for name in _weight_names(names):
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


@weights.command("path")
@click.argument("name")
def weights_path(name: str) -> None:
    """Print where NAME lives in the cache (exit 1 if it is not there yet)."""
    from adain_cli.registry import REGISTRY, cached_path, missing_message

    spec = REGISTRY[_weight_names([name])[0]]
    click.echo(cached_path(spec))
    if not cached_path(spec).is_file():
        raise AdainError(missing_message(spec))


@weights.command("verify")
@click.argument("names", nargs=-1)
def weights_verify(names: tuple[str, ...]) -> None:
    """Check the SHA-256 of NAMES (default: all); exit 1 if any is missing or differs."""
    from adain_cli.registry import REGISTRY, cached_path, sha256_of

    problems = 0
    for name in _weight_names(names):
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
