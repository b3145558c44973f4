"""``miap records load`` and ``miap records show`` (wired into ``miap`` by ``server/admin/cli.py``).

miap records load --source ILR FILE [--rejects FILE] [--reread] [--no-progress] [--db URL]
miap records load --source NPD|AO FILE --provider UKPRN --collection NAME [--return LABEL] …
miap records show ULN [--json] [--db URL]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from functools import partial
from pathlib import Path

from miap.server.commands import action
from miap.server.progress import silent, terminal
from miap.server.records import ilr_parts, loader
from miap.server.records.errors import RecordsError
from miap.server.records.events import SOURCES
from miap.server.records.ilr import Header, IlrReturn
from miap.server.records.reading import events_of
from miap.server.records.results import ResultsFile
from miap.server.register.identifiers import is_valid_ukprn
from miap.server.settings import Settings
from miap.storage.engine import Database

COMMANDS = ("records",)
_COLLECTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,15}")
_MAX_RETURN = 32


def add_parser(subparsers) -> argparse.ArgumentParser:  # noqa: ANN001 - argparse's private type
    """``records`` and its actions, on ``miap``'s subcommands."""
    records = subparsers.add_parser(
        "records", help="learner records: load learning events (ILR, NPD, AO), show a record"
    )
    actions = records.add_subparsers(dest="action", required=True)

    load = action(
        actions,
        "load",
        "load a file of learning events: a college's ILR XML return, or a results CSV "
        "(each file is the full snapshot of its data owner's collection)",
    )
    load.add_argument("file", type=Path, metavar="FILE", help="the ILR XML (or .ZIP) or CSV")
    load.add_argument("--source", required=True, choices=SOURCES, help="what the file is")
    load.add_argument(
        "--provider",
        default=None,
        metavar="UKPRN",
        help="NPD/AO: the data owner's UKPRN (an ILR return names its own)",
    )
    load.add_argument(
        "--collection",
        default=None,
        help="NPD/AO: the collection this file is the full snapshot of, e.g. 2025 or "
        "2025-summer (an ILR return's is its collection year)",
    )
    load.add_argument(
        "--return",
        dest="return_label",
        default=None,
        metavar="LABEL",
        help="NPD/AO: which return of the collection this is (default: the collection)",
    )
    load.add_argument(
        "--rejects",
        type=Path,
        default=None,
        help="write the rejected events here (CSV: position, ULN, SourceEventId, reason)",
    )
    load.add_argument(
        "--reread",
        action="store_true",
        help="read the file even when it is the one last loaded for its scope and the "
        "register still answers for its ULNs as it did then (by default such a file is "
        "not read again: the load records it with the same outcome and rejects)",
    )
    load.add_argument("--no-progress", action="store_true", help="no progress bar")
    load.add_argument(
        "--chunk",
        type=int,
        metavar="N",
        default=None,
        help="events per staging write (default 20,000)",
    )

    show = action(
        actions, "show", "print the learning events of a ULN (and of ULNs merged into it)"
    )
    show.add_argument("uln", metavar="ULN")
    show.add_argument("--json", action="store_true", help="one JSON object per event")
    return records


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``miap records …``; refusals raise ``RecordsError`` (exit status 2)."""
    if args.action == "show":
        return _show(args, settings)
    reader, scope_of, scope_ahead, parts = _reader(args)
    if args.chunk is not None and args.chunk < 1:
        raise RecordsError("--chunk must be at least 1")
    db = Database(settings.database_url)
    try:
        summary = loader.RecordsLoad(
            db,
            reader,
            scope_of,
            rejects=args.rejects,
            progress=silent if args.no_progress else terminal("B", binary=True),
            chunk=args.chunk,
            parts=parts,
            scope_ahead=scope_ahead,
            reread=args.reread,
        ).run()
    finally:
        db.dispose()
    scope = summary.scope
    print(
        f"{scope.source} {args.file.name} ({scope.provider_ukprn} {scope.collection}, "
        f"return {scope.return_key}): {summary.line()} in {summary.seconds:.1f} s"
    )
    if summary.phases:
        print("  " + ", ".join(f"{name} {took:.1f} s" for name, took in summary.phases.items()))
    return 0


def _reader(
    args: argparse.Namespace,
) -> tuple[loader.Reader, object, object, loader.PartReading | None]:
    """The file's reader, what its scope is once read and before, and how to read it in
    parts."""
    if not args.file.is_file():
        raise RecordsError(f"no file at {args.file}")
    if args.source == "ILR":
        if args.provider or args.collection or args.return_label:
            raise RecordsError(
                "an ILR return names its own provider, collection year and serial: "
                "--provider, --collection and --return are for NPD and AO files"
            )
        reader = IlrReturn(args.file)

        def ilr_scope(read: IlrReturn, header: Header | None = None) -> loader.Scope:
            header = header or read.header
            assert header is not None  # events() refuses a file without one
            return loader.Scope(
                "ILR", header.ukprn, header.year.code, header.return_key, read.name.prepared
            )

        def ilr_scope_ahead() -> loader.Scope | None:
            header = reader.peek_header()
            return None if header is None else ilr_scope(reader, header)

        parts = partial(ilr_parts.read_in_parts, reader) if ilr_parts.in_parts(reader) else None
        return reader, ilr_scope, ilr_scope_ahead, parts
    if args.provider is None or not is_valid_ukprn(args.provider):
        raise RecordsError(f"--source {args.source} needs --provider UKPRN (eight digits)")
    if args.collection is None or not _COLLECTION.fullmatch(args.collection):
        raise RecordsError(
            f"--source {args.source} needs --collection NAME (1 to 16 letters, digits, . _ / -)"
        )
    label = args.return_label or args.collection
    if len(label) > _MAX_RETURN:
        raise RecordsError(f"--return is at most {_MAX_RETURN} characters")
    scope = loader.Scope(args.source, args.provider, args.collection, label)
    return ResultsFile(args.file), lambda read: scope, lambda: scope, None


def _show(args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings.database_url)
    try:
        with db.reading() as session:
            found = events_of(session, args.uln)
    finally:
        db.dispose()
    for event in found:
        if args.json:
            print(json.dumps(dataclasses.asdict(event), default=str, sort_keys=True))
        else:
            print(
                f"{event.uln} {event.source} {event.provider_ukprn} {event.collection} "
                f"{event.source_event_id}: {event.subject_code or event.subject or '-'} "
                f"{event.participation_start_date or ''}..{event.participation_end_date or ''} "
                f"status {event.status or '-'} grade {event.grade or '-'}"
            )
    if not found:
        print(f"no learning events for {args.uln}", file=sys.stderr)
    return 0
