"""Videos and animated images as contents: streamed, faithful (frames, rate, size, rotation, audio,
durations, loop), equal to the image path frame by frame, and failing by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from adain_cli import video
from adain_cli.stylizer import Stylizer
from adain_cli.weights import load_decoder, load_encoder
from tests.conftest import AT_OWN_SIZE, SUBPROCESS_TIMEOUT, finish, make_image, read_until

TINY = (*AT_OWN_SIZE, "--grid-cell", "16")


def make_clip(path: Path, frames: int = 24, size: tuple[int, int] = (64, 48), *, audio: bool = False,
              rotation: int = 0, fps: Fraction = Fraction(24000, 1001), seed: int = 0,
              sample_rate: int = 16000) -> Path:  # fmt: skip
    """A small moving pattern (width, height), optionally with a 440 Hz sine track and a rotation."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[1] // 8 + 2, size[0] // 8 + 2, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        sound = None
        if audio:
            sound = container.add_stream("aac", rate=sample_rate)
            sound.layout = "mono"
        for index in range(frames):
            shifted = np.roll(base, index, axis=1)
            image = Image.fromarray(shifted).resize(size, Image.Resampling.BILINEAR)
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if sound is not None:
            seconds = np.arange(int(sample_rate * frames / float(fps))) / sample_rate
            wave = (0.3 * np.sin(2 * np.pi * 440 * seconds)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
            frame.sample_rate = sample_rate
            for packet in [*sound.encode(frame), *sound.encode(None)]:
                container.mux(packet)
    return path


@pytest.fixture
def style(tmp_path: Path) -> Path:
    return make_image(tmp_path / "ink.png", 32, 32, seed=9)


def test_a_video_keeps_frames_rate_size_rotation_and_sound(run_adain, tmp_path, style):
    clip = make_clip(tmp_path / "walk.mp4", frames=20, audio=True, rotation=90)
    out = tmp_path / "out"
    result = run_adain("stylize", clip, "--style", style, "-o", out, "--json", *TINY)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)["records"][0]
    assert record["video"]["frames"] == 20 and record["video"]["audio"] == "copied"
    written = video.probe(out / "walk_stylized_ink.mp4")
    assert (written.frames, written.fps, written.width, written.height) == (20, Fraction(24000, 1001), 64, 48)
    assert written.rotation == 90 and written.audio
    with av.open(str(out / "walk_stylized_ink.mp4")) as container:
        source = av.open(str(clip))
        assert container.streams.audio[0].codec_context.name == source.streams.audio[0].codec_context.name
        source.close()


def test_each_frame_equals_the_image_path_without_stabilisation(weight_files, run_adain, tmp_path, style):
    clip = make_clip(tmp_path / "c.mp4", frames=6, size=(64, 48))
    out = tmp_path / "out"
    # A lossless animated WebP holds exactly what was stylized, so the comparison needs no codec tolerance.
    args = ("--alpha", "0.7", "-o", out, "--no-stabilize", "--video-ext", "webp", *TINY)
    result = run_adain("stylize", clip, "--style", style, *args)
    assert result.exit_code == 0, result.output
    stylizer = Stylizer(load_encoder(weight_files[0]), load_decoder(weight_files[1]))
    ink = Image.open(style).convert("RGB")
    written = video.probe(out / "c_stylized_ink.webp")
    assert written.durations == (42,) * 6  # 1000/23.976 ms
    inputs = list(video.read_frames(video.probe(clip)))
    decoded = list(video.read_frames(written))
    assert len(decoded) == len(inputs) == 6
    for frame, got in zip(inputs, decoded, strict=True):
        result = stylizer.stylize(Image.fromarray(_uint8(frame.rgb)), ink, alpha=0.7, content_size=0, style_size=0)
        expected = np.asarray(result).astype(int)
        assert np.abs(_uint8(got.rgb).astype(int) - expected).max() <= 1


def _uint8(rgb) -> np.ndarray:
    return (rgb.permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)


def test_an_animation_keeps_durations_loop_and_frame_count(run_adain, tmp_path, style):
    rng = np.random.default_rng(4)
    frames = [Image.fromarray(rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)) for _ in range(5)]
    frames[0].save(tmp_path / "blink.gif", save_all=True, append_images=frames[1:], duration=[40, 60, 80, 100, 120],
                   loop=3)  # fmt: skip
    out = tmp_path / "out"
    assert run_adain("stylize", tmp_path / "blink.gif", "--style", style, "-o", out, *TINY).exit_code == 0
    written = video.probe(out / "blink_stylized_ink.gif")
    assert written.frames == 5 and written.durations == (40, 60, 80, 100, 120) and written.loop == 3


