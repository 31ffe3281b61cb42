"""Every `adain …` example in README.md, CONTRIBUTING.md and docs/*.md runs as written, so none can go stale.

The examples come from ```bash, ```sh, ```shell and ```console blocks (indented ones inside lists too), with
backslash continuations joined, comments dropped, and each `adain` command of a pipeline taken apart. Each
runs in-process in a scratch folder that holds every file and folder it names, made by the test: tiny images,
a folder of two images (`a.png`, `b.png`: masks of a `--mask-dir` match them by stem), a short clip, a style
bank, a list of files. The image commands (stylize, interpolate, spatial, preserve-color) run with
`--dry-run`, which plans the whole job (every input opened, every name checked) and loads nothing;
`styles encode` runs for real at its tiny size with the test models; every other command's arguments are
parsed and checked by click exactly as a run would, without running it (training, downloads, export).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.core import ParameterSource

from adain_cli.cli import cli
from tests.conftest import REPO, cli_runner, make_image

DOCUMENTS = sorted([REPO / "README.md", REPO / "CONTRIBUTING.md", *(REPO / "docs").glob("*.md")])
FENCE = re.compile(r"^(?P<indent> *)```(?:bash|sh|shell|console)\n(?P<body>.*?)^(?P=indent)```", re.DOTALL | re.M)
DRY_RUN_COMMANDS = {"stylize", "interpolate", "spatial", "preserve-color"}
RUN_FOR_REAL = {("styles", "encode")}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".ppm", ".apng"}
CLIP_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}
# Options whose value the command writes (never made beforehand) or that are not paths.
OUTPUT_OPTIONS = {"-o", "--output"}
FOLDER_OPTIONS = {"--content-dir", "--style-dir", "--mask-dir", "--resume"}
SEPARATORS = {"|", "||", "&&", ";", "&"}


def shell_lines(body: str) -> Iterator[tuple[int, str]]:
    """(offset of the line in the block, the line) with continuations joined and `$ ` prompts removed."""
    pending, start = "", 0
    for offset, raw in enumerate(body.splitlines()):
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        if not pending:
            start = offset
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield start, pending + line
        pending = ""


def adain_commands(line: str) -> list[list[str]]:
    """The `adain …` commands of one shell line (`torchrun … -m adain_cli …` too), each as its argv without
    `adain`."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands, current = [], []
    for token in [*lexer, ";"]:
        if token in SEPARATORS:
            if current[:1] == ["adain"]:
                commands.append(current[1:])
            elif "adain_cli" in current and current[current.index("adain_cli") - 1] == "-m":  # torchrun, python -m
                commands.append(current[current.index("adain_cli") + 1 :])
            current = []
        else:
            current.append(token)
    return commands


def examples() -> list:
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for block in FENCE.finditer(text):
            first_line = text.count("\n", 0, block.start("body")) + 1
            for offset, line in shell_lines(block.group("body")):
                for argv in adain_commands(line):
                    where = f"{document.relative_to(REPO)}:{first_line + offset}"
                    found.append(pytest.param(argv, line, id=f"{where} adain {' '.join(argv)}"[:150]))
    return found


def test_the_documents_have_examples():
    """The collection itself works: the README's five commands and the docs' examples are all found."""
    commands = {argv[0] for argv in (param.values[0] for param in examples())}
    assert {"stylize", "interpolate", "spatial", "preserve-color", "train", "models"} <= commands
    assert len(examples()) > 40


def test_the_library_doc_shows_the_readme_example_that_test_api_runs():
    python = re.compile(r"```python\n(.*?)```", re.DOTALL)
    readme = python.search((REPO / "README.md").read_text(encoding="utf-8"))
    library = python.search((REPO / "docs" / "library.md").read_text(encoding="utf-8"))
    assert readme and library and readme.group(1) == library.group(1)


