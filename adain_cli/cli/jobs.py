"""What every image command shares: finding inputs, building the job, loading the networks, running it
with progress, and reporting the result (rich on a terminal, whole plain lines in a pipe, JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from adain_cli.cli.options import CommonOptions, read_files_from

if TYPE_CHECKING:
    from rich.console import Console

    from adain_cli.images import Source
    from adain_cli.job import Job
    from adain_cli.looks import Look
    from adain_cli.report import Event, Summary

EXIT_FAILED = 1


def stderr_console() -> Console:
    """Progress and messages go to stderr; in a pipe nothing is wrapped or cut (one line per event)."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    if not console.is_terminal:
        console.soft_wrap = True
    return console


def find_contents(opts: CommonOptions, paths: Sequence[Path]) -> list[Source]:
    """The content images named on the command line and in --files-from (each checked to exist)."""
    named = list(paths)
    if opts.files_from is not None:
        listed = read_files_from(opts.files_from, opts.null)
        missing = next((path for path in listed if not path.exists()), None)
        if missing is not None:
            message = f"{missing} (listed in {opts.files_from}) does not exist"
            raise click.BadParameter(message, param_hint="'--files-from'")
        named += listed
    if not named:
        raise click.UsageError("give at least one CONTENT (a file or folder), or --files-from FILE")
    return find_inputs(named, opts.recursive, "content", output=opts.output, quiet=opts.quiet)


def find_inputs(
    paths: Sequence[Path],
    recursive: bool,
    what: str,
    *,
    mirror: bool = True,
    output: Path | None = None,
    quiet: bool = False,
) -> list[Source]:
    """The images in `paths`, less any that adain itself wrote in the `output` folder (earlier outputs,
    grids and previews there are never read back in as inputs; that is said once)."""
    from adain_cli import images
    from adain_cli.errors import AdainError

    found = images.discover(paths, recursive, mirror, videos=what == "content")
    if output is not None:
        ours = [source for source in found if _inside(source.path, output) and _written_by_adain(source.path)]
        found = [source for source in found if source not in ours]
        if ours and not quiet:
            stderr_console().print(
                f"note: {len(ours)} image(s) adain wrote in the output folder {output} are not read as {what}s",
                markup=False,
            )
    if not found:
        raise AdainError(f"no {what} images found in {', '.join(str(p) for p in paths)}")
    return found


def _written_by_adain(path: Path) -> bool:
    from adain_cli import images, video

    return images.written_by_adain(path) or video.written_by_adain(path)


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def build_job(
    opts: CommonOptions,
    *,
    command: str,
    contents: Sequence[Source],
    styles: Sequence[Source],
    looks: Sequence[Look],
    alphas: Sequence[float],
    color: str | None = None,
    **extra: Any,
) -> Job:
    """The job a command asks for: its inputs and looks, with the common options applied."""
    from adain_cli.job import ImageOptions, Job, VideoOptions
    from adain_cli.looks import ColorMethod

    stabilize = opts.stabilize_strength if opts.stabilize else 0.0
    image_options = ImageOptions(content_size=opts.content_size, style_size=opts.style_size, crop=opts.crop,
                                 ext=opts.ext, quality=opts.quality, max_pixels=opts.max_pixels)  # fmt: skip
    return Job(
        contents=tuple(contents),
        styles=tuple(styles),
        looks=tuple(looks),
        output_dir=opts.output,
        alphas=tuple(dict.fromkeys(alphas)),
        images=image_options,
        grid=opts.grid,
        grid_cell=opts.grid_cell,
        grid_labels=opts.grid_labels,
        skip_existing=opts.skip_existing,
        batch_size=opts.batch_size,
        color=ColorMethod(color) if color else None,
        command=command,
        video=VideoOptions(ext=opts.video_ext, max_frames=opts.frames, stabilize=stabilize),
        **extra,
    )


def check_weights_names(*values: str | None) -> None:
    """Refuse an unknown weights name or a missing checkpoint path before anything is downloaded."""
    from adain_cli import registry

    for value in values:
        if value is not None:
            registry.lookup(value)


def fetch_weights(
    name_or_path: str, *, offline: bool, no_verify: bool, console: Console, quiet: bool, force: bool = False
) -> Path:
    """A checkpoint path for a name or path, downloading a registered file on first use."""
    from adain_cli import weights
    from adain_cli.progress import DownloadView

    options = weights.FetchOptions(offline=offline, verify=not no_verify)
    with DownloadView(console, name_or_path, quiet) as view:
        warn = lambda message: console.print(f"warning: {message}", markup=False)  # noqa: E731
        return weights.resolve(name_or_path, options=options, progress=view, warn=warn, force=force)


