"""Reading the audit back: one learner's entries, newest first, a page at a time (PLR
ViewAudit, ``miap audit``). Rows are only ever read here; ``server/register/audit.py`` writes
them."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from miap.storage.models import AuditEntry, Provider

#: Entries per page of ViewAudit (``--page-size`` of ``miap audit``).
PAGE_SIZE = 20


@dataclass(frozen=True)
class Access:
    """One audit row as shown to the learner and to administrators."""

    at: dt.datetime
    action: str
    outcome: str
    uln: str
    ukprn: str | None
    organisation: str
    user_name: str | None
    user_type: str | None
    route: str | None
    request_id: str


@dataclass(frozen=True)
class Page:
    entries: list[Access]
    #: 1-based, as ViewAudit's ``page`` is.
    index: int
    size: int
    total: int

    @property
    def count(self) -> int:
        return max(1, math.ceil(self.total / self.size))


def page_of(session: Session, ulns: list[str], page: int = 1, size: int = PAGE_SIZE) -> Page:
    """Page ``page`` (1-based) of the entries of ``ulns`` (one learner's ULNs), newest first.
    An organisation is shown by its name on the provider register, else by its UKPRN; an entry
    without one (an administrator's command, a census load) by its route."""
    page = max(page, 1)
    total = session.scalar(select(func.count()).where(AuditEntry.uln.in_(ulns))) or 0
    rows = session.execute(
        select(AuditEntry, Provider.name)
        .outerjoin(Provider, Provider.ukprn == AuditEntry.ukprn)
        .where(AuditEntry.uln.in_(ulns))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(size)
        .offset((page - 1) * size)
    ).all()
    entries = [
        Access(
            at=row.at,
            action=row.operation,
            outcome=row.outcome,
            uln=row.uln,
            ukprn=row.ukprn,
            organisation=name or row.ukprn or row.route or "LRS",
            user_name=row.user_name,
            user_type=row.user_type,
            route=row.route,
            request_id=row.request_id,
        )
        for row, name in rows
    ]
    return Page(entries, page, size, total)
