"""`adain export onnx`: the ONNX model run with onnxruntime gives what `adain stylize` writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import as_tensor, make_image, run_module

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'adain-cli[onnx]')")
pytest.importorskip("onnx", reason="onnx is not installed (pip install 'adain-cli[onnx]')")


@pytest.fixture(scope="module")
def session(tmp_path_factory, weight_files):
    """The model `adain export onnx` writes, run as a user runs it: a program that prints only the path."""
    path = tmp_path_factory.mktemp("export") / "adain.onnx"
    encoder, decoder = weight_files
    result = run_module("export", "onnx", "-o", str(path), "--encoder", str(encoder), "--decoder", str(decoder))
    assert result.returncode == 0, result.stderr
    assert (result.stdout.strip(), result.stderr) == (str(path), "")  # no exporter or tracer warnings either
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(("width", "height", "alpha"), [(64, 48, 1.0), (40, 72, 0.5), (77, 50, 0.8)])
def test_onnxruntime_output_is_within_one_grey_level_of_adain_stylize(session, run_adain, tmp_path, width, height,
                                                                      alpha):  # fmt: skip
    content = make_image(tmp_path / "c.png", width, height, seed=1)
    style = make_image(tmp_path / "s.png", 56, 40, seed=2)
    result = run_adain("stylize", content, "--style", style, "--alpha", str(alpha), "--content-size", "0",
                       "--style-size", "0", "--no-grid", "-o", tmp_path / "out")  # fmt: skip
    assert result.exit_code == 0, result.output
    written = np.asarray(Image.open(next((tmp_path / "out").glob("c_stylized_s*.png"))).convert("RGB"))
    inputs = {"content": as_tensor(content).numpy(), "style": as_tensor(style).numpy(),
              "alpha": np.array(alpha, dtype=np.float32)}  # fmt: skip
    (image,) = session.run(None, inputs)
    assert image.shape == (1, 3, height, width)
    grey = np.rint(image[0].transpose(1, 2, 0) * 255).astype(int)
    assert np.abs(grey - written.astype(int)).max() <= 1


def test_the_model_documents_its_inputs_and_output(session):
    assert [(i.name, i.shape, i.type) for i in session.get_inputs()] == [
        ("content", [1, 3, "height", "width"], "tensor(float)"),
        ("style", [1, 3, "style_height", "style_width"], "tensor(float)"),
        ("alpha", [], "tensor(float)"),
    ]
    assert [(o.name, o.shape[1:]) for o in session.get_outputs()] == [("image", [3, "height", "width"])]


def test_o_dash_is_refused_and_writes_no_file_named_dash(run_adain, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_adain("export", "onnx", "-o", "-")
    assert result.exit_code == 2 and "an ONNX model is a file" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
    assert not (tmp_path / "-").exists()


def test_a_read_only_folder_is_one_line_before_any_weights_load(run_adain, tmp_path, monkeypatch):
    import errno
    import os
    import tempfile

    from adain_cli import weights

    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    real = tempfile.TemporaryFile

    def refuse_in_locked(*args, dir=None, **kwargs):  # as a mode 555 folder does for a user other than root
        if dir is not None and Path(dir) == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse_in_locked)
    monkeypatch.setattr(weights, "load_encoder", lambda path: pytest.fail("weights loaded before the check"))
    result = run_adain("export", "onnx", "-o", locked / "x.onnx")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"adain: error: cannot write {locked / 'x.onnx'}: Permission denied"]
    assert list(locked.iterdir()) == []
