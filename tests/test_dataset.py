"""Stylizing a dataset: styles drawn per content, output names from a template, outputs at the content's own
size, and a job id that does not depend on the order of the inputs."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_image

_TINY = ("--content-size", "0", "--style-size", "0")


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
