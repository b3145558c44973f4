"""``miap records load --source ILR``: a college's ILR XML return becomes learning events.

Real ``miap`` processes on both backends; files are synthetic returns
(``miap.server.records.synthetic``) for learners each test registers itself.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from miap.server.records import loader, synthetic
from miap.server.records.errors import RecordsError
from miap.server.records.ilr import YEARS, IlrReturn
from miap.storage.engine import Database
from miap.storage.records import RecordReturn
from tests.support import run_miap
from tests.support_records import (
    PREPARED,
    counts,
    events,
    fresh_ukprn,
    ilr_file,
    load,
    register,
    rejects,
    stored,
)


def test_each_learning_delivery_becomes_an_event_of_its_learner(database_url, tmp_path):
    ukprn = fresh_ukprn()
    ulns = register(database_url, 3)
    people = list(synthetic.learners(ulns, per_learner=2, seed=3))
    path = ilr_file(tmp_path, people, ukprn)

    result = load(database_url, path, "--source", "ILR")

    assert counts(result) == {
        "events": 6,
        "loaded": 6,
        "updated": 0,
        "unchanged": 0,
        "withdrawn": 0,
        "rejected": 0,
    }
    assert f"({ukprn} 1920, return 1920-01)" in result.stdout
    shown = events(database_url, ulns[0])
    aims = people[0].aims
    assert [event.source_event_id for event in shown] == [
        f"{people[0].ref}/{aim.seq}" for aim in sorted(aims, key=lambda aim: aim.start)
    ]
    for event in shown:
        aim = next(aim for aim in aims if f"{people[0].ref}/{aim.seq}" == event.source_event_id)
        assert event.uln == ulns[0]
        assert (event.source, event.provider_ukprn, event.collection) == ("ILR", ukprn, "1920")
        assert event.subject_code == aim.aim_ref
        assert event.participation_start_date == aim.start
        assert event.participation_end_date == aim.end
        assert event.status == str(aim.comp_status)
        assert event.outcome == (None if aim.outcome is None else str(aim.outcome))
        assert event.achievement_award_date == aim.achieved
        assert event.grade == aim.grade
        assert event.achievement_provider_ukprn == ukprn
        assert (event.return_key, event.return_number) == ("1920-01", None)


def test_events_of_unusable_ulns_go_to_the_reject_file(database_url, tmp_path):
    ukprn = fresh_ukprn()
    good, withdrawn = register(database_url, 2)
    run_miap(
        "learner", "delete", withdrawn, "--reason", "test", "--by", "tester", "--db", database_url
    )
    unknown = "1000000043"  # valid check digit, never registered by the tests
    people = list(synthetic.learners([good, withdrawn, "1000000063", "9999999999", unknown]))
    # The same learner reference twice (case-insensitive): its aims are the same events.
    people.append(replace(people[0], ref=people[0].ref.lower()))
    path = ilr_file(tmp_path, people, ukprn)
    rejected_file = tmp_path / "rejects.csv"

    result = load(database_url, path, "--source", "ILR", "--rejects", str(rejected_file))

    assert counts(result)["loaded"] == 2
    assert counts(result)["rejected"] == 10
    rows = rejects(rejected_file)
    assert [row["ULN"] for row in rows] == [
        withdrawn,
        withdrawn,
        "1000000063",
        "1000000063",
        "9999999999",
        "9999999999",
        unknown,
        unknown,
        good,
        good,
    ]
    reasons = [row["reason"] for row in rows]
    assert reasons[0] == "ULN withdrawn from the register"
    assert reasons[2] == "invalid ULN '1000000063'"
    assert reasons[4].startswith("temporary ULN 9999999999")
    assert reasons[6] == "ULN not in the register"
    assert reasons[8].startswith("SourceEventId given again (first at Learner 1 ")
    third = people[2]
    assert rows[2]["position"].startswith(
        f"Learner 3 LearnRefNumber {third.ref} AimSeqNumber 1 (line "
    )
    assert rows[2]["SourceEventId"] == f"{third.ref}/1"


def test_reloading_a_return_changes_nothing(database_url, tmp_path):
    ukprn = fresh_ukprn()
    ulns = register(database_url, 4)
    path = ilr_file(tmp_path, synthetic.learners(ulns), ukprn)
    load(database_url, path, "--source", "ILR")
    before = stored(database_url, ukprn)

    again = load(database_url, path, "--source", "ILR")

    assert counts(again) == {
        "events": 8,
        "loaded": 0,
        "updated": 0,
        "unchanged": 8,
        "withdrawn": 0,
        "rejected": 0,
    }
    assert stored(database_url, ukprn) == before


def test_a_later_return_corrects_and_withdraws_events(database_url, tmp_path):
    ukprn = fresh_ukprn()
    ulns = register(database_url, 3)
    people = list(synthetic.learners(ulns, seed=5))
    first = ilr_file(tmp_path, people, ukprn, serial=1)
    load(database_url, first, "--source", "ILR")
    # The next return: learner 1's first aim regraded, learner 3 gone (left the college's
    # records: a year-to-date snapshot no longer holds them).
    changed = replace(people[0].aims[0], grade="ZZ")
    later = [replace(people[0], aims=(changed, *people[0].aims[1:])), people[1]]
    second = ilr_file(tmp_path, later, ukprn, serial=2, prepared=PREPARED + dt.timedelta(days=30))

    result = load(database_url, second, "--source", "ILR")

    assert counts(result) == {
        "events": 4,
        "loaded": 0,
        "updated": 1,
        "unchanged": 3,
        "withdrawn": 2,
        "rejected": 0,
    }
    regraded = [e for e in events(database_url, ulns[0]) if e.source_event_id.endswith("/1")]
    assert [(e.grade, e.return_key) for e in regraded] == [("ZZ", "1920-02")]
    assert events(database_url, ulns[2]) == []

    # The first return again (older than the one loaded) is refused; nothing changes.
    before = stored(database_url, ukprn)
    refused = load(database_url, first, "--source", "ILR", check=False)
    assert refused.returncode == 2
    assert "before the return already loaded" in refused.stderr
    assert stored(database_url, ukprn) == before

    # A third return holding learner 3 again brings their events back.
    third = ilr_file(tmp_path, people, ukprn, serial=3, prepared=PREPARED + dt.timedelta(days=60))
    back = counts(load(database_url, third, "--source", "ILR"))
    assert (back["updated"], back["unchanged"], back["withdrawn"]) == (3, 3, 0)
    assert len(events(database_url, ulns[2])) == 2


@pytest.mark.parametrize("namespace", list(YEARS))
def test_a_return_of_each_collection_year(database_url, tmp_path, namespace):
    ukprn = fresh_ukprn()
    ulns = register(database_url, 2)
    year = YEARS[namespace]
    path = ilr_file(tmp_path, synthetic.learners(ulns, year.code), ukprn, namespace=namespace)

    result = load(database_url, path, "--source", "ILR")

    assert counts(result)["loaded"] == 4
    assert {event.collection for event in events(database_url, ulns[0])} == {year.code}


def test_a_zip_holding_the_return_is_read(database_url, tmp_path):
    ukprn = fresh_ukprn()
    ulns = register(database_url, 2)
    xml = ilr_file(tmp_path, synthetic.learners(ulns), ukprn)
    zipped = xml.with_suffix(".ZIP")
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(xml, xml.name)

    assert counts(load(database_url, zipped, "--source", "ILR"))["loaded"] == 4


def test_work_placement_aims_are_counted_not_loaded(database_url, tmp_path):
    ukprn = fresh_ukprn()
    (uln,) = register(database_url, 1)
    (person,) = synthetic.learners([uln], per_learner=2)
    placement = replace(person.aims[1], aim_ref="Z0007834")
    path = ilr_file(tmp_path, [replace(person, aims=(person.aims[0], placement))], ukprn)

    result = load(database_url, path, "--source", "ILR")

    assert counts(result)["loaded"] == 1
    assert "1 work-placement aims skipped" in result.stdout


def _valid(tmp_path, ukprn: str, ulns: list[str]) -> bytes:
    return ilr_file(tmp_path, synthetic.learners(ulns), ukprn).read_bytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda xml: xml.replace(b"<CompStatus>", b"<CompStatus>7", 1),
            "not a valid ILR return: Element 'CompStatus'",
        ),
        (
            lambda xml: xml.replace(b"<Outcome>", b"<Unexpected/><Outcome>", 1),
            "Element 'Unexpected': This element is not expected",
        ),
        (
            lambda xml: xml.replace(b"<CompStatus>", b"<CompStatus>x", 1),
            "'x2' is not a valid value",
        ),
        (
            lambda xml: xml.replace(b"<SerialNo>01", b"<SerialNo>ab", 1),
            "Element 'SerialNo'",
        ),
        (
            lambda xml: xml.replace(b"<LearnStartDate>", b"<LearnStartDate>x", 1),
            "Element 'LearnStartDate'",
        ),
        (
            lambda xml: re.sub(rb"<LearnStartDate>[0-9-]{10}", b"<LearnStartDate>2019-02-30", xml),
            "Element 'LearnStartDate'",
        ),
        (lambda xml: xml.replace(b"</Learner>", b"", 1), "not a valid ILR return"),
        (
            lambda xml: xml.replace(b"ESFA/ILR/2019-20", b"ESFA/ILR/2099-00"),
            "is not an ILR year we read",
        ),
        (
            lambda xml: xml.replace(b"<Year>1920</Year>", b"<Year>1819</Year>"),
            "Element 'Year'",
        ),
        (
            lambda xml: xml.replace(b"<LearningProvider><UKPRN>", b"<LearningProvider><UKPRN>1", 1),
            "LearningProvider/UKPRN",
        ),
        (lambda xml: xml[: len(xml) // 2], "not a valid ILR return"),
    ],
    ids=[
        "bad-value",
        "unknown-element",
        "not-a-number",
        "bad-serial",
        "not-a-date",
        "no-such-day",
        "not-well-formed",
        "namespace",
        "year",
        "provider",
        "cut",
    ],
)
def test_a_malformed_return_is_refused_whole(database_url, tmp_path, change, message):
    ukprn = fresh_ukprn()
    ulns = register(database_url, 3)
    content = change(_valid(tmp_path, ukprn, ulns))
    path = tmp_path / synthetic.file_name(ukprn, "1920", PREPARED, 1)
    path.write_bytes(content)
    rejected_file = tmp_path / "rejects.csv"

    result = load(
        database_url, path, "--source", "ILR", "--rejects", str(rejected_file), check=False
    )

    assert result.returncode == 2
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert stored(database_url, ukprn) == []
    assert not rejected_file.exists()
    db = Database(database_url)
    try:
        with db.reading() as session:
            returns = session.scalar(
                select(func.count())
                .select_from(RecordReturn)
                .where(RecordReturn.provider_ukprn == ukprn)
            )
    finally:
        db.dispose()
    assert returns == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ilr-10000002.xml", "an ILR return is named"),
        ("ILR-{ukprn}-1920-20200301-120000-00.XML", "must not be 00"),
        ("ILR-{ukprn}-1920-20201301-120000-01.XML", "not a date and time"),
        ("ILR-{ukprn}-1920-29990301-120000-01.XML", "in the future"),
        ("ILR-10000009-1920-20200301-120000-01.XML", "Source/UKPRN is {ukprn}"),
        ("ILR-{ukprn}-1819-20200301-120000-01.XML", "collection year 1819"),
        ("ILR-{ukprn}-1920-20200301-120000-02.XML", "Source/SerialNo is 01"),
    ],
)
def test_file_name_rules(database_url, tmp_path, name, message):
    ukprn = fresh_ukprn()
    ulns = register(database_url, 1)
    path = tmp_path / name.format(ukprn=ukprn)
    path.write_bytes(_valid(tmp_path, ukprn, ulns))

    result = load(database_url, path, "--source", "ILR", check=False)

    assert result.returncode == 2
    assert message.format(ukprn=ukprn) in result.stderr
    assert stored(database_url, ukprn) == []


def test_ilr_takes_no_provider_flags(database_url, tmp_path):
    ukprn = fresh_ukprn()
    path = ilr_file(tmp_path, synthetic.learners(register(database_url, 1)), ukprn)

    result = load(database_url, path, "--source", "ILR", "--provider", ukprn, check=False)

    assert result.returncode == 2
    assert "names its own provider" in result.stderr


def test_a_zip_must_hold_the_same_named_return(database_url, tmp_path):
    ukprn = fresh_ukprn()
    xml = ilr_file(tmp_path, synthetic.learners(register(database_url, 1)), ukprn)
    zipped = xml.with_suffix(".zip")
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(xml, "return.xml")

    result = load(database_url, zipped, "--source", "ILR", check=False)

    assert result.returncode == 2
    assert f"must hold exactly one file, {xml.stem}.XML" in result.stderr
    assert stored(database_url, ukprn) == []


def test_a_date_with_a_time_zone_rejects_its_event(database_url, tmp_path):
    ukprn = fresh_ukprn()
    (uln,) = register(database_url, 1)
    path = ilr_file(tmp_path, synthetic.learners([uln]), ukprn)
    path.write_bytes(path.read_bytes().replace(b"</LearnStartDate>", b"Z</LearnStartDate>", 1))
    rejected_file = tmp_path / "rejects.csv"

    result = load(database_url, path, "--source", "ILR", "--rejects", str(rejected_file))

    assert (counts(result)["loaded"], counts(result)["rejected"]) == (1, 1)
    (row,) = rejects(rejected_file)
    assert row["reason"] == "participation_start_date: not a YYYY-MM-DD date"
    assert row["position"].startswith("Learner 1 LearnRefNumber L00000000001 AimSeqNumber 1 (line ")


def _load_in_process(url: str, path, parallel_from: int) -> loader.Summary:  # noqa: ANN001
    def scope(read: IlrReturn) -> loader.Scope:
        header = read.header
        return loader.Scope("ILR", header.ukprn, header.year.code, header.return_key)

    db = Database(url)
    try:
        return loader.RecordsLoad(db, IlrReturn(path, parallel_from=parallel_from), scope).run()
    finally:
        db.dispose()


def test_a_large_return_is_checked_by_a_second_process(database_url, tmp_path):
    ukprn = fresh_ukprn()
    ulns = register(database_url, 3)
    path = ilr_file(tmp_path, synthetic.learners(ulns), ukprn)

    summary = _load_in_process(database_url, path, parallel_from=0)

    assert (summary.events, summary.loaded) == (6, 6)
    assert len(events(database_url, ulns[0])) == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda xml: xml.replace(b"<CompStatus>", b"<CompStatus>7", 1), "Element 'CompStatus'"),
        (lambda xml: xml.replace(b"<CompStatus>", b"<CompStatus>x", 1), "'x2' is not a valid"),
        (lambda xml: xml.replace(b"<Outcome>", b"<Unexpected/><Outcome>", 1), "'Unexpected'"),
        (lambda xml: xml.replace(b"</Learner>", b"", 1), "not a valid ILR return"),
    ],
    ids=["bad-value", "not-a-number", "unknown-element", "not-well-formed"],
)
def test_the_second_process_refuses_a_malformed_return(database_url, tmp_path, change, message):
    ukprn = fresh_ukprn()
    path = tmp_path / synthetic.file_name(ukprn, "1920", PREPARED, 1)
    path.write_bytes(change(_valid(tmp_path, ukprn, register(database_url, 2))))

    with pytest.raises(RecordsError, match=re.escape(message)):
        _load_in_process(database_url, path, parallel_from=0)

    assert stored(database_url, ukprn) == []
