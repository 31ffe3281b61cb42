"""Every real-world input: odd modes, EXIF, alpha, animations, damaged and hostile files, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from adain_cli import video
from adain_cli.errors import ImageError
from adain_cli.images import load, read_image
from tests.conftest import AT_OWN_SIZE, finish, make_image, read_until


def png_16bit_rgb(path: Path, pixels: np.ndarray) -> Path:
    """A 16-bit RGB PNG written by hand (Pillow cannot write one)."""
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )
    return path


def png_claiming_size(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims a huge size (a decompression bomb's calling card)."""
    make_image(path, 8, 8)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then length + type of the IHDR chunk
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13])) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    return path


def build_zoo(folder: Path) -> dict[str, Path]:
    """One of each kind of input a batch user's folder may hold."""
    folder.mkdir(parents=True, exist_ok=True)
    zoo: dict[str, Path] = {}
    upright = Image.open(make_image(folder / "tmp_source.png", 64, 40, seed=1))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    upright.save(folder / "rotated.jpg", exif=exif, quality=95)
    zoo["rotated"] = folder / "rotated.jpg"
    gray16 = (np.linspace(0, 65535, 48 * 40).reshape(40, 48)).astype(np.uint16)
    Image.fromarray(gray16).save(folder / "gray16.png")
    zoo["gray16"] = folder / "gray16.png"
    rgb16 = np.zeros((40, 48, 3), np.uint16)
    rgb16[..., 0], rgb16[..., 1], rgb16[..., 2] = 65535, 32768, 0
    zoo["rgb16"] = png_16bit_rgb(folder / "rgb16.png", rgb16)
    Image.new("CMYK", (48, 40), (0, 255, 255, 0)).save(folder / "cmyk.jpg", quality=95)
    zoo["cmyk"] = folder / "cmyk.jpg"
    rgba = np.array(upright.resize((48, 40)).convert("RGBA"))
    rgba[..., 3] = np.tile(np.linspace(0, 255, 48).astype(np.uint8), (40, 1))
    Image.fromarray(rgba, "RGBA").save(folder / "cutout.png")
    zoo["rgba"] = folder / "cutout.png"
    Image.new("LA", (48, 40), (90, 200)).save(folder / "gray_alpha.png")
    zoo["la"] = folder / "gray_alpha.png"
    upright.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(folder / "palette.png")
    zoo["palette"] = folder / "palette.png"
    frames = [Image.new("RGB", (48, 40), colour) for colour in ((200, 30, 30), (30, 30, 200))]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    zoo["gif"] = folder / "animated.gif"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    upright.save(folder / "with_profile.jpg", icc_profile=srgb, quality=95)
    zoo["icc"] = folder / "with_profile.jpg"
    full = (folder / "rotated.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(full[: len(full) // 2])
    zoo["truncated"] = folder / "truncated.jpg"
    (folder / "letter.jpg").write_text("Dear reader, this is not a JPEG.")
    zoo["text"] = folder / "letter.jpg"
    (folder / "zero.png").write_bytes(b"")
    zoo["zero"] = folder / "zero.png"
    (folder / "tmp_source.png").unlink()
    return zoo


BAD = ("truncated", "text", "zero")


def test_one_run_over_every_kind_of_input(run_adain, tmp_path):
    zoo = build_zoo(tmp_path / "in")
    make_image(tmp_path / "style.png", 40, 40, seed=5)
    out = tmp_path / "out"
    result = run_adain(
        "stylize", tmp_path / "in", "--style", tmp_path / "style.png", "-o", out, "--content-size", "0", "--json"
    )
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert sorted(Path(f["path"]).name for f in summary["failures"]) == sorted(zoo[k].name for k in BAD)
    for key in BAD:
        assert zoo[key].name in result.stderr
    written = {p.name: Image.open(p) for p in out.glob("*_stylized_style.png")}
    assert len(written) == len(zoo) - len(BAD) - 1  # the animated GIF is stylized as an animation
    # Two flat frames stylize to the same picture, which the GIF encoder merges: the timing is what is kept.
    assert sum(video.probe(out / "animated_stylized_style.gif").durations) == 200
    assert written["rotated_stylized_style.png"].size == (40, 64)  # EXIF applied: portrait
    cutout = written["cutout_stylized_style.png"]
    assert cutout.mode == "RGBA" and cutout.size == (48, 40)
    source_alpha = np.array(Image.open(zoo["rgba"]).getchannel("A")).astype(int)
    assert np.abs(np.array(cutout.getchannel("A")).astype(int) - source_alpha).max() <= 1
    assert written["gray_alpha_stylized_style.png"].mode == "RGBA"
    assert written["palette_stylized_style.png"].mode == "RGB"
    assert not list(out.rglob("*.tmp"))


def test_jpg_output_composites_alpha_on_white_with_a_note(run_adain, tmp_path):
    zoo = build_zoo(tmp_path / "in")
    make_image(tmp_path / "style.png", 40, 40, seed=5)
    result = run_adain(
        "stylize",
        zoo["rgba"],
        "--style",
        tmp_path / "style.png",
        "-o",
        tmp_path / "out",
        "--ext",
        "jpg",
        "--content-size",
        "0",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out" / "cutout_stylized_style.jpg").mode == "RGB"
    assert any("composited on white" in note for note in json.loads(result.stdout)["notes"])


@pytest.mark.parametrize(
    ("key", "pixel", "expected"),
    [
        ("gray16", (0, 0), (0, 0, 0)),
        ("gray16", (39, 47), (1, 1, 1)),  # 16-bit white is white, not clipped
        ("rgb16", (5, 5), (1.0, 0.502, 0.0)),
        ("cmyk", (5, 5), (1.0, 0.0, 0.0)),
        ("la", (5, 5), (90 / 255, 90 / 255, 90 / 255)),
        ("gif", (5, 5), (200 / 255, 30 / 255, 30 / 255)),
    ],
)
def test_modes_convert_to_the_right_colours(tmp_path, key, pixel, expected):
    zoo = build_zoo(tmp_path / "in")
    image = read_image(zoo[key])
    got = image.rgb[:, pixel[0], pixel[1]].tolist()
    assert got == pytest.approx(list(expected), abs=2.5 / 255)


def test_gray16_keeps_its_gradient(tmp_path):
    image = read_image(build_zoo(tmp_path / "in")["gray16"])
    row = image.rgb[0].flatten()
    assert float(row.max()) == pytest.approx(1.0) and len(set(row.tolist())) > 255  # more than 8 bits kept


def test_alpha_is_read(tmp_path):
    zoo = build_zoo(tmp_path / "in")
    assert read_image(zoo["la"]).transparency[0, 0, 0].item() == pytest.approx(200 / 255)
    assert read_image(zoo["rgba"]).transparency is not None
    assert read_image(zoo["palette"]).transparency is None


def test_icc_profile_is_converted(tmp_path):
    image = read_image(build_zoo(tmp_path / "in")["icc"])
    assert image.rgb.shape == (3, 40, 64)


def test_huge_and_tiny_images_are_clear_errors(tmp_path):
    huge = png_claiming_size(tmp_path / "huge.png", 20000, 15000)
    with pytest.raises(ImageError, match=r"huge.png: 300,000,000 pixels, over the limit of 178,956,970"):
        read_image(huge)
    with pytest.raises(ImageError, match="40×40 is 1,600 pixels, over the limit of 1,000 "):
        read_image(make_image(tmp_path / "small.png", 40, 40), max_pixels=1000)
    with pytest.raises(ImageError, match="too small"):
        load(make_image(tmp_path / "tiny.png", 8, 8), shorter_side=0)
    with pytest.raises(ImageError, match="too small"):
        load(make_image(tmp_path / "thin.png", 200, 40), shorter_side=6)
    with pytest.raises(ImageError, match="at least 9 px a side"):  # 8 px pools to one cell at relu4_1
        load(make_image(tmp_path / "eight.png", 16, 8), shorter_side=0)
    assert load(make_image(tmp_path / "ok.png", 16, 9), shorter_side=0).size == (9, 16)


def test_huge_image_in_a_batch_is_reported_by_size(run_adain, tmp_path):
    png_claiming_size(tmp_path / "in" / "huge.png", 20000, 15000)
    make_image(tmp_path / "in" / "fine.png", 40, 40)
    result = run_adain(
        "stylize", tmp_path / "in", "--style", tmp_path / "in" / "fine.png", "-o", tmp_path / "o", "--content-size", "0"
    )
    assert result.exit_code == 1
    assert "huge.png: 300,000,000 pixels, over the limit of 178,956,970" in result.stderr
    assert (tmp_path / "o" / "fine_stylized_fine.png").is_file()


def test_spaces_unicode_and_symlink_loops(run_adain, tmp_path):
    folder = tmp_path / "my photos"
    make_image(folder / "été à Paris.png", 40, 40, seed=1)
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    make_image(tmp_path / "style ink.png", 40, 40, seed=2)
    out = tmp_path / "sortie é"
    result = run_adain("stylize", folder, "-r", "--style", tmp_path / "style ink.png", "-o", out, "--content-size", "0")
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.rglob("*.png")] == ["été à Paris_stylized_style ink.png"]


def test_an_output_folder_that_cannot_be_made_is_one_clear_error(run_adain, tmp_path):
    make_image(tmp_path / "c.png", 40, 40)
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    result = run_adain("stylize", tmp_path / "c.png", "--style", tmp_path / "c.png", "-o", blocker / "out")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "cannot write to the output folder" in result.stderr


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=2048),
    prefix=st.sampled_from(
        [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBPVP8 "]
    ),
)
def test_random_bytes_never_crash_the_loader(tmp_path, data, prefix):
    path = tmp_path / "fuzz.png"
    path.write_bytes(prefix + data)
    try:
        image = load(path, shorter_side=64)
    except ImageError as error:
        assert str(error).startswith(str(path))
    else:
        assert image.rgb.shape[0] == 3


