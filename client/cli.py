"""``miap-client``: find, register, update, verify and retrieve learners from the command line.

    export MIAP_URL=https://lrs.example.org/LearnerService.svc
    export MIAP_UKPRN=10000002 MIAP_PASSWORD=...16 chars... MIAP_USER=jsmith
    miap-client find-uln 2088013023 --given Maren --family Testwood
    miap-client --json find --given Maren --family Testwood --dob 2008-12-10 --gender 2 \\
        --postcode "LS1 4AP"
    miap-client batch submit LRB_10000002_010920260900.CSV [--out OUT] [--job-type CHK]

Exit status: 0 the service answered (whatever its response code, e.g. WSRC0001 no match);
2 bad arguments or missing credentials; 3 the service answered with a fault (WSECnnnn);
4 the service could not be reached; 5 the answer was not a usable WSDL/SOAP message;
1 anything else. Errors go to stderr as one line, never a traceback; with --json a fault is
also printed to stdout as {"Fault": {"ErrorCode": ..., "Description": ..., ...}}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from miap.client import batchfile, sif_agent
from miap.client.codes import FAILURE_FLAGS, GENDERS, describe
from miap.client.exceptions import (
    LrsConnectionError,
    LrsError,
    LrsFault,
    LrsProtocolError,
    LrsRequestError,
)
from miap.client.lrs import MAX_BATCH, LrsClient, report_entries

PROG = "miap-client"
DEFAULT_USER = "miap-client"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_FAULT = 3
EXIT_CONNECTION = 4
EXIT_PROTOCOL = 5

#: Learner options of ``register`` and ``update``: (flag, wire element, help, required).
LEARNER_OPTIONS: tuple[tuple[str, str, str, bool], ...] = (
    ("--title", "Title", "title, e.g. Ms", False),
    ("--given", "GivenName", "given name", True),
    ("--middle", "MiddleOtherName", "middle or other names", False),
    ("--family", "FamilyName", "family name", True),
    ("--preferred-given", "PreferredGivenName", "preferred given name", False),
    ("--previous-family", "PreviousFamilyName", "previous family name", False),
    ("--family-at-16", "FamilyNameAtAge16", "family name at age 16", False),
    ("--school-at-16", "SchoolAtAge16", "school attended at age 16", False),
    ("--address1", "LastKnownAddressLine1", "address line 1", False),
    ("--address2", "LastKnownAddressLine2", "address line 2", False),
    ("--town", "LastKnownAddressTown", "town", False),
    ("--county", "LastKnownAddressCountyOrCity", "county or city", False),
    ("--postcode", "LastKnownPostCode", "last known postcode", True),
    ("--address-date", "DateOfAddressCapture", "date the address was captured, YYYY-MM-DD", False),
    ("--dob", "DateOfBirth", "date of birth, YYYY-MM-DD", True),
    ("--place-of-birth", "PlaceOfBirth", "place of birth", False),
    ("--gender", "Gender", "0 not known, 1 male, 2 female, 9 not specified", True),
    ("--email", "EmailAddress", "email address", False),
    ("--nationality", "Nationality", "nationality code (up to 3 characters)", False),
    ("--scn", "ScottishCandidateNumber", "Scottish candidate number (9 digits)", False),
    ("--verification-type", "VerificationType", "0-7 or 999 (default 1)", False),
    (
        "--other-verification",
        "OtherVerificationDescription",
        "describes verification type 999",
        False,
    ),
    ("--ability-to-share", "AbilityToShare", "0, 1 or 2 (default 1)", False),
    ("--notes", "Notes", "notes", False),
)
LEARNER_DEFAULTS = {"VerificationType": "1", "AbilityToShare": "1"}
CHOICES = {
    "Gender": ("0", "1", "2", "9"),
    "VerificationType": (*(str(n) for n in range(8)), "999"),
    "AbilityToShare": ("0", "1", "2"),
}


class UsageError(Exception):
    """Bad arguments or missing credentials (exit status 2)."""


_ULN = re.compile(r"[1-9][0-9]{9}")


def uln_argument(value: str) -> str:
    """A ULN argument of the contract's form (ten digits, not starting with 0), else exit 2
    before anything is sent; the check digit is the service's to judge."""
    if not _ULN.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a ULN (ten digits, not starting 0)")
    return value


# -- arguments --------------------------------------------------------------------------------


