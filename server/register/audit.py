"""The audit log: one entry per ULN an answer touched, or one per request that touched none."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert
from sqlalchemy.orm import Session

from miap.storage.models import AuditEntry, utcnow


def record(
    session: Session,
    *,
    request_id: str,
    ukprn: str | None,
    user_name: str | None,
    operation: str,
    outcome: str,
    ulns: Iterable[str] = (),
) -> None:
    # A Core insert: audit rows are never read back in the request, so the ORM's unit of work
    # (identity map, flush ordering) would be pure overhead on every call.
    now = utcnow()
    rows = [
        {
            "at": now,
            "request_id": request_id,
            "ukprn": ukprn,
            "user_name": user_name,
            "operation": operation,
            "outcome": outcome,
            "uln": uln,
        }
        for uln in (list(ulns) or [None])
    ]
    session.execute(insert(AuditEntry), rows)
