"""The durable work queue (server/work/) on SQLite and PostgreSQL: idempotent enqueue, leases,
outcomes recorded exactly once, a failing item isolated, concurrent claims disjoint."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from sqlalchemy import update

from miap.server.work import queue
from miap.server.work.worker import Worker
from miap.storage.models import WorkItem, utcnow


class Doubler:
    """A test handler: each item's outcome is its payload doubled; ``poison`` always fails."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, session, job, items):  # noqa: ANN001, ANN204
        self.calls += 1
        outcomes = []
        for item in items:
            value = int(item.payload)
            if value == 13:
                raise RuntimeError("poison")
            outcomes.append(value * 2)
        return outcomes

    def failed(self, job, item, reason):  # noqa: ANN001, ANN201
        return {"failed": reason}


def kind() -> str:
    return f"test.{uuid.uuid4().hex[:8]}"


def enqueue(db, kind_: str, payloads, **kwargs):  # noqa: ANN001, ANN201
    with db.transaction() as session:
        return queue.enqueue(session, kind_, payloads, **kwargs).id


def test_enqueue_with_the_same_key_is_one_job(db):
    k = kind()
    key = f"key-{uuid.uuid4().hex}"
    first = enqueue(db, k, [1, 2, 3], idempotency_key=key)
    again = enqueue(db, k, [1, 2, 3], idempotency_key=key)
    assert first == again
    with db.transaction() as session:
        assert queue.progress(session, first).total == 3


def test_a_lease_keeps_others_off_until_it_expires(db):
    k = kind()
    job = enqueue(db, k, [1, 2])
    with db.transaction() as session:
        mine = queue.claim(session, "a", [k], 10, lease_seconds=60)
    with db.transaction() as session:
        assert queue.claim(session, "b", [k], 10, lease_seconds=60) == []
        later = utcnow() + dt.timedelta(seconds=61)
        theirs = queue.claim(session, "b", [k], 10, lease_seconds=60, now=later)
    assert sorted(mine) == sorted(theirs) and {job_id for _, job_id in mine} == {job}


def test_an_item_done_by_one_worker_is_not_done_again(db):
    k = kind()
    handler = Doubler()
    job = enqueue(db, k, [1, 2, 3])
    with db.transaction() as session:
        claimed = queue.claim(session, "a", [k], 10, lease_seconds=60)
    # The lease expires while "a" is still busy and "b" takes the items too.
    with db.transaction() as session:
        later = utcnow() + dt.timedelta(seconds=61)
        assert queue.claim(session, "b", [k], 10, lease_seconds=60, now=later)
    worker = Worker(db, {k: handler})
    worker._do(job, [item for item, _ in claimed])
    worker._do(job, [item for item, _ in claimed])  # the second finds them done
    assert handler.calls == 1
    with db.transaction() as session:
        assert [result for _, result in queue.results(session, job)] == [2, 4, 6]
        assert queue.progress(session, job).state == "finished"


def test_a_failing_item_does_not_stop_the_others(db):
    k = kind()
    handler = Doubler()
    job = enqueue(db, k, [1, 13, 3])
    worker = Worker(db, {k: handler}, max_attempts=2, lease_seconds=3600)
    worker.drain()
    with db.transaction() as session:
        progress = queue.progress(session, job)
        results = [result for _, result in queue.results(session, job)]
    assert results[0] == 2 and results[2] == 6
    assert progress.state == "running"  # the poison item waits for its lease to expire
    with db.transaction() as session:  # the hour passes (not waited for: no clock races)
        session.execute(
            update(WorkItem)
            .where(WorkItem.job_id == job, WorkItem.lease_expires.is_not(None))
            .values(lease_expires=utcnow() - dt.timedelta(seconds=1))
        )
    worker.drain()
    with db.transaction() as session:
        results = [result for _, result in queue.results(session, job)]
    assert results[1] == {"failed": "RuntimeError"}


def test_progress_moves_from_queued_to_finished(db):
    k = kind()
    job = enqueue(db, k, [5])
    with db.transaction() as session:
        assert queue.progress(session, job).state == "queued"
    Worker(db, {k: Doubler()}).drain()
    with db.transaction() as session:
        progress = queue.progress(session, job)
    assert progress.state == "finished" and progress.started_at <= progress.finished_at


@pytest.mark.postgresql
def test_concurrent_claims_on_postgresql_never_overlap(db):
    if db.dialect != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite runs one worker")
    k = kind()
    enqueue(db, k, list(range(400)))
    taken: list[list[int]] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while True:
            with db.transaction() as session:
                claimed = queue.claim(session, name, [k], 7, lease_seconds=60)
            if not claimed:
                return
            with lock:
                taken.append([item for item, _ in claimed])

    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    items = [item for chunk in taken for item in chunk]
    assert len(items) == len(set(items)) == 400
    with db.transaction() as session:
        assert session.query(WorkItem).filter(WorkItem.kind == k).count() == 400


def test_finished_jobs_past_retention_are_purged_and_nothing_else(db):
    k = kind()
    old, recent, running = enqueue(db, k, [1, 2]), enqueue(db, k, [3]), enqueue(db, k, [4, 5])
    long_ago, now = utcnow() - dt.timedelta(days=40), utcnow()
    with db.transaction() as session:
        for job_id, when, count in ((old, long_ago, 2), (recent, now, 1), (running, long_ago, 1)):
            items = session.query(WorkItem).filter_by(job_id=job_id).order_by(WorkItem.seq)
            for item in items.limit(count):
                queue.complete(item, "ok", now=when)
    worker = Worker(db, {k: Doubler()}, retention_days=30)
    assert worker.purge() >= 1
    with db.transaction() as session:
        assert queue.get_job(session, old) is None
        assert session.query(WorkItem).filter_by(job_id=old).count() == 0
        assert queue.get_job(session, recent) is not None
        assert queue.progress(session, running).total == 2
    assert Worker(db, {k: Doubler()}, retention_days=0).purge() == 0


def test_items_enqueued_not_before_a_time_wait_for_it(db):
    k = kind()
    soon = utcnow() + dt.timedelta(seconds=30)
    job = enqueue(db, k, [1], not_before=soon)
    with db.transaction() as session:
        assert queue.claim(session, "a", [k], 10, lease_seconds=60) == []
    later = soon + dt.timedelta(seconds=1)
    with db.transaction() as session:
        assert [j for _, j in queue.claim(session, "a", [k], 10, 60, now=later)] == [job]
