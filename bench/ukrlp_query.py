"""retrieveAllProviders latency over HTTP on a large provider register.

    python bench/ukrlp_query.py                                  # 50,000 providers, both backends
    python bench/ukrlp_query.py --providers 2000 --backends sqlite --requests 100   # quick

For each backend: a fresh database (bench/lookup_throughput.py's harness), ``miap db
upgrade``, a bench provider, and ``--providers`` synthetic providers written as a register CSV
and loaded with ``miap providers import`` (its rows per second are reported). Then one ``miap
serve --workers N`` (response validation off), and from ``--concurrency`` keep-alive clients,
interleaved in ``--rounds`` rounds, three measurements of ``--requests`` queries each:

  searchTerm      a word drawn from the names' vocabulary (each word is in ~1 in 700 names)
  postcodeRadius  a random postcode district's centroid, providers within ``--miles`` (3)
  ukprnList       200 random UKPRNs of the register

An answer is expected when it is a ProviderQueryResponse (a fault, e.g. TooManyRecords, is
counted as unexpected by its major code). Mean, p50 and p99 latency and requests per second
are printed and written as JSON to bench/results/. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import platform
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.lookup_throughput import (  # noqa: E402
    Target,
    fresh,
    fresh_database,
    measure_interleaved,
    measurement,
    table,
    warm_up,
)
from miap.server.namespaces import UKRLP  # noqa: E402
from miap.server.soap.provider_query import PROVIDER_QUERY_PATH, WSSE  # noqa: E402
from miap.server.ukrlp.importer import COLUMNS  # noqa: E402
from miap.server.ukrlp.postcodes import centroids  # noqa: E402
from tests.support import run_miap, start_server  # noqa: E402

RESULTS = REPO / "bench" / "results"
UKPRN = "10000001"
PASSWORD = "BenchPassword001"
_FAULT = re.compile(rb"<major>([^<]*)</major>")
_SYLLABLES = [c + v for c in "BDFGKLMNPRSTVZ" for v in "AEIOU"]
_KINDS = ("College", "Academy", "Training", "School", "Institute", "Learning", "Skills")


@dataclass(frozen=True)
class Ask:
    """One query: the criteria's XML."""

    criteria: str


def body(ask: Ask) -> bytes:
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:ns="{UKRLP}"><soapenv:Header><wsse:Security xmlns:wsse="{WSSE}">'
        f"<wsse:UsernameToken><wsse:Username>{UKPRN}</wsse:Username>"
        f"<wsse:Password>{PASSWORD}</wsse:Password></wsse:UsernameToken></wsse:Security>"
        "</soapenv:Header><soapenv:Body><ns:ProviderQueryRequest><SelectionCriteria>"
        f"{ask.criteria}<StakeholderId>1</StakeholderId></SelectionCriteria>"
        "<QueryId>1</QueryId></ns:ProviderQueryRequest></soapenv:Body></soapenv:Envelope>"
    ).encode()


def check(ask: Ask, response: requests.Response) -> str | None:
    if response.status_code == 200 and b"ProviderQueryResponse" in response.content:
        return None
    found = _FAULT.search(response.content)
    return found.group(1).decode() if found else f"HTTP {response.status_code}"


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(3)).title())
    return sorted(words)


