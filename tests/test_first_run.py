"""The README's first command, run as typed in a fresh folder with an empty cache, against a local mirror."""

from __future__ import annotations

import http.server
import re
import shlex
import subprocess
import threading

import pytest

from tests.conftest import SUBPROCESS_TIMEOUT
from tests.installed import REPO, clean_environment


def first_command() -> list[str]:
    """The first `adain …` line of the README's first bash block."""
    block = re.search(r"```bash\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    assert block, "README has no bash block"
    line = next(line for line in block.group(1).splitlines() if line.startswith("adain "))
    return shlex.split(line.split("  #")[0])


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
    work = tmp_path / "clone"
    work.mkdir()
    (work / "sample_styles").symlink_to(REPO / "sample_styles")
    environment = clean_environment(
        installed_bin,
        ADAIN_HOME=str(tmp_path / "fresh-cache"),
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
    outputs = sorted((work / "out").glob("*_stylized_*.png"))
    assert len(outputs) == len(list((REPO / "sample_styles").glob("*.jpg")))
    assert len(list((work / "out").glob("grid_*.png"))) == 1
