"""What every image command shares: its options as a request to the library's planner, loading the networks,
running the job with progress, and reporting the result (rich on a terminal, whole plain lines in a pipe, JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from adain_cli import defaults, exits
from adain_cli.cli import notices, streams
from adain_cli.cli.options import CommonOptions, read_files_from
from adain_cli.job import ImageOptions, VideoOptions

if TYPE_CHECKING:
    from rich.console import Console

    from adain_cli.job import Job, Output
    from adain_cli.launch import Launch
    from adain_cli.report import Event, Status, Summary
    from adain_cli.resume import Survey


def stderr_console() -> Console:
    """Progress and messages go to stderr; in a pipe nothing is wrapped or cut (one line per event)."""
    from adain_cli.cli.console import FilterConsole

    console = FilterConsole(stderr=True, highlight=False)
    if not console.is_terminal:
        console.soft_wrap = True
    return console


STANDARD_STREAM = Path("-")


def plan_job(opts: CommonOptions, command: str, contents: Sequence[Path], styles: Sequence[Path], **asked: Any) -> Job:
    """The job a command asks for: its options as a `plan.Request`, planned by the library, its notes said once
    (unless --quiet). `-` as the one content reads the image on standard input; `-o -` writes it to standard
    output."""
    from adain_cli.planner import Request, plan

    listed = read_files_from(opts.files_from, opts.null) if opts.files_from is not None else []
    missing = next((path for path in listed if not path.exists()), None)
    if missing is not None:
        message = f"{missing} (listed in {opts.files_from}) does not exist"
        raise click.BadParameter(message, param_hint="'--files-from'")
    contents = _stdin_or(contents, listed)
    output = _stdout_file(opts) if opts.output == STANDARD_STREAM else opts.output
    request = Request(
        contents=tuple(contents),
        styles=tuple(styles),
        output=output,
        command=command,
        recursive=opts.recursive,
        listed=tuple(listed),
        list_file=opts.files_from if opts.files_from not in (None, STANDARD_STREAM) else None,
        list_root=opts.list_root,
        images=ImageOptions(
            content_size=opts.content_size,
            style_size=opts.style_size,
            crop=opts.crop,
            ext=opts.ext,
            quality=opts.quality,
            max_pixels=opts.max_pixels,
            output_size=opts.output_size,
            enlarge=not opts.no_enlarge,
        ),
        video=VideoOptions(
            ext=opts.video_ext, max_frames=opts.frames, stabilize=opts.stabilize_strength if opts.stabilize else 0.0
        ),
        name_template=opts.name_template,
        grid=opts.grid,
        grid_cell=opts.grid_cell,
        grid_labels=opts.grid_labels,
        grid_rows=opts.grid_rows,
        skip_existing=opts.skip_existing,
        batch_size=opts.batch_size,
        **asked,
    )
    planned = plan(request)
    if not opts.quiet:
        for note in planned.notes:
            stderr_console().print(f"note: {note}", markup=False)
    return planned.job


def _stdin_or(contents: Sequence[Path], listed: Sequence[Path]) -> Sequence[Path]:
    if STANDARD_STREAM not in contents:
        return contents
    if len(contents) > 1 or listed:
        raise click.UsageError("- (an image on standard input) is the only CONTENT when given")
    return [_stdin_image()]


def _stdin_image() -> Path:
    """The image on standard input, kept in a temporary folder (removed when the command ends) as
    `stdin.{its format}`, so it is read like any other file."""
    import io

    from PIL import Image, UnidentifiedImageError

    from adain_cli.errors import AdainError

    data = streams.binary_stdin().read()
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = (image.format or "png").lower()
    except (UnidentifiedImageError, OSError):
        raise AdainError(f"standard input ({len(data)} bytes) is not an image Pillow can read") from None
    path = streams.stream_folder("stdin", f"stdin.{'jpg' if kind == 'jpeg' else kind}")
    path.write_bytes(data)
    return path


def _stdout_file(opts: CommonOptions) -> Path:
    """`-o -`: the job writes its one output to a temporary PNG that `run` then sends to standard output."""
    if opts.json or opts.json_lines:
        raise click.UsageError("-o - writes the image on standard output, so --json and --json-lines cannot")
    return streams.stream_folder("stdout", "stdout.png")


def send_to_stdout(job: Job) -> None:
    """`-o -`: the finished PNG on standard output (nothing else is written there)."""
    if job.output_file is not None and job.output_file.is_file():
        streams.write_bytes(job.output_file.read_bytes())


def check_weights_names(*values: str | None) -> None:
    """Refuse an unknown model name or a missing checkpoint path before anything is downloaded."""
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
    if opts.json and opts.json_lines:
        raise click.UsageError("--json and --json-lines both write to standard output: give one of them")
    check_weights_names(opts.encoder, opts.decoder)
    from adain_cli.launch import torchrun_launch
    from adain_cli.resume import skipped_summary, survey

    launch = torchrun_launch()
    if launch.world > 1 and opts.shard:
        raise click.UsageError("--shard splits a job without torchrun; under torchrun the ranks split it")
    if 0 < opts.tile <= defaults.MIN_TILE - defaults.TILE_GRID:  # what the engine would refuse, said before torch loads
        raise click.BadParameter(f"tiles must be at least {defaults.MIN_TILE} pixels", param_hint="'--tile'")
    job = replace(job, shard=opts.shard or (launch.rank, launch.world))
    state = survey(job)  # the dry run checks what the run checks, the run before any download
    notices.before_work(job, state, shard_given=opts.shard is not None, quiet=opts.quiet)
    if opts.dry_run:
        _dry_run(opts, job, state)
        return
    if state.nothing_due and launch.world <= 1:  # --skip-existing over a finished job: no torch, no network
        silent: Any = lambda event: None  # noqa: E731
        skipped = skipped_summary(job, state, _with_json_lines(silent) if opts.json_lines else silent)
        _finish(opts, job, skipped, launch, stderr_console())
        return
    # Every check above is torch-free and answers at once; torch is imported from here on.
    from adain_cli.device import rank_device
    from adain_cli.progress import JobProgress
    from adain_cli.runner import run_job
    from adain_cli.stylizer import Stylizer

    quiet = opts.quiet or launch.rank > 0
    console = stderr_console()
    device = rank_device(opts.device, launch)  # a bad --device is a usage error before any download
    if not quiet and console.is_terminal:  # in a pipe, stderr holds progress lines and one line per failure
        console.print("loading models…", markup=False)
    encoder, decoder = (
        fetch_weights(name, offline=opts.offline, no_verify=opts.no_verify, console=console, quiet=quiet)
        for name in (opts.encoder, opts.decoder)
    )
    stylizer = Stylizer.from_files(encoder, decoder, device=str(device), precision=opts.precision,
                                   compile=opts.compile_model, tile=opts.tile or None,
                                   max_memory=opts.max_memory)  # fmt: skip
    with JobProgress(console, quiet=quiet, verbose=opts.verbose) as progress:
        render = _with_json_lines(progress) if opts.json_lines else progress
        summary = run_job(stylizer, job, progress=render, launch=launch, io_threads=opts.io_threads, state=state)
        progress.finish(summary.seconds)
    _finish(opts, job, summary, launch, console)


def _finish(opts: CommonOptions, job: Job, summary: Summary, launch: Launch, console: Console) -> None:
    """The finished job's output: the image on standard output for `-o -`, the summary, the exit status."""
    if opts.output == STANDARD_STREAM:
        send_to_stdout(job)
    if not (opts.quiet or launch.rank > 0):
        print_summary(
            console,
            summary,
            opts.output if opts.output == STANDARD_STREAM else job.output_file or job.output_dir,
        )
    if opts.json and launch.rank == 0:
        streams.echo(json.dumps(summary.to_json(), indent=2))
    click.get_current_context().exit(exits.FAILED if summary.failures else exits.OK)