def _global_options(parser: argparse.ArgumentParser) -> None:
    """Options accepted before or after the command (SUPPRESS: unset unless given)."""
    group = parser.add_argument_group("connection (may also follow the command)")
    hide = argparse.SUPPRESS
    group.add_argument(
        "--url", default=hide, help="service endpoint, …/LearnerService.svc (env MIAP_URL)"
    )
    group.add_argument("--wsdl", default=hide, help="read the WSDL from here, not URL?wsdl")
    group.add_argument("--ukprn", default=hide, help="organisation UKPRN (env MIAP_UKPRN)")
    group.add_argument(
        "--password",
        default=hide,
        help="OrgPassword, 16 characters (env MIAP_PASSWORD; prefer the environment: "
        "command lines are visible to other users)",
    )
    group.add_argument(
        "--user", default=hide, help=f"UserName (env MIAP_USER, default {DEFAULT_USER})"
    )
    group.add_argument(
        "--org-ref", default=hide, help="OrganisationRef, 6 characters (env MIAP_ORG_REF)"
    )
    group.add_argument(
        "--timeout", type=float, default=hide, help="seconds to wait for the service (30)"
    )
    group.add_argument(
        "--json", action="store_true", default=hide, help="print machine-readable JSON"
    )


def _learner_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("learner")
    for flag, wire, text, required in LEARNER_OPTIONS:
        group.add_argument(
            flag,
            dest=wire,
            required=required,
            default=LEARNER_DEFAULTS.get(wire),
            choices=CHOICES.get(wire),
            metavar=flag.lstrip("-").upper().replace("-", "_"),
            help=text,
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Client of an LRS LearnerService (miap or compatible).",
        epilog=(
            "Exit status: 0 answered (any response code), 2 bad arguments or missing "
            "credentials, 3 fault from the service, 4 service unreachable, 5 unusable answer."
        ),
    )
    _global_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, text: str, description: str | None = None) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=description or text)
        _global_options(sub)
        return sub

    find_uln = command("find-uln", "find a learner by ULN and names")
    find_uln.add_argument("uln", metavar="ULN", type=uln_argument)
    find_uln.add_argument("--given", required=True, help="given name")
    find_uln.add_argument("--family", required=True, help="family name")
    find_uln.add_argument("--find-type", choices=("FUL", "CHK"), default="FUL")

    find = command("find", "find learners by demographics")
    find.add_argument("--given", required=True, help="given name")
    find.add_argument("--family", required=True, help="family name")
    find.add_argument("--dob", required=True, help="date of birth, YYYY-MM-DD")
    find.add_argument("--gender", required=True, choices=CHOICES["Gender"])
    find.add_argument("--postcode", required=True, help="last known postcode")
    find.add_argument("--previous-family", help="previous family name")
    find.add_argument("--school-at-16", help="school attended at age 16")
    find.add_argument("--place-of-birth", help="place of birth")
    find.add_argument("--email", help="email address")
    find.add_argument("--find-type", choices=("FUL", "CHK"), default="FUL")

    register = command("register", "register a new learner (prints the ULN issued)")
    _learner_options(register)

    update = command(
        "update",
        "replace a learner's details",
        "Replace the details of the learner holding ULN. The service stores the learner "
        "exactly as sent: every optional field you leave out is CLEARED. Give all the "
        "details you want kept (look them up first with `find-uln --json`). --version is "
        "the VersionNumber last read; a stale one fails with WSEC0702.",
    )
    update.add_argument("uln", metavar="ULN", type=uln_argument)
    update.add_argument(
        "--version", required=True, type=int, help="VersionNumber last read (find-uln)"
    )
    _learner_options(update)

    verify = command("verify", "check a learner's ULN against names (and DOB, gender)")
    verify.add_argument("uln", metavar="ULN", type=uln_argument)
    verify.add_argument("--given", required=True, help="given name")
    verify.add_argument("--family", required=True, help="family name")
    verify.add_argument("--dob", help="date of birth, YYYY-MM-DD")
    verify.add_argument("--gender", choices=CHOICES["Gender"])

    retrieve = command("retrieve", "look up ULNs (up to 200): names, DOB, gender, master ULN")
    retrieve.add_argument("ulns", metavar="ULN", nargs="+", type=uln_argument)

    for name, help_text in (
        ("merged-report", "ULNs merged and unmerged between two dates"),
        ("deleted-report", "ULNs withdrawn between two dates"),
    ):
        report = command(name, help_text)
        report.add_argument("--from", dest="from_date", required=True, help="YYYY-MM-DD")
        report.add_argument("--to", dest="to_date", help="YYYY-MM-DD (default: until now)")

    batch = command(
        "batch",
        "send a batch file (LRB_<UKPRN>_<DDMMYYYYHHMM>.CSV or .XML) and write its output",
        "batch submit FILE: send the file's learners in SOAP batches of 200, wait for every "
        "job with a progress bar, and write OUT: the input rows in order with ULN, ReturnCode "
        "and ReturnReason added. A malformed row is not sent; it is answered WSEC0001 with its "
        "line number and reason.",
    )
    batch.add_argument("action", choices=("submit",))
    batch.add_argument("file", metavar="FILE", type=Path)
    batch.add_argument("--out", type=Path, help="output file (default FILE.out.csv / .out.xml)")
    batch.add_argument("--job-type", choices=("FUL", "CHK"), default="FUL")
    batch.add_argument("--poll", type=float, default=0.2, help="seconds between status checks")
    batch.add_argument(
        "--wait",
        type=float,
        default=3600.0,
        help="give up waiting after so many seconds without progress (default 3600): "
        "the jobs go on, and the JobIDs are printed",
    )
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    sif_agent.add_parser(commands)
    return parser


