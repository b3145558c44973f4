"""PLACEHOLDER (scaffolding, replaced by the SIF zone work): work-queue handlers."""

from __future__ import annotations

from typing import Any

from miap.server.settings import Settings


def handlers(settings: Settings) -> dict[str, Any]:
    return {}
