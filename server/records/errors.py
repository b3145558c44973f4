"""The records loaders' refusal."""

from __future__ import annotations

from miap.server.exceptions import AdminRefusal


class RecordsError(AdminRefusal):
    """A file refused as a whole (malformed, misnamed, out of order); nothing was written."""


class ReadWhole(Exception):  # noqa: N818 - an instruction to the loader, not a failure
    """A file cannot be read in parts (or a part could not be trusted): read it whole."""
