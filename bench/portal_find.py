"""The portal's find page under load: round trips of signed-in users POSTing the find form.

    python bench/portal_find.py --size 1000 --backend sqlite            # a quick proof
    python bench/portal_find.py --size 1000000 --workers 2 --users 10   # the figure (PostgreSQL)

A register of ``--size`` synthetic learners (``bench/seed.py``), a provider with ``--users``
portal accounts, and ``miap serve --workers N`` on a free port. Each user is a requests session
that signs in once, then POSTs the find form (with its CSRF token) for learners drawn from the
register, one request at a time, all users at once. Reported: round-trip percentiles (p50,
p95, p99), requests per second, and how many finds answered EXACT (they all should: each
searches a stored learner's own details). Every timed request is a real page: session read,
CSRF check, access policy, matcher, audit entry, HTML.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import requests
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import lookup_throughput  # noqa: E402
from miap.server.portal import accounts  # noqa: E402
from miap.server.register.auth import hash_password  # noqa: E402
from miap.storage.engine import Database  # noqa: E402
from miap.storage.models import Learner  # noqa: E402
from tests.support import free_port, postgres_database, spawn  # noqa: E402

USER_PASSWORD = "Bench-Portal-Password-1"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODE = re.compile(r'data-code="([A-Z_]+)"')
_COOKIE = re.compile(r"miap_portal=([^;]*)")
GENDERS = {"1": "1", "2": "2", "0": "0", "9": "9"}


class User:
    """One signed-in browser: a requests session with the portal's cookie and CSRF token."""

    def __init__(self, base: str, email: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.cookie = ""
        page = self._send("GET", "/sign-in")
        self.csrf = _CSRF.search(page.text).group(1)
        answer = self._send(
            "POST", "/sign-in", {"email": email, "password": USER_PASSWORD, "csrf_token": self.csrf}
        )
        assert answer.status_code == 302, answer.text[:500]
        self.csrf = _CSRF.search(self._send("GET", "/find").text).group(1)

    def _send(self, method: str, path: str, data: dict | None = None) -> requests.Response:
        headers = {"Cookie": f"miap_portal={self.cookie}"} if self.cookie else {}
        response = self.http.request(
            method,
            self.base + path,
            data=data,
            headers=headers,
            allow_redirects=False,
            timeout=60,
        )
        found = _COOKIE.search(response.headers.get("Set-Cookie", ""))
        if found:
            self.cookie = found.group(1)
        return response

    def find(self, person: dict[str, str]) -> tuple[float, str]:
        started = time.perf_counter()
        answer = self._send("POST", "/find", {**person, "csrf_token": self.csrf})
        elapsed = time.perf_counter() - started
        found = _CODE.search(answer.text) if answer.status_code == 200 else None
        return elapsed, found.group(1) if found else f"HTTP {answer.status_code}"


def sample(url: str, count: int, rng: random.Random) -> list[dict[str, str]]:
    db = Database(url)
    try:
        with db.engine.connect() as connection:
            low, high = connection.execute(select(func.min(Learner.id), func.max(Learner.id))).one()
            ids = rng.sample(range(low, high + 1), min(count, high - low + 1))
            rows = connection.execute(
                select(
                    Learner.given_name,
                    Learner.family_name,
                    Learner.date_of_birth,
                    Learner.gender,
                    Learner.postcode,
                ).where(Learner.id.in_(ids))
            ).all()
    finally:
        db.dispose()
    return [
        {
            "GivenName": row.given_name,
            "FamilyName": row.family_name,
            "DateOfBirth": row.date_of_birth.isoformat(),
            "Gender": row.gender,
            "LastKnownPostCode": row.postcode,
        }
        for row in rows
    ]


def prepare(url: str, size: int, users: int, seed_value: int) -> list[str]:
    """The lookup bench's register (its provider and ``size`` learners), and ``users``
    signed-up viewers of that provider; their e-mail addresses."""
    lookup_throughput.prepare(url, size, seed_value)
    db = Database(url)
    emails = []
    try:
        with db.transaction() as session:
            for number in range(users):
                user, _ = accounts.add_staff(
                    session,
                    f"bench{number}@example.org",
                    "viewer",
                    lookup_throughput.UKPRN,
                    "bench",
                )
                user.password_hash = hash_password(USER_PASSWORD)
                user.activation_hash = None
                emails.append(user.email)
    finally:
        db.dispose()
    return emails


def measure(base: str, emails: list[str], people: list[dict], requests_total: int) -> dict:
    clients = [User(base, email) for email in emails]
    for client, person in zip(clients, people, strict=False):
        client.find(person)  # warm each process's caches and pools
    timings: list[float] = []
    outcomes: Counter = Counter()
    lock = threading.Lock()
    per_user = max(1, requests_total // len(clients))

    def work(index: int, client: User) -> None:
        rng = random.Random(index)
        mine = []
        for _ in range(per_user):
            mine.append(client.find(rng.choice(people)))
        with lock:
            timings.extend(t for t, _ in mine)
            outcomes.update(code for _, code in mine)

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ordered = sorted(timings)

    def pct(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    return {
        "requests": len(timings),
        "users": len(clients),
        "p50_ms": round(pct(0.50), 1),
        "p95_ms": round(pct(0.95), 1),
        "p99_ms": round(pct(0.99), 1),
        "mean_ms": round(statistics.fmean(timings) * 1000, 1),
        "per_second": round(len(timings) / wall, 1),
        "outcomes": dict(outcomes),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="learners in the register")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--postgres", default=POSTGRES_ADMIN_URL, help="admin URL (new db)")
    parser.add_argument("--workers", type=int, default=2, help="miap serve --workers")
    parser.add_argument("--users", type=int, default=10, help="concurrent signed-in users")
    parser.add_argument("--requests", type=int, default=2000, help="finds in all")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="portal-bench-")))
        if args.backend == "sqlite":
            url = f"sqlite:///{workdir / 'miap.db'}"
        else:
            url = stack.enter_context(postgres_database(args.postgres, "miap_bench"))
        emails = prepare(url, args.size, args.users, args.seed)
        people = sample(url, 2000, rng)
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "miap.server.admin.cli",
            "serve",
            "--db",
            url,
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--no-worker",
        ]
        stack.enter_context(
            spawn(
                command, f"http://127.0.0.1:{port}/LearnerService.svc?wsdl", workdir / "serve.log"
            )
        )
        result = measure(f"http://127.0.0.1:{port}/portal", emails, people, args.requests)
    result.update(size=args.size, backend=args.backend, workers=args.workers)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