def test_a_broken_clip_is_named_and_the_others_written(run_adain, tmp_path, style):
    folder = tmp_path / "clips"
    folder.mkdir()
    good = make_clip(folder / "good.mp4", frames=8)
    data = make_clip(tmp_path / "whole.mp4", frames=30, seed=3).read_bytes()
    (folder / "cut.mp4").write_bytes(data[: len(data) // 3])
    (folder / "empty.mov").write_bytes(b"")
    (folder / "noise.webm").write_bytes(os.urandom(2000))
    out = tmp_path / "out"
    result = run_adain("stylize", folder, "--style", style, "-o", out, "--json", *TINY)
    assert result.exit_code == 1
    records = {Path(r["content"]).name: r for r in json.loads(result.stdout)["records"]}
    assert records["good.mp4"]["status"] == "written" and (out / "good_stylized_ink.mp4").is_file()
    for name in ("cut.mp4", "empty.mov", "noise.webm"):
        assert records[name]["status"] == "failed" and name in records[name]["error"], records[name]
        assert "\n" not in records[name]["error"]
    assert not list(out.glob("cut_*")) and not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    assert good.is_file()


def test_frames_limit_skip_existing_and_another_container(run_adain, tmp_path, style):
    clip = make_clip(tmp_path / "c.mp4", frames=12, audio=True)
    out = tmp_path / "out"
    args = ("stylize", clip, "--style", style, "-o", out, "--frames", "5", "--video-ext", "webm", *TINY)
    result = run_adain(*args, "--json")
    assert result.exit_code == 0, result.output
    written = video.probe(out / "c_stylized_ink.webm")
    assert written.frames in (5, None) and len(list(video.read_frames(written))) == 5 and written.audio
    record = json.loads(result.stdout)["records"][0]
    assert record["video"]["audio"] == "re-encoded"
    again = run_adain(*args, "--skip-existing", "--json")
    assert json.loads(again.stdout)["records"][0]["status"] == "skipped"


def test_earlier_stylized_clips_are_not_read_back(run_adain, tmp_path, style):
    folder = tmp_path / "clips"
    folder.mkdir()
    make_clip(folder / "c.mp4", frames=4)
    for _ in range(2):
        result = run_adain("stylize", folder, "--style", style, "-o", folder, "--json", "--skip-existing", *TINY)
        assert result.exit_code == 0, result.output
    assert [Path(r["content"]).name for r in json.loads(result.stdout)["records"]] == ["c.mp4"]


@pytest.mark.slow
def test_memory_does_not_grow_with_the_clip_length(weight_files, tmp_path, style):
    def peak_rss_mib(frames: int) -> float:
        clip = make_clip(tmp_path / f"c{frames}.mp4", frames=frames, size=(96, 64))
        code = (
            "import resource, sys; from adain_cli.cli import main\n"
            "try: main(sys.argv[1:])\n"
            "except SystemExit: pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
        )
        argv = ["stylize", str(clip), "--style", str(style), "-o", str(tmp_path / f"o{frames}"), "-q", *TINY,
                "--encoder", str(weight_files[0]), "--decoder", str(weight_files[1])]  # fmt: skip
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                              timeout=SUBPROCESS_TIMEOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
        assert done.returncode == 0, done.stderr
        return float(done.stdout.split()[-1])

    short, long = peak_rss_mib(15), peak_rss_mib(150)
    assert long < short * 1.10 + 20, (short, long)  # 10× the frames: within 10% (+20 MiB for allocator noise)


def test_sigterm_mid_clip_leaves_no_partial_clip(weight_files, tmp_path, style):
    import signal

    clip = make_clip(tmp_path / "long.mp4", frames=240, size=(64, 48))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "adain_cli", "stylize", str(clip), "--style", str(style), "-o", str(out), *TINY,
               "--encoder", str(weight_files[0]), "--decoder", str(weight_files[1])]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    read_until(process.stderr, process, lambda line: "frame" in line, "a progress line (frames flowing)")
    process.send_signal(signal.SIGTERM)
    rest = finish(process)[1]
    assert process.returncode == 143, rest
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


def test_no_enlarge_keeps_a_small_clip_at_its_size(run_adain, tmp_path, style):
    clip = make_clip(tmp_path / "c.mp4", frames=2, size=(64, 48))
    result = run_adain("stylize", clip, "--style", style, "-o", tmp_path / "out", "--content-size", "96",
                       "--style-size", "0", "--no-enlarge", "--no-stabilize")  # fmt: skip
    assert result.exit_code == 0, result.output
    written = video.probe(tmp_path / "out" / "c_stylized_ink.mp4")
    assert (written.width, written.height) == (64, 48)


@pytest.mark.parametrize("ext", ["mp4", "gif"])
def test_crop_takes_every_frames_centre_square(run_adain, tmp_path, style, ext):
    if ext == "mp4":
        clip = make_clip(tmp_path / "wide.mp4", frames=3, size=(64, 40))
    else:
        rng = np.random.default_rng(4)  # frames that differ (Pillow merges identical ones)
        frames = [Image.fromarray(rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)) for _ in range(3)]
        clip = tmp_path / "wide.gif"
        frames[0].save(clip, save_all=True, append_images=frames[1:], duration=50)
    result = run_adain("stylize", clip, "--style", style, "-o", tmp_path / "out", "--crop", *TINY)
    assert result.exit_code == 0, result.output
    written = video.probe(tmp_path / "out" / f"wide_stylized_ink.{ext}")
    assert (written.width, written.height) == (40, 40)
    assert written.frames in (3, None) and len(list(video.read_frames(written))) == 3