def test_ctrl_c_stops_cleanly_keeping_finished_work(tmp_path, weight_files):
    for index in range(40):
        make_image(tmp_path / "in" / f"c{index:02d}.png", 96, 96, seed=index)
    make_image(tmp_path / "style.png", 64, 64, seed=99)
    out = tmp_path / "out"
    encoder, decoder = weight_files
    command = [
        sys.executable,
        "-m",
        "adain_cli",
        "stylize",
        str(tmp_path / "in"),
        "--style",
        str(tmp_path / "style.png"),
        "-o",
        str(out),
        "--encoder",
        str(encoder),
        "--decoder",
        str(decoder),
        "--batch-size",
        "1",
        "--content-size",
        "0",
        "--json-lines",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    for _ in range(3):
        read_until(process.stdout, process, lambda line: '"written"' in line, "3 outputs' records")
    process.send_signal(signal.SIGINT)
    _, stderr = finish(process)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    finished = list(out.glob("*_stylized_*.png"))
    assert 3 <= len(finished) < 40
    for path in finished:
        Image.open(path).load()  # complete files only
    leftovers = [
        p.name for p in out.iterdir() if p.name != ".adain-job.json" and (p.name.startswith(".") or p.suffix == ".tmp")
    ]
    assert leftovers == []


def test_the_size_after_resizing_is_checked_before_resizing(run_adain, tmp_path):
    folder = tmp_path / "in"
    Image.new("RGB", (5000, 2), (120, 30, 200)).save(folder.mkdir() or folder / "strip.png")
    make_image(folder / "fine.png", 24, 16)
    style = make_image(tmp_path / "s.png", 16, 16, seed=3)
    out = tmp_path / "out"
    size = ("--style-size", "0", "--content-size", "64", "--max-pixels", "1000000")  # 10,000 px, 10,240,000 after
    result = run_adain("stylize", folder, "--style", style, "-o", out, *size)
    assert result.exit_code == 1
    assert "strip.png: 5000×2 becomes 160000×64 after resizing" in result.stderr
    assert "over the limit" in result.stderr
    assert (out / "fine_stylized_s.png").is_file() and not (out / "strip_stylized_s.png").exists()


def test_ext_auto_keeps_each_contents_format_and_tif_keeps_alpha(run_adain, tmp_path):
    folder = tmp_path / "in"
    for name in ("a.jpg", "b.jpeg", "c.png", "d.webp", "e.tif", "f.bmp"):
        make_image(folder / name, 24, 16, seed=len(name))
    style = make_image(tmp_path / "s.png", 16, 16, seed=3)
    size = (*AT_OWN_SIZE, "--grid-cell", "16")
    result = run_adain("stylize", folder, "--style", style, "-o", tmp_path / "auto", "--ext", "auto", *size)
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "auto").glob("*_stylized_s.*"))
    assert names == ["a_stylized_s.jpg", "b_stylized_s.jpeg", "c_stylized_s.png", "d_stylized_s.webp",
                     "e_stylized_s.tif", "f_stylized_s.png"]  # fmt: skip
    assert Image.open(tmp_path / "auto" / "b_stylized_s.jpeg").format == "JPEG"
    assert len(list((tmp_path / "auto").glob("grid_*.png"))) == 1
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (24, 16), (200, 10, 10, 128)).save(rgba)
    result = run_adain("stylize", rgba, "--style", style, "-o", tmp_path / "tif", "--ext", "tiff", *size)
    assert result.exit_code == 0, result.output
    saved = Image.open(tmp_path / "tif" / "rgba_stylized_s.tiff")
    assert saved.format == "TIFF" and saved.mode == "RGBA"


