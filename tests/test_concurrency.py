"""Races: the same new learner registered at once by several clients gets exactly one ULN; reads
beside writes over two workers all answer, and every answer is audited."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from miap.server.matching.normalise import name_key
from miap.server.namespaces import FINDMSG
from miap.storage.engine import Database
from miap.storage.models import AuditEntry, Learner
from tests.support import envelope, post, start_server, synthetic_person
from tests.test_raw_xml import HEADER, register_xml

CLIENTS = 4
PEOPLE = 8


@pytest.fixture(scope="module")
def two_workers(database_url, tmp_path_factory):
    """A server with two worker processes, so racing requests really run in parallel."""
    with start_server(database_url, tmp_path_factory.mktemp("race"), "--workers", "2") as server:
        yield server


def test_concurrent_registrations_of_one_person_give_one_uln(two_workers):
    people = [synthetic_person() for _ in range(PEOPLE)]
    for person in people:
        barrier = threading.Barrier(CLIENTS)

        def register(person=person, barrier=barrier):
            barrier.wait()
            reply = post(two_workers.url, register_xml(person))
            return reply.text("ResponseCode"), reply.text("ULN")

        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(lambda _: register(), range(CLIENTS)))
        codes = sorted(code for code, _ in results)
        assert codes == ["WSRC0005"] + ["WSRC0021"] * (CLIENTS - 1), results

    db = Database(two_workers.database_url)
    try:
        with db.transaction() as session:
            for person in people:
                stored = session.scalar(
                    select(func.count())
                    .select_from(Learner)
                    .where(Learner.given_key == name_key(person["GivenName"]))
                    .where(Learner.family_key == name_key(person["FamilyName"]))
                )
                assert stored == 1
    finally:
        db.dispose()


def test_concurrent_distinct_registrations_all_succeed(two_workers):
    people = [synthetic_person() for _ in range(24)]
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda p: post(two_workers.url, register_xml(p)), people))
    ulns = [reply.text("ULN") for reply in replies]
    assert [reply.text("ResponseCode") for reply in replies] == ["WSRC0005"] * 24
    assert len(set(ulns)) == 24


def test_concurrent_reads_and_writes_all_answer_and_are_all_audited(two_workers):
    """Finds (the read path, audited by each worker's writer) beside registrations (the write
    path, audited in their own transaction), from 8 clients at once over two workers."""

    known = synthetic_person()
    uln = post(two_workers.url, register_xml(known)).text("ULN")
    find = envelope(
        f'<fin:FindLearnerByULN xmlns:fin="{FINDMSG}"><FindType>FUL</FindType>{HEADER}'
        f"<ULN>{uln}</ULN>"
        f"<FamilyName>{known['FamilyName']}</FamilyName>"
        f"<GivenName>{known['GivenName']}</GivenName></fin:FindLearnerByULN>"
    )
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}

    def one(index: int) -> tuple[str, bytes]:
        body = register_xml(synthetic_person()) if index % 4 == 0 else find
        response = requests.post(two_workers.url, data=body, headers=headers, timeout=30)
        return response.headers["X-Request-Id"], response.content

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(64)))
    codes = [b"WSRC0005" in content or b"WSRC0004" in content for _, content in answers]
    assert all(codes), [content[:300] for _, content in answers]

    db = Database(two_workers.database_url)
    try:
        with db.transaction() as session:
            ids = [request_id for request_id, _ in answers]
            audited = set(
                session.scalars(select(AuditEntry.request_id).where(AuditEntry.request_id.in_(ids)))
            )
    finally:
        db.dispose()
    assert audited == set(ids)
