"""Named weights: verified downloads from a local HTTP server, offline mode, safe loading."""

from __future__ import annotations

import errno
import hashlib
import http.server
import io
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adain_cli import weights
from adain_cli.errors import WeightsError
from tests.conftest import AT_OWN_SIZE, make_image


@dataclass
class WeightServer:
    """A real HTTP server on 127.0.0.1 serving files from a folder, recording every request."""

    root: Path
    requests: list[str] = field(default_factory=list)
    fail_first: dict[str, int] = field(default_factory=dict)  # path -> number of 503s before success
    url: str = ""


@pytest.fixture
def weight_server(tmp_path: Path) -> Iterator[WeightServer]:
    state = WeightServer(tmp_path / "served")
    state.root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(state.root), **kwargs)

        def do_GET(self):
            state.requests.append(self.path)
            if state.fail_first.get(self.path, 0) > 0:
                state.fail_first[self.path] -= 1
                self.send_error(503, "busy")
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.handle_error = lambda request, address: None  # a client that hangs up mid-file is some tests' point
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/mirror"
    (state.root / "mirror").mkdir()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def served_weights(weight_server, weight_files, monkeypatch) -> WeightServer:
    """The random-layout files on the server, registered with their true hashes."""
    for spec_name, source in zip(("vgg_normalised", "decoder"), weight_files, strict=True):
        data = source.read_bytes()
        (weight_server.root / "mirror" / source.name).write_bytes(data)
        spec = replace(weights.REGISTRY[spec_name], sha256=hashlib.sha256(data).hexdigest())
        monkeypatch.setitem(weights.REGISTRY, spec_name, spec)
    monkeypatch.setenv("ADAIN_MODELS_MIRROR", weight_server.url)
    monkeypatch.setattr(weights, "RETRY_DELAY_SECONDS", 0.01)
    return weight_server


def cache() -> Path:
    return weights.cache_dir()


def test_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("ADAIN_HOME", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert weights.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("ADAIN_HOME")
    assert weights.cache_dir() == tmp_path / "x" / "adain"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights.cache_dir() == tmp_path / "home" / ".cache" / "adain"


def test_download_through_the_mirror_then_stylize_uses_it(served_weights, run_adain, tmp_path):
    make_image(tmp_path / "c.png", 48, 40, seed=1)
    make_image(tmp_path / "s.png", 40, 40, seed=2)
    out = tmp_path / "out"
    result = run_adain("stylize", tmp_path / "c.png", "--style", tmp_path / "s.png", "-o", out, weights=False)
    assert result.exit_code == 0, result.output
    assert (out / "c_stylized_s.png").is_file()
    assert sorted(served_weights.requests) == ["/mirror/decoder.pth", "/mirror/vgg_normalised.pth"]
    assert sorted(p.name for p in cache().iterdir()) == [  # the files and their remembered SHA-256, nothing else
        ".decoder.pth.sha256",
        ".vgg_normalised.pth.sha256",
        "decoder.pth",
        "vgg_normalised.pth",
    ]
    # The second run uses the cache and asks the server for nothing.
    served_weights.requests.clear()
    result = run_adain("stylize", tmp_path / "c.png", "--style", tmp_path / "s.png", "-o", out, weights=False)
    assert result.exit_code == 0 and served_weights.requests == []


def test_wrong_bytes_are_rejected_naming_both_hashes(served_weights, run_adain):
    bad = served_weights.root / "mirror" / "decoder.pth"
    bad.write_bytes(bad.read_bytes()[:-10] + b"tampered!!")
    actual = hashlib.sha256(bad.read_bytes()).hexdigest()
    result = run_adain("models", "download", "decoder", weights=False)
    assert result.exit_code == 1
    assert actual in result.stderr and weights.REGISTRY["decoder"].sha256 in result.stderr
    assert "--no-verify" in result.stderr
    assert not cache().exists() or list(cache().iterdir()) == []


def test_no_verify_keeps_a_mismatch_with_a_warning(served_weights, run_adain, monkeypatch):
    bad = served_weights.root / "mirror" / "decoder.pth"
    bad.write_bytes(bad.read_bytes() + b"extra")
    monkeypatch.setenv("ADAIN_NO_VERIFY", "1")
    result = run_adain("models", "download", "decoder", weights=False)
    assert result.exit_code == 0, result.output
    assert "warning" in result.stderr and "does not match" in result.stderr
    assert (cache() / "decoder.pth").read_bytes() == bad.read_bytes()


def test_offline_with_an_empty_cache_fails_clearly_without_a_request(served_weights, run_adain, tmp_path, monkeypatch):
    monkeypatch.setenv("ADAIN_OFFLINE", "1")
    make_image(tmp_path / "c.png", 40, 40)
    result = run_adain(
        "stylize", tmp_path / "c.png", "--style", tmp_path / "c.png", "-o", tmp_path / "o", weights=False
    )
    assert result.exit_code == 1
    assert "vgg_normalised.pth" in result.stderr and str(cache() / "vgg_normalised.pth") in result.stderr
    assert "offline" in result.stderr
    assert served_weights.requests == []


def test_a_404_fails_clearly(served_weights, run_adain):
    (served_weights.root / "mirror" / "decoder.pth").unlink()
    result = run_adain("models", "download", "decoder", weights=False)
    assert result.exit_code == 1
    assert "HTTP 404" in result.stderr and "decoder.pth" in result.stderr
    assert served_weights.requests == ["/mirror/decoder.pth"]  # a 404 is not retried
    assert not cache().exists() or list(cache().iterdir()) == []


def test_a_transient_error_is_retried(served_weights, run_adain):
    served_weights.fail_first["/mirror/decoder.pth"] = 2
    result = run_adain("models", "download", "decoder", weights=False)
    assert result.exit_code == 0, result.output
    assert served_weights.requests == ["/mirror/decoder.pth"] * 3


def test_a_persistent_server_error_gives_up_clearly(served_weights, run_adain):
    served_weights.fail_first["/mirror/decoder.pth"] = 10
    result = run_adain("models", "download", "decoder", weights=False)
    assert result.exit_code == 1
    assert "HTTP 503" in result.stderr and f"tried {weights.ATTEMPTS} times" in result.stderr


def test_connection_refused_is_a_clear_error(run_adain):
    result = run_adain("models", "download", "decoder", weights=False)  # the default mirror: a closed port
    assert result.exit_code == 1
    assert "refused" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("failure", ["offline", "404", "read-only cache"])
def test_force_replaces_the_cached_file_only_once_the_new_one_is_complete(served_weights, run_adain, failure,
                                                                          monkeypatch):  # fmt: skip
    assert run_adain("models", "download", "decoder", weights=False).exit_code == 0
    cached = cache() / "decoder.pth"
    before = cached.read_bytes()
    argv = ["models", "download", "decoder", "--force"]
    if failure == "offline":
        argv.append("--offline")
    elif failure == "404":
        (served_weights.root / "mirror" / "decoder.pth").unlink()
    else:  # as a read-only mount is (a chmod would not stop the root user the tests may run as)
        monkeypatch.setattr(weights, "ensure_writable_folder", read_only_file_system)
    result = run_adain(*argv, weights=False)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert cached.read_bytes() == before
    assert sorted(p.name for p in cache().iterdir()) == [".decoder.pth.sha256", "decoder.pth"]


def read_only_file_system(folder: Path) -> None:
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(folder))


