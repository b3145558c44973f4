"""``miap records load --source NPD|AO``: results CSVs become learning events.

Real ``miap`` processes on both backends; each test is its own data owner (a fresh UKPRN)
with learners of its own.
"""

from __future__ import annotations

import pytest

from miap.server.records import synthetic
from tests.support import run_miap
from tests.support_records import counts, events, fresh_ukprn, load, register, rejects

HEADER = ",".join(synthetic.RESULT_COLUMNS)


def _scope(ukprn: str, source: str = "AO", collection: str = "2025-summer") -> list[str]:
    return ["--source", source, "--provider", ukprn, "--collection", collection]


def _write(path, rows) -> None:  # noqa: ANN001
    with path.open("w", newline="", encoding="utf-8") as out:
        synthetic.write_results(out, rows)


@pytest.mark.parametrize("source", ["NPD", "AO"])
def test_results_load_with_their_rejects(database_url, tmp_path, source):
    ukprn = fresh_ukprn()
    good, withdrawn = register(database_url, 2)
    run_miap(
        "learner", "delete", withdrawn, "--reason", "test", "--by", "tester", "--db", database_url
    )
    rows = list(synthetic.result_rows([good, withdrawn, "1000000063", "1000000043"], ukprn, 1))
    rows.append(
        {**rows[0], "SourceEventId": "X1", "Grade": "A", "AchievementAwardDate": "2025-13-01"}
    )
    rows.append({**rows[0], "SourceEventId": "X2", "Credits": "many"})
    rows.append({**rows[0], "SourceEventId": "X3", "AwardingOrganisationUkprn": "123"})
    rows.append({**rows[0], "SourceEventId": "X4", "UnderDataChallenge": "maybe"})
    rows.append({**rows[0], "Grade": "B"})  # the first row's event id again
    path = tmp_path / "results.csv"
    _write(path, rows)
    with path.open("a", encoding="utf-8") as out:
        out.write(f"{good},X5,too,many,fields,here,,,,,,,,\n\n")
    rejected_file = tmp_path / "rejects.csv"

    result = load(database_url, path, *_scope(ukprn, source), "--rejects", str(rejected_file))

    assert counts(result) == {
        "events": 10,
        "loaded": 1,
        "updated": 0,
        "unchanged": 0,
        "withdrawn": 0,
        "rejected": 9,
    }
    assert [
        (row["position"], row["SourceEventId"], row["reason"]) for row in rejects(rejected_file)
    ] == [
        ("line 3", rows[1]["SourceEventId"], "ULN withdrawn from the register"),
        ("line 4", rows[2]["SourceEventId"], "invalid ULN '1000000063'"),
        ("line 5", rows[3]["SourceEventId"], "ULN not in the register"),
        ("line 6", "X1", "AchievementAwardDate: not a YYYY-MM-DD date"),
        ("line 7", "X2", "Credits: not a whole number from 0 to 9999"),
        ("line 8", "X3", "AwardingOrganisationUkprn: not a UKPRN (eight digits from 10000000)"),
        ("line 9", "X4", "UnderDataChallenge: not one of Y, N"),
        ("line 10", rows[0]["SourceEventId"], "SourceEventId given again (first at line 2)"),
        ("line 11", "X5", "14 fields, the header has 12"),
    ]
    (event,) = events(database_url, good)
    first = rows[0]
    assert (event.source, event.provider_ukprn, event.collection) == (source, ukprn, "2025-summer")
    assert event.source_event_id == first["SourceEventId"]
    assert event.grade == first["Grade"]
    assert event.subject == first["Subject"]
    assert event.credits == int(first["Credits"])
    assert event.achievement_award_date.isoformat() == first["AchievementAwardDate"]
    assert event.awarding_organisation_ukprn == ukprn
    assert event.under_data_challenge == "N"


def test_reload_correction_and_withdrawal(database_url, tmp_path):
    ukprn = fresh_ukprn()
    ulns = register(database_url, 3)
    rows = list(synthetic.result_rows(ulns, ukprn, 2))
    path = tmp_path / "results.csv"
    _write(path, rows)
    assert counts(load(database_url, path, *_scope(ukprn)))["loaded"] == 6

    assert counts(load(database_url, path, *_scope(ukprn))) == {
        "events": 6,
        "loaded": 0,
        "updated": 0,
        "unchanged": 6,
        "withdrawn": 0,
        "rejected": 0,
    }

    corrected = [{**rows[0], "Grade": "A*"}, *rows[1:4]]  # learner 3's two results gone
    _write(path, corrected)
    assert counts(load(database_url, path, *_scope(ukprn), "--return", "resit")) == {
        "events": 4,
        "loaded": 0,
        "updated": 1,
        "unchanged": 3,
        "withdrawn": 2,
        "rejected": 0,
    }
    first = next(
        e for e in events(database_url, ulns[0]) if e.source_event_id == rows[0]["SourceEventId"]
    )
    assert (first.grade, first.return_key) == ("A*", "resit")
    assert events(database_url, ulns[2]) == []

    # Another collection of the same owner is another snapshot: it withdraws nothing here.
    other = tmp_path / "other.csv"
    _write(other, rows[4:])
    assert counts(load(database_url, other, *_scope(ukprn, collection="2026")))["loaded"] == 2
    assert len(events(database_url, ulns[0])) == 2
    assert len(events(database_url, ulns[2])) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"ULN,SourceEventId,Mark\n1000000043,A,1\n", "unknown column 'Mark'"),
        (b"ULN,Grade\n1000000043,A\n", "no SourceEventId column"),
        (b"ULN,SourceEventId,ULN\n", "column 'ULN' given twice"),
        (b"ULN,SourceEventId,Subject\n1000000043,A,Caf\xe9\n", "not UTF-8"),
        (b'ULN,SourceEventId\n1000000043,"A\n', "line"),
    ],
    ids=["empty", "unknown-column", "no-key", "twice", "not-utf8", "open-quote"],
)
def test_a_malformed_results_file_is_refused(database_url, tmp_path, content, message):
    ukprn = fresh_ukprn()
    (uln,) = register(database_url, 1)
    path = tmp_path / "results.csv"
    path.write_bytes(content.replace(b"1000000043", uln.encode()))

    result = load(database_url, path, *_scope(ukprn), check=False)

    assert result.returncode == 2
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert events(database_url, uln) == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--source", "AO"], "needs --provider"),
        (["--source", "NPD", "--provider", "1234"], "needs --provider"),
        (["--source", "AO", "--provider", "10000123"], "needs --collection"),
        (["--source", "AO", "--provider", "10000123", "--collection", "a b"], "needs --collection"),
    ],
)
def test_results_need_their_owner_and_collection(database_url, tmp_path, flags, message):
    path = tmp_path / "results.csv"
    path.write_text(HEADER + "\n", encoding="utf-8")

    result = load(database_url, path, *flags, check=False)

    assert result.returncode == 2
    assert message in result.stderr
