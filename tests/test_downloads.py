"""Downloads and files under faults: lying and dripping servers, full disks, bad cache folders, modes, fsync."""

from __future__ import annotations

import errno
import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from adain_cli import files, weights
from adain_cli.cli import cli
from adain_cli.errors import WeightsError
from adain_cli.sheets import pages as sheets_pages
from tests.conftest import cli_runner
from tests.test_weights import served_weights, weight_server  # noqa: F401 (fixtures)

Responder = Callable[[http.server.BaseHTTPRequestHandler], None]


@pytest.fixture
def odd_server() -> Iterator[tuple[str, list[str], dict[str, Responder]]]:
    """A server on 127.0.0.1 whose answer to each path is set by the test; every request is recorded."""
    requests: list[str] = []
    routes: dict[str, Responder] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            routes.get(self.path.rsplit("/", 1)[-1], lambda h: h.send_error(404))(self)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # a client hanging up on a drip is the point
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests, routes
    finally:
        server.shutdown()
        server.server_close()


def body(data: bytes, *, length: bool = True, content_type: str = "application/octet-stream") -> Responder:
    def respond(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        if length:
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return respond


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(weights, "RETRY_DELAY_SECONDS", 0.01)


def no_partial_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith((".part", ".tmp"))] if folder.exists() else True


