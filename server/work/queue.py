"""Jobs and their items in the database: enqueue, claim under a lease, complete.

The rules that make a worker's death harmless:

* a worker **claims** pending items by setting a lease (owner and expiry) in a short
  transaction of its own; on PostgreSQL the claim skips rows another transaction holds
  (``FOR UPDATE SKIP LOCKED``), so any number of workers on any number of hosts share the
  queue without waiting for each other. On SQLite the claim runs under the database's one
  write lock (``BEGIN IMMEDIATE``), and one worker runs.
* it then **does** the items in one transaction that first locks them (``FOR UPDATE``), skips
  any already done, runs the handler (whose writes, e.g. registrations and their audit
  entries, join that transaction) and writes each item's outcome and ``done`` status. Either
  all of that commits or none of it does.
* a worker killed mid-transaction leaves its items pending; once their lease expires another
  worker claims them and does them from the start. Two workers that end up holding the same
  item (a lease that expired while its owner was still busy) queue on the row lock, and the
  second finds the item done and leaves it alone: every outcome is recorded exactly once.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from miap.storage.models import WorkItem, WorkJob, utcnow

PENDING = "pending"
DONE = "done"
#: The lease owner of items enqueued with ``not_before``, until that time.
NOT_BEFORE = "not-before"


@dataclass(frozen=True)
class Progress:
    """Where a job is: how many items are done, and when the first started and last ended."""

    total: int
    done: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @property
    def state(self) -> str:
        """``queued`` (nothing started), ``running`` or ``finished``."""
        if self.done >= self.total:
            return "finished"
        return "running" if self.started_at is not None else "queued"


def enqueue(
    session: Session,
    kind: str,
    payloads: Sequence[Any],
    *,
    owner: str | None = None,
    params: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    not_before: dt.datetime | None = None,
) -> WorkJob:
    """Add a job of ``kind`` with one item per payload (any JSON value), in ``session``'s
    transaction. A job with ``idempotency_key`` already there is returned as it is, and nothing
    is added (a retried submission); no key means a new job every time. ``not_before`` holds
    the items back until then (a retry's back-off): they start out leased until that time, and
    a claim takes only items whose lease is free or expired."""
    key = idempotency_key or f"uuid:{uuid.uuid4().hex}"
    if idempotency_key is not None:
        existing = session.scalars(select(WorkJob).where(WorkJob.idempotency_key == key)).first()
        if existing is not None:
            return existing
    job = WorkJob(
        kind=kind,
        owner=owner,
        idempotency_key=key,
        params=json.dumps(params or {}),
        item_count=len(payloads),
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:
        # Another submission with the same key won the race: answer with its job.
        existing = session.scalars(select(WorkJob).where(WorkJob.idempotency_key == key)).first()
        if existing is None:
            raise
        return existing
    session.execute(
        WorkItem.__table__.insert(),
        [
            {
                "job_id": job.id,
                "kind": kind,
                "seq": seq,
                "payload": json.dumps(payload, ensure_ascii=False),
                "status": PENDING,
                "attempts": 0,
                "lease_owner": NOT_BEFORE if not_before else None,
                "lease_expires": not_before,
            }
            for seq, payload in enumerate(payloads)
        ],
    )
    return job


def get_job(session: Session, job_id: int) -> WorkJob | None:
    return session.get(WorkJob, job_id)


def progress(session: Session, job_id: int) -> Progress:
    """One indexed aggregate over the job's items."""
    total, done, started, finished = session.execute(
        select(
            func.count(),
            func.count(WorkItem.done_at),
            func.min(WorkItem.started_at),
            func.max(WorkItem.done_at),
        ).where(WorkItem.job_id == job_id)
    ).one()
    return Progress(total, done, started, finished if done >= total else None)


def results(session: Session, job_id: int) -> list[tuple[Any, Any]]:
    """Every item's payload and outcome (None while pending), in the order they were sent."""
    rows = session.execute(
        select(WorkItem.payload, WorkItem.result)
        .where(WorkItem.job_id == job_id)
        .order_by(WorkItem.seq)
    )
    return [
        (json.loads(payload), None if result is None else json.loads(result))
        for payload, result in rows
    ]


def claim(
    session: Session,
    worker: str,
    kinds: Iterable[str],
    limit: int,
    lease_seconds: float,
    now: dt.datetime | None = None,
) -> list[tuple[int, int]]:
    """Lease up to ``limit`` pending items of ``kinds`` whose lease is free or expired, oldest
    first; returns ``(item id, job id)`` pairs. Commit promptly: the claim is its own
    transaction."""
    now = now or utcnow()
    free = (
        select(WorkItem.id)
        .where(
            WorkItem.status == PENDING,
            WorkItem.kind.in_(list(kinds)),
            or_(WorkItem.lease_expires.is_(None), WorkItem.lease_expires < now),
        )
        .order_by(WorkItem.id)
        .limit(limit)
        # PostgreSQL: skip rows another worker is claiming or doing; SQLite ignores it (its
        # write lock already makes claims one at a time).
        .with_for_update(skip_locked=True)
    )
    claimed = session.execute(
        update(WorkItem)
        .where(WorkItem.id.in_(free.scalar_subquery()))
        .values(
            lease_owner=worker,
            lease_expires=now + dt.timedelta(seconds=lease_seconds),
            attempts=WorkItem.attempts + 1,
            started_at=func.coalesce(WorkItem.started_at, now),
        )
        .returning(WorkItem.id, WorkItem.job_id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted((item_id, job_id) for item_id, job_id in claimed)


def lock_pending(session: Session, item_ids: Sequence[int]) -> list[WorkItem]:
    """The items among ``item_ids`` still pending, locked until the transaction ends (a
    worker doing the same item waits here, then finds it done)."""
    return list(
        session.scalars(
            select(WorkItem)
            .where(WorkItem.id.in_(list(item_ids)), WorkItem.status == PENDING)
            .order_by(WorkItem.seq)
            .with_for_update()
        )
    )


def pending_payloads(session: Session, item_ids: Sequence[int]) -> dict[int, str]:
    """The payloads of the items among ``item_ids`` still pending, by id (read, not locked)."""
    rows = session.execute(
        select(WorkItem.id, WorkItem.payload).where(
            WorkItem.id.in_(list(item_ids)), WorkItem.status == PENDING
        )
    )
    return {row.id: row.payload for row in rows}


def complete(item: WorkItem, result: Any, now: dt.datetime | None = None) -> None:  # noqa: ANN401
    """Record ``item``'s outcome and mark it done (in the caller's transaction)."""
    item.result = json.dumps(result, ensure_ascii=False)
    item.status = DONE
    item.done_at = now or utcnow()
    item.lease_owner = None
    item.lease_expires = None


def complete_all(
    session: Session,
    items: Sequence[WorkItem],
    results: Sequence[Any],
    now: dt.datetime | None = None,
) -> None:
    """``complete`` for many items at once, in the caller's transaction: on PostgreSQL one
    ``UPDATE … FROM unnest(…)`` statement (one round trip, not one per item); elsewhere one
    executemany. The items must be locked by the caller (``lock_pending``)."""
    now = now or utcnow()
    ids = [item.id for item in items]
    texts = [json.dumps(result, ensure_ascii=False) for result in results]
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "UPDATE work_items SET result = v.result, status = :done, done_at = :now, "
                "lease_owner = NULL, lease_expires = NULL "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:results AS text[])) AS v(id, result) "
                "WHERE work_items.id = v.id"
            ),
            {"ids": ids, "results": texts, "done": DONE, "now": now},
        )
    else:
        session.execute(
            update(WorkItem.__table__)
            .where(WorkItem.__table__.c.id == bindparam("item_id"))
            .values(
                result=bindparam("item_result"),
                status=DONE,
                done_at=now,
                lease_owner=None,
                lease_expires=None,
            ),
            [{"item_id": i, "item_result": t} for i, t in zip(ids, texts, strict=True)],
        )
    # The loaded items say what was written (the caller's session may look at them again).
    for item, result_text in zip(items, texts, strict=True):
        for name, value in (
            ("result", result_text),
            ("status", DONE),
            ("done_at", now),
            ("lease_owner", None),
            ("lease_expires", None),
        ):
            set_committed_value(item, name, value)


def pending_count(session: Session, kinds: Iterable[str] | None = None) -> int:
    statement = select(func.count()).select_from(WorkItem).where(WorkItem.status == PENDING)
    if kinds is not None:
        statement = statement.where(WorkItem.kind.in_(list(kinds)))
    return session.scalar(statement) or 0


def purge_finished(session: Session, before: dt.datetime, limit: int = 500) -> int:
    """Delete up to ``limit`` jobs, with their items and outputs, whose every item was done
    before ``before``; returns how many. A job still running, or finished since, stays."""
    finished = (
        select(WorkItem.job_id)
        .group_by(WorkItem.job_id)
        .having(
            func.sum(case((WorkItem.status == DONE, 0), else_=1)) == 0,
            func.max(WorkItem.done_at) < before,
        )
        .limit(limit)
    )
    job_ids = list(session.scalars(finished))
    if job_ids:
        session.execute(delete(WorkItem).where(WorkItem.job_id.in_(job_ids)))
        session.execute(delete(WorkJob).where(WorkJob.id.in_(job_ids)))
    return len(job_ids)
