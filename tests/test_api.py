"""The library API: `import adain_cli` is instant, and its names do what the CLI does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
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
    result = stylizer.stylize(Image.open(content), Image.open(style), alpha=0.7, content_size=0, style_size=0)
    assert isinstance(result, Image.Image) and result.size == (40, 32)
    cli = run_adain("stylize", content, "--style", style, "--alpha", "0.7", "--content-size", "0", "--style-size",
                    "0", "-o", tmp_path / "out")  # fmt: skip
    assert cli.exit_code == 0, cli.output
    assert np.array_equal(np.array(result), np.array(Image.open(tmp_path / "out" / "c_stylized_s.png")))
    with pytest.raises(ValueError, match="alpha"):
        stylizer.stylize(Image.open(content), Image.open(style), alpha=1.5)


@pytest.mark.slow
def test_the_one_call_equals_the_command_with_its_defaults(weight_files, run_adain, tmp_path):
    """`adain_cli.stylize("c.jpg", "s.jpg", alpha=.5)` is `adain stylize c.jpg --style s.jpg --alpha .5`, pixel
    for pixel, at the default sizes (the reference's resize to 512); and a batch of one is the same image."""
    content = make_image(tmp_path / "c.jpg", 72, 54, seed=1)
    style = make_image(tmp_path / "s.jpg", 60, 64, seed=2)
    stylizer = adain_cli.Stylizer.from_pretrained(str(weight_files[0]), str(weight_files[1]), device="cpu")
    result = adain_cli.stylize(content, style, alpha=0.5, stylizer=stylizer)
    cli = run_adain("stylize", content, "--style", style, "--alpha", ".5", "-o", tmp_path / "out")
    assert cli.exit_code == 0, cli.output
    command = np.array(Image.open(tmp_path / "out" / "c_stylized_s.png"))
    assert command.shape == (512, 682, 3)
    assert np.array_equal(np.array(result), command)
    as_tensor = torch.from_numpy(np.array(Image.open(content))).permute(2, 0, 1).float() / 255
    single = adain_cli.stylize(as_tensor, style, alpha=0.5, content_size=64, style_size=64, stylizer=stylizer)
    batch = adain_cli.stylize(as_tensor[None], style, alpha=0.5, content_size=64, style_size=64, stylizer=stylizer)
    assert single.shape == (3, 64, 85) and batch.shape == (1, 3, 64, 85)
    assert torch.equal(single, batch[0])


def test_every_kind_of_picture_gives_its_own_kind_back(weight_files, tmp_path):
    content = make_image(tmp_path / "c.png", 40, 32, seed=1)
    stylizer = adain_cli.Stylizer.from_pretrained(str(weight_files[0]), str(weight_files[1]), device="cpu")
    sizes = {"content_size": 0, "style_size": 0, "stylizer": stylizer}
    pixels = np.array(Image.open(content))
    from_array = adain_cli.stylize(pixels, content, **sizes)
    from_pil = adain_cli.stylize(Image.open(content), content, **sizes)
    assert isinstance(from_array, np.ndarray) and from_array.dtype == np.uint8 and from_array.shape == (32, 40, 3)
    assert np.array_equal(from_array, np.array(from_pil))  # an 8-bit array goes the way the file goes
    two = torch.from_numpy(np.stack([pixels, pixels[::-1]])).permute(0, 3, 1, 2).float() / 255
    batch = adain_cli.stylize(two, content, **sizes)
    assert batch.shape == (2, 3, 32, 40) and float(batch.min()) >= 0 and float(batch.max()) <= 1
    blended = adain_cli.interpolate(content, [content, make_image(tmp_path / "s.png", 24, 24)], weights=[1, 0],
                                    **sizes)  # fmt: skip
    assert np.array_equal(np.array(blended), np.array(from_pil))  # all weight on one style is that style
    with pytest.raises(ValueError, match=r"\(3, H, W\) or \(N, 3, H, W\)"):
        adain_cli.stylize(torch.zeros(1, 1, 3, 8, 8), content, **sizes)
    with pytest.raises(TypeError, match="a path, a PIL image"):
        adain_cli.stylize(42, content, **sizes)


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


def run_example(example: str, weight_files, tmp_path: Path, monkeypatch) -> list[str]:
    """Run a library example as written, in a folder holding the sample styles and a cache that already has the
    (random, public-layout) weights, so nothing is downloaded; returns what it printed."""
    import shutil

    home = Path(adain_cli.__file__).resolve().parent.parent
    (tmp_path / "sample_styles").symlink_to(home / "sample_styles")
    cache = tmp_path / "cache"
    cache.mkdir()
    from dataclasses import replace

    from adain_cli import registry

    for path in weight_files:
        shutil.copy(path, cache / path.name)
    for name, spec in list(registry.REGISTRY.items()):  # the stand-ins are the "release" these examples use
        monkeypatch.setitem(registry.REGISTRY, name, replace(spec, sha256=registry.sha256_of(cache / spec.filename)))
    monkeypatch.setenv("ADAIN_HOME", str(cache))
    monkeypatch.chdir(tmp_path)
    output: list[str] = []
    monkeypatch.setattr("builtins.print", lambda *args: output.append(" ".join(map(str, args))))
    from adain_cli import api

    api.default_stylizer.cache_clear()
    try:
        exec(compile(example, "example", "exec"), {})
    finally:
        api.default_stylizer.cache_clear()
    return output


@pytest.mark.slow
def test_the_readme_and_docstring_examples_run_as_written(weight_files, tmp_path, monkeypatch):
    """README's Python example is the docstring's, word for word (the docstring adds one line for
    StyleAugment), so one run of the docstring's tests both."""
    import re
    import textwrap

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    in_readme = re.search(r"## As a Python library\n\n```python\n(.*?)```", readme, re.DOTALL).group(1)
    doc = adain_cli.__doc__ or ""
    example = textwrap.dedent(doc[doc.index("    import adain_cli") : doc.index("Names are imported")])
    assert example.startswith(in_readme)
    output = run_example(example, weight_files, tmp_path, monkeypatch)
    assert Image.open(tmp_path / "mosaic_ink.png").size == (512, 512)
    assert output == ["32 written, 0 failed"]
