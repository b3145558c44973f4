"""What every ``miap`` subcommand shares: its parser, with ``--db`` and the defaults shown.

The capability packages keep their own subcommands (``server/census/cli.py``,
``server/records/cli.py`` …); ``server/admin/cli.py`` gathers them.
"""

from __future__ import annotations

import argparse

from miap.server.settings import Settings, env_name


class DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each option's default, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def add_db_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        dest="database_url",
        default=None,
        help=f"database URL (default ${env_name('database_url')} or {Settings.database_url})",
    )


def action(parent, name: str, help_text: str) -> argparse.ArgumentParser:  # noqa: ANN001 - argparse's private type
    """A subcommand ``name`` of ``parent`` (a subparsers object) that takes ``--db``."""
    sub = parent.add_parser(
        name, help=help_text, description=help_text, formatter_class=DefaultsShown
    )
    add_db_flag(sub)
    return sub
