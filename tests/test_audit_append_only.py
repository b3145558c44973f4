"""Audit rows are append-only: the database refuses UPDATE and DELETE (migration 0009's
triggers, on SQLite and PostgreSQL), and no code path updates or deletes one."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from miap.server.register import audit
from miap.storage.models import AuditEntry
from tests.support import REPO


@pytest.fixture
def entry(db) -> str:
    request_id = uuid.uuid4().hex
    with db.transaction() as session:
        audit.record(
            session,
            request_id=request_id,
            ukprn="10000002",
            user_name="append-only",
            operation="learnerByULN",
            outcome="WSRC0004",
            ulns=["1000000043"],
            route=audit.LEARNER_SERVICE,
            user_type="ORG",
        )
    return request_id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET outcome = 'WSRC0001' WHERE request_id = :r",
        "DELETE FROM audit_log WHERE request_id = :r",
    ],
)
def test_the_database_refuses_to_change_an_audit_row(db, entry, statement):
    with pytest.raises(DatabaseError, match="append-only"):
        with db.transaction() as session:
            session.execute(text(statement), {"r": entry})
    with db.transaction() as session:
        row = session.scalars(select(AuditEntry).where(AuditEntry.request_id == entry)).one()
    assert (row.outcome, row.route, row.user_type) == ("WSRC0004", "LearnerService", "ORG")


def test_postgresql_refuses_truncate_too(db, entry):
    if db.dialect != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    with pytest.raises(DatabaseError, match="append-only"):
        with db.transaction() as session:
            session.execute(text("TRUNCATE audit_log"))


#: An UPDATE or DELETE of the audit table, in SQL text or through SQLAlchemy.
_CHANGES = re.compile(
    r"(update|delete)\s*\(\s*AuditEntry|UPDATE\s+audit_log|DELETE\s+FROM\s+audit_log",
    re.IGNORECASE,
)


def test_no_code_path_updates_or_deletes_audit_rows():
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("server", "storage", "client")
        for path in (REPO / folder).rglob("*.py")
        if "migrations" not in path.parts and _CHANGES.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_an_unknown_route_is_refused():
    with pytest.raises(ValueError, match="route"):
        audit.entries(
            request_id="x", ukprn=None, user_name=None, operation="op", outcome="OK", route="fax"
        )