def test_ci_runs_the_readme_test_command():
    """`.ci/run` runs README's test command (`python3 -m pytest -q -n auto`), with its own output options."""
    assert "`pip install -e '.[test]' && python3 -m pytest -q -n auto`" in (REPO / "README.md").read_text("utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert '"$py" -m pytest -q -p no:cacheprovider -n auto --durations=15 ' in ci


def made_inputs(argv: list[str], folder: Path, banks: Path, stdin_names: list[str]) -> None:
    """Every input `argv` names, made in `folder`: what a user of the example would already have."""
    for index, token in enumerate(argv):
        before = argv[index - 1] if index else ""
        if token.startswith("-") or before in OUTPUT_OPTIONS or "{" in token or re.fullmatch(r"[\d.,/]+", token):
            continue  # an option, an output, a template, a number or a shard
        path = folder / token
        suffix = path.suffix.lower()
        if path.exists():
            continue
        if suffix in IMAGE_SUFFIXES:
            make_image(path, 24, 16, seed=index)
        elif suffix in CLIP_SUFFIXES:
            from tests.test_video import make_clip

            path.parent.mkdir(parents=True, exist_ok=True)
            make_clip(path, frames=2, size=(32, 24))
        elif suffix == ".bank":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(banks.read_bytes())
        elif suffix == ".txt":
            path.write_text("".join(f"{name}\n" for name in stdin_names))
        elif token.endswith("/") or before in FOLDER_OPTIONS or ("/" in token and not suffix):
            for stem in ("a", "b"):
                make_image(path / f"{stem}.png", 24, 16, seed=ord(stem))


def parse_only(argv: list[str]) -> None:
    """Parse `adain ARGV` as click would for a run (names, values, types, paths), without running it."""
    context = click.Context(cli, info_name="adain")
    command: click.Command = cli
    rest = list(argv)
    while isinstance(command, click.Group):
        name = rest.pop(0)
        found = command.get_command(context, name)
        assert found is not None and not found.hidden, f"adain has no command {name!r} here (or only a renamed one)"
        command = found
        if isinstance(command, click.Group):
            context = click.Context(command, info_name=name, parent=context)
    with command.make_context(name, rest, parent=context) as parsed:
        given = [
            p for p in command.params if p.name and parsed.get_parameter_source(p.name) == ParameterSource.COMMANDLINE
        ]
        assert not [p.name for p in given if getattr(p, "hidden", False)], "a hidden (renamed) option"


@pytest.fixture(scope="module")
def bank(weight_files, tmp_path_factory) -> Path:
    """A style bank of two tiny styles, made with the test models (what `--style x.bank` examples read)."""
    folder = tmp_path_factory.mktemp("bank")
    for stem in ("a", "b"):
        make_image(folder / "styles" / f"{stem}.png", 24, 16, seed=ord(stem))
    made = cli_runner().invoke(cli, ["styles", "encode", str(folder / "styles"), "-o", str(folder / "two.bank"),
                                     "--encoder", str(weight_files[0]), "--style-size", "0", "-q"])  # fmt: skip
    assert made.exit_code == 0, made.output
    return folder / "two.bank"


@pytest.mark.parametrize(("argv", "line"), examples())
def test_the_example_runs_as_written(argv, line, bank, weight_files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    listed = [str(make_image(tmp_path / "listed" / f"{stem}.png", 24, 16, seed=ord(stem))) for stem in ("x", "y")]
    made_inputs(argv, tmp_path, bank, listed)
    command = tuple(word for word in argv[:2] if not word.startswith("-"))
    if argv[0] in DRY_RUN_COMMANDS:
        separator = "\0" if "-0" in argv or "--null" in argv else "\n"
        stdin = "".join(f"{name}{separator}" for name in listed) if "-" in argv else None
        result = cli_runner().invoke(cli, [*argv, *(["--dry-run"] if "--dry-run" not in argv else [])], input=stdin)
        assert result.exit_code == 0, f"{line}\n{result.output}{result.stderr}"
    elif command in RUN_FOR_REAL:
        result = cli_runner().invoke(cli, [*argv, "--encoder", str(weight_files[0]), "--style-size", "0"])
        assert result.exit_code == 0, f"{line}\n{result.output}{result.stderr}"
    else:
        try:
            parse_only(argv)
        except click.ClickException as error:
            pytest.fail(f"{line}\n{error.format_message()}")
