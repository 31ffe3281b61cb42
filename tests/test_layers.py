"""README.md draws the package in layers: every module is in one, and none imports from a layer above."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "adain_cli"

# Imports that run up a layer today, each with the change that removes it. An entry that no longer happens
# fails the test too, so the list only shrinks.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}  # none: an import that runs up a layer is a failure


def drawn_layers() -> list[tuple[str, list[str]]]:
    """The layers of README.md's Layout, top first: (name, module paths relative to adain_cli/)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- layers:.*?-->\n```text\n(.*?)```\n<!-- layers end -->", text, re.DOTALL)
    assert block, "README.md has no layers block"
    layers: list[tuple[str, list[str]]] = []
    for line in block.group(1).splitlines():
        name, _, modules = line.rpartition(":") if not line.startswith(" ") else ("", "", line)
        if name:
            layers.append((name.strip(), []))
        layers[-1][1].extend(modules.split())
    return layers


def module_path(name: str) -> str | None:
    """`adain_cli.cli.jobs` → `cli/jobs.py` (a package → its `__init__.py`); None outside the package."""
    if name != "adain_cli" and not name.startswith("adain_cli."):
        return None
    parts = name.split(".")[1:]
    for candidate in ("/".join(parts) + ".py", "/".join([*parts, "__init__.py"])):
        if (PACKAGE / candidate).is_file():
            return candidate
    return None


def imports_of(path: Path) -> set[str]:
    """The package modules `path` imports, anywhere in it (type-checking and function-level imports included);
    `from adain_cli import name` imports a submodule if there is one of that name, else the package face."""
    found: set[str] = set()
    package = ".".join(["adain_cli", *path.relative_to(PACKAGE).parent.parts])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if module_path(f"{base}.{alias.name}") else base)
    return {target for name in found if (target := module_path(name))}


def test_every_module_is_in_exactly_one_layer():
    drawn = [module for _, modules in drawn_layers() for module in modules]
    actual = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py"))
    assert sorted(set(drawn) - set(actual)) == [], "drawn in README.md but not in the package"
    assert sorted(set(actual) - set(drawn)) == [], "in the package but not drawn in README.md"
    assert sorted(module for module in set(drawn) if drawn.count(module) > 1) == [], "drawn in two layers"


def test_no_module_imports_from_a_higher_layer():
    drawn = enumerate(drawn_layers())
    floor = {module: index for index, (_, modules) in drawn for module in modules if (PACKAGE / module).is_file()}
    names = [name for name, _ in drawn_layers()]
    upward: dict[tuple[str, str], str] = {}
    for module, index in floor.items():
        for target in imports_of(PACKAGE / module):
            if target != module and floor.get(target, index) < index:
                upward[(module, target)] = f"{module} ({names[index]}) imports {target} ({names[floor[target]]})"
    assert sorted(set(upward) - set(KNOWN_UPWARD)) == [], [
        upward[key] for key in sorted(set(upward) - set(KNOWN_UPWARD))
    ]
    assert sorted(set(KNOWN_UPWARD) - set(upward)) == [], "no longer upward: remove from KNOWN_UPWARD"
