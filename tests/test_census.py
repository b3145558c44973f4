"""The school census load: new, linked, matched, possible and rejected pupils, in-file
duplicates, the schools' export, and a real ``miap census load`` killed mid-run and resumed.

Each module-level database is fresh (not the shared test register), so every count is exact.
Only synthetic pupils: UPNs are built from made-up LA and establishment numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from miap.server.census import loader, pupils, synthetic
from miap.server.census.pupils import HEADER, VERIFICATION_TYPE
from miap.server.matching.normalise import NameVariants, default_variants
from miap.server.register import learners
from miap.server.register.identifiers import (
    is_valid_uln,
    is_valid_upn,
    uln_check_digit,
    upn_check_letter,
)
from miap.storage.engine import Database
from miap.storage.models import AuditEntry, CensusPupil, CensusRun, Learner
from tests.conftest import BACKENDS, POSTGRES_ADMIN_URL
from tests.support import postgres_database, run_miap

YEAR = "2026/27"


@pytest.fixture(scope="module", params=BACKENDS)
def census_url(request, tmp_path_factory) -> Iterator[str]:
    """A fresh, migrated, empty database of its own for each backend."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('census') / 'census.db'}"
        else:
            psycopg2 = pytest.importorskip("psycopg2")
            try:
                url = stack.enter_context(postgres_database(POSTGRES_ADMIN_URL, "miap_census"))
            except psycopg2.OperationalError as exc:
                if os.environ.get("MIAP_REQUIRE_POSTGRES") == "1":
                    pytest.fail(f"PostgreSQL is required but not reachable: {exc}")
                pytest.skip(f"PostgreSQL not reachable: {exc}")
        run_miap("db", "upgrade", "--db", url)
        yield url


@pytest.fixture(scope="module")
def cdb(census_url) -> Iterator[Database]:
    database = Database(census_url)
    yield database
    database.dispose()


def write_census(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def synthetic_census(path: Path, count: int, seed: int, first: int) -> list[list[str]]:
    rows = list(synthetic.rows(count, seed, first))
    write_census(path, rows)
    return rows


def upn(la: int, number: int) -> str:
    body = f"{la:03d}4{number:08d}"
    return upn_check_letter(body) + body


def row(upn_: str, family: str, given: str, dob: str, gender: str = "F", postcode: str = "LS1 4AP",
        laestab: str = "9994001") -> list[str]:  # fmt: skip
    return [upn_, family, given, "", "", "", dob, gender, postcode, laestab, "7"]


def learner_count(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(Learner))


def links(db: Database) -> dict[str, str]:
    """UPN -> ULN of every linked pupil."""
    with db.reading() as session:
        return dict(
            session.execute(
                select(CensusPupil.upn, Learner.uln).join(
                    Learner, Learner.id == CensusPupil.learner_id
                )
            ).all()
        )


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.reader(stream))


# -- load, reload, export ---------------------------------------------------------------------


def test_load_registers_every_new_pupil_once_with_the_stored_keys(cdb, tmp_path):
    rows = synthetic_census(tmp_path / "c.csv", 300, seed=11, first=1_000)
    before = learner_count(cdb)
    summary = loader.load(cdb, tmp_path / "c.csv", YEAR)
    assert (summary.state, summary.rows, summary.new) == ("loaded", 300, 300)
    assert summary.linked == summary.matched == summary.possible == summary.rejected == 0
    assert learner_count(cdb) == before + 300
    linked = links(cdb)
    ulns = [linked[r[0]] for r in rows]
    assert len(set(ulns)) == 300 and all(is_valid_uln(uln) for uln in ulns)
    with cdb.reading() as session:
        stored = {
            learner.uln: {column: getattr(learner, column) for column in learners.DETAIL_COLUMNS
                          + ("given_key", "family_key", "postcode_key", "given_sound",
                             "family_sound", "previous_family_key", "family_at16_key",
                             "tier_level")}
            for learner in session.scalars(select(Learner).where(Learner.uln.in_(ulns)))
        }  # fmt: skip
        audited = set(
            session.scalars(select(AuditEntry.uln).where(AuditEntry.operation == "CensusLoad"))
        )
    assert set(ulns) <= audited
    for census_row in rows[:50]:
        learner = stored[linked[census_row[0]]]
        details = {
            "given_name": census_row[2],
            "middle_other_name": census_row[3] or None,
            "family_name": census_row[1],
            "preferred_given_name": census_row[5] or None,
            "date_of_birth": dt.date.fromisoformat(census_row[6]),
            "gender": {"M": "1", "F": "2"}[census_row[7]],
            "postcode": census_row[8],
            "verification_type": VERIFICATION_TYPE,
            "ability_to_share": "0",
        }
        assert learners.stored_columns(details) == learner


