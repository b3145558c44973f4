"""The analysts' queries end to end (``miap analyse``) on crafted data in a database of their
own, on SQLite and PostgreSQL: the counts, the disclosure rules, and that no output holds a
name, ULN, date of birth or postcode."""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, update

from miap.server.analysis.synthetic import event_row, learner_row
from miap.storage.engine import Database
from miap.storage.models import CensusPupil, CensusRow, CensusRun, Learner, LearnerLink
from miap.storage.records import LearningEvent
from tests.conftest import BACKENDS, POSTGRES_ADMIN_URL
from tests.support import postgres_database, run_miap

AS_OF = dt.date(2026, 9, 1)
rng = random.Random(7)


@pytest.fixture(scope="module", params=BACKENDS)
def empty_url(request, tmp_path_factory) -> Iterator[str]:
    """A migrated database holding only what these tests write."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('analysis') / 'a.db'}"
        run_miap("db", "upgrade", "--db", url)
        yield url
        return
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        context = postgres_database(POSTGRES_ADMIN_URL, prefix="miap_analysis")
        url = context.__enter__()
    except psycopg2.OperationalError as exc:
        if os.environ.get("MIAP_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    try:
        run_miap("db", "upgrade", "--db", url)
        yield url
    finally:
        context.__exit__(None, None, None)


def add_learners(
    db: Database, count: int, born: dt.date, gender: str, postcode: str, created: dt.datetime
) -> list[dict]:
    rows = [learner_row(rng, born, gender, postcode, created) for _ in range(count)]
    with db.transaction() as session:
        ids = session.execute(insert(Learner).returning(Learner.id), rows).scalars().all()
    for row, learner_id in zip(rows, ids, strict=True):
        row["id"] = learner_id
    return rows


class Crafted:
    """Everybody these tests write, to look for in the outputs afterwards."""

    def __init__(self) -> None:
        self.people: list[dict] = []


@pytest.fixture(scope="module")
def crafted(empty_url) -> Crafted:
    db = Database(empty_url)
    made = Crafted()
    born_17 = dt.date(2009, 1, 1)  # 17 on AS_OF: band 16-18
    at = dt.datetime(2024, 6, 15, 10, 0)
    # Learners: 16-18 by sex and region.
    made.people += add_learners(db, 7, born_17, "1", "LS1 4AP", at)  # Yorkshire, male
    made.people += add_learners(db, 3, born_17, "2", "LS6 1AA", at)  # Yorkshire, female
    made.people += add_learners(db, 12, born_17, "1", "M1 1AE", at)  # North West, male
    made.people += add_learners(db, 20, born_17, "2", "M14 5RQ", at)  # North West, female
    gone = add_learners(db, 2, born_17, "1", "LS2 9JT", at)
    made.people += gone
    with db.transaction() as session:  # one merged away, one withdrawn: not counted
        session.execute(
            update(Learner)
            .where(Learner.id == gone[0]["id"])
            .values(merged_into_id=made.people[0]["id"])
        )
        session.execute(update(Learner).where(Learner.id == gone[1]["id"]).values(deleted_at=at))

    # Achievements of one provider's GCSE level 2 across academic years.
    uln = made.people[0]["uln"]
    awards = (
        [dt.date(2022, 10, 1)] * 30
        + [dt.date(2023, 9, 15)] * 5
        + [dt.date(2024, 7, 31)] * 3  # the last day of 2023/24
        + [dt.date(2024, 8, 1)] * 3  # the first day of 2024/25
        + [dt.date(2025, 3, 1)] * 3
    )
    events = [event_row(uln, n, "10000001", "GCSE", "2", award) for n, award in enumerate(awards)]
    events.append(event_row(uln, 900, "10000001", "GCSE", "2", None))  # not achieved
    withdrawn = event_row(uln, 901, "10000001", "GCSE", "2", dt.date(2023, 10, 1))
    withdrawn["withdrawn_at"] = dt.datetime(2024, 1, 1)
    events.append(withdrawn)
    with db.transaction() as session:
        session.execute(insert(LearningEvent), events)

    # Census pupils: LA 303 has 40 linked live, 2 linked withdrawn, 6 never linked.
    pupils_at = dt.datetime(2023, 3, 1)
    born_30 = dt.date(1996, 1, 1)
    linked = add_learners(db, 40, born_30, "2", "CF10 1AA", pupils_at)
    withdrawn_pupils = add_learners(db, 2, born_30, "2", "CF10 1AB", pupils_at)
    small = add_learners(db, 4, born_30, "1", "CF10 1AD", pupils_at)  # LA 302: 4 linked
    other = add_learners(db, 20, born_30, "1", "CF10 1AE", pupils_at)  # LA 304: 20 linked
    made.people += linked + withdrawn_pupils + small + other
    with db.transaction() as session:
        run_id = session.execute(
            insert(CensusRun).returning(CensusRun.id),
            {
                "content_hash": "crafted",
                "academic_year": "2025/26",
                "file_name": "crafted",
                "state": "done",
                "staged_lines": 0,
                "settled_line": 0,
                "new": 0,
                "linked": 0,
                "matched": 0,
                "possible": 0,
                "rejected": 0,
            },
        ).scalar_one()
        session.execute(
            update(Learner)
            .where(Learner.id.in_([p["id"] for p in withdrawn_pupils]))
            .values(deleted_at=pupils_at)
        )
        pupil_rows = [
            {
                "upn": f"A{n:012d}",
                "learner_id": person["id"],
                "laestab": "3030001" if n < 42 else "3020001" if n < 46 else "3040001",
                "academic_year": "2025/26",
                "first_run_id": run_id,
                "last_run_id": run_id,
            }
            for n, person in enumerate(linked + withdrawn_pupils + small + other)
        ]
        session.execute(insert(CensusPupil), pupil_rows)
        # Six pupils never linked; one of them returned twice.
        unlinked = [
            {
                "run_id": run_id,
                "line": n + 1,
                "upn": f"B{n:012d}",
                "laestab": "3030001",
                "outcome": "possible",
            }
            for n in range(6)
        ]
        unlinked.append(
            {
                "run_id": run_id,
                "line": 7,
                "upn": f"B{0:012d}",
                "laestab": "3030001",
                "outcome": "possible",
            }
        )
        unlinked += [
            {"run_id": run_id, "line": 8 + n, "upn": f"C{n:012d}", "laestab": "3040001"}
            for n in range(8)
        ]  # and eight never linked in LA 304
        session.execute(insert(CensusRow), unlinked)

    # Registrations in January 2025, six of them later merged (in February), one unmerged.
    january = add_learners(db, 20, dt.date(1960, 5, 5), "1", "EX1 1AA", dt.datetime(2025, 1, 10))
    made.people += january
    with db.transaction() as session:
        for person in january[:6]:
            session.execute(
                update(Learner)
                .where(Learner.id == person["id"])
                .values(merged_into_id=january[10]["id"])
            )
        links = [
            {
                "master_id": january[10]["id"],
                "duplicate_id": p["id"],
                "action": "merge",
                "at": dt.datetime(2025, 2, 3),
                "by": "t",
            }
            for p in january[:6]
        ]
        links.append(
            {
                "master_id": january[10]["id"],
                "duplicate_id": january[6]["id"],
                "action": "unmerge",
                "at": dt.datetime(2025, 3, 3),
                "by": "t",
            }
        )
        session.execute(insert(LearnerLink), links)
    db.dispose()
    return made


@pytest.fixture(scope="module")
def outputs(empty_url, crafted, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("analyse")
    result = run_miap(
        "analyse", "all", "--db", empty_url, "--out", str(out), "--as-of", AS_OF.isoformat()
    )
    for name in ("learners", "achievements", "coverage", "duplicates"):
        assert f"{name}:" in result.stdout
    return out


def read(outputs: Path, name: str) -> dict[tuple[str, ...], dict[str, str]]:
    with (outputs / f"{name}.csv").open() as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    key_width = {"learners": 2, "achievements": 3, "coverage": 1, "duplicates": 1}[name]
    return {tuple(row[:key_width]): dict(zip(header, row, strict=True)) for row in rows}


def test_learners_by_age_band_sex_and_region(outputs):
    table = read(outputs, "learners")
    male, female = table[("16-18", "Male")], table[("16-18", "Female")]
    assert male["Yorkshire and The Humber"] == "5"  # 7, and the merged and withdrawn are not
    assert female["Yorkshire and The Humber"] == "c"  # 3
    assert male["North West"] == "10"  # 12
    assert female["North West"] == "20"
    assert male["London"] == "c"  # 0
    assert (male["Total"], female["Total"]) == ("20", "25")  # 19 and 23


def test_achievements_by_academic_year(outputs):
    row = read(outputs, "achievements")[("10000001", "GCSE", "2")]
    # 1 August starts the academic year; withdrawn and unachieved events are not counted.
    assert (row["2022/23"], row["2023/24"], row["2024/25"]) == ("30", "10", "5")
    assert row["Total"] == "45"  # 44


def test_uln_coverage_by_local_authority(outputs):
    table = read(outputs, "coverage")
    # LA 303: 40 with a live ULN; 2 whose ULN was withdrawn and 6 never linked are without.
    assert (table[("303",)]["With ULN"], table[("303",)]["Without ULN"]) == ("40", "10")
    assert table[("303",)]["coverage %"] == "80.0"  # from the published counts
    # LA 302's 4 pupils are suppressed; so is the smallest other count of their column
    # (LA 304's 20), or 302's would be the column total less the others, and then 304's
    # 8 without, or its 20 would be its total less 8; and 304's total, for 302's total.
    assert [table[("302",)][c] for c in ("With ULN", "Without ULN", "Total")] == ["c"] * 3
    assert [table[("304",)][c] for c in ("With ULN", "Without ULN", "Total")] == ["c"] * 3
    assert (table[("Total",)]["With ULN"], table[("Total",)]["Total"]) == ("65", "80")


def test_duplicates_and_merges_by_month(outputs):
    table = read(outputs, "duplicates")
    january, february = table[("2025-01",)], table[("2025-02",)]
    assert (january["Registered"], january["Registered, now merged"]) == ("20", "5")
    assert january["duplicate rate %"] == "25.0"  # 5 of 20, published counts
    assert february["Merges"] == "5" and february["Registered"] == "c"
    assert february["merges per 1000 registrations"] == "c"
    assert table[("2025-03",)]["Unmerges"] == "c"


def test_every_output_has_a_chart(outputs):
    for name in ("learners", "achievements", "coverage", "duplicates"):
        png = (outputs / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_no_output_holds_a_name_uln_date_of_birth_or_postcode(outputs, crafted):
    text = "".join(path.read_text() for path in outputs.glob("*.csv"))
    for person in crafted.people:
        for value in (
            person["uln"],
            person["given_name"],
            person["family_name"],
            person["date_of_birth"].isoformat(),
            person["postcode"],
            person["postcode_key"],
        ):
            assert value not in text


@pytest.mark.parametrize(("name", "keys", "extra"), [("learners", 2, 0), ("coverage", 1, 1)])
def test_every_published_relation_hides_none_or_two_or_more(outputs, name, keys, extra):
    with (outputs / f"{name}.csv").open() as handle:
        rows = [row[: len(row) - extra] for row in csv.reader(handle)]
    header, body, totals = rows[0], rows[1:-1], rows[-1]
    for row in [*body, totals]:
        assert row[keys:].count("c") != 1
    for column in range(keys, len(header)):
        assert [row[column] for row in [*body, totals]].count("c") != 1


def test_unknown_query_is_refused(empty_url, tmp_path):
    result = run_miap("analyse", "people", "--db", empty_url, "--out", str(tmp_path), check=False)
    assert result.returncode == 2 and "invalid choice" in result.stderr
