"""`adain grid`: rebuild the grids of every job in a folder from the files on disk."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("grid")
@click.argument("output", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--grid-cell", type=click.IntRange(min=16), default=None, help="Cell size (default: the job's).")
def grid_command(output: Path, grid_cell: int | None) -> None:
    """Build the grids of every job in OUTPUT from the files on disk (after `--shard` runs).

    \b
    adain stylize photos/ --style styles/ --shard 1/2 -o out/   # on one machine
    adain stylize photos/ --style styles/ --shard 2/2 -o out/   # on another
    adain grid out/
    """
    from adain_cli.sheets.rebuild import grids_from_manifest

    for path in grids_from_manifest(output, grid_cell):
        click.echo(path)
