"""Stylizing a dataset: styles drawn per content, output names from a template, outputs at the content's own
size, and a job id that does not depend on the order of the inputs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from adain_cli import images
from adain_cli.job import ImageOptions, Job, draw
from adain_cli.job_styles import JobStyles
from adain_cli.planner import Request, plan
from adain_cli.report import Event
from adain_cli.runner import run_job
from adain_cli.stylizer import Stylizer
from tests.conftest import AT_OWN_SIZE, make_image

_TINY = AT_OWN_SIZE


def _images(folder: Path, names: list[str], size: tuple[int, int] = (32, 24)) -> list[Path]:
    return [make_image(folder / name, *size, seed=index) for index, name in enumerate(names)]


def _grid_lines(output: str) -> list[str]:
    return sorted(line for line in output.splitlines() if "grid_" in line)


def test_job_id_does_not_depend_on_the_order_of_the_inputs(run_adain, tmp_path: Path) -> None:
    contents = _images(tmp_path / "c", ["a.png", "b.png", "c.png"])
    styles = _images(tmp_path / "s", ["x.png", "y.png"])
    runs = []
    for order in (1, -1):
        listing = tmp_path / f"list{order}.txt"
        listing.write_text("".join(f"{path}\n" for path in contents[::order]))
        style_args = [arg for style in styles[::order] for arg in ("--style", style)]
        result = run_adain("stylize", "--files-from", listing, *style_args, "-o", tmp_path / "out", "--dry-run")
        assert result.exit_code == 0, result.output
        runs.append(_grid_lines(result.output))
    assert runs[0] and runs[0] == runs[1]


# ---------------------------------------------------------------------------------------------
# --styles-per-content: styles drawn per content


def _dataset(tmp_path: Path) -> tuple[list[Path], list[Path]]:
    contents = _images(tmp_path / "photos", ["a.png", "b.jpg", "sub/c.png", "sub/d.png", "sub/deep/e.png", "f.png"])
    styles = _images(tmp_path / "paintings", [f"p{index}.png" for index in range(5)], size=(24, 24))
    return contents, styles


def _records(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def _draws(records: list[dict]) -> dict[tuple[str, float], frozenset[str]]:
    """Which styles each content was given, at each α: {(content file, α): {style files}}."""
    drawn: dict[tuple[str, float], set[str]] = {}
    for record in records:
        styles = {Path(style["path"]).name for style in record["styles"]}
        drawn.setdefault((Path(record["content"]).name, record["alpha"]), set()).update(styles)
    return {key: frozenset(styles) for key, styles in drawn.items()}


def _plan(run_adain, contents: list[Path], styles: list[Path], out: Path, *extra: str) -> list[dict]:
    listing = out.parent / f"{out.name}-list.txt"
    listing.write_text("".join(f"{path}\n" for path in contents))
    style_args = [arg for style in styles for arg in ("--style", style)]
    result = run_adain("stylize", "--files-from", listing, *style_args, "-o", out, "--styles-per-content", "2",
                       "--alpha", "0.5", "1", "--dry-run", "--json-lines", *extra)  # fmt: skip
    assert result.exit_code == 0, result.output
    return _records(result.output)


def test_the_draw_is_fixed_by_seed_and_path_alone() -> None:
    # Pinned values: a draw must not change with the machine or a library version.
    assert draw(0, "n01/x.JPEG", 1000, 3) == [131, 76, 33]
    assert draw(7, "a.png", 80_000, 1) == [27491]
    assert sorted(draw(1, "c.png", 5, 5)) == [0, 1, 2, 3, 4]
    picks = [frozenset(draw(1, f"c{index}.png", 5, 2)) for index in range(100)]
    assert all(len(pick) == 2 and pick <= set(range(5)) for pick in picks) and len(set(picks)) == 10


def test_each_content_gets_n_distinct_styles_the_same_whatever_the_input_order(run_adain, tmp_path: Path) -> None:
    contents, styles = _dataset(tmp_path)
    forward = _plan(run_adain, contents, styles, tmp_path / "out")
    backward = _plan(run_adain, contents[::-1], styles[::-1], tmp_path / "out")
    assert len(forward) == len(contents) * 2 * 2
    drawn = _draws(forward)
    assert all(len(styles) == 2 for styles in drawn.values())
    assert len({styles for styles in drawn.values()}) > 1  # not one draw for all
    assert _draws(backward) == drawn
    assert sorted(r["path"] for r in backward) == sorted(r["path"] for r in forward)


def test_the_draw_depends_on_the_seed(run_adain, tmp_path: Path) -> None:
    contents, styles = _dataset(tmp_path)
    seeds = [_draws(_plan(run_adain, contents, styles, tmp_path / "out", "--seed", seed)) for seed in ("0", "1")]
    assert seeds[0] != seeds[1]
    assert _draws(_plan(run_adain, contents, styles, tmp_path / "out")) == seeds[0]  # 0 is the default


def test_shards_together_draw_what_the_whole_job_draws(run_adain, tmp_path: Path) -> None:
    contents, styles = _dataset(tmp_path)
    whole = _plan(run_adain, contents, styles, tmp_path / "out")
    shards = [_plan(run_adain, contents, styles, tmp_path / "out", "--shard", f"{k}/3") for k in (1, 2, 3)]
    assert all(shards)
    assert sorted(r["path"] for shard in shards for r in shard) == sorted(r["path"] for r in whole)
    assert _draws([r for shard in shards for r in shard]) == _draws(whole)


def test_a_resumed_dataset_job_draws_the_same_and_encodes_only_drawn_styles(run_adain, tmp_path: Path) -> None:
    contents, _ = _dataset(tmp_path)
    args = ["stylize", tmp_path / "photos", "-r", "--style", tmp_path / "paintings", "--styles-per-content", "1",
            "-o", tmp_path / "out", "--json", *_TINY]  # fmt: skip
    first = run_adain(*args)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["written"] == len(contents) and len(summary["grids"]) == 1  # each content with its draw
    drawn = _draws(summary["records"])
    used = set().union(*drawn.values())
    assert summary["encoder_calls"] == len(contents) + len(used)  # styles no content drew are not encoded
    removed = [Path(record["path"]) for record in summary["records"][::2]]
    for path in removed:
        path.unlink()
    resumed = json.loads(run_adain(*args, "--skip-existing").stdout)
    assert resumed["written"] == len(removed) and resumed["skipped"] == len(contents) - len(removed)
    assert _draws(resumed["records"]) == drawn
    assert sorted(resumed["outputs"]) == sorted(str(path) for path in removed)


def test_preserve_color_draws_styles_too(run_adain, tmp_path: Path) -> None:
    contents, _ = _dataset(tmp_path)
    result = run_adain("preserve-color", tmp_path / "photos", "-r", "--style", tmp_path / "paintings",
                       "--styles-per-content", "2", "-o", tmp_path / "out", "--json", *_TINY)  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["written"] == 2 * len(contents)
    assert all(len(styles) == 2 for styles in _draws(summary["records"]).values())
    assert all(Path(path).is_file() for path in summary["outputs"])


def test_more_styles_per_content_than_styles_is_a_usage_error(run_adain, tmp_path: Path) -> None:
    contents, styles = _dataset(tmp_path)
    result = run_adain("stylize", contents[0], "--style", styles[0], "--styles-per-content", "2", "-o", tmp_path)
    assert result.exit_code == 2
    assert "--styles-per-content 2 is more than the 1 style(s) given" in result.output


# ---------------------------------------------------------------------------------------------
# --name TEMPLATE


def _relative_files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def test_name_content_with_recursive_and_ext_auto_mirrors_the_tree(run_adain, tmp_path: Path) -> None:
    tree = tmp_path / "dataset"
    names = ["a.jpg", "a.png", "B.JPG", "n01/x.jpeg", "n01/y.webp", "n01/deep/z.tif", "n02/x.png", "n02/w.bmp"]
    _images(tree, names)
    styles = _images(tmp_path / "paintings", ["p0.png", "p1.png", "p2.png"], size=(24, 24))
    out = tmp_path / "stylized"
    result = run_adain("stylize", tree, "-r", "--style", styles[0].parent, "--styles-per-content", "1",
                       "--name", "{content}", "--ext", "auto", "-o", out, "--no-grid", *_TINY)  # fmt: skip
    assert result.exit_code == 0, result.output
    mirrored = {name if not name.endswith(".bmp") else name[:-4] + ".png" for name in names}  # bmp is not written
    assert _relative_files(out) == mirrored


def test_name_fields_make_the_names(run_adain, tmp_path: Path) -> None:
    content = make_image(tmp_path / "photo.png", 32, 24)
    style = make_image(tmp_path / "ink.png", 24, 24)
    out = tmp_path / "out"
    result = run_adain("preserve-color", content, "--style", style, "--alpha", "0.5", "1", "-o", out,
                       "--name", "{style}-{content}-{alpha}-{method}-{look}", *_TINY)  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = {f"ink-photo-{alpha}-coral-stylized_ink.png" for alpha in ("0.50", "1.00")}
    assert _relative_files(out) >= expected


def test_without_name_outputs_keep_their_usual_names(run_adain, tmp_path: Path) -> None:
    content = make_image(tmp_path / "photo.png", 32, 24)
    style = make_image(tmp_path / "ink.png", 24, 24)
    result = run_adain("stylize", content, "--style", style, "-o", tmp_path / "out", "--dry-run")
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "out" / "photo_stylized_ink.png") in result.output


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{content}/{style}", "path separator"),
        ("{nope}", "unknown field {nope}"),
        ("{content", "--name '{content'"),
        ("{method}", "gives no usable file name"),
        ("{content:.1f}", "{alpha} is a number, e.g. {alpha:.3f}; the others text"),
        ("{style}", "would both be written to"),
    ],
)
def test_a_name_template_that_cannot_name_the_outputs_is_refused(
    run_adain, tmp_path: Path, template: str, message: str
) -> None:
    contents = _images(tmp_path / "c", ["a.png", "b.png"])
    style = make_image(tmp_path / "ink.png", 24, 24)
    result = run_adain("stylize", *contents, "--style", style, "-o", tmp_path / "out", "--name", template, *_TINY)
    assert result.exit_code == 2 if "would both" not in message else result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# ---------------------------------------------------------------------------------------------
# --output-size


def _exif_rotated_jpeg(path: Path, width: int, height: int) -> Path:
    """A JPEG stored `width`×`height` whose EXIF orientation (6: rotate 90°) makes it `height`×`width` upright."""
    make_image(path.with_suffix(".png"), width, height)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(path.with_suffix(".png")).save(path, exif=exif)
    path.with_suffix(".png").unlink()
    return path


def _sizes(folder: Path) -> dict[str, tuple[int, int]]:
    return {path.stem: Image.open(path).size for path in folder.iterdir() if path.is_file()}


@pytest.mark.parametrize(("output_size", "expected"), [
    ("original", {"wide": (40, 30), "tall": (24, 40), "odd": (37, 29), "clear": (34, 26)}),
    ("processed", {"wide": (21, 16), "tall": (16, 26), "odd": (20, 16), "clear": (20, 16)}),
])  # fmt: skip
def test_output_size_original_keeps_every_content_size(
    run_adain, tmp_path: Path, output_size: str, expected: dict[str, tuple[int, int]]
) -> None:
    contents = tmp_path / "photos"
    make_image(contents / "wide.png", 40, 30)
    _exif_rotated_jpeg(contents / "tall.jpg", 40, 24)
    make_image(contents / "odd.webp", 37, 29)
    make_image(contents / "clear.png", 34, 26, mode="RGBA")
    style = make_image(tmp_path / "ink.png", 24, 24)
    out = tmp_path / "out"
    sizes = ("--content-size", "16", "--style-size", "0", "--output-size", output_size)
    result = run_adain("stylize", contents, "--style", style, "--name", "{content}", "--ext", "auto", "-o", out,
                       "--no-grid", *sizes)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _sizes(out) == expected


def test_the_dataset_grid_shows_each_content_with_the_styles_drawn_for_it(run_adain, tmp_path: Path) -> None:
    contents, _ = _dataset(tmp_path)
    out = tmp_path / "out"
    result = run_adain("stylize", tmp_path / "photos", "-r", "--style", tmp_path / "paintings",
                       "--styles-per-content", "2", "-o", out, "--grid-cell", "32", "--no-grid-labels", "--json",
                       *_TINY)  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    (grid,) = summary["grids"]
    pitch = 32 + 2  # a cell and the gutter after it
    assert Image.open(grid).size == (3 * pitch - 2, (len(contents) + 1) * pitch - 2)  # header + 2 drawn, per row
    assert len(summary["records"]) == 2 * len(contents) and not list(out.glob(".adain-job-*.json"))
    import numpy as np

    pixels = np.asarray(Image.open(grid).convert("RGB"))
    for row in range(1, len(contents) + 1):  # every content's two drawn results are on its row
        for col in (1, 2):
            cell = pixels[row * pitch : row * pitch + 32, col * pitch : col * pitch + 32]
            assert (cell < 250).any(), (row, col)
    # (no manifest: it would list every content × style, not the draws; `adain grid` cannot rebuild these)


# ---------------------------------------------------------------------------------------------
# Styles encoded as the contents first need them


def _lazy_job(tmp_path: Path, contents: int = 24, styles: int = 40) -> Job:
    for index in range(contents):
        make_image(tmp_path / "photos" / f"c{index:02d}.png", 32, 24, seed=index)
    for index in range(styles):
        make_image(tmp_path / "paintings" / f"p{index:02d}.png", 24, 24, seed=100 + index)
    job = plan(Request(contents=[tmp_path / "photos"], styles=[tmp_path / "paintings"], output=tmp_path / "out",
                         images=ImageOptions(content_size=0, style_size=0), grid=False)).job  # fmt: skip
    return replace(job, styles_per_content=1, seed=5)


def _stylizer(weight_files: tuple[Path, Path]) -> Stylizer:
    return Stylizer.from_files(*weight_files, device="cpu", precision="fp32")


def test_a_dataset_job_encodes_only_the_styles_its_first_contents_draw_before_its_first_output(
    weight_files, tmp_path: Path
) -> None:
    job = _lazy_job(tmp_path)
    stylizer = _stylizer(weight_files)
    at_first: list[int] = []
    events: list[Event] = []

    def progress(event: Event) -> None:
        events.append(event)
        if event.kind == "written" and not at_first:
            at_first.append(stylizer.encoder_calls)

    summary = run_job(stylizer, job, progress=progress)
    drawn = {k for content in job.contents for k in job.drawn_looks(content)}
    assert len(summary.written) == 24 and summary.encoder_calls == 24 + len(drawn) and len(drawn) > 16
    # The first group of small contents (8 of one size) and the styles those 8 drew, no more.
    first_group_styles = {k for content in job.contents[:8] for k in job.drawn_looks(content)}
    assert at_first == [8 + len(first_group_styles)]


def test_a_bad_style_fails_only_its_outputs_when_first_met_and_the_rest_are_written(
    weight_files, tmp_path: Path
) -> None:
    job = _lazy_job(tmp_path)
    drawn_by = {}
    for row, content in enumerate(job.contents):
        (col,) = job.drawn_looks(content)
        drawn_by.setdefault(col, []).append(row)
    # a style no content of the first group (rows 0–7) draws
    bad = next(col for col, rows in sorted(drawn_by.items()) if min(rows) >= 8)
    job.styles[bad].path.write_bytes(b"not an image")
    events: list[Event] = []
    summary = run_job(_stylizer(weight_files), job, progress=events.append)
    (failure,) = summary.failures
    assert failure.path == job.styles[bad].path and "p" in failure.error and failure.outputs == len(drawn_by[bad])
    assert len(summary.written) == len(job.contents) - len(drawn_by[bad])
    kinds = [event.kind for event in events if event.kind in ("written", "failed")]
    assert kinds.index("failed") >= 8  # reported when first met, after the first group's outputs
    (failed,) = [event for event in events if event.kind == "failed"]
    assert sorted(Path(record.content).name for record in failed.records) == sorted(
        job.contents[row].path.name for row in drawn_by[bad]
    )
    assert not any((job.output_dir / f"{job.contents[row].label}_stylized_{job.styles[bad].label}.png").exists()
                   for row in drawn_by[bad])  # fmt: skip


def test_styles_that_are_not_small_give_the_same_bytes_encoded_as_needed_or_all_first(
    weight_files, tmp_path: Path, monkeypatch
) -> None:
    """Lazy encoding changes when a style is encoded, not its statistics: styles of 128² px and more are encoded
    alone, as before, so the outputs are byte-identical to statistics taken first, one style after another."""
    for index in range(3):
        make_image(tmp_path / "photos" / f"c{index}.png", 32, 24, seed=index)
    for index in range(4):
        make_image(tmp_path / "paintings" / f"p{index}.png", 130, 128, seed=100 + index)
    job = plan(Request(contents=[tmp_path / "photos"], styles=[tmp_path / "paintings"], output=tmp_path / "lazy",
                         images=ImageOptions(content_size=0, style_size=0), grid=False)).job  # fmt: skip
    job = replace(job, styles_per_content=2, seed=1)
    stylizer = _stylizer(weight_files)
    run_job(stylizer, job)
    eager = {}
    for k, style in enumerate(job.styles):  # what the bank held before: each style encoded alone, first
        loaded = images.load(style.path, 0)
        eager[k] = stylizer.style_stats(loaded.rgb)
    monkeypatch.setattr(JobStyles, "stats", lambda self, k: eager[k])
    run_job(stylizer, replace(job, output_dir=tmp_path / "eager"))
    lazy_files = sorted(path.name for path in (tmp_path / "lazy").glob("*.png"))
    assert len(lazy_files) == 6
    for name in lazy_files:
        assert (tmp_path / "lazy" / name).read_bytes() == (tmp_path / "eager" / name).read_bytes()
