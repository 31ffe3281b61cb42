"""The package's version: at the bottom of the package, so any module may import it (pyproject reads it too)."""

__version__ = "0.1.0"
