"""Grid pages at resume: a finished job is answered without torch and keeps every page; only the page of an
output made again is drawn again, byte for byte as a whole run draws it; another --grid-rows leaves no page of
the old paging; thumbnails come from the results in memory, never from reading an output back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import ImageFile

from tests.conftest import make_image, run_benchmark


@pytest.fixture
def five_contents(tmp_path: Path) -> tuple[Path, Path]:
    """Five tiny contents and two styles: with --grid-rows 2, three pages per α (2, 2 and 1 contents)."""
    for index in range(5):
        make_image(tmp_path / "in" / f"c{index}.png", 20, 16, seed=index)
    for index in range(2):
        make_image(tmp_path / "styles" / f"s{index}.png", 16, 16, seed=50 + index)
    return tmp_path / "in", tmp_path / "styles"


def job_args(contents: Path, styles: Path, out: Path, *extra: str) -> list[str | Path]:
    return ["stylize", contents, "--style", styles, "-o", out, "--content-size", "0", "--grid-cell", "16",
            "--grid-rows", "2", *extra]  # fmt: skip


def pages_of(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(out.glob("grid_*.png"))}


def times_of(out: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in sorted(out.glob("grid_*.png"))}


@pytest.fixture
def decoded_files(monkeypatch) -> list[Path]:
    """Every image file whose pixels are decoded (a header read or a verify decodes none)."""
    decoded: list[Path] = []
    real_load = ImageFile.ImageFile.load

    def load(self: ImageFile.ImageFile):  # type: ignore[no-untyped-def]
        if getattr(self, "filename", ""):
            decoded.append(Path(self.filename))
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return decoded


def test_a_resume_of_a_finished_job_draws_no_page_reads_no_output_and_imports_no_torch(
    run_adain, weight_files, five_contents, tmp_path
):
    out = tmp_path / "out"
    assert run_adain(*job_args(*five_contents, out)).exit_code == 0
    before = times_of(out)
    assert len(before) == 3
    argv = [str(arg) for arg in job_args(*five_contents, out, "--skip-existing", "--json")]
    argv += ["--encoder", str(weight_files[0]), "--decoder", str(weight_files[1])]
    code = (
        "import sys, json\n"
        "from PIL import ImageFile\n"
        "decoded = []\n"
        "real = ImageFile.ImageFile.load\n"
        "def load(self):\n"
        "    decoded.append(getattr(self, 'filename', ''))\n"
        "    return real(self)\n"
        "ImageFile.ImageFile.load = load\n"
        "from adain_cli.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as stop:\n    code = stop.code\n"
        f"Path = __import__('pathlib').Path\n"
        f"Path({str(tmp_path / 'facts.json')!r}).write_text(json.dumps("
        "{'torch': 'torch' in sys.modules, 'decoded': decoded, 'code': code}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    facts = json.loads((tmp_path / "facts.json").read_text())
    summary = json.loads(done.stdout)
    assert facts == {"torch": False, "decoded": [], "code": 0}
    assert (summary["written"], summary["skipped"], summary["failed"]) == (0, 10, 0)
    assert "0 written, 10 skipped, 0 failed" in done.stderr
    assert times_of(out) == before  # no page drawn again
    planned = run_adain(*job_args(*five_contents, out, "--skip-existing", "--dry-run")).stdout
    assert planned.count("would skip (unchanged)\t") == 3 and "would write" not in planned  # said before any work


def test_a_resume_that_makes_one_content_again_draws_only_its_page(run_adain, five_contents, tmp_path, decoded_files):
    contents, styles = five_contents
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert run_adain(*job_args(contents, styles, whole)).exit_code == 0
    assert run_adain(*job_args(contents, styles, resumed)).exit_code == 0
    for output in resumed.glob("c2_*.png"):  # on the second page, with c3
        output.unlink()
    before = times_of(resumed)
    decoded_files.clear()
    again = run_adain(*job_args(contents, styles, resumed, "--skip-existing", "--json"))
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert (summary["written"], summary["skipped"]) == (2, 8)
    changed = {name for name, mtime in times_of(resumed).items() if before[name] != mtime}
    assert changed == {name for name in before if name.endswith("_p02.png")}
    assert [Path(path).name for path in summary["grids"]] == sorted(changed)
    assert pages_of(resumed) == pages_of(whole)  # byte for byte as one whole run draws them
    read_back = {path.name for path in decoded_files if path.parent == resumed}
    assert read_back == {"c3_stylized_s0.png", "c3_stylized_s1.png"}  # only the kept cells of the page drawn


def test_a_resume_reads_each_outputs_mark_once(run_adain, five_contents, tmp_path, monkeypatch):
    from adain_cli import marker

    contents, styles = five_contents
    out = tmp_path / "out"
    assert run_adain(*job_args(contents, styles, out)).exit_code == 0
    for output in out.glob("c2_*.png"):
        output.unlink()
    checked: list[Path] = []
    real_is_done = marker.is_done

    def is_done(path: Path, made_id: str) -> bool:
        checked.append(path)
        return real_is_done(path, made_id)

    monkeypatch.setattr(marker, "is_done", is_done)
    again = run_adain(*job_args(contents, styles, out, "--skip-existing", "--json"))
    assert again.exit_code == 0, again.output
    assert (json.loads(again.stdout)["written"], len(checked)) == (2, 10)  # the command's survey serves the run
    assert len(set(checked)) == 10


def test_another_grid_rows_leaves_no_page_of_the_old_paging(run_adain, five_contents, tmp_path):
    contents, styles = five_contents
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    assert run_adain(*job_args(contents, styles, out)).exit_code == 0
    assert [name[-8:] for name in pages_of(out)] == ["_p01.png", "_p02.png", "_p03.png"]
    for rows, names in (("3", ["_p01.png", "_p02.png"]), ("100", ["a1.00.png"])):
        args = [*job_args(contents, styles, out, "--skip-existing"), "--grid-rows", rows]
        assert run_adain(*args).exit_code == 0
        assert [name[-len(names[0]) :] for name in pages_of(out)] == names
        assert run_adain(*job_args(contents, styles, fresh / rows), "--grid-rows", rows).exit_code == 0
        assert pages_of(out) == pages_of(fresh / rows)


def test_thumbnails_come_from_the_results_in_memory(run_adain, five_contents, tmp_path, decoded_files):
    out = tmp_path / "out"
    result = run_adain(*job_args(*five_contents, out, "--json"))
    assert result.exit_code == 0 and len(json.loads(result.stdout)["grids"]) == 3
    assert not [path for path in decoded_files if path.parent == out]  # no output read back to draw a cell


def test_bench_batch_quick_says_the_resume_reads_no_output_and_imports_no_torch(tmp_path):
    lines = {line.split(":")[0]: line for line in run_benchmark("bench_batch.py", cwd=tmp_path)}
    assert "grids' share of the job" in lines["grids"]
    resume = lines["grids resume"]
    assert "torch imported: False; outputs decoded: 0;" in resume and "drawn again: 0 of 2" in resume, resume