def run(opts: CommonOptions, job: Job) -> None:
    """Load the model once, run the job with progress, print the summary, exit with its status.

    Under torchrun each rank does its slice of the job on its own device; once all are done, rank 0
    builds the grids from the files on disk.
    """
    check_weights_names(opts.encoder, opts.decoder)
    from adain_cli.device import process_group, rank_device, torchrun_launch
    from adain_cli.grid import grids_of_manifest
    from adain_cli.progress import JobProgress
    from adain_cli.runner import run_job
    from adain_cli.stylizer import Stylizer

    launch = torchrun_launch()
    if launch.world > 1 and opts.shard:
        raise click.UsageError("--shard splits a job without torchrun; under torchrun the ranks split it")
    tile = -(-opts.tile // 8) * 8 if opts.tile else None  # tiles start on the encoder's 8-pixel grid
    if tile is not None and tile < 64:
        raise click.BadParameter("tiles must be at least 64 pixels", param_hint="'--tile'")
    job = replace(job, shard=opts.shard or (launch.rank, launch.world))
    if opts.dry_run:
        _dry_run(opts, job)
        return
    quiet = opts.quiet or launch.rank > 0
    console = stderr_console()
    device = rank_device(opts.device, launch)  # a bad --device is a usage error before any download
    encoder, decoder = (
        fetch_weights(name, offline=opts.offline, no_verify=opts.no_verify, console=console, quiet=quiet)
        for name in (opts.encoder, opts.decoder)
    )
    stylizer = Stylizer.from_files(encoder, decoder, device=str(device), precision=opts.precision,
                                   compile=opts.compile_model, tile=tile, max_memory=opts.max_memory)  # fmt: skip
    # Only a barrier is needed between the ranks, so gloo serves on any device.
    with process_group(launch, "gloo"):
        with JobProgress(console, quiet=quiet) as progress:
            summary = run_job(stylizer, job, _with_json_lines(progress) if opts.json_lines else progress)
        if launch.world > 1:
            import torch.distributed as dist

            dist.barrier()
            if launch.rank == 0 and job.wants_grids() and job.manifest_path.is_file():
                summary.grids = grids_of_manifest(job.manifest_path)
    if not quiet:
        print_summary(console, summary)
    if opts.json and launch.rank == 0:
        click.echo(json.dumps(summary.to_json(), indent=2))
    click.get_current_context().exit(EXIT_FAILED if summary.failures else 0)


def _with_json_lines(progress: Any) -> Any:
    def render(event: Event) -> None:
        progress(event)
        for record in event.records:
            click.echo(json.dumps(record.to_json()))

    return render


def _dry_run(opts: CommonOptions, job: Job) -> None:
    """Print every output the job would write (and those --skip-existing would leave), loading nothing."""
    plan = [
        (row, output, "skipped" if job.skip_existing and output.path.is_file() else "planned")
        for row, outputs in sorted(job.shard_outputs().items())
        for output in outputs
    ]
    records = [job.record(row, output, status) for row, output, status in plan]
    grids = [job.grid_path(alpha) for alpha in job.alphas] if job.wants_grids() and job.shard == (0, 1) else []
    if opts.json or opts.json_lines:
        if opts.json_lines:
            for record in records:
                click.echo(json.dumps(record.to_json()))
        else:
            click.echo(json.dumps({"dry_run": True, "records": [r.to_json() for r in records],
                                   "grids": [str(path) for path in grids]}, indent=2))  # fmt: skip
        return
    for record in records:
        click.echo(f"{'would skip (exists)' if record.status == 'skipped' else 'would write'}\t{record.path}")
    for path in grids:
        click.echo(f"would write\t{path}")


def print_summary(console: Console, summary: Summary) -> None:
    rate = len(summary.written) / summary.seconds if summary.seconds > 0 else 0.0
    status = "[red]" if summary.failures else "[green]"
    console.print(
        f"{status}{len(summary.written)} written[/], {len(summary.skipped)} skipped, "
        f"{summary.failed} failed in {summary.seconds:.1f} s ({rate:.2f} images/s)"
        + (f"; {len(summary.grids)} grid(s)" if summary.grids else "")
    )
    for note in summary.notes:
        console.print(f"  note: {note}", markup=False)
    for failure in summary.failures:
        console.print(f"  failed: {failure.error}", markup=False)
