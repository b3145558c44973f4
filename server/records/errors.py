"""The records loaders' refusal."""

from __future__ import annotations

from miap.server.exceptions import AdminRefusal


class RecordsError(AdminRefusal):
    """A file refused as a whole (malformed, misnamed, out of order); nothing was written."""