def test_a_checkpoint_with_nan_is_refused_by_name(public_states, tmp_path):
    state = dict(public_states[1])
    state["5.weight"] = state["5.weight"].clone()
    state["5.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, tmp_path / "diverged.pth")
    with pytest.raises(WeightsError, match=r"diverged\.pth: tensor '5\.weight' has NaN or infinite values"):
        weights.load_decoder(tmp_path / "diverged.pth")


@pytest.mark.parametrize("case", ["truncated", "html"])
def test_no_verify_still_keeps_only_a_loadable_checkpoint(odd_server, fast_retries, monkeypatch, weight_files, case):
    url, _, routes = odd_server
    data = weight_files[1].read_bytes()
    routes["decoder.pth"] = (
        body(data[: len(data) // 3], length=False)
        if case == "truncated"
        else body(b"<html><body>Rate limited</body></html>", content_type="text/html")
    )
    monkeypatch.setenv("ADAIN_MODELS_MIRROR", url)
    with pytest.raises(WeightsError, match="not a usable decoder checkpoint") as raised:
        weights.download(weights.REGISTRY["decoder"], options=weights.FetchOptions(verify=False))
    assert "\n" not in str(raised.value)
    assert not weights.cache_dir().exists() or not list(weights.cache_dir().iterdir())


def test_a_dripping_server_is_abandoned_and_retried(odd_server, fast_retries, monkeypatch):
    url, requests, routes = odd_server

    def drip(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        for _ in range(40):  # bounded: 4 s at most per request
            try:
                handler.wfile.write(b"x")
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(0.1)

    routes["decoder.pth"] = drip
    monkeypatch.setenv("ADAIN_MODELS_MIRROR", url)
    monkeypatch.setenv("ADAIN_DOWNLOAD_SPEED_LIMIT", "1000")
    monkeypatch.setenv("ADAIN_DOWNLOAD_SPEED_TIME", "0.3")
    # A drip that was not abandoned would end as "connection closed after 40 of 100000 bytes".
    with pytest.raises(WeightsError, match=r"slower than 1000 bytes/s over 0\.3 s.*tried 3 times"):
        weights.download(weights.REGISTRY["decoder"])
    assert len(requests) == 3
    assert no_partial_files(weights.cache_dir())


def test_a_full_disk_during_a_download_is_one_line_and_leaves_nothing(served_weights, monkeypatch):  # noqa: F811
    real_open = Path.open

    def full_disk_open(self, mode="r", *args, **kwargs):
        handle = real_open(self, mode, *args, **kwargs)
        if self.name.endswith(".part") and "w" in mode:

            def write(data):
                raise OSError(errno.ENOSPC, "No space left on device")

            handle.write = write
        return handle

    monkeypatch.setattr(Path, "open", full_disk_open)
    with pytest.raises(WeightsError, match="No space left on device") as raised:
        weights.download(weights.REGISTRY["decoder"])
    assert "\n" not in str(raised.value) and no_partial_files(weights.cache_dir())


def test_an_interrupted_download_leaves_no_part_file(served_weights):  # noqa: F811
    def interrupt(done, total):
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        weights.download(weights.REGISTRY["decoder"], progress=interrupt)
    assert no_partial_files(weights.cache_dir()) and not weights.cached_path(weights.REGISTRY["decoder"]).exists()


@pytest.mark.parametrize("problem", ["a file", "not writable"])
def test_a_bad_cache_folder_is_one_line(tmp_path, monkeypatch, problem):
    home = tmp_path / "home"
    if problem == "a file":
        home.write_text("oops")
    else:
        home.mkdir()

        def refuse(*args, **kwargs):  # chmod cannot stop root, who runs these tests in CI
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(files.tempfile, "TemporaryFile", refuse)
    monkeypatch.setenv("ADAIN_HOME", str(home))
    result = cli_runner().invoke(cli, ["models", "download", "decoder"])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert str(home) in result.stderr and "ADAIN_HOME" in result.stderr


def test_offline_weights_download_makes_no_request(odd_server, monkeypatch):
    url, requests, _ = odd_server
    monkeypatch.setenv("ADAIN_MODELS_MIRROR", url)
    monkeypatch.setenv("ADAIN_OFFLINE", "1")
    result = cli_runner().invoke(cli, ["models", "download"])
    assert result.exit_code == 1 and requests == []
    assert "offline mode is on" in result.stderr and result.stderr.count("\n") == 1


def test_an_impossible_download_says_what_to_do(monkeypatch):
    result = cli_runner().invoke(cli, ["models", "download", "vgg_normalised"])  # the mirror is a closed port
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    for needed in ("vgg_normalised.pth (≈80 MB)", "decoder.pth (≈14 MB)", str(weights.cache_dir()),
                   "adain models path", "ADAIN_MODELS_MIRROR", "--encoder PATH", "--decoder PATH"):  # fmt: skip
        assert needed in result.stderr, needed


def test_train_honours_no_verify_and_offline(odd_server, monkeypatch, tmp_path):
    url, requests, _ = odd_server
    monkeypatch.setenv("ADAIN_MODELS_MIRROR", url)
    assert "--no-verify" in cli_runner().invoke(cli, ["train", "--help"]).output
    monkeypatch.setenv("ADAIN_OFFLINE", "1")
    (tmp_path / "c").mkdir()
    result = cli_runner().invoke(cli, ["train", "--content-dir", str(tmp_path / "c"), "--style-dir",
                                      str(tmp_path / "c"), "-o", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 1 and requests == [] and "offline mode is on" in result.stderr


WRITERS = {  # the two ways to write a file atomically: by its temporary name, or through the open file
    "atomic_path": "with atomic_path(target) as tmp: tmp.write_bytes(data)",
    "atomic_file": "with atomic_file(target) as file: file.write(data)",
}


def _write(writer: str, target: Path, data: bytes) -> None:
    exec(WRITERS[writer], {"atomic_path": files.atomic_path, "atomic_file": files.atomic_file,
                           "target": target, "data": data})  # fmt: skip


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_files_get_the_mode_of_a_plain_open_under_the_umask(tmp_path, umask, writer):
    code = (
        "import os, sys; from pathlib import Path; from adain_cli.files import atomic_path, atomic_file\n"
        f"os.umask({umask})\n"
        "target, data = Path(sys.argv[1]) / 'ours', b'x'\n"
        f"{WRITERS[writer]}\n"
        "open(Path(sys.argv[1]) / 'plain', 'w').close()\n"
        "print(*(oct((Path(sys.argv[1]) / name).stat().st_mode & 0o777) for name in ('ours', 'plain')))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    ours, plain = done.stdout.split()
    assert ours == plain == oct(0o666 & ~umask)


@pytest.mark.parametrize("writer", WRITERS)
def test_atomic_writes_are_fsynced_before_the_rename_and_clean_up_on_errors(tmp_path, monkeypatch, writer):
    order = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(files.os, "fsync", lambda fd: (order.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(files.os, "replace", lambda a, b: (order.append("rename"), real_replace(a, b))[1])
    _write(writer, tmp_path / "new" / "folder" / "out.png", b"data")  # a missing folder is made
    assert order[:2] == ["fsync", "rename"] and order.count("fsync") == 2  # the file, then its folder
    assert (tmp_path / "new" / "folder" / "out.png").read_bytes() == b"data"
    with pytest.raises(RuntimeError), files.atomic_path(tmp_path / "failed.png") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError), files.atomic_file(tmp_path / "failed.png") as file:
        file.write(b"half")
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["out.png"]


def test_a_full_disk_when_the_manifest_is_written_is_one_line(run_adain, tmp_path, monkeypatch):
    from tests.conftest import make_image

    def full(job):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sheets_pages, "write_manifest", full)
    for index in range(2):
        make_image(tmp_path / "in" / f"c{index}.png", 24, 16, seed=index)
    style = make_image(tmp_path / "s.png", 16, 16)
    result = run_adain(
        "stylize", tmp_path / "in", "--style", style, "-o", tmp_path / "out", "--content-size", "0", "-q"
    )
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "cannot write the job manifest" in result.stderr and "No space left on device" in result.stderr
    assert no_partial_files(tmp_path / "out")
