"""The portal's plumbing: templates, responses and the headers every answer carries."""

from __future__ import annotations

import functools
from importlib.resources import files
from typing import Any

from jinja2 import ChoiceLoader, Environment, PackageLoader, PrefixLoader, select_autoescape
from werkzeug.wrappers import Response

from miap.server.portal import forms

PREFIX = "/portal"
STATIC = f"{PREFIX}/static"

#: No inline script or style anywhere; forms post to this site only; never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
)
_STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [
                PackageLoader("miap.server.portal", "templates"),
                PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
            ]
        ),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(prefix=PREFIX, static=STATIC, choices=forms.CHOICES, hints=forms.HINTS)
    env.filters["error_link"] = lambda item: {"text": item[1], "href": f"#{item[0]}"}
    return env


def render(template: str, status: int = 200, **values: Any) -> Response:  # noqa: ANN401
    body = environment().get_template(template).render(**values)
    return Response(body, status=status, content_type="text/html; charset=utf-8")


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS:
        if name == "Cache-Control" and response.headers.get(name):
            continue
        response.headers.setdefault(name, value)
    return response


def static_file(path: str) -> Response | None:
    """A file of ``static/`` (no directory escapes), cached by the browser for a day."""
    parts = [part for part in path.split("/") if part]
    if not parts or any(part.startswith(".") for part in parts):
        return None
    resource = files("miap.server.portal").joinpath("static", *parts)
    if not resource.is_file():
        return None
    suffix = "." + parts[-1].rsplit(".", 1)[-1] if "." in parts[-1] else ""
    content_type = _STATIC_TYPES.get(suffix)
    if content_type is None:
        return None
    response = Response(resource.read_bytes(), content_type=content_type)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
