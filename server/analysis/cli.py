"""PLACEHOLDER (scaffolding, replaced by the provider register work): ``miap analyse``."""

from __future__ import annotations

import argparse

from miap.server.settings import Settings

COMMANDS = ("analyse",)


def add_parser(subparsers) -> None:  # noqa: ANN001 - argparse's private type
    subparsers.add_parser("analyse", help="not built yet")


def run(args: argparse.Namespace, settings: Settings) -> int:
    raise NotImplementedError
