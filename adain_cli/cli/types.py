"""The option types of the `adain` commands, and the command class that parses variadic numbers and prints
the help in sections. Nothing here imports torch."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, ClassVar

import click

# A number as float() reads it (inf and nan too, so they reach the option and are refused by name).
_ONE_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)"
_NUMBER = re.compile(rf"^({_ONE_NUMBER})(,({_ONE_NUMBER})?)*$", re.IGNORECASE)


class NumberList(click.ParamType):
    """A comma-separated list of finite floats, each checked against [low, high] when given."""

    name = "numbers"

    def __init__(self, low: float | None = None, high: float | None = None) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[float, ...]:
        if isinstance(value, tuple):
            return value
        numbers: list[float] = []
        for part in str(value).split(","):
            if not part.strip():
                continue
            try:
                number = float(part)
            except ValueError:
                self.fail(f"{part.strip()!r} is not a number", param, ctx)
            if not math.isfinite(number):
                self.fail(f"{part.strip()!r} is not a finite number", param, ctx)
            if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
                self.fail(f"{part.strip()} is out of range {self._range()}", param, ctx)
            numbers.append(number)
        if not numbers:
            self.fail("expected at least one number", param, ctx)
        return tuple(numbers)

    def _range(self) -> str:
        if self.high is None:
            return f"(must be at least {self.low:g})"
        return f"[{self.low:g}, {self.high:g}]"


class ByteSize(click.ParamType):
    """A size such as 512MB, 4GB or 1.5GiB. A bare number is bytes, so a bare number under `minimum` (a unit
    forgotten: `--max-memory 4`) is refused, naming the unit, rather than taken as a few bytes; a size with its
    unit is taken as written."""

    name = "size"
    _UNITS: ClassVar[dict[str, int]] = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
              "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip

    def __init__(self, minimum: int = 0) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
        if not match or match.group(2).lower() not in self._UNITS:
            self.fail(f"{value!r} is not a size like 512MB or 4GB", param, ctx)
        size = int(float(match.group(1)) * self._UNITS[match.group(2).lower()])
        if size < self.minimum and not match.group(2):
            least = f"{self.minimum // 10**6}MB"
            self.fail(f"a bare number is bytes ({value} is {size} bytes): give a unit, e.g. 4GB (at least {least})",
                      param, ctx)  # fmt: skip
        return size


class ShardType(click.ParamType):
    """K/N with 1 ≤ K ≤ N: the K-th of N equal slices of a job (for scheduler array jobs)."""

    name = "K/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(value))
        if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
            self.fail(f"{value!r} is not K/N with 1 ≤ K ≤ N (e.g. 2/8)", param, ctx)
        return int(match.group(1)) - 1, int(match.group(2))


class StyleType(click.ParamType):
    """A style: a path is that file or folder; a bare name that names nothing here is a shipped sample style
    (`--style waves`)."""

    name = "style"

    def __init__(self, *, folders: bool = True) -> None:
        self.folders = folders

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        from adain_cli.errors import UsageError
        from adain_cli.inputs import style_path

        try:
            path = value if isinstance(value, Path) else style_path(str(value))
        except UsageError as error:
            self.fail(str(error), param, ctx)
        if not self.folders and path.is_dir():
            self.fail(f"{path} is a folder; give a style image", param, ctx)
        return path

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        from adain_cli.inputs import sample_style_names

        names = [CompletionItem(name) for name in sample_style_names() if name.startswith(incomplete)]
        return [*names, CompletionItem(incomplete, type="file")]


class DeviceType(click.ParamType):
    """auto, cpu, cuda, cuda:N or mps, checked by its spelling alone (whether the device exists is asked of
    torch later, once it is loaded)."""

    name = "device"
    CHOICES = ("auto", "cpu", "cuda", "cuda:0", "mps")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", str(value).strip().lower()):
            self.fail(f"unknown device {value!r} (use auto or cpu; or cuda, cuda:N, mps)", param, ctx)
        return str(value).strip().lower()

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(choice) for choice in self.CHOICES if choice.startswith(incomplete)]


class ModelType(click.ParamType):
    """A registered model name or a checkpoint path, as typed (which it is is decided when it is loaded);
    completes to the registered names and to files."""

    name = "name|path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return str(value)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        from adain_cli.registry import REGISTRY

        names = [CompletionItem(name) for name in REGISTRY if name.startswith(incomplete)]
        return [*names, CompletionItem(incomplete, type="file")]


# The help's sections, in the order they are printed; an option without one is among the first, unheaded ones.
MAIN = "Options"
DATASETS = "Datasets"
TRAINING = "Training"
INPUTS = "Inputs"
OUTPUT = "Output"
GRIDS = "Grids"
VIDEO = "Videos and animations"
JOBS = "Jobs and scripts"
PERFORMANCE = "Performance"
MODELS = "Models"
SECTIONS = (MAIN, DATASETS, TRAINING, INPUTS, OUTPUT, GRIDS, VIDEO, JOBS, PERFORMANCE, MODELS)


class SectionOption(click.Option):
    """An option that names the section of the help it is listed in."""

    def __init__(self, *args: Any, section: str = MAIN, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section = section


class VariadicOption(SectionOption):
    """An option whose value may be spread over several following numeric arguments."""


class AdainCommand(click.Command):
    """A command that joins `--opt 0 .5 1` into `--opt 0,.5,1` for its variadic options, and prints its
    options in sections (the common ones first).

    Click options take a fixed number of values, so the numbers that follow a variadic option are
    gathered before click parses. Only tokens that read as numbers are taken, so positional paths
    after the option are left alone; a token that reads as a number and also names an existing file
    (`--alpha 1 0.5` beside a file `0.5`) is refused as ambiguous rather than guessed.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        names = {opt for p in self.params if isinstance(p, VariadicOption) for opt in p.opts}
        joined: list[str] = []
        index = 0
        while index < len(args):
            token = args[index]
            joined.append(token)
            index += 1
            if token == "--":
                joined.extend(args[index:])
                break
            if token in names:
                values: list[str] = []
                while index < len(args) and _NUMBER.match(args[index]):
                    if values and Path(args[index]).exists():
                        raise click.UsageError(
                            f"{args[index]!r} after {token} is a number and also a file here: write the numbers "
                            f"joined ({token} {','.join([*values, args[index]])}) or the file as ./{args[index]}",
                            ctx,
                        )
                    values.append(args[index].strip(","))
                    index += 1
                if values:
                    joined.append(",".join(values))
        return super().parse_args(ctx, joined)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: dict[str, list[tuple[str, str]]] = {section: [] for section in SECTIONS}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is not None:
                rows.setdefault(getattr(param, "section", MAIN), []).append(record)
        for section, records in rows.items():
            if records:
                with formatter.section(section):
                    formatter.write_dl(records)


def option(*flags: str, section: str = MAIN, **settings: Any) -> Any:
    """`click.option` for an option listed under `section` of the help."""
    return click.option(*flags, cls=settings.pop("cls", SectionOption), section=section, **settings)