def _with_json_lines(progress: Any) -> Any:
    def render(event: Event) -> None:
        for record in event.records:  # first: an interrupt during the progress line must not lose a record
            streams.echo(json.dumps(record.to_json()))
        progress(event)

    return render


def _dry_run(opts: CommonOptions, job: Job, state: Survey) -> None:
    """Print every output the job would write (and those --skip-existing would leave), loading nothing."""
    plan: list[tuple[int, Output, Status]] = [
        (row, output, "skipped" if output.path in state.finished else "planned")
        for row, outputs in sorted(state.work.items())
        for output in outputs
    ]
    records = [job.record(row, output, status) for row, output, status in plan]
    pages = state.pages  # --skip-existing keeps a page that would come out the same
    grids = [page.path for page in pages.pages if pages.is_due(page.alpha, page.number)]
    kept = [page.path for page in pages.pages if not pages.is_due(page.alpha, page.number)]
    if opts.json or opts.json_lines:
        if opts.json_lines:
            for record in records:
                streams.echo(json.dumps(record.to_json()))
        else:
            streams.echo(json.dumps({"dry_run": True, "records": [r.to_json() for r in records],
                                   "grids": [str(path) for path in grids]}, indent=2))  # fmt: skip
        return
    for record in records:
        streams.echo(f"{'would skip (exists)' if record.status == 'skipped' else 'would write'}\t{record.path}")
    for path in kept:
        streams.echo(f"would skip (unchanged)\t{path}")
    for path in grids:
        streams.echo(f"would write\t{path}")


def print_summary(console: Console, summary: Summary, output: Path) -> None:
    """One line that adds up (every rank's outputs under torchrun) and says where they went."""
    from rich.markup import escape

    counts = summary.totals()
    status = "[red]" if counts.failed or summary.failures else "[green]"
    frames = summary.frames_written()  # a clip job's speed is its frames', not its files'
    speed = f"{frames} frames, {frames / counts.seconds:.2f} frames/s" if frames and counts.seconds > 0 else (
        f"{counts.rate:.2f} images/s")  # fmt: skip
    console.print(
        f"{status}{counts.written} written[/], {counts.skipped} skipped, {counts.failed} failed "
        f"in {counts.seconds:.1f} s ({speed})"
        + (f"; {len(summary.grids)} grid(s)" if summary.grids else "")
        + f" → {'standard output' if output == STANDARD_STREAM else escape(str(output))}"
    )
    for note in summary.counted_notes():
        console.print(f"  note: {note}", markup=False)
    for failure in summary.failures:
        console.print(f"  failed: {failure.error}", markup=False)
