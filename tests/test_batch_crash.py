"""A real ``miap worker`` process killed with SIGKILL in the middle of a batch on PostgreSQL:
nothing is lost and nothing is done twice. The job is taken up again by another worker once
the dead one's lease expires, and every learner's outcome is recorded exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from contextlib import ExitStack

import pytest
from sqlalchemy import func, select

from miap.server.admin.synth import Population
from miap.server.batches import jobs
from miap.server.work import queue
from miap.storage.engine import Database
from miap.storage.models import AuditEntry, Learner, WorkItem
from tests.conftest import POSTGRES_ADMIN_URL, TEST_UKPRN, _postgres_database
from tests.support import run_miap

LEARNERS = 600


def start_worker(url: str, log) -> subprocess.Popen:  # noqa: ANN001
    environ = {
        **os.environ,
        "MIAP_WORK_LEASE_SECONDS": "2",
        "MIAP_WORK_BATCH_SIZE": "10",
        "MIAP_WORK_THREADS": "1",
        "MIAP_WORK_POLL_SECONDS": "0.05",
    }
    command = [sys.executable, "-m", "miap.server.admin.cli", "worker", "--db", url]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environ)


def progress(db: Database, job_id: int) -> queue.Progress:
    with db.transaction() as session:
        return queue.progress(session, job_id)


def leased_items(db: Database, job_id: int) -> int:
    """Items of the job still pending under a worker's lease."""
    with db.transaction() as session:
        return session.scalar(
            select(func.count()).where(
                WorkItem.job_id == job_id,
                WorkItem.status == queue.PENDING,
                WorkItem.lease_owner.is_not(None),
            )
        )


@pytest.mark.postgresql
def test_sigkill_mid_job_loses_and_repeats_nothing(tmp_path):
    assert POSTGRES_ADMIN_URL
    with ExitStack() as stack:
        url = next(stack.enter_context(_contextual(_postgres_database())))
        run_miap("db", "upgrade", "--db", url)
        run_miap(
            "provider", "add", "--db", url, "--ukprn", TEST_UKPRN, "--name", "Crash College",
            "--org-password", "CrashPassword001",
        )  # fmt: skip
        db = Database(url)
        stack.callback(db.dispose)
        population = Population(seed=random.randrange(1 << 30))
        learners = [
            {
                "MISIdentifier": str(n),
                "GivenName": p.given_name,
                "FamilyName": p.family_name,
                "DateOfBirth": p.date_of_birth.isoformat(),
                "Gender": p.gender,
                "LastKnownPostCode": p.postcode,
            }
            for n, p in enumerate(population.people(LEARNERS))
        ]
        with db.transaction() as session:
            job_id = jobs.submit_registration(
                session, TEST_UKPRN, "crash", "FUL", LEARNERS, learners
            )

        log = stack.enter_context((tmp_path / "worker.log").open("wb"))
        first = start_worker(url, log)
        deadline = time.monotonic() + 120
        # Kill it a fifth of the way in, while it holds a claim (between two claims it holds
        # none, and the test would prove less).
        while progress(db, job_id).done < LEARNERS // 5 or not leased_items(db, job_id):
            assert first.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.005)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()

        # Killed mid-job: items it had claimed are still pending under its lease, and what
        # its open transaction had registered was rolled back with it.
        with db.transaction() as session:
            at_kill = progress(db, job_id)
            leased = leased_items(db, job_id)
            done_registrations = sum(
                json.loads(result).get("outcome") == "REGISTERED"
                for result in session.scalars(
                    select(WorkItem.result).where(
                        WorkItem.job_id == job_id, WorkItem.result.is_not(None)
                    )
                )
            )
            learners_now = session.scalar(select(func.count()).select_from(Learner))
        assert at_kill.done < LEARNERS, "the worker finished before it could be killed"
        assert leased > 0
        assert learners_now == done_registrations

        second = start_worker(url, log)
        try:
            deadline = time.monotonic() + 180
            while progress(db, job_id).state != "finished":
                assert second.poll() is None, (tmp_path / "worker.log").read_text()
                assert time.monotonic() < deadline, "the job was not taken up again"
                time.sleep(0.1)
        finally:
            second.terminate()
            second.wait(timeout=15)

        with db.transaction() as session:
            items = session.scalars(select(WorkItem).where(WorkItem.job_id == job_id)).all()
            audited = session.execute(
                select(AuditEntry.uln, AuditEntry.outcome).where(
                    AuditEntry.request_id == f"job{job_id}"
                )
            ).all()
            learners_after = session.scalar(select(func.count()).select_from(Learner))
        results = [json.loads(item.result) for item in items]
        assert len(items) == LEARNERS and all(item.status == queue.DONE for item in items)
        assert any(item.attempts > 1 for item in items)  # the dead worker's items, taken up again
        registered = [r["uln"] for r in results if r.get("outcome") == "REGISTERED"]
        # Every learner's outcome exactly once; nobody registered twice.
        assert len(audited) == LEARNERS
        assert len(registered) == len(set(registered)) == learners_after
        audited_ulns = [uln for uln, _ in audited if uln]
        assert len(audited_ulns) == len(set(audited_ulns))
        assert set(registered) <= set(audited_ulns)


def _contextual(generator):  # noqa: ANN001, ANN202
    """The conftest's scratch-database generator as a context manager (drops it after)."""
    from contextlib import contextmanager

    @contextmanager
    def manager():  # noqa: ANN202
        try:
            yield generator
        finally:
            for _ in generator:
                pass

    return manager()
