"""The library API: `import adain_cli` is instant, and its names do what the CLI does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import adain_cli
from tests.conftest import make_image


def test_import_loads_no_torch_and_every_exported_name_resolves():
    code = "import sys, adain_cli; assert 'torch' not in sys.modules; print(sorted(adain_cli.__all__))"
    listed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Stylizer" in listed and "run_job" in listed
    for name in adain_cli.__all__:
        assert getattr(adain_cli, name) is not None
    with pytest.raises(AttributeError):
        _ = adain_cli.no_such_name


def test_stylize_on_pil_images_equals_the_cli(weight_files, run_adain, tmp_path):
    content, style = make_image(tmp_path / "c.png", 40, 32, seed=1), make_image(tmp_path / "s.png", 32, 32, seed=2)
    stylizer = adain_cli.Stylizer.from_pretrained(str(weight_files[0]), str(weight_files[1]), device="cpu")
    result = stylizer.stylize(Image.open(content), Image.open(style), alpha=0.7)
    assert isinstance(result, Image.Image) and result.size == (40, 32)
    cli = run_adain("stylize", content, "--style", style, "--alpha", "0.7", "--content-size", "0", "--style-size",
                    "0", "-o", tmp_path / "out")  # fmt: skip
    assert cli.exit_code == 0, cli.output
    assert np.array_equal(np.array(result), np.array(Image.open(tmp_path / "out" / "c_stylized_s.png")))
    with pytest.raises(ValueError, match="alpha"):
        stylizer.stylize(Image.open(content), Image.open(style), alpha=1.5)


def test_from_pretrained_offline_names_the_missing_file():
    with pytest.raises(adain_cli.AdainError, match=r"vgg_normalised\.pth"):
        adain_cli.Stylizer.from_pretrained(offline=True)


def test_the_docstring_job_example_runs(weight_files, tmp_path, monkeypatch):
    for index in range(2):
        make_image(tmp_path / "photos" / f"p{index}.png", 24, 16, seed=index)
        make_image(tmp_path / "styles" / f"s{index}.png", 16, 16, seed=5 + index)
    monkeypatch.chdir(tmp_path)
    events = []
    stylizer = adain_cli.Stylizer.from_pretrained(str(weight_files[0]), str(weight_files[1]), device="cpu")
    styles = adain_cli.discover([Path("styles/")])
    job = adain_cli.Job(contents=tuple(adain_cli.discover([Path("photos/")])), styles=tuple(styles),
                        looks=tuple(adain_cli.style_looks(styles)), output_dir=Path("out"), alphas=(0.5, 1.0),
                        images=adain_cli.ImageOptions(content_size=0, style_size=0), grid_cell=16)  # fmt: skip
    summary = adain_cli.run_job(stylizer, job, progress=events.append)
    assert len(summary.written) == 8 and summary.failed == 0 and len(summary.grids) == 2
    assert [event.kind for event in events].count("written") == 8


@pytest.mark.slow
def test_the_readme_python_example_runs_as_written(weight_files, tmp_path, monkeypatch):
    import re
    import shutil

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    example = re.search(r"## As a Python library\n\n```python\n(.*?)```", readme, re.DOTALL).group(1)
    home = Path(adain_cli.__file__).resolve().parent.parent
    (tmp_path / "sample_styles").symlink_to(home / "sample_styles")
    cache = tmp_path / "cache"
    cache.mkdir()
    for path in weight_files:  # the cache already holds the (random, public-layout) files: no download
        shutil.copy(path, cache / path.name)
    monkeypatch.setenv("ADAIN_HOME", str(cache))
    monkeypatch.chdir(tmp_path)
    output = []
    monkeypatch.setattr("builtins.print", lambda *args: output.append(" ".join(map(str, args))))
    exec(compile(example, "README.md", "exec"), {})
    assert Image.open(tmp_path / "mosaic_ink.png").size == (384, 384)
    assert output == ["32 written, 0 failed"]
