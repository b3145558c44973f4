"""PLACEHOLDER (scaffolding, replaced by the portal work): ``miap portal``."""

from __future__ import annotations

import argparse

from miap.server.settings import Settings

COMMANDS = ("portal",)


def add_parser(subparsers) -> None:  # noqa: ANN001 - argparse's private type
    subparsers.add_parser("portal", help="not built yet")


def run(args: argparse.Namespace, settings: Settings) -> int:
    raise NotImplementedError
