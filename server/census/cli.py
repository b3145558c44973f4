"""``miap census load`` and ``miap census export`` (wired into ``miap`` by ``server/admin/cli.py``).

miap census load FILE [--academic-year Y] [--rejects FILE] [--no-progress] [--db URL]
miap census export --school LAESTAB --out FILE [--db URL]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from miap.server.app import make_matcher
from miap.server.census import loader
from miap.server.commands import action
from miap.server.progress import silent, terminal
from miap.server.settings import Settings
from miap.storage import migrations
from miap.storage.engine import Database

COMMANDS = ("census",)
_LAESTAB = re.compile(r"[0-9]{7}")


def add_parser(subparsers) -> argparse.ArgumentParser:  # noqa: ANN001 - argparse's private type
    """``census`` and its two actions, on ``miap``'s subcommands."""
    census = subparsers.add_parser("census", help="the school census: load extracts, export ULNs")
    actions = census.add_subparsers(dest="action", required=True)

    load = action(
        actions,
        "load",
        "load a census extract: link known UPNs, match the rest, issue ULNs to new pupils "
        "(resumable: run it again after an interruption)",
    )
    load.add_argument("file", type=Path, metavar="FILE", help="the census CSV")
    load.add_argument(
        "--academic-year",
        default=None,
        help="e.g. 2026 or 2026/27 (default: the current one, from 1 September)",
    )
    load.add_argument("--rejects", type=Path, default=None, help="write rejected rows here")
    load.add_argument("--no-progress", action="store_true", help="no progress bar")
    load.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="rows per transaction (default 50,000 on PostgreSQL, 20,000 on SQLite)",
    )

    export = action(actions, "export", "write a school's UPN,ULN file")
    export.add_argument("--school", required=True, metavar="LAESTAB", help="seven digits")
    export.add_argument("--out", type=Path, required=True, help="the CSV to write")
    return census


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``miap census …``; a refusal prints one line on stderr and returns 2."""
    try:
        return _run(args, settings)
    except (loader.CensusError, _Refused) as error:
        print(f"miap: error: {error}", file=sys.stderr)
        return 2


class _Refused(Exception):
    pass


def _database(url: str) -> Database:
    db = Database(url)
    current, head = migrations.current_revision(db.engine), migrations.head_revision()
    if current != head:
        db.dispose()
        raise _Refused(
            f"the database schema is at {current or 'nothing'}, not {head}: "
            "run `miap db upgrade` with the same --db first"
        )
    return db


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "export":
        if not _LAESTAB.fullmatch(args.school):
            raise _Refused("--school takes a LAESTAB: seven digits")
        db = _database(settings.database_url)
        try:
            with args.out.open("w", newline="", encoding="utf-8") as out:
                written = loader.export(db, args.school, out)
        finally:
            db.dispose()
        print(f"wrote {written:,} pupils of {args.school} to {args.out}", file=sys.stderr)
        return 0
    if args.chunk is not None and args.chunk < 1:
        raise _Refused("--chunk must be at least 1")
    if not args.file.is_file():
        raise _Refused(f"no census file at {args.file}")
    year = loader.academic_year(args.academic_year)
    db = _database(settings.database_url)
    try:
        summary = loader.CensusLoad(
            db,
            args.file,
            year,
            matcher=make_matcher(settings),
            progress=silent if args.no_progress else terminal(" rows"),
            chunk=args.chunk,
        ).run()
        if args.rejects is not None:
            with args.rejects.open("w", newline="", encoding="utf-8") as out:
                loader.write_rejects(db, summary.run_id, out)
    finally:
        db.dispose()
    how = {"loaded": "loaded", "resumed": "resumed and loaded", "already loaded": "already loaded"}
    print(
        f"census {args.file.name} ({year}) {how[summary.state]}: {summary.line()} "
        f"in {summary.seconds:.1f} s",
    )
    if summary.phases:
        print("  " + ", ".join(f"{name} {took:.1f} s" for name, took in summary.phases.items()))
    return 0
