"""Races: the same new learner registered at once by several clients gets exactly one ULN."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from miap.server.matching.normalise import name_key
from miap.storage.engine import Database
from miap.storage.models import Learner
from tests.support import post, start_server, synthetic_person
from tests.test_raw_xml import register_xml

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