def test_force_downloads_again_and_replaces_the_cached_file(served_weights, run_adain):
    assert run_adain("models", "download", "decoder", weights=False).exit_code == 0
    (cache() / "decoder.pth").write_bytes(b"damaged")
    result = run_adain("models", "download", "decoder", "--force", weights=False)
    assert result.exit_code == 0, result.output
    assert (cache() / "decoder.pth").read_bytes() == (served_weights.root / "mirror" / "decoder.pth").read_bytes()
    assert served_weights.requests == ["/mirror/decoder.pth"] * 2


def test_weights_list_path_and_verify(served_weights, run_adain):
    result = run_adain("models", "path", "decoder", weights=False)
    assert result.exit_code == 1 and result.stdout.strip() == str(cache() / "decoder.pth")
    assert run_adain("models", "download", weights=False).exit_code == 0
    listing = run_adain("models", "list", weights=False)
    assert listing.exit_code == 0 and listing.stdout.count("yes") >= 4  # present and verified, twice
    verify = run_adain("models", "verify", weights=False)
    assert verify.exit_code == 0 and verify.stdout.count(": ok") == 2
    (cache() / "decoder.pth").write_bytes(b"corrupted")
    verify = run_adain("models", "verify", "decoder", weights=False)
    assert verify.exit_code == 1 and "differs" in verify.stdout
    assert run_adain("models", "path", "nonsense", weights=False).exit_code == 2


def test_encoder_and_decoder_accept_a_name(served_weights, run_adain, tmp_path):
    assert run_adain("models", "download", weights=False).exit_code == 0
    make_image(tmp_path / "c.png", 40, 40)
    result = run_adain(
        "stylize",
        tmp_path / "c.png",
        "--style",
        tmp_path / "c.png",
        "-o",
        tmp_path / "o",
        "--encoder",
        "vgg_normalised",
        "--decoder",
        "decoder",
        weights=False,
    )
    assert result.exit_code == 0, result.output


