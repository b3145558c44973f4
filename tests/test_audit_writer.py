"""The audit writer: one thread per process, group commit, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import func, select

from miap.server.register.audit import AuditWriter, entries
from miap.storage.engine import Database
from miap.storage.models import AuditEntry


@pytest.fixture
def writer(db):
    audit = AuditWriter(db)
    yield audit
    audit.close()


def rows_for(db: Database, request_ids: list[str]) -> list[AuditEntry]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.request_id.in_(request_ids))
                .order_by(AuditEntry.id)
            )
        )


def entry(request_id: str, ulns: tuple[str, ...] = ()) -> dict:
    return {
        "request_id": request_id,
        "ukprn": "10000002",
        "user_name": "audit.tester",
        "operation": "learnerByULN",
        "outcome": "WSRC0004",
        "ulns": ulns,
    }


def test_a_recorded_entry_is_committed_when_record_returns(db, writer):
    request_id = uuid.uuid4().hex
    writer.record(**entry(request_id, ("1000000043", "1000000051")))
    # Another connection sees it at once: record waited for the commit.
    found = rows_for(db, [request_id])
    assert [(row.uln, row.outcome, row.ukprn) for row in found] == [
        ("1000000043", "WSRC0004", "10000002"),
        ("1000000051", "WSRC0004", "10000002"),
    ]
    assert found[0].at is not None


def test_an_entry_without_ulns_is_one_row(db, writer):
    request_id = uuid.uuid4().hex
    writer.record(**entry(request_id))
    assert [row.uln for row in rows_for(db, [request_id])] == [None]


def test_requests_that_queue_together_commit_together(db, writer, monkeypatch):
    real_write = writer._write
    first_batch_started = threading.Event()
    release = threading.Event()

    def held_write(rows):  # noqa: ANN001, ANN202
        first_batch_started.set()
        release.wait(5)  # the first batch is slow: everyone else queues behind it
        return real_write(rows)

    monkeypatch.setattr(writer, "_write", held_write)
    ids = [uuid.uuid4().hex for _ in range(30)]
    first = threading.Thread(target=writer.record, kwargs=entry(ids[0]))
    first.start()
    assert first_batch_started.wait(5)
    others = [threading.Thread(target=writer.record, kwargs=entry(i)) for i in ids[1:]]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 5
    while len(writer._queue) < len(others) and time.monotonic() < deadline:
        time.sleep(0.01)
    before = writer.batches
    release.set()
    for thread in [first, *others]:
        thread.join(10)
    assert writer.batches - before == 2  # the slow first one, then the 29 that queued: one
    assert len(rows_for(db, ids)) == 30


def test_many_threads_each_get_their_own_rows(db, writer):
    ids = [uuid.uuid4().hex for _ in range(200)]
    threads = [
        threading.Thread(target=writer.record, kwargs=entry(i, (f"{n:010d}",)))
        for n, i in enumerate(ids)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    found = rows_for(db, ids)
    assert sorted((row.request_id, row.uln) for row in found) == sorted(
        (i, f"{n:010d}") for n, i in enumerate(ids)
    )
    assert writer.batches < 200


def test_a_failed_batch_fails_its_requests_and_the_next_batch_works(db, writer, monkeypatch):
    real_write = writer._write
    calls = []

    def failing_once(rows):  # noqa: ANN001, ANN202
        calls.append(len(rows))
        if len(calls) == 1:
            raise RuntimeError("disk on fire")
        return real_write(rows)

    monkeypatch.setattr(writer, "_write", failing_once)
    lost, kept = uuid.uuid4().hex, uuid.uuid4().hex
    with pytest.raises(RuntimeError, match="disk on fire"):
        writer.record(**entry(lost))
    writer.record(**entry(kept))
    assert [row.request_id for row in rows_for(db, [lost, kept])] == [kept]


def test_close_writes_what_is_queued_and_refuses_more(db):
    audit = AuditWriter(db)
    ids = [uuid.uuid4().hex for _ in range(5)]
    futures = [audit.submit(entries(**entry(i))) for i in ids]
    audit.close()
    for future in futures:
        future.result(5)
    assert len(rows_for(db, ids)) == 5
    with pytest.raises(RuntimeError):
        audit.record(**entry(uuid.uuid4().hex))


def test_rows_are_stamped_like_orm_rows(db, writer):
    request_id = uuid.uuid4().hex
    writer.record(**entry(request_id))
    with db.transaction() as session:
        latest = session.scalar(select(func.max(AuditEntry.at)))
    [row] = rows_for(db, [request_id])
    assert row.at <= latest
    assert row.at.microsecond == 0