def _setting(args: argparse.Namespace, name: str, env: str, default: str | None = None) -> Any:
    value = getattr(args, name, None)
    if value is None:
        value = os.environ.get(env) or default
    return value


def make_client(args: argparse.Namespace) -> LrsClient:
    url = _setting(args, "url", "MIAP_URL")
    ukprn = _setting(args, "ukprn", "MIAP_UKPRN")
    password = _setting(args, "password", "MIAP_PASSWORD")
    missing = [
        what
        for what, value in (
            ("--url (or MIAP_URL)", url),
            ("--ukprn (or MIAP_UKPRN)", ukprn),
            ("--password (or MIAP_PASSWORD)", password),
        )
        if not value
    ]
    if missing:
        raise UsageError(f"missing {', '.join(missing)}")
    return LrsClient(
        url,
        ukprn,
        password,
        _setting(args, "user", "MIAP_USER", DEFAULT_USER),
        organisation_ref=_setting(args, "org_ref", "MIAP_ORG_REF"),
        timeout=getattr(args, "timeout", 30.0),
        wsdl=getattr(args, "wsdl", None),
    )


def learner_from(args: argparse.Namespace) -> dict[str, Any]:
    """The LearnerToRegister fields given on the command line (``None`` left out)."""
    values = {wire: getattr(args, wire) for _, wire, _, _ in LEARNER_OPTIONS}
    return {wire: value for wire, value in values.items() if value is not None}


# -- commands ---------------------------------------------------------------------------------


def run_find_uln(client: LrsClient, args: argparse.Namespace) -> tuple[Any, list[str]]:
    result = client.find_by_uln(args.uln, args.given, args.family, find_type=args.find_type)
    return result, find_lines(result)


def run_find(client: LrsClient, args: argparse.Namespace) -> tuple[Any, list[str]]:
    result = client.find_by_demographics(
        args.given,
        args.family,
        args.dob,
        args.gender,
        args.postcode,
        previous_family_name=args.previous_family,
        school_at_age16=args.school_at_16,
        place_of_birth=args.place_of_birth,
        email=args.email,
        find_type=args.find_type,
    )
    return result, find_lines(result)


def run_register(client: LrsClient, args: argparse.Namespace) -> tuple[Any, list[str]]:
    code, uln = client.register(learner_from(args))
    line = describe(code) + (f": ULN {uln}" if uln else "")
    return {"ResponseCode": code, "ULN": uln}, [line]


def run_update(client: LrsClient, args: argparse.Namespace) -> tuple[Any, list[str]]:
    code = client.update({**learner_from(args), "ULN": args.uln, "VersionNumber": args.version})
    return {"ResponseCode": code, "ULN": args.uln}, [f"{describe(code)}: ULN {args.uln}"]


def run_verify(client: LrsClient, args: argparse.Namespace) -> tuple[Any, list[str]]:
    result = client.verify(
        args.uln, args.given, args.family, date_of_birth=args.dob, gender=args.gender
    )
    rows = [
        [
            "searched",
            result.get("SearchedULN"),
            result.get("SearchedGivenName"),
            result.get("SearchedFamilyName"),
            result.get("SearchedDateOfBirth"),
            gender_label(result.get("SearchedGender")),
        ]
    ]
    if result.get("ULN"):
        rows.append(
            [
                "stored",
                result.get("ULN"),
                result.get("GivenName"),
                result.get("FamilyName"),
                result.get("DateOfBirth"),
                gender_label(result.get("Gender")),
            ]
        )
    lines = [describe(result.get("ResponseCode"))]
    lines += table(["", "ULN", "Given name", "Family name", "Date of birth", "Gender"], rows)
    for flag in result.get("FailureFlag") or []:
        lines.append(f"{flag}  {FAILURE_FLAGS.get(flag, '')}".rstrip())
    return result, lines