def test_crop_of_a_frame_is_the_images_centre_square():
    import torch

    from adain_cli import clips, images

    rgb = torch.rand(3, 20, 33, generator=torch.Generator().manual_seed(0))  # an excess of 13: from 6 (half to even)
    cropped = clips._center_square(video.Frame(0, rgb, rgb[:1]))
    assert torch.equal(cropped.rgb, images.center_square(rgb)) and torch.equal(cropped.rgb, rgb[:, :, 6:26])
    assert cropped.transparency is not None and cropped.transparency.shape == (1, 20, 20)
    assert cropped.cropped_from == (20, 33)


def audio_seconds(path: Path) -> tuple[float, float]:
    """(where the audio ends, the longest packet) of a clip's first audio stream."""
    with av.open(str(path)) as container:
        packets = [p for p in container.demux(container.streams.audio[0]) if p.pts is not None and p.duration]
        return max(float((p.pts + p.duration) * p.time_base) for p in packets), max(
            float(p.duration * p.time_base) for p in packets
        )


@pytest.mark.parametrize("ext", ["mp4", "mkv"])  # audio copied, and re-encoded
def test_frames_cuts_the_audio_to_the_frames_kept(run_adain, tmp_path, style, ext):
    clip = make_clip(tmp_path / "c.mp4", frames=24, audio=True)
    result = run_adain("stylize", clip, "--style", style, "-o", tmp_path / "out", "--frames", "5", "--video-ext", ext,
                       *TINY)  # fmt: skip
    assert result.exit_code == 0, result.output
    kept = 5 / float(Fraction(24000, 1001))
    end, packet = audio_seconds(tmp_path / "out" / f"c_stylized_ink.{ext}")
    assert kept <= end < kept + packet  # up to the last kept frame's end, to the packet (the source is 1 s long)


@pytest.mark.parametrize(("ext", "audio", "note"), [
    ("mkv", "copied", None), ("mov", "copied", None),
    ("gif", "none", "audio dropped (GIF animations have no sound)"),
    ("webp", "none", "audio dropped (WEBP animations have no sound)"),
    ("webm", "re-encoded", "audio re-encoded from aac to libopus (the webm container does not take aac)"),
])  # fmt: skip
def test_what_happens_to_the_audio_is_said_once_and_truly(run_adain, tmp_path, style, ext, audio, note):
    clip = make_clip(tmp_path / "c.mp4", frames=4, audio=True)
    out = tmp_path / "out"
    result = run_adain("stylize", clip, "--style", style, "-o", out, "--video-ext", ext, "--json", *TINY)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["records"][0]["video"]["audio"] == audio
    notes = [line for line in result.stderr.splitlines() if line.startswith("  note:") and ": audio" in line]
    assert notes == ([f"  note: {out / f'c_stylized_ink.{ext}'}: {note}"] if note else [])
    if audio == "copied":
        with av.open(str(out / f"c_stylized_ink.{ext}")) as written:
            assert written.streams.audio[0].codec_context.name == "aac"
            assert sum(frame.samples for frame in written.decode(audio=0)) > 0
