"""``miap analyse QUERY --out DIR``: the analysts' queries, disclosure-controlled.

Each query writes ``DIR/QUERY.csv`` (the published table) and ``DIR/QUERY.png`` (its chart);
``all`` runs every one. See docs/analysis.md for the queries and the disclosure rules.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from miap.server.analysis import queries
from miap.server.commands import DefaultsShown, add_db_flag
from miap.server.exceptions import AdminRefusal
from miap.server.settings import Settings
from miap.storage.engine import Database

COMMANDS = ("analyse",)


def add_parser(subparsers) -> None:  # noqa: ANN001 - argparse's private type
    choices = ", ".join(f"{name} ({query.description})" for name, query in queries.QUERIES.items())
    analyse = subparsers.add_parser(
        "analyse",
        help="aggregate statistics with disclosure control (docs/analysis.md)",
        description=f"Queries: {choices}; or all.",
        formatter_class=DefaultsShown,
    )
    analyse.add_argument("query", choices=[*queries.QUERIES, "all"])
    analyse.add_argument("--out", type=Path, required=True, help="directory for CSV and PNG")
    analyse.add_argument(
        "--as-of", type=dt.date.fromisoformat, default=None, help="reference date (default today)"
    )
    add_db_flag(analyse)


def run(args: argparse.Namespace, settings: Settings) -> int:
    # matplotlib is imported only when a chart is drawn, not by every ``miap`` command.
    from miap.server.analysis import output

    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AdminRefusal(f"cannot create {args.out}: {error.strerror}") from None
    names = list(queries.QUERIES) if args.query == "all" else [args.query]
    db = Database(settings.database_url)
    try:
        for name in names:
            started = time.perf_counter()
            with db.reading() as session:
                result = queries.run(session, name, args.as_of)
            output.write_csv(result, args.out / f"{name}.csv")
            output.write_chart(result, args.out / f"{name}.png")
            print(f"{name}: {args.out / name}.csv, .png in {time.perf_counter() - started:.1f} s")
    finally:
        db.dispose()
    return 0
