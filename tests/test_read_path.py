"""The thin read path (storage/reads.py) and the read engine, on SQLite and PostgreSQL.

What the read-only operations read must be what the ORM reads, through the same indexes, and
reading must never take SQLite's write lock.
"""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from miap.server.matching.engine import ScoringMatcher
from miap.server.outcomes import Outcome
from miap.server.register import learners, merging
from miap.server.services import Services
from miap.storage.engine import Database
from miap.storage.models import AuditEntry, Learner
from miap.storage.reads import LEARNER_FIELDS, Reads
from tests.support import synthetic_name, synthetic_postcode

matcher = ScoringMatcher()


def person(**overrides) -> dict:
    details = {
        "given_name": synthetic_name(),
        "family_name": synthetic_name(),
        "date_of_birth": dt.date(2006, 5, 17),
        "gender": "1",
        "postcode": synthetic_postcode(),
        "verification_type": "1",
        "ability_to_share": "1",
        "address_line1": "1 Example Road",
        "date_of_address_capture": dt.date(2024, 9, 1),
        "notes": "synthetic",
    }
    details.update(overrides)
    return details


def registered(db: Database, **overrides) -> tuple[str, dict]:
    details = person(**overrides)
    with db.transaction() as session:
        code, uln = learners.register(session, matcher, details, "10000002")
    assert code == Outcome.REGISTERED
    return uln, details


@pytest.fixture(scope="module")
def reads(db) -> Reads:
    return Reads(db.read_engine)


def test_a_row_reads_exactly_what_the_orm_reads(db, reads):
    uln, _ = registered(db)
    row, master = reads.learner_and_master(uln)
    assert master is None
    with db.transaction() as session:
        orm = session.scalars(select(Learner).where(Learner.uln == uln)).one()
        for name in LEARNER_FIELDS:
            value = getattr(row, name)
            assert value == getattr(orm, name), name
            assert type(value) is type(getattr(orm, name)), name


def test_unknown_uln_reads_nothing(reads):
    assert reads.learner_and_master("1000000043") == (None, None)


def test_find_by_uln_on_the_read_path_follows_merges_and_withdrawals(db, reads):
    master_uln, master = registered(db)
    duplicate_uln, _ = registered(db)
    withdrawn_uln, withdrawn = registered(db)
    with db.transaction() as session:
        merging.merge(session, master_uln, duplicate_uln, "read.tester")
        merging.withdraw(session, withdrawn_uln, "test", "read.tester")
    names = master["given_name"], master["family_name"]

    found = learners.find_by_uln(reads, matcher, duplicate_uln, *names)
    assert found.code == Outcome.LINKED
    assert [learner.uln for learner in found.learners] == [master_uln]
    assert found.learners[0].duplicate_count == 1
    assert learners.find_by_uln(reads, matcher, master_uln, *names).code == Outcome.EXACT
    gone = learners.find_by_uln(
        reads, matcher, withdrawn_uln, withdrawn["given_name"], withdrawn["family_name"]
    )
    assert gone.code == Outcome.NO_MATCH
    # The session path answers the same.
    with db.reading() as session:
        again = learners.find_by_uln(session, matcher, duplicate_uln, *names)
        assert (again.code, again.learners[0].uln) == (Outcome.LINKED, master_uln)


def test_provider_read(db, reads):
    from tests.conftest import INACTIVE_UKPRN, TEST_UKPRN

    assert reads.provider(TEST_UKPRN).status == "A"
    assert reads.provider(INACTIVE_UKPRN).status == "PD2"
    assert reads.provider("10999999") is None
    assert reads.provider("NOREF1", by_ukprn=False) is None


def test_uln_read_uses_the_unique_index(db, reads):
    statement = reads._compiled["learner_and_master"]
    with db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            plan = " ".join(
                str(row)
                for row in connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {statement.sql}", ("1000000043",)
                )
            )
            assert "(uln=?)" in plan and "SCAN" not in plan, plan
            assert "INTEGER PRIMARY KEY" in plan, plan  # the master by its id
        else:
            connection.execute(text("SET enable_seqscan = off"))
            body = statement.prepare.split(" AS ", 1)[1].replace("$1", "'1000000043'")
            plan = " ".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {body}"))
            assert "uq_learners_uln" in plan and "Seq Scan" not in plan, plan


def test_postgresql_statements_are_prepared_once_per_connection(db, reads):
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only")
    uln, _ = registered(db)
    for _ in range(3):
        assert reads.learner_and_master(uln)[0].uln == uln
    connection = db.read_engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT name FROM pg_prepared_statements")
        names = {name for (name,) in cursor.fetchall()}
        cursor.close()
    finally:
        connection.close()
    assert "miap_learner_and_master" in names


# -- SQLite: reading never takes the write lock -------------------------------------------------


def _sqlite_path(db: Database) -> str:
    return db.engine.url.database


def test_reads_run_beside_a_held_write_lock(db, reads):
    if db.dialect != "sqlite":
        pytest.skip("SQLite's write lock")
    uln, details = registered(db)
    writer = sqlite3.connect(_sqlite_path(db), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process is writing
    try:
        answers: list[object] = []

        def read() -> None:
            answers.append(reads.learner_and_master(uln)[0].uln)
            with db.reading() as session:
                answers.append(session.scalar(select(Learner.uln).where(Learner.uln == uln)))

        reader = threading.Thread(target=read)
        reader.start()
        reader.join(5)  # a read waiting for the lock would wait up to 30 s
        assert answers == [uln, uln]
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_the_read_session_cannot_write(db):
    if db.dialect != "sqlite":
        pytest.skip("SQLite's query_only connections")
    with pytest.raises(OperationalError, match="readonly"), db.reading() as session:
        session.execute(text("DELETE FROM audit_log WHERE id = -1"))


# -- the server: internal errors are audited too ----------------------------------------------


class BrokenMatcher(ScoringMatcher):
    def find(self, session, query):  # noqa: ANN001, ANN201
        raise RuntimeError("boom")


def test_an_internal_error_is_answered_and_audited(database_url):
    from miap.server.settings import Settings
    from miap.server.soap.endpoint import LearnerServiceApp
    from tests.conftest import TEST_PASSWORD, TEST_UKPRN
    from tests.test_raw_xml import demographics_xml

    db = Database(database_url)
    app = LearnerServiceApp(Services.start(db, Settings(), BrokenMatcher()))
    try:
        body = demographics_xml(
            {
                "GivenName": "Ada",
                "FamilyName": "Example",
                "DateOfBirth": "2006-05-17",
                "Gender": "1",
                "LastKnownPostCode": "M1 1AE",
            }
        ).replace(b"<UserName>mis.user</UserName>", b"<UserName>internal.error</UserName>")
        assert TEST_UKPRN in body.decode() and TEST_PASSWORD in body.decode()
        statuses = []
        headers: dict[str, str] = {}

        def start_response(status, response_headers):  # noqa: ANN001, ANN202
            statuses.append(status)
            headers.update(response_headers)

        environ = {
            "PATH_INFO": "/LearnerService.svc",
            "REQUEST_METHOD": "POST",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        answer = b"".join(app(environ, start_response))
        assert statuses == ["500 Internal Server Error"]
        assert b"WSEC0999" in answer
        with db.transaction() as session:
            rows = session.scalars(
                select(AuditEntry).where(AuditEntry.request_id == headers["X-Request-Id"])
            ).all()
            assert [(r.operation, r.outcome, r.user_name) for r in rows] == [
                ("learnerByDemographics", "WSEC0999", "internal.error")
            ]
    finally:
        app.audit.close()
        db.dispose()
