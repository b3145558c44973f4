"""SIF zone throughput: LearnerPersonal events from school agents to the ULN event back.

    python bench/sif_events.py                                   # full run (see --help)
    python bench/sif_events.py --backends sqlite --agents 1 --events 20 --modes pull  # quick

For each backend a fresh database (a SQLite file in a temporary directory, or a new PostgreSQL
database dropped afterwards) is migrated and served by one ``miap serve`` (``--workers``
processes, its work-queue worker thread delivering push messages). For each mode (pull, push)
and agent count, a new zone gets that many school agents, each acting for a provider and a
school of its own; every agent registers, subscribes to LearnerPersonal and, from a thread of
its own, publishes ``--events`` Add events of new synthetic pupils one after another (each
waits for the zone's SIF_Ack), while a receiver (a pull loop of SIF_GetMessage + SIF_Ack, or
a push listener) collects the Change events carrying ULNs. Reported: events per second (all
events over the time from the first send to the last ULN received) and the latency from a
send to its ULN event (median, 95th percentile). Only synthetic pupils; timings are never
asserted. The machine's load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from miap.client.sif_agent import (  # noqa: E402
    Pupil,
    PushListener,
    SifAgent,
    learner_personal,
    uln_events,
)
from miap.server.register.identifiers import upn_check_letter  # noqa: E402
from miap.server.register.providers import add_provider  # noqa: E402
from miap.server.sif import agents  # noqa: E402
from miap.storage import migrations  # noqa: E402
from miap.storage.engine import Database  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "MIAP_BENCH_POSTGRES_URL",
    os.environ.get("MIAP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
NAMES = ["Ab", "Bel", "Cor", "Dun", "Ev", "Fal", "Gar", "Hol", "Ith", "Jun", "Kel", "Lor"]


@contextmanager
def database(backend: str, workdir: Path):
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'sif_bench.db'}"
        return
    import psycopg2

    admin = psycopg2.connect(POSTGRES_ADMIN_URL)
    admin.autocommit = True
    name = f"miap_sif_bench_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{POSTGRES_ADMIN_URL.rpartition('/')[0]}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(url: str, workers: int, log: Path):
    port = free_port()
    command = [sys.executable, "-m", "miap.server.admin.cli", "serve", "--db", url]
    command += ["--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.post(f"{base}/sif/none", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise SystemExit(f"server did not start:\n{log.read_text()}")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def pupil(rng: random.Random, school: str, n: int) -> Pupil:
    body = f"{school}{n // 1000 % 100:02d}{n % 1000:03d}"
    name = "".join(rng.choice(NAMES) for _ in range(3)).capitalize()
    given = "".join(rng.choice(NAMES) for _ in range(2)).capitalize()
    return Pupil(
        upn=upn_check_letter(body) + body,
        family_name=name,
        given_name=given,
        birth_date=f"{rng.randint(2008, 2018)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        gender=rng.choice("MF"),
        postcode=f"ZZ{rng.randint(1, 99)} {rng.randint(1, 9)}ZZ",
    )


def make_agents(db: Database, base: str, count: int) -> list[tuple]:
    """``count`` new agents of a new zone, each with a provider and a school of its own."""
    rng = random.Random()
    zone = f"bench{uuid.uuid4().hex[:8]}"
    made = []
    with db.transaction() as session:
        agents.add_zone(session, zone)
        for n in range(count):
            ukprn = str(rng.randint(20_000_000, 99_999_999))
            school = f"{rng.randint(100, 999)}{rng.randint(2000, 7999)}"
            secret = uuid.uuid4().hex
            add_provider(session, ukprn, f"Bench School {n}", f"Pw{uuid.uuid4().hex[:14]}")
            agents.add_agent(session, zone, f"school{n}", ukprn, secret, school)
            made.append((f"school{n}", secret, school))
    return [(f"{base}/sif/{zone}", *agent) for agent in made]


def run_round(db: Database, base: str, mode: str, count: int, events: int, seed: int) -> dict:
    rng = random.Random(seed)
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    lock = threading.Lock()
    stop = threading.Event()
    with ExitStack() as stack:
        senders = []
        for url, source, secret, school in make_agents(db, base, count):
            agent = SifAgent(url, source, secret)
            if mode == "push":
                listener = stack.enter_context(PushListener(agent))
                agent.register("Push", listener.url)
                threading.Thread(
                    target=_collect_push, args=(listener, received, lock, stop), daemon=True
                ).start()
            else:
                agent.register("Pull")
                puller = SifAgent(url, source, secret)
                threading.Thread(
                    target=_collect_pull, args=(puller, received, lock, stop), daemon=True
                ).start()
            agent.objects("SIF_Subscribe", "LearnerPersonal")
            pupils = [pupil(rng, school, n) for n in range(events)]
            senders.append(threading.Thread(target=_send, args=(agent, pupils, sent, lock)))
        started = time.perf_counter()
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()
        deadline = time.monotonic() + 120  # after the last send: what has not come is lost
        while len(received) < count * events and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
    elapsed = max(received.values(), default=started) - started
    latencies = [received[ref] - sent[ref] for ref in received if ref in sent]
    return {
        "events": count * events,
        "received": len(received),
        "per_second": len(received) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p95_ms": (
            statistics.quantiles(latencies, n=20)[-1] * 1000 if len(latencies) > 1 else float("nan")
        ),
    }


def _send(agent: SifAgent, pupils: list[Pupil], sent: dict, lock: threading.Lock) -> None:
    for child in pupils:
        with lock:
            sent[child.ref_id] = time.perf_counter()
        reply = agent.event([learner_personal(child)])
        if reply.error is not None:
            raise SystemExit(f"event refused: {reply.error}")


def _collect_pull(agent: SifAgent, received: dict, lock, stop) -> None:  # noqa: ANN001
    while not stop.is_set():
        message = agent.pull()
        if message is None:
            time.sleep(0.01)
            continue
        now = time.perf_counter()
        with lock:
            for ref_id, _, _ in uln_events([message]):
                received.setdefault(ref_id, now)


def _collect_push(listener: PushListener, received: dict, lock, stop) -> None:  # noqa: ANN001
    while not stop.is_set():
        try:
            message = listener.received.get(timeout=0.1)
        except queue.Empty:
            continue
        now = time.perf_counter()
        with lock:
            for ref_id, _, _ in uln_events([message]):
                received.setdefault(ref_id, now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--modes", default="pull,push")
    parser.add_argument("--agents", default="1,20", help="agent counts, comma-separated")
    parser.add_argument("--events", type=int, default=200, help="events per agent")
    parser.add_argument("--workers", type=int, default=2, help="miap serve processes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the server log")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sif_bench_"))
    print(f"load average {os.getloadavg()[0]:.2f}; {args.events} events per agent")
    print(f"{'backend':<11}{'mode':<6}{'agents':>7}{'events':>8}{'ULNs back':>10}{'events/s':>10}"
          f"{'p50 ms':>9}{'p95 ms':>9}")  # fmt: skip
    for backend in args.backends.split(","):
        with database(backend, workdir) as url:
            migrations.upgrade(url)
            db = Database(url)
            with serve(url, args.workers, workdir / f"{backend}.log") as base:
                for mode in args.modes.split(","):
                    for count in (int(n) for n in args.agents.split(",")):
                        # A seed of each round's own: the same pupils sent again by other schools
                        # would be other answers (matches), not the registrations measured.
                        seed = args.seed * 1000 + count * 2 + (mode == "push")
                        result = run_round(db, base, mode, count, args.events, seed)
                        print(
                            f"{backend:<11}{mode:<6}{count:>7}{result['events']:>8}"
                            f"{result['received']:>10}{result['per_second']:>10.1f}{result['p50_ms']:>9.1f}"
                            f"{result['p95_ms']:>9.1f}"
                            + ("" if result["received"] == result["events"] else
                               f"  ({result['received']} received)")
                        )  # fmt: skip
            db.dispose()
    print(f"load average {os.getloadavg()[0]:.2f}" + (f"; logs in {workdir}" if args.keep else ""))


if __name__ == "__main__":
    main()