def test_the_same_file_again_is_a_no_op_and_next_year_links_everyone(cdb, tmp_path):
    path = tmp_path / "c.csv"
    rows = synthetic_census(path, 200, seed=12, first=5_000)
    first = loader.load(cdb, path, YEAR)
    # Against a register holding earlier pupils, the engine may call a few possible matches.
    assert first.new + first.possible == 200 and first.new > 150
    count, before = learner_count(cdb), links(cdb)
    again = loader.load(cdb, path, YEAR)
    assert (again.state, again.new, again.run_id) == ("already loaded", first.new, first.run_id)
    next_year = loader.load(cdb, path, "2027")
    assert next_year.state == "loaded"
    assert (next_year.linked, next_year.new, next_year.possible) == (first.new, 0, first.possible)
    assert learner_count(cdb) == count and links(cdb) == before
    mine = [r[0] for r in rows if r[0] in before]
    with cdb.reading() as session:
        years = set(
            session.scalars(select(CensusPupil.academic_year).where(CensusPupil.upn.in_(mine)))
        )
    assert years == {"2027/28"}


def test_export_writes_the_schools_upns_and_ulns(cdb, census_url, tmp_path):
    rows = synthetic_census(tmp_path / "c.csv", 1_000, seed=13, first=20_000)
    loader.load(cdb, tmp_path / "c.csv", YEAR)
    school = rows[0][9]
    out = tmp_path / "export.csv"
    result = run_miap_census("export", "--school", school, "--out", str(out), "--db", census_url)
    assert result.returncode == 0, result.stderr
    exported = read_csv(out)
    assert exported[0] == ["UPN", "ULN"]
    linked = links(cdb)
    expected = {r[0] for r in rows if r[9] == school and r[0] in linked}
    assert len(expected) > 700
    assert {upn_ for upn_, _ in exported[1:]} == expected and len(exported) - 1 == len(expected)
    assert all(linked[upn_] == uln for upn_, uln in exported[1:])


# -- rejects and in-file duplicates -----------------------------------------------------------


