"""Reading a request body under the size limit, for every transport that parses one (SOAP
services, the SIF zone): the limit is checked on the declared length before anything is read,
and on what was read when no length was declared (chunked)."""

from __future__ import annotations

from typing import BinaryIO


class BodyRefused(Exception):
    """The body was not read: ``too_large`` (over the limit) or a Content-Length that is not a
    number. Each transport answers with its own code; the message says which limit."""

    def __init__(self, message: str, too_large: bool) -> None:
        super().__init__(message)
        self.too_large = too_large


def read_body(environ: dict, limit: int, drain_limit: int = 0) -> bytes:
    """The request body of at most ``limit`` bytes. A body declared over the limit is read and
    discarded up to ``drain_limit`` bytes first, so that the client, still sending, sees the
    answer rather than a reset connection."""
    stream: BinaryIO = environ["wsgi.input"]
    try:
        declared = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        raise BodyRefused("Content-Length is not a number", too_large=False) from None
    if declared > limit:
        _drain(stream, min(declared, drain_limit))
        raise BodyRefused(f"Limit {limit} bytes, declared {declared}", too_large=True)
    body = stream.read(declared) if declared >= 0 else stream.read(limit + 1)
    if len(body) > limit:
        raise BodyRefused(f"Limit {limit} bytes", too_large=True)
    return body


def _drain(stream: BinaryIO, size: int) -> None:
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 16))
        if not chunk:
            break
        remaining -= len(chunk)
