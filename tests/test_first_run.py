"""The README's first command, run as typed in a fresh folder with an empty cache, against a local mirror.

It needs no clone: the photo is one small JPEG the test makes (stylized at the default size, 512 px on its
shorter side) and `--style waves` is a sample style shipped inside the package."""

from __future__ import annotations

import http.server
import re
import shlex
import subprocess
import threading

import pytest
from PIL import Image

from tests.conftest import SUBPROCESS_TIMEOUT
from tests.installed import REPO, clean_environment


def first_command() -> list[str]:
    """The first `adain …` line of the README's bash blocks."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    lines = [line for block in blocks for line in block.splitlines() if line.startswith("adain ")]
    assert lines, "README has no `adain` command in a bash block"
    return shlex.split(lines[0].split("  #")[0])


@pytest.mark.slow
def test_the_readme_first_command_runs_as_typed(installed_bin, weight_files, tmp_path):
    """Through the installed `adain` found on PATH, as a user who ran `pip install .` types it."""
    served = tmp_path / "served"
    served.mkdir()
    for source in weight_files:
        (served / source.name).write_bytes(source.read_bytes())
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    work = tmp_path / "anywhere"
    work.mkdir()
    Image.new("RGB", (40, 30), (200, 120, 40)).save(work / "photo.jpg")  # one small photo: one output
    environment = clean_environment(
        installed_bin,
        ADAIN_HOME=str(tmp_path / "fresh-cache"),
        ADAIN_WEIGHTS_MIRROR=f"http://127.0.0.1:{server.server_address[1]}",  # its name before 0.2
        ADAIN_MODELS_MIRROR=f"http://127.0.0.1:{server.server_address[1]}",
        ADAIN_NO_VERIFY="1",  # the served weights are random ones in the public layout, not the real files
    )
    try:
        argv = first_command()
        assert argv[0] == "adain"
        done = subprocess.run(argv, cwd=work, env=environment, capture_output=True, text=True,
                              timeout=SUBPROCESS_TIMEOUT)  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    assert sorted(requests) == ["/decoder.pth", "/vgg_normalised.pth"]
    assert argv == ["adain", "stylize", "photo.jpg", "--style", "waves"]  # what the test's photo stands in for
    with Image.open(work / "photo_stylized_waves.png") as written:
        assert written.size == (682, 512)  # the default --content-size
