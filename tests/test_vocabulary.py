"""One name, one meaning, in every command: the renames of 0.2 and the ambiguities they remove (each of these
passed, or meant something else, before). All are usage checks or dry runs: no network is loaded."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from adain_cli.cli import cli
from tests.conftest import cli_runner, make_image

IMAGE_COMMANDS = ("stylize", "preserve-color", "interpolate", "spatial")


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """c.png, a.png, b.png and a mask in the current folder."""
    for name, seed in (("c", 0), ("a", 1), ("b", 2), ("mask", 3)):
        make_image(tmp_path / f"{name}.png", 16, 16, seed=seed)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def adain(*args: str) -> click.testing.Result:
    return cli_runner().invoke(cli, list(args))


def _one_line_usage_error(result: click.testing.Result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_dash_m_is_the_mask_and_nothing_else(scene: Path) -> None:
    _one_line_usage_error(adain("preserve-color", "c.png", "-s", "a.png", "-m", "luminance", "--dry-run"), "-m")
    assert adain("preserve-color", "c.png", "-s", "a.png", "--method", "luminance", "--dry-run").exit_code == 0
    assert adain("spatial", "c.png", "-s", "a.png", "-m", "mask.png", "--dry-run").exit_code == 0


def test_weights_means_blend_proportions_and_the_model_files_are_models(scene: Path) -> None:
    _one_line_usage_error(adain("weights", "list"), "adain models")
    listed = adain("models", "list", "--no-hash", "--json")
    assert listed.exit_code == 0 and {row["name"] for row in json.loads(listed.stdout)["models"]} == {
        "vgg_normalised",
        "decoder",
    }
    _one_line_usage_error(adain("stylize", "c.png", "-s", "a.png", "--vgg", "x.pth", "--dry-run"), "--vgg")


def test_preserve_color_has_one_spelling_and_always_takes_its_value(scene: Path) -> None:
    _one_line_usage_error(adain("stylize", "--preserve-color", "c.png", "--style", "a.png"), "--preserve-color")
    # A value is required, so the option alone at the end is an error, not a silent coral.
    result = adain("interpolate", "c.png", "-s", "a.png", "-s", "b.png", "--dry-run", "--preserve-color")
    _one_line_usage_error(result, "--preserve-color")
    ok = adain("interpolate", "c.png", "-s", "a.png", "-s", "b.png", "--preserve-color", "luminance", "--dry-run")
    assert ok.exit_code == 0, ok.output


def test_a_number_after_a_variadic_option_that_is_also_a_file_is_refused(scene: Path) -> None:
    (scene / "0.5").write_bytes((scene / "c.png").read_bytes())  # a content file named like a number
    result = adain("stylize", "--alpha", "1", "0.5", "-s", "a.png", "--dry-run")
    _one_line_usage_error(result, "'0.5'", "also a file", "--alpha 1,0.5", "./0.5")
    written = adain("stylize", "--alpha", "1", "./0.5", "-s", "a.png", "--dry-run")
    assert written.exit_code == 0 and "would write" in written.stdout
    # The first number is always the option's: `--alpha 0.5` alone is not ambiguous.
    assert adain("stylize", "c.png", "--alpha", "0.5", "-s", "a.png", "--dry-run").exit_code == 0


@pytest.mark.parametrize("size", ["4", "1000", "63999999"])
def test_a_bare_max_memory_below_64mb_names_the_unit(scene: Path, size: str) -> None:
    result = adain("stylize", "c.png", "-s", "a.png", "--max-memory", size, "--dry-run")
    _one_line_usage_error(result, "64MB", "bare number is bytes")


@pytest.mark.parametrize("size", ["4GB", "20MB", "64000000"])
def test_max_memory_with_a_unit_or_a_plausible_byte_count_is_taken(scene: Path, size: str) -> None:
    assert adain("stylize", "c.png", "-s", "a.png", "--max-memory", size, "--dry-run").exit_code == 0


def test_interpolate_takes_styles_by_style_like_every_command(scene: Path) -> None:
    by_option = adain("interpolate", "c.png", "-s", "a.png", "-s", "b.png", "--weights", ".3", ".7", "--dry-run")
    short_form = adain("interpolate", "c.png", "a.png", "b.png", "--weights", ".3", ".7", "--dry-run")
    assert by_option.exit_code == short_form.exit_code == 0, by_option.output + short_form.output
    assert by_option.stdout == short_form.stdout  # the same job, the same outputs
    (scene / "list.txt").write_text("c.png\n")
    # With --style every path is a content, as in stylize: two contents here.
    both = adain("interpolate", "c.png", "--files-from", "list.txt", "-s", "a.png", "-s", "b.png", "--dry-run")
    assert both.exit_code == 0 and both.stdout.count("would write") >= 1
    # Before, with --files-from every positional silently became a style.
    _one_line_usage_error(adain("interpolate", "--files-from", "list.txt", "a.png", "b.png", "--dry-run"), "--style")


def test_train_sizes_are_named_as_in_stylize(scene: Path) -> None:
    _one_line_usage_error(adain("train", "--image-size", "48"), "--image-size")
    help_text = adain("train", "--help").stdout
    assert "--content-size" in help_text and "--style-size" in help_text and "--vgg" not in help_text


def test_a_run_from_before_the_rename_still_resumes() -> None:
    from adain_cli.train_config import TrainConfig

    old = '{"content_dir": "c", "style_dir": "s", "run_dir": "r", "encoder": "e", "image_size": 64, "crop_size": 32}'
    config = TrainConfig.from_json(old)
    assert (config.content_size, config.style_size, config.crop_size) == (64, 64, 32)


def test_hash_has_one_default_in_doctor_and_models_list() -> None:
    for command in (["doctor"], ["models", "list"]):
        option = next(p for p in _command(command).params if p.name == "check")
        assert option.default is True and "--no-hash" in option.secondary_opts, command


def test_quiet_means_the_same_everywhere() -> None:
    helps = {" ".join(path): _option_help(path, "quiet") for path in _every_command() if _has(path, "quiet")}
    assert len(helps) >= 8 and set(helps.values()) == {"No progress or summary; errors only."}, helps


def test_every_style_option_says_sample_style_names_work() -> None:
    for command in IMAGE_COMMANDS:
        assert "sample style's name" in _option_help([command], "styles"), command


def test_stylize_help_fits_a_screen_up_to_its_first_section() -> None:
    text = cli_runner().invoke(cli, ["stylize", "--help"], terminal_width=100).stdout
    first_break = text.index("\n\n", text.index("Options:"))
    assert len(text[:first_break].splitlines()) <= 30
    for section in ("Datasets:", "Output:", "Jobs and scripts:", "Performance:", "Models:"):
        assert section in text


def test_styles_list_names_the_sample_styles() -> None:
    listed = adain("styles", "list")
    assert listed.exit_code == 0 and "waves\t" in listed.stdout


def _every_command() -> list[list[str]]:
    found: list[list[str]] = []

    def walk(group: click.Group, path: list[str]) -> None:
        for name, command in group.commands.items():
            if command.hidden:
                continue
            if isinstance(command, click.Group):
                walk(command, [*path, name])
            else:
                found.append([*path, name])

    walk(cli, [])
    return found


def _command(path: list[str]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def _has(path: list[str], name: str) -> bool:
    return any(param.name == name for param in _command(path).params)


def _option_help(path: list[str], name: str) -> str:
    option = next(p for p in _command(path).params if p.name == name)
    assert isinstance(option, click.Option)
    return option.help or ""