def test_bad_rows_go_to_the_reject_file_with_line_and_reason(cdb, census_url, tmp_path):
    good = upn(801, 1)
    bad_letter = ("A" if good[0] != "A" else "B") + good[1:]
    rows = [
        row(good, "Okafor", "Adaeze", "2014-03-02"),
        row(bad_letter, "Okafor", "Chidi", "2014-03-02", "M"),
        row(upn(801, 2), "Okafor", "Ngozi", "2014-02-30"),
        row(upn(801, 3), "Okafor", "Emeka", "2014-03-02", "X"),
        row(upn(801, 4), "Okafor", "Uche", "2014-03-02", postcode="NOT A CODE"),
        row(upn(801, 5), "", "Ifeoma", "2014-03-02"),
        [upn(801, 6), "Okafor"],
        row(upn(801, 7), "Okafor", "Obi", "2014-03-02", laestab="12"),
        row(upn(801, 8), "Oka\x01for", "Ada", "2014-03-02"),  # no XML answer could carry it
    ]
    path = write_census(tmp_path / "bad.csv", rows)
    rejects = tmp_path / "rejects.csv"
    result = run_miap_census("load", str(path), "--db", census_url, "--rejects", str(rejects))
    assert result.returncode == 0, result.stderr
    assert "1 new, 0 linked, 0 matched, 0 possible, 8 rejected" in result.stdout
    lines = read_csv(rejects)
    assert lines[0] == ["Line", "UPN", "Outcome", "Reason"]
    by_line = {int(line): reason for line, _, outcome, reason in lines[1:]}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "check letter" in by_line[3]
    assert "DOB" in by_line[4] and "Gender" in by_line[5] and "Postcode" in by_line[6]
    assert "Surname" in by_line[7] and "fields" in by_line[8] and "LAESTAB" in by_line[9]
    assert "Surname holds a control character" in by_line[10]
    assert bad_letter not in links(cdb) and good in links(cdb)


def test_a_quoted_line_break_leaves_fewer_records_than_lines(cdb, tmp_path):
    """The screening lays its chunks out from the file's line count before the file is read
    (PostgreSQL, a register holding learners): a quoted field holding a line break makes the
    records fewer, and the chunks settled are screened again, not mismatched."""
    loader.load(cdb, write_census(tmp_path / "one.csv", [row(upn(813, 0), "Ives", "Ana",
                                                              "2013-05-06")]), YEAR)  # fmt: skip
    rows = [row(upn(813, n), "Ives", f"Ana{'bcdefghijklm'[n]}", "2013-05-06") for n in range(1, 12)]
    rows[4][3] = "Ann\nMarie"  # MiddleNames
    path = write_census(tmp_path / "broken.csv", rows)
    assert path.read_text().count("\n") == len(rows) + 2
    summary = loader.load(cdb, path, YEAR, chunk=4)
    assert summary.rows == len(rows)
    assert summary.new + summary.possible == len(rows)


def test_a_file_that_is_not_utf8_is_refused_with_its_line(cdb, census_url, tmp_path):
    first = row(upn(803, 1), "Brightwater", "Ava", "2014-01-02")
    path = write_census(tmp_path / "latin1.csv", [first])
    with path.open("ab") as out:  # a second pupil, saved as Latin-1 by an old MIS
        out.write(",".join(row(upn(803, 2), "Müller", "Jo", "2014-01-02")).encode("latin-1"))
        out.write(b"\n")
    before = learner_count(cdb)
    result = run_miap_census("load", str(path), "--db", census_url)
    assert result.returncode == 2, result.stderr
    assert "line 3: not UTF-8" in result.stderr and "Traceback" not in result.stderr
    assert learner_count(cdb) == before