def register_csv(path: Path, count: int, words: list[str], rng: random.Random) -> list[str]:
    """Write ``count`` synthetic providers; their UKPRNs."""
    districts = sorted(centroids())
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    ukprns = [str(10_000_100 + n) for n in range(count)]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(COLUMNS))
        writer.writeheader()
        for ukprn in ukprns:
            name = f"{rng.choice(words)} {rng.choice(words)} {rng.choice(_KINDS)}"
            district = rng.choice(districts)
            writer.writerow(
                {
                    "UKPRN": ukprn,
                    "LegalName": name,
                    "TradingName": f"{rng.choice(words)} {rng.choice(_KINDS)}",
                    "Status": rng.choice("AAAAV"),
                    "Aliases": rng.choice(words),
                    "VerifiedOn": (
                        dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(3650))
                    ).isoformat(),
                    "Verifications": f"Companies House={rng.randrange(10**7):08d}",
                    "LegalAddress1": f"{rng.randrange(1, 200)} High Street",
                    "LegalPostcode": f"{district} {rng.randrange(10)}"
                    + "".join(rng.sample(letters, 2)),
                    "PrimaryGivenName": rng.choice(words),
                    "PrimaryFamilyName": rng.choice(words),
                    "PrimaryEmail": f"office@{ukprn}.example.org",
                }
            )
    return ukprns


def asks(
    kind: str, count: int, words: list[str], ukprns: list[str], miles: float, rng: random.Random
) -> list[Ask]:
    districts = sorted(centroids())
    made: list[Ask] = []
    for _ in range(count):
        if kind == "searchTerm":
            made.append(Ask(f"<SearchTerm>{rng.choice(words)}</SearchTerm>"))
        elif kind == "postcodeRadius":
            made.append(
                Ask(
                    f"<BasePostcode>{rng.choice(districts)}</BasePostcode>"
                    f"<MaxDistanceFromBasePostcode>{miles}</MaxDistanceFromBasePostcode>"
                )
            )
        else:
            listed = "".join(
                f"<UnitedKingdomProviderReferenceNumber>{u}</UnitedKingdomProviderReferenceNumber>"
                for u in rng.sample(ukprns, 200)
            )
            made.append(
                Ask(
                    "<UnitedKingdomProviderReferenceNumberList>"
                    f"{listed}</UnitedKingdomProviderReferenceNumberList>"
                )
            )
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--providers", type=int, default=50_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=600, help="per measurement")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--miles", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)  # noqa: S311 - synthetic data
    words = vocabulary(rng, max(50, args.providers // 25))
    results, imports = [], {}
    workdir = Path(tempfile.mkdtemp(prefix="ukrlp-bench-"))
    for backend in args.backends.split(","):
        with fresh_database(backend, workdir, args.keep) as url:
            run_miap("db", "upgrade", "--db", url)
            run_miap(
                "provider",
                "add",
                "--db",
                url,
                "--ukprn",
                UKPRN,
                "--name",
                "Bench",
                "--org-password",
                PASSWORD,
            )
            path = workdir / f"providers-{backend}.csv"
            ukprns = register_csv(path, args.providers, words, rng)
            started = time.perf_counter()
            run_miap("providers", "import", str(path), "--db", url)
            seconds = time.perf_counter() - started
            imports[backend] = {
                "providers": args.providers,
                "seconds": round(seconds, 1),
                "rows_per_second": round(args.providers / seconds),
            }
            print(f"{backend}: imported {args.providers} providers in {seconds:.1f} s", flush=True)
            with start_server(
                url, workdir, "--workers", str(args.workers), validate=False
            ) as server:
                query_url = server.url.rsplit("/", 1)[0] + PROVIDER_QUERY_PATH
                targets = []
                for kind in ("searchTerm", "postcodeRadius", "ukprnList"):
                    made = asks(kind, args.requests + args.warmup, words, ukprns, args.miles, rng)
                    build: Callable[[Ask], bytes] = body
                    target = Target(
                        backend,
                        args.providers,
                        kind,
                        query_url,
                        build,
                        check,
                        made[: args.warmup],
                        made[args.warmup :],
                    )
                    warm_up(target)
                    targets.append(fresh(target))
                measure_interleaved(targets, args.rounds, args.concurrency)
                results += [measurement(target, args.concurrency) for target in targets]
    print(table(results))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"ukrlp_query-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(
        json.dumps(
            {
                "machine": platform.platform(),
                "args": vars(args),
                "imports": imports,
                "measurements": [asdict(m) for m in results],
            },
            indent=2,
        )
    )
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
