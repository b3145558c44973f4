"""The audit log: one entry per ULN an answer touched, or one per request that touched none."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from miap.storage.models import AuditEntry


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
    entries = [
        AuditEntry(
            request_id=request_id,
            ukprn=ukprn,
            user_name=user_name,
            operation=operation,
            outcome=outcome,
            uln=uln,
        )
        for uln in (list(ulns) or [None])
    ]
    session.add_all(entries)
