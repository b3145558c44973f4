"""PLACEHOLDER (scaffolding, replaced by the records and PLR work): ``miap records``."""

from __future__ import annotations

import argparse

from miap.server.settings import Settings

COMMANDS = ("records",)


def add_parser(subparsers) -> None:  # noqa: ANN001 - argparse's private type
    subparsers.add_parser("records", help="not built yet")


def run(args: argparse.Namespace, settings: Settings) -> int:
    raise NotImplementedError
