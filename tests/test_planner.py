"""The library plans the job: `run_job(stylizer, plan(Request(...)).job)` writes what the command writes for the
same request; lists of files are named and drawn as a recursive walk of their root names them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adain_cli.cli import cli
from adain_cli.errors import UsageError
from adain_cli.job import ImageOptions
from adain_cli.planner import Request, listed_sources, plan
from tests.conftest import cli_runner, make_image, run_benchmark


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """photos/a/x.png, photos/b/x.png (one name in two folders), photos/y.png; four styles."""
    photos, styles = tmp_path / "photos", tmp_path / "styles"
    for seed, (relative, size) in enumerate({"a/x.png": (20, 16), "b/x.png": (16, 24), "y.png": (18, 18)}.items()):
        (photos / relative).parent.mkdir(parents=True, exist_ok=True)
        make_image(photos / relative, *size, seed=seed)
    styles.mkdir()
    for seed in range(4):
        make_image(styles / f"s{seed}.png", 16, 16, seed=10 + seed)
    return {"photos": photos, "styles": styles, "root": tmp_path}


def _pixels(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): np.asarray(Image.open(p)) for p in sorted(folder.rglob("*.png"))}


def test_the_library_writes_what_the_command_writes(tree, weight_files) -> None:
    from adain_cli.runner import run_job
    from adain_cli.stylizer import Stylizer

    encoder, decoder = weight_files
    out_cli, out_lib = tree["root"] / "cli", tree["root"] / "lib"
    argv = [str(tree["photos"]), "-r", "--style", str(tree["styles"]), "--styles-per-content", "2", "--seed", "3",
            "--name", "{content}_{style}", "--output-size", "original", "--content-size", "16", "--style-size", "16",
            "--no-grid", "-q", "-o", str(out_cli), "--encoder", str(encoder), "--decoder", str(decoder)]  # fmt: skip
    result = cli_runner().invoke(cli, ["stylize", *argv])
    assert result.exit_code == 0, result.output
    request = Request(contents=[tree["photos"]], styles=[tree["styles"]], output=out_lib, recursive=True,
                      styles_per_content=2, seed=3, name_template="{content}_{style}", grid=False,
                      images=ImageOptions(content_size=16, style_size=16, output_size="original"))  # fmt: skip
    summary = run_job(Stylizer.from_files(encoder, decoder, device="cpu"), plan(request).job)
    assert summary.totals().written == 6 and not summary.failures
    made_by_cli, made_by_library = _pixels(out_cli), _pixels(out_lib)
    assert sorted(made_by_cli) == sorted(made_by_library) and len(made_by_cli) == 6
    for name, pixels in made_by_cli.items():
        content = tree["photos"] / Path(name).parent / f"{Path(name).stem.split('_')[0]}.png"
        assert pixels.shape[:2] == Image.open(content).size[::-1]  # --output-size original
        np.testing.assert_array_equal(pixels, made_by_library[name])


def _dry_run(*argv: str | Path) -> list[str]:
    result = cli_runner().invoke(cli, ["stylize", *map(str, argv), "--dry-run"])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_a_list_is_named_and_drawn_as_a_recursive_walk_of_its_root(tree, monkeypatch) -> None:
    monkeypatch.chdir(tree["root"])
    listed = tree["root"] / "list.txt"
    listed.write_text("photos/b/x.png\nphotos/y.png\nphotos/a/x.png\n")
    draw = ("--style", "styles", "--styles-per-content", "1", "--seed", "7", "-o", "out", "--no-grid")
    walked = _dry_run("photos", "-r", *draw)
    from_list = _dry_run("--files-from", listed, *draw)
    assert sorted(from_list) == sorted(walked)
    # Two files of one name in two folders are two names in two folders, not x and x_2 side by side.
    assert any("out/a/x_" in line for line in walked) and any("out/b/x_" in line for line in walked)


def test_a_list_root_names_the_files_below_it(tree, monkeypatch) -> None:
    monkeypatch.chdir(tree["root"])
    (tree["root"] / "list.txt").write_text("photos/a/x.png\n")
    own_folder = _dry_run("--files-from", "list.txt", "--style", "styles/s0.png", "-o", "out", "--no-grid")
    rooted = _dry_run("--files-from", "list.txt", "--list-root", "photos", "--style", "styles/s0.png", "-o", "out",
                      "--no-grid")  # fmt: skip
    assert own_folder == ["would write\tout/x_stylized_s0.png"]
    assert rooted == ["would write\tout/a/x_stylized_s0.png"]


def test_a_listed_file_outside_the_root_is_refused_by_name(tree) -> None:
    with pytest.raises(UsageError, match=r"y\.png"):
        listed_sources([tree["photos"] / "y.png"], tree["photos"] / "a")


def test_plan_notes_what_the_command_says_and_refuses_what_it_refuses(tree) -> None:
    twin = tree["root"] / "more" / "x.png"
    twin.parent.mkdir()
    make_image(twin, 16, 16)
    planned = plan(Request(contents=[tree["photos"] / "a" / "x.png", twin], styles=[tree["styles"]],
                           output=tree["root"] / "out"))  # fmt: skip
    assert any("is named x_2 in outputs" in note for note in planned.notes)
    with pytest.raises(UsageError, match="--weights: 3 weights for 4 styles"):
        plan(Request(command="interpolate", contents=[twin], styles=sorted(tree["styles"].iterdir()),
                     weights=(1, 1, 1)))  # fmt: skip
    with pytest.raises(UsageError, match="names one file, but this job writes 4 outputs"):
        plan(Request(contents=[twin], styles=[tree["styles"]], output=tree["root"] / "one.png"))


def test_the_planning_benchmark_runs_at_toy_sizes() -> None:
    lines = run_benchmark("bench_planning.py")
    assert lines[0].startswith("processor: ")
    assert [line.split()[0] for line in lines[1:3]] == ["500", "5,000"] and "planned in" in lines[1]
    assert lines[-1].startswith("per-file time at 5,000 ÷ at 500: ")