def run_retrieve(client: LrsClient, args: argparse.Namespace) -> tuple[Any, list[str]]:
    items = client.retrieve_ulns(args.ulns)
    rows = [
        [
            item.get("ULN"),
            describe(item.get("ResponseCode")),
            item.get("GivenName"),
            item.get("FamilyName"),
            item.get("DateOfBirth"),
            gender_label(item.get("Gender")),
            item.get("MasterULN"),
        ]
        for item in items
    ]
    headings = ["ULN", "Response", "Given name", "Family name", "Date of birth", "Gender"]
    return items, table([*headings, "Master ULN"], rows)


def run_merged_report(client: LrsClient, args: argparse.Namespace) -> tuple[Any, list[str]]:
    """Merges and unmerges: the ULN merged in (or split off) and its master, each with the
    names and date of birth the report gives, and the day it happened."""
    result = client.merged_unmerged_report(args.from_date, args.to_date)
    rows = []
    for entry in report_entries(result):
        prefix = "Merged" if entry["Action"] == "merged" else "Unmerged"
        rows.append(
            [
                entry["Action"],
                entry.get(f"{prefix}ULN"),
                entry.get(f"{prefix}GivenName"),
                entry.get(f"{prefix}FamilyName"),
                entry.get(f"{prefix}DateOfBirth"),
                entry.get("MasterULN"),
                entry.get("MasterGivenName"),
                entry.get("MasterFamilyName"),
                entry.get("MasterDateOfBirth"),
                entry.get(f"{prefix}Date"),
            ]
        )
    headings = ["Action", "ULN", "Given name", "Family name", "Date of birth", "Master ULN"]
    headings += ["Master given name", "Master family name", "Master date of birth", "Date"]
    return result, _report_lines(result, headings, rows)


def run_deleted_report(client: LrsClient, args: argparse.Namespace) -> tuple[Any, list[str]]:
    result = client.deleted_report(args.from_date, args.to_date)
    rows = [[entry.get("ULN"), entry.get("DeletedDate")] for entry in report_entries(result)]
    return result, _report_lines(result, ["ULN", "Deleted date"], rows)


def _report_lines(result: dict, headings: list[str], rows: list[list[Any]]) -> list[str]:
    """A report's code with what it means here, then its entries."""
    if not rows:
        return [f"{result.get('ResponseCode')} nothing in the range"]
    return [f"{result.get('ResponseCode')} {len(rows)} in the range", *table(headings, rows)]


#: The output counts of a batch, in the order they are reported.
BATCH_COUNTS = (
    "NewLearnersCount",
    "ExistsUpdatedLearnersCount",
    "PossibleMatchLearnersCount",
    "LearnersNotFoundCount",
    "RejectedLearnersCount",
)


