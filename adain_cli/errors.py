"""Errors a user can act on. The CLI prints them as one line and exits non-zero."""


class AdainError(Exception):
    """A failure with a message written for the user (no traceback)."""


class ImageError(AdainError):
    """An input image that cannot be used."""


class WeightsError(AdainError):
    """A checkpoint that is missing, unreadable, or of the wrong layout."""


class UsageError(AdainError):
    """A value the user gave that cannot mean anything (a missing path, an unknown name): exit 2."""
