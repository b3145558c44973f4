"""PLACEHOLDER (scaffolding, replaced by the SIF zone work): ``miap sif``."""

from __future__ import annotations

import argparse

from miap.server.settings import Settings

COMMANDS = ("sif",)


def add_parser(subparsers) -> None:  # noqa: ANN001 - argparse's private type
    subparsers.add_parser("sif", help="not built yet")


def run(args: argparse.Namespace, settings: Settings) -> int:
    raise NotImplementedError
