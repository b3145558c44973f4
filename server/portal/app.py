"""PLACEHOLDER (scaffolding, replaced by the portal work): the portal."""

from __future__ import annotations

from miap.server.services import Services

PORTAL_PATH = "/portal"


class PortalApp:
    def __init__(self, services: Services) -> None:
        self.services = services

    def __call__(self, environ, start_response):  # noqa: ANN001, ANN204
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not built yet"]
