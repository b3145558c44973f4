"""Set-based batch processing (``batches.learners.Chunk``): a chunk answered with what it read
up front answers every learner as the engine answers them one at a time; register's
``searched`` seam; the bulk audit insert. No timings are asserted."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import time

import pytest
from sqlalchemy import func, select

from miap.server import exceptions
from miap.server.admin.synth import ERROR_KINDS, Noise, Population
from miap.server.batches import jobs
from miap.server.batches import learners as batch_learners
from miap.server.matching.comparison import EXACT_LEVELS, given_level
from miap.server.matching.engine import ScoringMatcher
from miap.server.matching.normalise import name_key
from miap.server.outcomes import Outcome
from miap.server.register import audit, learners
from miap.storage.models import AuditEntry, Learner, WorkItem, WorkJob
from tests.conftest import TEST_UKPRN
from tests.support import synthetic_name


@pytest.fixture(scope="module")
def matcher() -> ScoringMatcher:
    return ScoringMatcher()


def fields_of(person, n: int = 0, **extra: str) -> dict[str, str]:  # noqa: ANN001
    return {
        "MISIdentifier": f"C{n:05d}",
        "GivenName": person.given_name,
        "FamilyName": person.family_name,
        "DateOfBirth": person.date_of_birth.isoformat(),
        "Gender": person.gender,
        "LastKnownPostCode": person.postcode,
        **extra,
    }


def details_of(fields: dict[str, str]) -> dict:
    return {**batch_learners.DEFAULTS, **batch_learners.details_of(fields)}


def put(session, fields: dict[str, str], gender: str | None = None) -> Learner:  # noqa: ANN001
    """A learner stored as it is, past the duplicate check (to build corners the register's
    own rules would refuse, e.g. two exact candidates for one search)."""
    details = details_of({**fields, **({"Gender": gender} if gender else {})})
    learner = Learner(
        uln=learners.random_uln(), learner_status=learners.ACTIVE, registered_by_ukprn=TEST_UKPRN
    )
    for column, value in learners.stored_columns(details).items():
        setattr(learner, column, value)
    session.add(learner)
    session.flush()
    return learner


def other_unknown(person) -> str:  # noqa: ANN001
    """A "not known" gender this synthetic person does not already have (their twin with it is
    a second exact candidate; the same gender would be the same identity)."""
    return "0" if person.gender == "9" else "9"


def answers(session, matcher, batch, chunked: bool, job_type: str = "FUL") -> list:  # noqa: ANN001
    chunk = batch_learners.Chunk.read(session, batch, matcher) if chunked else None
    out: list = []
    new: dict[str, str] = {}  # a ULN this run drew, by the order it was drawn
    for fields in batch:
        try:
            answer = batch_learners.register_or_find(
                session, matcher, fields, job_type, TEST_UKPRN, chunk=chunk
            )
        except exceptions.DomainError as error:
            out.append(type(error).__name__)
            continue
        # A new learner's ULN is drawn at random: compare which registration it is, not the
        # ULN (a later learner of the chunk may be found as it).
        if answer.outcome == Outcome.REGISTERED:
            new[answer.uln] = f"new{len(new)}"
        out.append((answer.outcome.name, new.get(answer.uln, answer.uln)))
    return out


@pytest.mark.parametrize("job_type", ["FUL", "CHK"])
def test_a_chunk_answers_as_the_engine_one_at_a_time(db, matcher, job_type):
    rng = random.Random(7)
    population = Population(seed=random.randrange(1 << 30))
    # A family-name tag of this run's own: the register is shared with other tests, whose
    # synthetic people could otherwise be these people's exact twins.
    tag = synthetic_name()
    stored, strangers = (
        [dataclasses.replace(p, family_name=f"{p.family_name}-{tag}") for p in population.people(n)]
        for n in (40, 20)
    )
    noise = Noise(population, matcher.variants)
    with db.transaction() as session:
        registered = [put(session, fields_of(person)) for person in stored]
        # A second exact candidate in the group of stored[0] (an unknown gender): an identity
        # hit that is not the engine's exact answer (two exact candidates: possible matches).
        put(session, fields_of(stored[0]), gender=other_unknown(stored[0]))
        # A merged learner: its identity hit is no answer.
        merged = put(session, fields_of(stored[1], GivenName=stored[1].given_name + "x"))
        merged.merged_into_id = registered[2].id
        ghost = dataclasses.replace(stored[1], given_name=stored[1].given_name + "x")
    batch = [fields_of(person, n) for n, person in enumerate(stored)]
    batch += [fields_of(ghost, 40)]
    batch += [fields_of(person, 50 + n) for n, person in enumerate(strangers)]
    batch += [fields_of(strangers[0], 70)]  # the same new person twice in one chunk
    for n in range(30):  # slips of registered people: possible matches, or exact
        changed = noise.apply(rng.choice(stored), rng.choice(ERROR_KINDS))
        if changed is not None:
            batch.append(fields_of(changed, 100 + n))
    unknown = dataclasses.replace(stored[3], postcode="ZZ99 9ZZ")
    batch += [fields_of(unknown, 200)]
    batch += [fields_of(stored[4], 201, ULN=registered[4].uln)]  # its own ULN
    batch += [fields_of(stored[5], 202, ULN=registered[6].uln)]  # another's ULN
    batch += [fields_of(stored[7], 203, ULN=merged.uln)]  # a merged ULN, other names
    batch += [fields_of(stored[8], 204, ULN="1234567890")]  # fails its check digit
    batch += [{"GivenName": "Ann", "FamilyName": "Lee", "Gender": "2"}]  # cannot be searched
    batch += [{**fields_of(stored[9], 205), "DateOfBirth": "2009-02-30"}]  # not a date
    rng.shuffle(batch)

    def run(chunked: bool) -> list:
        with db.transaction() as session:
            result = answers(session, matcher, batch, chunked, job_type)
            session.rollback()
        return result

    one_at_a_time, chunked = run(False), run(True)
    assert chunked == one_at_a_time
    codes = {answer[0] for answer in chunked if isinstance(answer, tuple)}
    assert {"EXACT", "POSSIBLE"} <= codes
    assert ("REGISTERED" in codes) == (job_type == "FUL")


class CountingMatcher(ScoringMatcher):
    searches = 0

    def find(self, session, query):  # noqa: ANN001, ANN201
        self.searches += 1
        return super().find(session, query)


def test_a_chunk_searches_its_learners_together_until_a_write_reaches_one(db):
    population = Population(seed=random.randrange(1 << 30))
    tag = synthetic_name()
    people = [
        dataclasses.replace(p, family_name=f"{p.family_name}-{tag}") for p in population.people(8)
    ]
    with db.transaction() as session:
        stored = [put(session, fields_of(person)) for person in people[:4]]
    noise = Noise(population, ScoringMatcher().variants)
    slips = [_not_exact_typo(noise, person) for person in people[:4]]
    batch = [fields_of(person, n) for n, person in enumerate(slips + people[4:])]
    # The same new person twice: the second is found as the first, registered a moment ago.
    batch.append(fields_of(people[4], 99))
    checked, registered = CountingMatcher(), CountingMatcher()
    with db.transaction() as session:
        chk = answers(session, checked, batch, chunked=True, job_type="CHK")
        ful = answers(session, registered, batch, chunked=True, job_type="FUL")
        session.rollback()
    with db.transaction() as session:
        assert answers(session, ScoringMatcher(), batch, False, "CHK") == chk
        assert answers(session, ScoringMatcher(), batch, False, "FUL") == ful
        session.rollback()
    assert stored and {answer[0] for answer in chk[:4]} == {"POSSIBLE"}
    assert checked.searches == 0  # a CHK job writes nothing: every answer was read up front
    assert ful[-1] == ("EXACT", "new0") and registered.searches >= 1


def _not_exact_typo(noise: Noise, person):  # noqa: ANN202 - a synth Person
    """``person`` with a typo in the given name that the engine does not take for the name
    itself (a deleted hyphen, or a typo that is a variant of the name, would be exact)."""
    while True:
        slip = noise.apply(person, "given_typo")
        level = given_level(name_key(slip.given_name), name_key(person.given_name), noise.variants)
        if level not in EXACT_LEVELS["given"]:
            return slip


def test_identity_hits_skip_the_engine_and_corners_do_not(db, matcher):
    population = Population(seed=random.randrange(1 << 30))
    a, b, c = population.people(3)
    with db.transaction() as session:
        put(session, fields_of(a))
        put(session, fields_of(b))
        put(session, fields_of(b), gender=other_unknown(b))  # b's group: two exact candidates
        put(session, fields_of(c, LastKnownPostCode="ZZ99 9ZZ"))
    batch = [fields_of(a), fields_of(b), fields_of(c, LastKnownPostCode="ZZ99 9ZZ")]
    with db.transaction() as session:
        chunk = batch_learners.Chunk.read(session, batch)
        found = [
            batch_learners.register_or_find(session, matcher, f, "CHK", TEST_UKPRN, chunk=chunk)
            for f in batch
        ]
        session.rollback()
    assert chunk.shortcuts == 1  # only a: b has two exact candidates, c no known postcode
    # The engine: b has two exact candidates; c's postcode ("not known") is no exact level.
    assert [answer.outcome for answer in found] == [
        Outcome.EXACT,
        Outcome.POSSIBLE,
        Outcome.POSSIBLE,
    ]


def test_a_write_in_the_chunk_sends_its_group_back_to_the_engine(db, matcher):
    population = Population(seed=random.randrange(1 << 30))
    [a] = population.people(1)
    moved = population.moved_postcode(a.postcode)
    with db.transaction() as session:
        x = put(session, fields_of(a, Gender="1"))
        put(session, fields_of(a, Gender="9", LastKnownPostCode=moved))
    # Earlier in the chunk, x's newer address moves x into the group of the unknown-gender
    # learner: when the later learner is searched, that group holds two exact candidates.
    newer = fields_of(a, Gender="1", LastKnownPostCode=moved, ULN=x.uln)
    newer["DateOfAddressCapture"] = dt.date.today().isoformat()
    batch = [newer, fields_of(a, Gender="9", LastKnownPostCode=moved)]
    with db.transaction() as session:
        expected = answers(session, matcher, batch, chunked=False)
        session.rollback()
    with db.transaction() as session:
        got = answers(session, matcher, batch, chunked=True)
        session.rollback()
    assert expected == [("EXACT", x.uln), ("POSSIBLE", None)]
    assert got == expected


class NoDuplicateSearch(ScoringMatcher):
    def duplicate_of(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        raise AssertionError("searched=True must not search again")


def test_register_searched_skips_the_search_and_the_index_still_refuses(db):
    matcher = NoDuplicateSearch()
    [person] = Population(seed=random.randrange(1 << 30)).people(1)
    details = details_of(fields_of(person))
    with db.transaction() as session:
        code, uln = learners.register(session, matcher, details, TEST_UKPRN, searched=True)
        assert code == Outcome.REGISTERED and uln
        again = learners.register(session, matcher, details, TEST_UKPRN, searched=True)
        assert again == (Outcome.NOT_REGISTERED, None)
        count = session.scalar(select(func.count()).select_from(Learner).where(Learner.uln == uln))
    assert count == 1


def test_record_all_writes_every_answers_entries(db):
    request_id = f"bulk{random.randrange(1 << 30)}"
    answers_ = [
        {"request_id": request_id, "ukprn": TEST_UKPRN, "user_name": None,
         "operation": "op", "outcome": "WSRC0004", "ulns": ["1000000001"]},
        {"request_id": request_id, "ukprn": TEST_UKPRN, "user_name": "u",
         "operation": "op", "outcome": "WSEC0001", "ulns": []},
    ]  # fmt: skip
    with db.transaction() as session:
        audit.record_all(session, answers_)
        audit.record_all(session, [])
    with db.transaction() as session:
        rows = session.execute(
            select(AuditEntry.outcome, AuditEntry.uln)
            .where(AuditEntry.request_id == request_id)
            .order_by(AuditEntry.outcome)
        ).all()
    assert [tuple(row) for row in rows] == [("WSEC0001", None), ("WSRC0004", "1000000001")]


def test_the_handler_audits_every_learner_in_one_chunk(db, matcher):
    population = Population(seed=random.randrange(1 << 30))
    rows = [fields_of(person, n) for n, person in enumerate(population.people(5))]
    rows.append({"GivenName": "Ann", "FamilyName": "Lee"})  # refused
    from miap.server.work import queue
    from miap.server.work.worker import Worker

    with db.transaction() as session:
        job_id = jobs.submit_registration(session, TEST_UKPRN, "u", "FUL", len(rows), rows)
    Worker(db, jobs.handlers(matcher, lambda answer: "CODE"), batch_size=100).drain()
    # A server's worker on the same database may hold some items still: wait for it.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with db.reading() as session:
            if queue.progress(session, job_id).state == "finished":
                break
        time.sleep(0.2)
    with db.transaction() as session:
        assert queue.progress(session, job_id).state == "finished"
        items = session.scalars(select(WorkItem).where(WorkItem.job_id == job_id)).all()
        results = [json.loads(item.result) for item in items]
        entries = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.request_id == f"job{job_id}")
        )
        assert session.get(WorkJob, job_id).item_count == 6
    assert sum(result.get("outcome") == "REGISTERED" for result in results) == 5
    assert entries == 6
    assert all(item.status == queue.DONE and item.lease_owner is None for item in items)
    assert all(item.done_at is not None and item.done_at <= dt.datetime.now() for item in items)
