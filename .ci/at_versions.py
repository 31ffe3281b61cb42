"""`python .ci/at_versions.py NAME==VERSION ...`: exit 1, naming them, unless this interpreter has exactly
those versions (8.1 and 8.1.0 are the same; a local label such as +cu130 is ignored)."""

import sys
from importlib.metadata import PackageNotFoundError, version


def release(text: str) -> tuple[int, ...]:
    numbers = [int(part) for part in text.split("+")[0].split(".")]
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def found(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "none"


wrong = []
for pin in sys.argv[1:]:
    name, wanted = pin.split("==")
    have = found(name)
    if have == "none" or release(have) != release(wanted):
        wrong.append(f"{name} {have} (wanted {wanted})")
if wrong:
    sys.exit(f"{sys.executable}: not at the versions asked for: {', '.join(wrong)}")