def test_the_library_leaves_pillows_limit_alone_and_a_bomb_is_still_refused(weight_files, tmp_path):
    """Importing adain_cli and running a job changes no process-wide state; a 40000² PNG bomb in the folder
    is one failure by name (also at discovery, where clips are told from images), the rest is written."""
    from PIL import Image as PILImage

    from adain_cli import Job, Stylizer, discover, run_job, style_looks
    from adain_cli.job import ImageOptions

    before = PILImage.MAX_IMAGE_PIXELS
    folder = tmp_path / "in"
    make_image(folder / "fine.png", 32, 24)
    png_claiming_size(folder / "bomb.png", 40000, 40000)
    png_claiming_size(folder / "big.png", 14000, 13000)  # 182 MP: over Pillow's limit, under twice it
    contents = discover([folder], videos=True)
    assert [source.clip for source in contents] == [False, False, False]
    styles = discover([make_image(tmp_path / "s.png", 24, 24, seed=1)])
    stylizer = Stylizer.from_pretrained(*map(str, weight_files), device="cpu")
    job = Job(tuple(contents), tuple(styles), tuple(style_looks(styles)), tmp_path / "out",
              images=ImageOptions(content_size=0, style_size=0, max_pixels=300_000_000), grid=False)  # fmt: skip
    summary = run_job(stylizer, job)
    assert before == PILImage.MAX_IMAGE_PIXELS
    assert [path.name for path in summary.written] == ["fine_stylized_s.png"]
    errors = sorted(failure.error for failure in summary.failures)
    assert len(errors) == 2 and "bomb.png: 1,600,000,000 pixels, over the limit of 300,000,000" in errors[1], errors
    assert "big.png: 182,000,000 pixels, over Pillow's own limit of 178,956,970" in errors[0]


def test_the_command_refuses_a_bomb_in_a_folder_by_name(run_adain, tmp_path):
    folder = tmp_path / "in"
    make_image(folder / "fine.png", 32, 24)
    png_claiming_size(folder / "bomb.png", 40000, 40000)
    result = run_adain("stylize", folder, "--style", folder / "fine.png", "-o", tmp_path / "out",
                       *AT_OWN_SIZE, "--no-grid")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "bomb.png: 1,600,000,000 pixels, over the limit of 178,956,970" in result.output
    assert (tmp_path / "out" / "fine_stylized_fine.png").is_file()