def test_a_hostile_pickle_is_refused_and_runs_nothing(tmp_path, run_adain):
    marker = tmp_path / "pwned.txt"

    class Hostile:
        def __reduce__(self):
            return (Path.write_text, (marker, "code ran"))

    evil = tmp_path / "evil.pth"
    torch.save({"1.weight": Hostile()}, evil)
    make_image(tmp_path / "c.png", 40, 40)
    result = run_adain(
        "stylize",
        tmp_path / "c.png",
        "--style",
        tmp_path / "c.png",
        "-o",
        tmp_path / "o",
        "--decoder",
        evil,
        "--encoder",
        evil,
        weights=False,
    )
    assert result.exit_code == 1
    assert "refused to load" in result.stderr and "evil.pth" in result.stderr
    assert not marker.exists()


def test_wrong_layout_names_the_first_bad_key(tmp_path, public_states):
    state = dict(public_states[1])
    state["8.weight"] = torch.zeros(10)
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"'8\.weight' has shape \(10,\), expected \(256, 256, 3, 3\)"):
        weights.load_decoder(path)
    torch.save(public_states[0], path)  # an encoder file given as the decoder
    with pytest.raises(WeightsError, match=r"not an AdaIN decoder checkpoint: key '1\.weight' is missing"):
        weights.load_decoder(path)
    path.write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable PyTorch checkpoint"):
        weights.load_decoder(path)


def test_a_train_checkpoint_with_metadata_loads_the_same_way(tmp_path, public_states):
    path = tmp_path / "checkpoint.pth"
    torch.save({"decoder": public_states[1], "iteration": 10, "config": json.dumps({"lr": 1e-4})}, path)
    decoder = weights.load_decoder(path)
    assert torch.equal(decoder.state_dict()["stages.body.0.weight"], public_states[1]["1.weight"])


def test_a_path_means_that_file_never_the_cached_file_of_the_same_name(weight_files, public_states, tmp_path,
                                                                       monkeypatch):  # fmt: skip
    """`--decoder decoder.pth` with the user's own decoder in the working folder uses that file, even when the
    official decoder.pth sits in the cache."""
    from adain_cli.cli import cli
    from tests.conftest import cli_runner
    from tests.public_weights import random_public_state_dicts

    encoder, official = weight_files
    monkeypatch.setenv("ADAIN_NO_VERIFY", "1")  # the cached "official" decoder is a random stand-in, not the release
    cache().mkdir(parents=True)
    (cache() / "decoder.pth").write_bytes(official.read_bytes())
    work = tmp_path / "work"
    work.mkdir()
    torch.save(random_public_state_dicts(seed=7)[1], work / "decoder.pth")  # the user's fine-tuned one
    make_image(work / "c.png", 32, 24), make_image(work / "s.png", 24, 24, seed=1)
    monkeypatch.chdir(work)

    def stylize(decoder: str, out: str) -> bytes:
        argv = ["stylize", "c.png", "--style", "s.png", "-o", out, *AT_OWN_SIZE,
                "--encoder", str(encoder), "--decoder", decoder, "--quiet"]  # fmt: skip
        result = cli_runner().invoke(cli, argv, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return (work / out / "c_stylized_s.png").read_bytes()

    def pixels(data: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data)))

    own = pixels(stylize("decoder.pth", "own"))
    assert np.array_equal(own, pixels(stylize(str(work / "decoder.pth"), "absolute")))
    assert not np.array_equal(own, pixels(stylize("decoder", "cached")))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("decodr", "neither a checkpoint file nor a registered name (vgg_normalised, decoder)"),
     ("nosuch.pth", "nosuch.pth: no such checkpoint file"),
     ("weights/nosuch", "nosuch: no such checkpoint file")],
)  # fmt: skip
def test_an_unknown_name_or_a_missing_path_is_a_one_line_usage_error(run_adain, tmp_path, value, expected):
    content = make_image(tmp_path / "c.png", 32, 24)
    result = run_adain("stylize", content, "--style", content, "-o", tmp_path / "out", "--decoder", value,
                       weights=False)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert expected in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_the_library_takes_the_same_rule(weight_files, tmp_path, monkeypatch):
    from adain_cli import registry
    from adain_cli.errors import UsageError

    monkeypatch.chdir(tmp_path)
    assert registry.lookup("decoder") is registry.REGISTRY["decoder"]
    with pytest.raises(UsageError, match="no such checkpoint file"):
        registry.lookup("decoder.pth")
    (tmp_path / "decoder.pth").write_bytes(weight_files[1].read_bytes())
    assert registry.lookup("decoder.pth") == Path("decoder.pth")
    (tmp_path / "vgg_normalised").write_bytes(weight_files[0].read_bytes())  # an existing file, no suffix
    assert registry.lookup("vgg_normalised") == Path("vgg_normalised")
    with pytest.raises(UsageError, match="registered name"):
        registry.lookup("nosuch")