def test_a_wrong_header_is_refused_and_nothing_loaded(cdb, census_url, tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("UPN,Name\nA123,Smith\n", encoding="utf-8")
    before = learner_count(cdb)
    result = run_miap_census("load", str(path), "--db", census_url)
    assert result.returncode == 2 and "header" in result.stderr
    assert learner_count(cdb) == before


def test_in_file_duplicates_are_handled_not_registered_twice(cdb, tmp_path):
    twin_a, twin_b, same, other_upn, again = (upn(802, n) for n in range(1, 6))
    rows = [
        row(same, "Brightwater", "Imogen", "2013-05-06", postcode="YO1 7HH"),
        row(twin_a, "Fairbairn", "Lola", "2015-09-10", postcode="YO2 8JJ"),
        row(twin_b, "Fairbairn", "Lily", "2015-09-10", postcode="YO2 8JJ"),
        # the same child under another UPN (written differently: the keys are the same)
        row(other_upn, "BRIGHTWATER", "imogen", "2013-05-06", postcode="yo17hh"),
        # the same UPN again
        row(same, "Brightwater", "Imogen", "2013-05-06", postcode="YO1 7HH"),
        row(again, "Pellow", "Tamsin", "2012-01-02", postcode=""),
        row(upn(802, 6), "Pellow", "Tamsin", "2012-01-02", postcode=""),
    ]
    path = write_census(tmp_path / "dups.csv", rows)
    before = learner_count(cdb)
    summary = loader.load(cdb, path, YEAR)
    # Imogen once, the twins twice, Tamsin once; the second UPN of Imogen matched to her;
    # Tamsin's second UPN without a postcode cannot be told from her: a possible match.
    assert (summary.new, summary.matched, summary.possible, summary.rejected) == (4, 1, 1, 1)
    assert learner_count(cdb) == before + 4
    linked = links(cdb)
    assert linked[same] == linked[other_upn]
    assert linked[twin_a] != linked[twin_b]
    assert upn(802, 6) not in linked
    rejects = tmp_path / "r.csv"
    with rejects.open("w", encoding="utf-8") as out:
        loader.write_rejects(cdb, summary.run_id, out)
    reasons = {int(r[0]): (r[2], r[3]) for r in read_csv(rejects)[1:]}
    assert reasons[6] == ("rejected", f"UPN {same} repeated: first on line 2")
    assert reasons[8][0] == "possible" and "line 7" in reasons[8][1]


# -- against a register that already holds learners -------------------------------------------


def test_known_learners_are_matched_and_near_misses_are_possible(cdb, tmp_path):
    known = {
        "given_name": "Saoirse",
        "family_name": "Quillfeather",
        "date_of_birth": dt.date(2011, 4, 5),
        "gender": "2",
        "postcode": "BS8 1TH",
        "verification_type": "1",
        "ability_to_share": "1",
    }
    from miap.server.matching.engine import ScoringMatcher

    matcher = ScoringMatcher()
    with cdb.transaction() as session:
        _, uln = learners.register(session, matcher, known, "10000001")
        _, other = learners.register(
            session, matcher, dict(known, given_name="Ottoline", family_name="Marchbanks"),
            "10000001",
        )  # fmt: skip
    exact_upn, near_upn, new_upn, other_upn = (upn(803, n) for n in range(1, 5))
    rows = [
        row(exact_upn, "Quillfeather", "Saoirse", "2011-04-05", postcode="BS8 1TH"),
        # one letter out and the postcode missing: the engine's possible match, not new
        row(near_upn, "Quilfeather", "Saoirse", "2011-04-05", postcode=""),
        row(new_upn, "Thistlewood", "Marigold", "2010-12-11", postcode="EX4 4QJ"),
        # the same names, date and postcode but the other gender: never the engine's exact
        # match, a possible one
        row(other_upn, "Marchbanks", "Ottoline", "2011-04-05", "M", postcode="BS8 1TH"),
    ]
    path = write_census(tmp_path / "known.csv", rows)
    before = learner_count(cdb)
    summary = loader.load(cdb, path, YEAR)
    linked = links(cdb)
    assert linked[exact_upn] == uln
    assert near_upn not in linked
    assert linked[new_upn] not in (uln, other)
    assert other_upn not in linked
    assert (summary.new, summary.matched, summary.possible) == (1, 1, 2)
    assert learner_count(cdb) == before + 1
    with cdb.reading() as session:
        audited = session.execute(
            select(AuditEntry.uln, AuditEntry.outcome, AuditEntry.route).where(
                AuditEntry.request_id == f"census{summary.run_id}"
            )
        ).all()
    assert sorted(audited) == sorted(
        [(uln, "UPN_LINKED", "CLI"), (linked[new_upn], "REGISTERED", "CLI")]
    )


# -- the fast paths hold to the slow definitions --------------------------------------------


def test_bulk_ulns_are_valid_and_check_digits_agree_with_the_definition():
    drawn = loader.draw_ulns(20_000)
    assert len(drawn) == 20_000 and all(is_valid_uln(uln) for uln in drawn)
    assert len(set(drawn)) > 19_990  # 900 million prefixes: a clash or two at most
    assert len({uln[:2] for uln in drawn}) == 90  # every leading pair 10..99 turns up
    hi, mid, lo = loader._W
    for prefix in range(100_000_000, 1_000_000_000, 7_919_993):
        r = (hi[prefix // 1_000_000] + mid[prefix // 1000 % 1000] + lo[prefix % 1000]) % 11
        assert (10 - r if r else None) == uln_check_digit(str(prefix))


def test_upn_check_agrees_with_the_identifiers_module():
    samples = [synthetic.upn(n) for n in range(0, 3_000_000, 1_013)]
    samples += ["", "A", "a12345678901A", "I12345678901A", "A12345678901I", "A1234567890 A"]
    for good in samples[:300]:
        for position in (0, 5, 12):
            for ch in "0AIOSZ9":
                samples.append(good[:position] + ch + good[position + 1 :])
    for value in samples:
        assert pupils.valid_upn(value) == is_valid_upn(value), value


def test_staged_values_carry_the_registration_keys():
    today = dt.date(2026, 11, 1)
    for index, fields in enumerate(synthetic.rows(500, seed=3)):
        pupil = pupils.parse(index + 2, fields, today)
        values = pupils.staged_values(pupil, default_variants())
        staged = dict(zip(pupils.STAGED, values, strict=True))
        keys = pupil.demographics.keys
        assert {key: staged[key] for key in pupils.keys(pupil)} == {
            key: keys[key] for key in pupils.keys(pupil)
        }


def test_clashing_ulns_are_redrawn_and_every_issue_is_audited_once(cdb, tmp_path, monkeypatch):
    real = loader.draw_ulns
    taken = next(iter(links(cdb).values()), None) or real(1)[0]
    calls = []

    def clashing(count: int) -> list[str]:
        calls.append(count)
        if len(calls) == 1:  # staging: every row the same ULN, held already or not
            return [taken] * count
        return real(count)

    monkeypatch.setattr(loader, "draw_ulns", clashing)
    rows = synthetic_census(tmp_path / "clash.csv", 40, seed=41, first=3_000)
    summary = loader.load(cdb, tmp_path / "clash.csv", YEAR, chunk=15)
    assert (summary.new, summary.rejected) == (40, 0)
    linked = links(cdb)
    ulns = [linked[r[0]] for r in rows]
    assert len(set(ulns)) == 40 and all(is_valid_uln(uln) for uln in ulns)
    with cdb.reading() as session:
        entries = session.execute(
            select(AuditEntry.uln, AuditEntry.request_id, AuditEntry.ukprn, AuditEntry.user_name,
                   AuditEntry.route, AuditEntry.outcome).where(AuditEntry.uln.in_(ulns))
        ).all()  # fmt: skip
    assert sorted(e.uln for e in entries) == sorted(ulns)
    run = f"census{summary.run_id}"
    assert {e[1:] for e in entries} == {(run, None, "census", "CLI", "REGISTERED")}


# -- a real process killed with SIGKILL, then run again ---------------------------------------


def run_miap_census(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "miap.server.admin.cli", "census", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _progress(db: Database) -> tuple[str, int, int] | None:
    with db.reading() as session:
        row_ = session.execute(
            text("SELECT state, staged_lines, settled_line FROM census_runs ORDER BY id DESC")
        ).first()
    return None if row_ is None else tuple(row_)


def _kill_when(command: list[str], db: Database, ready, log: Path) -> None:  # noqa: ANN001
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            state = _progress(db)
            if state is not None and ready(state):
                break
            time.sleep(0.02)
        assert process.poll() is None, "the load finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(30)
    assert process.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_a_load_killed_mid_run_resumes_without_duplicates(census_url, tmp_path):
    db = Database(census_url)
    try:
        with db.reading() as session:
            runs = {r.id for r in session.scalars(select(CensusRun))}
        count = 12_000
        path = tmp_path / "big.csv"
        rows = synthetic_census(path, count, seed=21, first=200_000)
        # two bad rows and a repeated UPN, so every kind of row is accounted for
        with path.open("a", encoding="utf-8") as out:
            out.write("B000000000000,Bad,Letter,,,,2012-01-01,M,,1234567,3\n")
            out.write(",".join(rows[5]) + "\n")
        before = learner_count(db)
        command = [
            sys.executable, "-m", "miap.server.admin.cli", "census", "load", str(path),
            "--db", census_url, "--chunk", "200", "--no-progress",
        ]  # fmt: skip
        # killed while staging the file, then while settling it
        _kill_when(command, db, lambda s: s[0] == "staging" and s[1] >= 3_000, tmp_path / "1.log")
        assert _progress(db)[0] == "staging"
        _kill_when(command, db, lambda s: s[0] == "settling" and s[2] > 1, tmp_path / "2.log")
        state = _progress(db)
        assert state[0] == "settling" and 1 < state[2] < count
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "resumed" in done.stdout
        with db.reading() as session:
            new_runs = [r for r in session.scalars(select(CensusRun)) if r.id not in runs]
            session.expunge_all()
        assert len(new_runs) == 1 and new_runs[0].state == "done"
        run = new_runs[0]
        # every row accounted for: new, or a possible match with an earlier test's pupil
        assert (run.total_lines, run.rejected, run.linked, run.matched) == (count + 2, 2, 0, 0)
        assert run.new + run.possible == count and run.new > count * 0.95
        assert f"{count + 2:,} rows: {run.new:,} new" in done.stdout
        assert learner_count(db) == before + run.new
        linked = links(db)
        assert sum(r[0] in linked for r in rows) == run.new
        assert len({linked[r[0]] for r in rows if r[0] in linked}) == run.new
        with db.reading() as session:
            # nobody registered twice: every learner of the run has exactly one census UPN
            doubled = session.execute(
                select(Learner.given_key, Learner.family_key, Learner.date_of_birth)
                .group_by(Learner.given_key, Learner.family_key, Learner.date_of_birth,
                          Learner.gender, Learner.postcode_key)
                .having(func.count() > 1)
            ).all()  # fmt: skip
            assert doubled == []
    finally:
        db.dispose()


def test_staging_blocks_with_the_matchers_name_variants():
    """The set-based "clearly new" check reads the staged given-name variants: they must be the
    ones the matcher was given (``--name-variants``), not the shipped table."""
    fields = next(iter(synthetic.rows(1, seed=5)))
    pupil = pupils.parse(2, fields, dt.date(2026, 11, 1))
    ours = NameVariants([[pupil.given_name, "Zebedeeish"]])
    givens = dict(zip(pupils.STAGED, pupils.staged_values(pupil, ours), strict=True))["givens"]
    shipped = dict(
        zip(pupils.STAGED, pupils.staged_values(pupil, default_variants()), strict=True)
    )["givens"]
    assert "ZEBEDEEISH" in givens.split(",") and "ZEBEDEEISH" not in shipped.split(",")


def _near(person: list[str], rng: random.Random) -> list[list[str]]:
    """Pupils near a registered ``person`` (a census row), the way real records drift: a
    slipped birth date, a moved postcode, a name variant or typo, the names crossed."""
    _, family, given, _, _, _, dob, gender, postcode, _, _ = person
    born = dt.date.fromisoformat(dob)
    outward, inward = postcode.split()
    other_area = rng.choice(["EX4 4QJ", "NE1 7RU", "CF10 3AT", "G12 8QQ"])
    slips = [
        born.replace(day=born.day + 10 if born.day <= 18 else born.day - 10),  # one digit
        born - dt.timedelta(days=365),
        born.replace(month=born.day, day=born.month) if born.day <= 12 else born,
        born + dt.timedelta(days=rng.randint(40, 900)),
    ]
    unit = lambda: f"{outward} {inward[0]}{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTU')}"  # noqa: E731
    district = lambda: f"{outward} {(int(inward[0]) + 1) % 10}{inward[1:]}"  # noqa: E731
    area_only = f"{outward[:-1]}{(int(outward[-1]) + 3) % 10} 2XY"
    variant = {"Robert": "Bob", "William": "Bill", "Bob": "Robert"}.get(given, given + "e")
    return [
        [family, given, slips[0].isoformat(), gender, unit()],
        [family, given, slips[1].isoformat(), gender, district()],
        [family, given, slips[2].isoformat(), gender, other_area],
        [family, given, slips[3].isoformat(), gender, district()],
        [family, given, slips[3].isoformat(), gender, area_only],
        [family, given, dob, gender, other_area],
        [family, given, slips[0].isoformat(), gender, ""],
        [family, given, dob, "M" if gender == "F" else "F", postcode],
        [family, variant, dob, gender, postcode],
        [given, family, dob, gender, unit()],
        [family[:-1] + "x", given, slips[0].isoformat(), gender, district()],
        [family, given[1:], dob, gender, area_only],
    ]


@pytest.mark.parametrize("chunk", [None, 37], ids=["one-chunk", "chunks-of-37"])
def test_every_outcome_is_the_engines_answer_against_the_register_as_it_stood(cdb, tmp_path, chunk):
    """On PostgreSQL most pupils are settled set-based (proved new by ``screening.py``, or
    matched exactly) rather than searched one by one; on SQLite the engine answers each.
    Either way every pupil's outcome is the engine's own answer against the register as it
    stood when the load began: a common name pair (more holders than the engine reads),
    rarer ones, and pupils near them in every way the engine weighs. In chunks, each is
    screened ahead of its settling while the one before it settles."""
    rng = random.Random(29 if chunk is None else 41)
    la = 805 if chunk is None else 807  # the module's database is shared: UPNs of its own
    postcodes = ["LS6 1AB", "LS6 2DB", "BS8 1TH", "M14 5RT", "B15 2TT", "EX4 4QJ"]

    def person(family: str, given: str, number: int) -> list[str]:
        born = dt.date(2010, 9, 1) + dt.timedelta(days=rng.randint(0, 1800))
        sex = "M" if given in ("Oliver", "Robert") else rng.choice("MF")
        return row(upn(la, number), family, given, born.isoformat(), sex, rng.choice(postcodes))

    register = [person("Smith", "Oliver", n) for n in range(30)]
    register += [person("Hartley", "Robert", 30 + n) for n in range(3)]
    register += [person("Quennell", "Imogen", 33), person("Abara", "Chidi", 34)]
    loader.load(cdb, write_census(tmp_path / "register.csv", register), YEAR)
    near = [near for someone in register for near in _near(someone, rng)]
    pupils_ = [row(upn(la + 1, n), *fields) for n, fields in enumerate(near)]
    pupils_ += list(synthetic.rows(150, *((31, 500_000) if chunk is None else (43, 600_000))))
    summary = loader.load(cdb, write_census(tmp_path / "near.csv", pupils_), YEAR, chunk=chunk)
    _assert_the_engines_answers(cdb, summary, pupils_)
    assert summary.possible >= 20 and summary.matched >= 1 and summary.new >= 150


def test_a_crowded_name_pair_is_screened_as_the_engine_reads_it(cdb, tmp_path):
    """A name pair held by far more learners than the engine reads: its pair blocks read the
    ``PAIR_LIMIT`` holders born on or after the searched date and as many born before it,
    its date blocks holders born a digit away, two digits transposed or with day and month
    swapped. Each pupil here has one holder that would reach the threshold (same district),
    just inside or just outside those reads (a tie at the edge too); every outcome is the
    engine's answer."""
    grid = [dt.date(2009, 10, 1) + dt.timedelta(days=3 * n) for n in range(120)]
    grid[70] = grid[69]  # a tie at the edge of the after-read of the pupil born on grid[45]
    areas = [a + b for a in "ABCDEFGHJKLMNOPR" for b in "ABCDEFGHJKLM"]
    # every holder in an area of its own; those born on a searched date are boys, so no
    # holder reaches a pupil by its birth date and area alone
    on_the_day = {grid[45], grid[60]}
    register = [
        row(upn(811, n), "Pemberton", "Alice", day.isoformat(), "M" if day in on_the_day else "F",
            f"{areas[n]}1 1AA")
        for n, day in enumerate(grid)
    ]  # fmt: skip
    pupils_ = []

    def pupil(born: dt.date, area: str) -> None:
        pupils_.append(row(upn(812, len(pupils_)), "Pemberton", "Alice", born.isoformat(), "F",
                           f"{area}1 2BB"))  # fmt: skip

    for j in (40, 55):  # born the day after holder j: j + 25 is the 25th read after, j - 24 before
        for holder in (j + 25, j + 26, j - 24, j - 25):
            pupil(grid[j] + dt.timedelta(days=1), areas[holder])
    for j in (45, 60):  # born on holder j's day: j + 24 is the 25th read after, j - 25 before
        for holder in (j + 24, j + 25, j - 25, j - 26):
            pupil(grid[j], areas[holder])
    # far outside the pair reads, in the pupil's district: day and month swapped (four
    # digits apart), one digit, two transposed
    for searched, held, area in [
        (dt.date(2010, 3, 11), dt.date(2010, 11, 3), "ZA"),
        (dt.date(2010, 3, 16), dt.date(2000, 3, 16), "ZB"),
        (dt.date(2010, 1, 13), dt.date(2001, 1, 13), "ZC"),
    ]:
        register.append(row(upn(811, len(register)), "Pemberton", "Alice", held.isoformat(), "F",
                            f"{area}1 1AA"))  # fmt: skip
        pupil(searched, area)
    loader.load(cdb, write_census(tmp_path / "crowd.csv", register), YEAR)
    summary = loader.load(cdb, write_census(tmp_path / "near.csv", pupils_), YEAR, chunk=5)
    _assert_the_engines_answers(cdb, summary, pupils_)
    assert summary.new >= 6 and summary.possible >= 6


def _assert_the_engines_answers(cdb: Database, summary: loader.Summary, pupils_: list) -> None:
    """Every pupil of the load's outcome is the engine's answer against the register as it
    stood when the load began."""
    from miap.server.matching.engine import EXACT, NO_MATCH, Demographics, ScoringMatcher

    matcher, outcomes = ScoringMatcher(), {}
    with cdb.reading() as session:
        run = session.get(CensusRun, summary.run_id)
        for upn_, learner_id in session.execute(select(CensusPupil.upn, CensusPupil.learner_id)):
            outcomes[upn_] = "new" if learner_id > run.register_high_id else "matched"
        possible = session.scalars(
            text("SELECT upn FROM census_rows WHERE run_id = :r AND outcome = 'possible'"),
            {"r": run.id},
        )
        outcomes.update((upn_, "possible") for upn_ in possible)
        wrong = []
        for pupil in pupils_:
            parsed = pupils.parse(2, pupil, dt.date.today())
            assert isinstance(parsed, pupils.Pupil), parsed
            query = Demographics.of(parsed)
            code, _ = matcher.decide(
                matcher.scored(session, query, run.register_high_id, decisive=True)
            )
            expected = {EXACT: "matched", NO_MATCH: "new"}.get(code, "possible")
            if outcomes.get(parsed.upn) != expected:
                wrong.append((pupil, outcomes.get(parsed.upn), expected))
    assert wrong == []