def run_batch(client: LrsClient, args: argparse.Namespace) -> tuple[Any, list[str]]:
    from tqdm import tqdm

    try:
        batch = batchfile.read(args.file)
    except batchfile.BatchFileError as exc:
        raise LrsRequestError(str(exc)) from None
    if client.ukprn and batch.ukprn != client.ukprn:
        raise LrsRequestError(
            f"{batch.path.name} is UKPRN {batch.ukprn}'s file; you are {client.ukprn}"
        )
    rows = batch.sendable
    chunks = [rows[start : start + MAX_BATCH] for start in range(0, len(rows), MAX_BATCH)]
    job_ids = [
        client.submit_batch([row.learner for row in chunk], job_type=args.job_type)
        for chunk in chunks
    ]
    outputs: dict[int, dict[str, Any]] = {}
    progress = tqdm(
        total=len(rows), unit="learner", file=sys.stderr, disable=args.no_progress or None
    )
    last_progress = time.monotonic()
    with progress:
        while len(outputs) < len(job_ids):
            done = 0
            for job_id in job_ids:
                if job_id in outputs:
                    done += len(outputs[job_id]["Learner"])
                    continue
                result = client.batch_output(job_id)
                if result.get("ResponseCode") == "WSRC0032":
                    outputs[job_id] = result
                    done += len(result["Learner"])
                else:
                    done += sum(result.get(name) or 0 for name in BATCH_COUNTS)
            if done > progress.n:
                last_progress = time.monotonic()
            progress.update(done - progress.n)
            if len(outputs) < len(job_ids):
                if time.monotonic() - last_progress > args.wait:
                    waiting = [str(job) for job in job_ids if job not in outputs]
                    raise LrsError(
                        f"no progress for {args.wait:g} s (is a worker running?); jobs "
                        f"{', '.join(waiting)} are still queued: nothing was written"
                    )
                time.sleep(args.poll)
    sent = [
        batchfile.Answer(
            learner.get("ULN"),
            learner.get("ReturnCode"),
            describe(learner.get("ReturnCode"))
            if str(learner.get("ReturnCode")).startswith("WSEC")
            else None,
        )
        for job_id in job_ids
        for learner in outputs[job_id]["Learner"]
    ]
    out = args.out or batchfile.default_output(args.file)
    batchfile.write_output(batch, batchfile.answers_for(batch, sent), out)
    counts = {name: sum(outputs[j].get(name) or 0 for j in job_ids) for name in BATCH_COUNTS}
    counts["RejectedLearnersCount"] += len(batch.rows) - len(rows)
    lines = [f"{batch.path.name}: {len(batch.rows)} learners in {len(job_ids)} jobs"]
    lines += [f"  {name}: {value}" for name, value in counts.items()]
    lines += [
        f"  line {row.line}: rejected WSEC0001: {row.error}" for row in batch.rows if row.error
    ]
    lines.append(f"wrote {out}")
    return {"JobIDs": job_ids, **counts, "Output": str(out)}, lines


COMMANDS: dict[str, Callable[[LrsClient, argparse.Namespace], tuple[Any, list[str]]]] = {
    "find-uln": run_find_uln,
    "find": run_find,
    "register": run_register,
    "update": run_update,
    "verify": run_verify,
    "retrieve": run_retrieve,
    "merged-report": run_merged_report,
    "deleted-report": run_deleted_report,
    "batch": run_batch,
}


# -- output -----------------------------------------------------------------------------------


def gender_label(code: str | None) -> str | None:
    return GENDERS.get(code, code) if code else None


def table(headings: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Left-aligned columns two spaces apart; absent values shown as ``-``."""
    cells = [list(headings)] + [["-" if v in (None, "") else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headings))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]


def find_lines(result: dict[str, Any]) -> list[str]:
    learners = result.get("Learner") or []
    lines = [describe(result.get("ResponseCode"))]
    if not learners:
        return lines
    rows = [
        [
            learner.get("ULN"),
            learner.get("GivenName"),
            learner.get("FamilyName"),
            learner.get("DateOfBirth"),
            gender_label(learner.get("Gender")),
            learner.get("LastKnownPostCode"),
            learner.get("VersionNumber"),
        ]
        for learner in learners
    ]
    headings = ["ULN", "Given name", "Family name", "Date of birth", "Gender", "Postcode"]
    lines += table([*headings, "Version"], rows)
    for learner in learners:
        linked = (learner.get("LinkedULNs") or {}).get("ULN") or []
        if linked:
            lines.append(f"{learner.get('ULN')} is the master record of {', '.join(linked)}")
    return lines


def error(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def emit_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


# -- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``miap-client``; returns the exit status (see the module docstring)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command == "sif-agent":
        return sif_agent.run(args)
    as_json = getattr(args, "json", False)
    try:
        client = make_client(args)
        with client:
            result, lines = COMMANDS[args.command](client, args)
    except UsageError as exc:
        error(f"{exc} (see {PROG} --help)")
        return EXIT_USAGE
    except LrsRequestError as exc:
        error(str(exc))
        return EXIT_USAGE
    except LrsFault as fault:
        if as_json:
            emit_json({"Fault": fault.as_dict()})
        error(str(fault))
        return EXIT_FAULT
    except LrsConnectionError as exc:
        error(str(exc))
        return EXIT_CONNECTION
    except LrsProtocolError as exc:
        error(str(exc))
        return EXIT_PROTOCOL
    except LrsError as exc:
        error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - a command-line tool reports, never a traceback
        error(f"unexpected error: {type(exc).__name__}: {exc}")
        return EXIT_ERROR
    try:
        if as_json:
            emit_json(result)
        else:
            print("\n".join(lines))
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into head
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
