"""Errors the store raises; their messages are safe to show to the user as they are."""

from __future__ import annotations


class InvalidInput(ValueError):
    """The request was refused before anything was written (bad value, unknown reason, too long)."""


class NotAllowed(InvalidInput):
    """The target does not exist or is not the user's own (the two are deliberately indistinguishable)."""


class StoreUnavailable(RuntimeError):
    """The database stayed locked or unreachable through every retry; nothing was saved."""
