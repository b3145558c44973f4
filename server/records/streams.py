"""A file read through a counter: its SHA-256 and a progress report, in one pass."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import BinaryIO


class Counted(io.RawIOBase):
    """A binary stream that hashes what is read through it and reports each block's size to
    ``advance`` (a progress bar's ``update``)."""

    def __init__(self, stream: BinaryIO, advance: Callable[[int], object]) -> None:
        super().__init__()
        self._stream = stream
        self._advance = advance
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        count = self._stream.readinto(buffer)
        if count:
            view = memoryview(buffer)[:count]
            self.sha256.update(view)
            self._advance(count)
        return count or 0

    def drain(self) -> str:
        """Read what is left (a parser may stop before the end) and return the file's hash."""
        while self.read(1 << 20):
            pass
        return self.sha256.hexdigest()


def sha256_of(stream: BinaryIO) -> str:
    """The SHA-256 of what is left to read of ``stream`` (read in blocks)."""
    return Counted(stream, lambda n: None).drain()
