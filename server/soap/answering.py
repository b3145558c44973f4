"""What every SOAP service of ours does around an answer: a request id, the last-line log of
an unexpected error (its type and stack, never its text, which may quote request values), and
the HTTP response with its length and request id."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from http import HTTPStatus

log = logging.getLogger("miap.request")

XML = "text/xml; charset=utf-8"

StartResponse = Callable[[str, list[tuple[str, str]]], object]


def status_line(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def log_internal_error(request_id: str, error: Exception) -> None:
    log.error(
        "%s internal error %s\n%s",
        request_id,
        type(error).__name__,
        "".join(traceback.format_tb(error.__traceback__)),
    )


def send(
    start_response: StartResponse, status: str, body: bytes, request_id: str, started: float
) -> list[bytes]:
    """Answer ``body`` as XML with ``status``; ``started`` (``time.perf_counter()``) times it."""
    log.debug("%s %s in %.1f ms", request_id, status, (time.perf_counter() - started) * 1000)
    start_response(
        status,
        [
            ("Content-Type", XML),
            ("Content-Length", str(len(body))),
            ("X-Request-Id", request_id),
        ],
    )
    return [body]
