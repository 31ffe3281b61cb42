"""First contact (issue 26): what a new user meets first — answers before torch loads, one file in and
one file out, summaries that add up, names as documented, sheets that can be read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import AT_OWN_SIZE, REPO, make_image

# Runs the real CLI in a fresh interpreter and says, after everything else, whether torch was imported.
_PROBE = """
import atexit, sys
atexit.register(lambda: print("torch imported" if "torch" in sys.modules else "torch not imported", file=sys.stderr))
from adain_cli.cli import main
main(sys.argv[1:])
"""


def run_fresh(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    make_image(tmp_path / "c.png", 32, 24, seed=1)
    make_image(tmp_path / "s.png", 32, 24, seed=2)
    make_image(tmp_path / "t.png", 32, 24, seed=3)
    (tmp_path / "empty").mkdir()
    return tmp_path


CHEAP_CHECKS = {
    "interpolate with one style": (["interpolate", "c.png", "s.png", "-o", "o"], 2, "at least two styles"),
    "more masks than styles": (
        ["spatial", "c.png", "--mask", "s.png", "--mask", "t.png", "--style", "s.png", "-o", "o"], 2, "2 masks"
    ),
    "empty content folder": (["stylize", "empty", "--style", "s.png", "-o", "o"], 1, "no content images"),
    "bad device": (["stylize", "c.png", "--style", "s.png", "--device", "gpu0", "-o", "o"], 2, "use auto or cpu"),
    "missing decoder file": (["stylize", "c.png", "--style", "s.png", "--decoder", "nosuch.pth"], 2, "nosuch.pth"),
    "models path": (["models", "path", "decoder"], 1, "decoder.pth"),
    "models list": (["models", "list"], 0, "vgg_normalised"),
    "dry run": (["stylize", "c.png", "--style", "s.png", "--dry-run", "-o", "o"], 0, "would write"),
    "spatial dry run": (
        ["spatial", "c.png", "--mask", "s.png", "--style", "s.png", "--style", "t.png", "--dry-run", "-o", "o"],
        0, "would write",
    ),
    "interpolation sheet dry run": (
        ["interpolate", "c.png", "s.png", "t.png", "--sheet", "3", "--dry-run", "-o", "o"], 0, "would write"
    ),
    "preserve-color dry run": (["preserve-color", "c.png", "--style", "s.png", "--dry-run", "-o", "o"], 0, "would"),
    "-o with an extension adain does not write": (
        ["stylize", "c.png", "--style", "s.png", "-o", "r.bmp"], 2, "adain writes one output as .png, .jpg"
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CHEAP_CHECKS, ids=list(CHEAP_CHECKS))
def test_cheap_checks_answer_before_torch_is_imported(workdir: Path, case: str) -> None:
    args, status, expected = CHEAP_CHECKS[case]
    result = run_fresh(*args, cwd=workdir)
    assert result.returncode == status, result.stderr
    assert expected in result.stdout + result.stderr
    assert result.stderr.rstrip().endswith("torch not imported"), result.stderr


def weights_args(weight_files: tuple[Path, Path]) -> list[str]:
    encoder, decoder = weight_files
    return ["--encoder", str(encoder), "--decoder", str(decoder), *AT_OWN_SIZE]


@pytest.mark.parametrize(("name", "kind"), [("result.png", "PNG"), ("result.jpg", "JPEG"), ("r.webp", "WEBP")])
def test_one_output_goes_to_the_file_o_names(run_adain, workdir: Path, name: str, kind: str) -> None:
    from PIL import Image

    result = run_adain("stylize", workdir / "c.png", "--style", workdir / "s.png", "-o", workdir / name,
                       *AT_OWN_SIZE)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (workdir / name).is_file()
    with Image.open(workdir / name) as written:
        assert written.format == kind and written.size == (32, 24)


def test_a_file_o_with_more_outputs_is_a_usage_error_naming_the_count(run_adain, workdir: Path) -> None:
    result = run_adain("stylize", workdir / "c.png", "--style", workdir / "s.png", "--style", workdir / "t.png",
                       "-o", workdir / "result.png")  # fmt: skip
    assert result.exit_code == 2
    assert "writes 2 outputs" in result.stderr
    assert not (workdir / "result.png").exists()


def test_stdin_in_and_stdout_out(weight_files, workdir: Path) -> None:
    from io import BytesIO

    from PIL import Image

    command = [sys.executable, "-m", "adain_cli", "stylize", "-", "--style", "s.png", "-o", "-"]
    result = subprocess.run([*command, *weights_args(weight_files)], cwd=workdir,
                            input=(workdir / "c.png").read_bytes(), capture_output=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with Image.open(BytesIO(result.stdout)) as written:  # stdout holds the PNG and nothing else
        assert written.format == "PNG" and written.size == (32, 24)
    assert b"1 written" in result.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["c.png", "empty", "s.png", "t.png"]


def test_under_torchrun_the_summary_counts_every_rank(weight_files, workdir: Path) -> None:
    from tests.conftest import run_module

    contents = [workdir / name for name in ("c.png", "s.png", "t.png")]
    styles = ["--style", str(workdir / "s.png"), "--style", str(workdir / "t.png")]
    args = ["stylize", *map(str, contents), *styles, "-o", str(workdir / "out"), *weights_args(weight_files)]
    done = run_module(*args, processes=2)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "6 written, 0 skipped, 0 failed" in done.stderr
    assert f"→ {workdir / 'out'}" in done.stderr


def test_the_display_names_each_stage_and_the_summary_the_folder(run_adain, workdir: Path, monkeypatch) -> None:
    """The live display shows the stage and the file; a pipe gets no stage lines (stderr there is progress
    lines and one line per failure), and the summary names the output folder."""
    from adain_cli.progress import JobProgress

    shown: list[tuple[str, str]] = []
    original = JobProgress._update

    def recording(self, **changes):
        if "stage" in changes:
            shown.append((changes["stage"], changes.get("file", "")))
        original(self, **changes)

    monkeypatch.setattr(JobProgress, "_update", recording)
    result = run_adain("stylize", workdir / "c.png", "--style", workdir / "s.png", "-o", workdir / "out",
                       *AT_OWN_SIZE)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert shown == [("encoding styles", ""), ("stylizing", "c.png")]
    lines = result.stderr.splitlines()
    assert not [line for line in lines if line.endswith("…")]
    assert lines[-1].endswith(f"→ {workdir / 'out'}")


def test_the_bar_ends_on_the_summary_rate() -> None:
    from rich.progress import Progress

    from adain_cli.progress import RateColumn

    with Progress(disable=True) as progress:
        task_id = progress.add_task("", total=4)
        progress.update(task_id, completed=4, seconds=2.0)
        task = progress.tasks[0]
        assert RateColumn().render(task).plain == "2.00 img/s"


def test_styles_sharing_a_name_are_told_apart_and_said_so_before_any_work(run_adain, workdir: Path) -> None:
    make_image(workdir / "styles" / "s.png", 32, 24, seed=4)
    result = run_adain("stylize", workdir / "c.png", "--style", workdir / "s.png", "--style",
                       workdir / "styles" / "s.png", "-o", workdir / "out", *AT_OWN_SIZE, "--no-grid")  # fmt: skip
    assert result.exit_code == 0, result.output
    first = result.stderr.splitlines()[0]
    assert first == f"note: {workdir / 'styles' / 's.png'} is named s_2 in outputs (another input has the same name)"
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["c_stylized_s.png", "c_stylized_s_2.png"]


def test_interpolation_sheet_labels_are_whole_percents() -> None:
    from adain_cli.inputs import Source, with_unique_labels
    from adain_cli.looks import sheet_looks

    looks, shape, _ = sheet_looks(with_unique_labels([Source(Path(f"{name}.png")) for name in "abcd"]), 4)
    assert shape == (4, 4)
    assert looks[5].label == "a 44% · b 22% · c 22% · d 11%"
    assert all("." not in look.label for look in looks)


# Item 5: sheets you can read.
SAMPLE_NAMES = ("brush_strokes", "cubist", "ink", "marbling", "mosaic", "pointillism", "stained_glass", "waves")


@pytest.mark.parametrize("names", [SAMPLE_NAMES[:4], SAMPLE_NAMES[4:], ("a", "b", "c", "d")])
def test_every_cell_of_a_four_by_four_sheet_reads_in_full_at_the_default_cell(names: tuple[str, ...]) -> None:
    from adain_cli.defaults import GRID_CELL
    from adain_cli.inputs import Source
    from adain_cli.looks import sheet_looks
    from adain_cli.sheets.drawing import GridCanvas, Labels, fit_caption, font_size

    looks, _, _ = sheet_looks([Source(Path(f"styles/{name}.jpg")) for name in names], 4)
    labels = tuple(look.label for look in looks)
    canvas = GridCanvas(4, 4, GRID_CELL, headers=False, labels=Labels(cells=labels))
    for label in labels:
        font, lines = fit_caption(label, font_size(GRID_CELL), canvas.pitch - 4, canvas.band, canvas.lines)
        assert " ".join(lines).split() == label.split()  # every word, none cut with "…"
        assert font.size == font_size(GRID_CELL)  # wrapped, not shrunk
        assert all(canvas.draw.textlength(line, font=font) <= canvas.pitch - 4 for line in lines)


def test_a_caption_too_long_for_its_lines_shrinks_before_it_is_cut() -> None:
    from adain_cli.sheets.drawing import fit_caption

    font, lines = fit_caption("ink 100% · waves 0%", 14, 60, band=28, lines=2)  # four lines at 14 px
    assert font.size < 14 and lines == ["ink 100% ·", "waves 0%"]
    font, lines = fit_caption("x" * 400, 14, 60, band=28, lines=2)
    assert font.size == 8 and lines[-1].endswith("…")  # the last resort


def test_a_spatial_grid_has_its_header_row_and_the_preview_a_legend(run_adain, workdir: Path) -> None:
    import numpy as np
    from PIL import Image

    from adain_cli.sheets.drawing import gutter

    mask = Image.new("L", (32, 24), 0)
    mask.paste(255, (0, 0, 16, 24))
    mask.save(workdir / "m.png")
    out = workdir / "out"
    result = run_adain("spatial", workdir / "c.png", workdir / "t.png", "--mask", workdir / "m.png", "--style",
                       workdir / "s.png", "--style", workdir / "t.png", "--preview", "--grid-cell", "32", "-o", out,
                       *AT_OWN_SIZE)  # fmt: skip
    assert result.exit_code == 0, result.output
    (grid,) = out.glob("grid_spatial_*.png")
    sheet = np.asarray(Image.open(grid).convert("RGB")).astype(int)
    left = 64 + gutter(32)  # the look's column, after the (label-wide) row-header column
    header = sheet[:32, left : left + 64]
    assert header.std() > 20  # both styles' thumbnails, not an empty cell
    with Image.open(out / "c_spatial_preview.png") as preview:
        assert preview.width == 32 and preview.height > 24 + 2 * 10  # a legend line per region under the image
        legend = np.asarray(preview.convert("RGB")).astype(int)[24:]
    red = (legend[..., 0] > 200) & (legend[..., 1] < 90)
    grey = (abs(legend - 128) < 3).all(axis=-1)
    assert red.any() and grey.any()  # the swatches of the masked region and of the background


# Item 6: no surprise enlargement.
def test_no_enlarge_leaves_a_small_content_and_style_at_their_size(run_adain, workdir: Path) -> None:
    from PIL import Image

    from adain_cli.images import resized_size

    make_image(workdir / "small.png", 36, 24, seed=5)
    Image.open(workdir / "small.png").save(workdir / "small.gif")
    result = run_adain("stylize", workdir / "small.gif", "--style", workdir / "s.png", "--content-size", "48",
                       "--style-size", "48", "--no-enlarge", "-o", workdir / "out")  # fmt: skip
    assert result.exit_code == 0, result.output
    with Image.open(workdir / "out" / "small_stylized_s.png") as written:
        assert written.size == (36, 24)
    result = run_adain("stylize", workdir / "small.gif", "--style", workdir / "s.png", "--content-size", "48",
                       "--style-size", "48", "-o", workdir / "big")  # fmt: skip
    with Image.open(workdir / "big" / "small_stylized_s.png") as written:
        assert written.size == (72, 48)  # enlarged, as before, unless asked
    assert resized_size(64, 96, 512, enlarge=False) == (64, 96)
    assert resized_size(1024, 1536, 512, enlarge=False) == (512, 768)  # still scaled down
    assert "--no-enlarge" in run_adain("stylize", "--help", weights=False).output


# Item 7: the small ones.
@pytest.mark.parametrize(
    ("command", "hint"),
    [("stylize", "run the same command again with --skip-existing"), ("train", "adain train --resume RUN")],
)
def test_an_interrupt_says_how_to_resume_the_command_that_ran(command: str, hint: str) -> None:
    import click

    from adain_cli.cli import AdainGroup, after_interrupt
    from tests.conftest import cli_runner

    @click.group(cls=AdainGroup)
    def group() -> None: ...

    @group.command(command)
    def interrupted() -> None:
        raise KeyboardInterrupt

    result = cli_runner().invoke(group, [command])
    assert result.exit_code == 130
    (line,) = result.stderr.splitlines()
    assert line.startswith("adain: interrupted by ") and line.endswith(after_interrupt(command)) and hint in line


def test_weights_list_hashes_unless_no_hash_and_no_verify_means_one_thing(run_adain) -> None:
    quick = run_adain("models", "list", "--no-hash", weights=False)
    assert quick.exit_code == 0 and "vgg_normalised" in quick.output
    old = run_adain("models", "list", "--no-verify", weights=False)
    assert old.exit_code == 2  # --no-verify is only "accept a download whose hash differs"


def test_doctor_prints_versions_devices_cache_and_weights(run_adain, weight_files) -> None:
    import json
    import shutil

    from adain_cli.registry import REGISTRY, cache_dir, cached_path

    cache_dir().mkdir(parents=True, exist_ok=True)
    shutil.copy(weight_files[1], cached_path(REGISTRY["decoder"]))  # random weights: present, but not the release's
    shown = run_adain("doctor", weights=False)
    assert shown.exit_code == 1, shown.output  # a cached file that is not the release is a problem
    for word in ("adain", "python", "torch", "torchvision", "Pillow", "av", "numpy", "cuda:", "mps:", "bf16"):
        assert word in shown.output
    assert f"cache: {cache_dir()}" in shown.output and "model decoder: present" in shown.output
    assert "SHA-256 DIFFERS" in shown.output and "problem: " in shown.output  # hashed by default, as `models list`
    found = json.loads(run_adain("doctor", "--json", weights=False).output)
    assert set(found["versions"]) == {"adain", "python", "torch", "torchvision", "Pillow", "av", "numpy"}
    assert isinstance(found["devices"]["cpu"]["bf16"], bool) and "available" in found["devices"]["cuda"]
    assert found["devices"]["cpu"]["allocator"] == "the platform's default"  # in-process: the library's case
    assert "allocator: the platform's default" in shown.output
    weights = {row["name"]: row for row in found["models"]}
    assert weights["decoder"]["present"] and weights["decoder"]["verified"] is False
    assert not weights["vgg_normalised"]["present"]


def test_device_and_weights_options_complete(workdir: Path) -> None:
    from click.shell_completion import ShellComplete

    from adain_cli.cli import cli

    def completions(*args: str) -> list[tuple[str, str]]:
        complete = ShellComplete(cli, {}, "adain", "_ADAIN_COMPLETE")
        return [(item.value, item.type) for item in complete.get_completions(list(args[:-1]), args[-1])]

    assert ("cuda:0", "plain") in completions("stylize", "--device", "cu")
    assert completions("stylize", "--decoder", "dec") == [("decoder", "plain"), ("dec", "file")]
    assert ("vgg_normalised", "plain") in completions("interpolate", "--encoder", "")


def test_a_bare_style_name_is_a_shipped_sample_and_a_path_means_that_file(run_adain, workdir: Path, monkeypatch):
    from adain_cli.inputs import sample_style_names

    assert len(sample_style_names()) == 8 and "waves" in sample_style_names()
    monkeypatch.chdir(workdir)
    args = ("stylize", "c.png", "-o", "out", "--content-size", "0", "--style-size", "32", "--no-grid")
    result = run_adain(*args, "--style", "waves")
    assert result.exit_code == 0, result.output
    assert (workdir / "out" / "c_stylized_waves.png").is_file()
    make_image(workdir / "own.png", 24, 24, seed=9).rename(workdir / "waves")  # a file named like a sample
    assert run_adain(*args, "--style", "waves", "-o", "mine").exit_code == 0  # is that file, as typed
    from PIL import Image

    shipped = np.asarray(Image.open(workdir / "out" / "c_stylized_waves.png"))
    own = np.asarray(Image.open(workdir / "mine" / "c_stylized_waves.png"))
    assert shipped.shape == own.shape and not np.array_equal(shipped, own)
    unknown = run_adain(*args, "--style", "wavez")
    assert unknown.exit_code == 2 and "is not a sample style (brush_strokes, cubist" in unknown.stderr
    missing = run_adain(*args, "--style", "wavez.jpg")
    assert missing.exit_code == 2 and "wavez.jpg does not exist" in missing.stderr


# Issue 34 item 7 and issue 32 item 8: small ones seen on first contact.
@pytest.mark.parametrize("name", ["r.bmp", "r.gif", "r.xyz", "clip.mp4"])
def test_o_ending_like_a_file_adain_does_not_write_is_a_usage_error_not_a_folder(run_adain, workdir, name) -> None:
    result = run_adain("stylize", workdir / "c.png", "--style", workdir / "s.png", "-o", workdir / name, "--dry-run")
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert (
        line.endswith(" stylize --help`)")
        and ": error: -o " in line
        and ".png, .jpg, .jpeg, .webp, .tif, .tiff" in line
    )
    assert not (workdir / name).exists()
    (workdir / name).mkdir()  # an existing folder of that name is that folder
    kept = run_adain("stylize", workdir / "c.png", "--style", workdir / "s.png", "-o", workdir / name, "--dry-run")
    assert kept.exit_code == 0 and f"{workdir / name}/c_stylized_s.png" in kept.stdout


def test_a_folder_name_with_a_dot_that_is_no_extension_is_still_a_folder(run_adain, workdir) -> None:
    result = run_adain("stylize", workdir / "c.png", "--style", workdir / "s.png", "-o", workdir / "run.2", "--dry-run")
    assert result.exit_code == 0 and f"{workdir / 'run.2'}/c_stylized_s.png" in result.stdout


def test_a_usage_error_in_a_command_s_body_has_the_command_s_prefix(run_adain, workdir) -> None:
    missing = run_adain("stylize", workdir / "c.png", "--style", workdir / "s.png", "--decoder", "nope.pth",
                        weights=False)  # fmt: skip
    other = run_adain("stylize", workdir / "c.png", "--style", workdir / "s.png", "--alpha", "3", weights=False)
    assert missing.exit_code == other.exit_code == 2
    prefixes = set()
    for result in (missing, other):
        (line,) = result.stderr.splitlines()
        prefix = line.split(": error: ")[0]  # in-process the program is named `cli`
        assert prefix.endswith(" stylize") and line.endswith(f"(see `{prefix} --help`)")
        prefixes.add(prefix)
    assert len(prefixes) == 1
    assert "nope.pth: no such checkpoint file" in missing.stderr


def test_a_dangling_link_named_like_a_sample_style_fails_by_its_name(run_adain, workdir, monkeypatch) -> None:
    monkeypatch.chdir(workdir)
    Path("waves").symlink_to(workdir / "nowhere.jpg")
    result = run_adain("stylize", "c.png", "--style", "waves", "-o", "out", "--dry-run")
    assert result.exit_code == 2
    assert f"waves is a symbolic link to {workdir / 'nowhere.jpg'}, which does not exist" in result.stderr
    assert "sample" not in result.stdout


def test_subfolders_skipped_without_r_are_said_once_and_r_is_offered(run_adain, workdir) -> None:
    make_image(workdir / "photos" / "a.png", 24, 24)
    make_image(workdir / "photos" / "trip" / "b.png", 24, 24)
    make_image(workdir / "photos" / "more" / "c.png", 24, 24)
    (workdir / "photos" / ".hidden").mkdir()
    make_image(workdir / "styles" / "oils" / "s.png", 24, 24)
    args = ("--dry-run", "-o", workdir / "out")
    said = run_adain("stylize", workdir / "photos", "--style", workdir / "s.png", *args)
    assert said.exit_code == 0
    assert said.stderr.splitlines() == [f"note: 2 subfolders of {workdir / 'photos'} not searched (-r walks them)"]
    assert run_adain("stylize", workdir / "photos", "--style", workdir / "s.png", "-q", *args).stderr == ""
    assert run_adain("stylize", workdir / "photos", "--style", workdir / "s.png", "-r", *args).stderr == ""
    styles = run_adain("stylize", workdir / "c.png", "--style", workdir / "styles", *args)
    assert styles.exit_code == 1
    assert f"no style images found in {workdir / 'styles'} (only in subfolders: add -r to walk them)" in styles.stderr


def test_a_shard_with_nothing_to_do_says_so(run_adain, workdir) -> None:
    result = run_adain("stylize", workdir / "c.png", "--style", workdir / "s.png", "--shard", "1/3", "--dry-run",
                       "-o", workdir / "out")  # fmt: skip
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.splitlines() == ["note: shard 1/3 has nothing to do: the job has 1 output for 3 shards"]
    busy = run_adain("stylize", workdir / "c.png", "--style", workdir / "s.png", "--shard", "3/3", "--dry-run",
                     "-o", workdir / "out")  # fmt: skip
    assert busy.stderr == "" and "would write" in busy.stdout


def test_doctor_flags_an_adain_home_that_is_a_file_and_exits_1(run_adain, workdir, monkeypatch) -> None:
    monkeypatch.setenv("ADAIN_HOME", str(workdir / "c.png"))
    result = run_adain("doctor", weights=False)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == (
        f"problem: the cache folder {workdir / 'c.png'} is a file; set ADAIN_HOME to a folder"
    )
    found = json.loads(run_adain("doctor", "--json", weights=False).stdout)
    assert found["problems"] == [f"the cache folder {workdir / 'c.png'} is a file; set ADAIN_HOME to a folder"]
    monkeypatch.setenv("ADAIN_HOME", str(workdir / "fresh"))  # not made yet: made on first download, no problem
    assert run_adain("doctor", weights=False).exit_code == 0
