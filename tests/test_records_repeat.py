"""A file that is the last one loaded for its scope is not read again while the register
answers for its ULNs as it did (``loader.RecordsLoad._repeat``), and is read when it does not.

Real ``miap records load`` processes on both backends. Whether the file was read shows in the
load's phases (``staging`` when read, ``comparing`` when not); what it did shows in its
counts, its reject file, and the stored events, which must be what reading it gives.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select, text

from miap.server.records import synthetic
from miap.server.register.identifiers import random_uln
from miap.storage.engine import Database
from miap.storage.records import RecordReject, RecordReturn
from tests.support import run_miap
from tests.support_records import (
    PREPARED,
    counts,
    events,
    fresh_ukprn,
    ilr_file,
    load,
    register,
    stored,
)


def _scope(ukprn: str) -> list[str]:
    return ["--source", "AO", "--provider", ukprn, "--collection", "2025"]


def _results(
    path: Path, ulns: list[str], ukprn: str, per_learner: int = 1, reverse: bool = False
) -> Path:
    rows = list(synthetic.result_rows(ulns, ukprn, per_learner))
    with path.open("w", newline="", encoding="utf-8") as out:
        synthetic.write_results(out, reversed(rows) if reverse else rows)
    return path


def _read_again(result) -> bool:  # noqa: ANN001 - a CompletedProcess
    """Whether the load read its file (it staged events) rather than repeat a return."""
    read = "staging" in result.stdout
    assert read != ("not read again" in result.stdout), result.stdout
    return read


def _sql(url: str, statement: str, **values: str) -> None:
    db = Database(url)
    try:
        with db.transaction() as session:
            session.execute(text(statement), values)
    finally:
        db.dispose()


def _returns(url: str, ukprn: str) -> list[tuple[int, str, int, int | None, int]]:
    """Each return of the owner: id, hash, rejected, skipped and rejects kept."""
    db = Database(url)
    try:
        with db.reading() as session:
            kept = (
                select(func.count())
                .select_from(RecordReject)
                .where(RecordReject.return_id == RecordReturn.id)
                .scalar_subquery()
            )
            rows = session.execute(
                select(
                    RecordReturn.id,
                    RecordReturn.content_hash,
                    RecordReturn.rejected,
                    RecordReturn.skipped,
                    kept,
                )
                .where(RecordReturn.provider_ukprn == ukprn)
                .order_by(RecordReturn.id)
            )
            return [tuple(row) for row in rows]
    finally:
        db.dispose()


def test_an_ilr_return_loaded_already_is_not_read_again(database_url, tmp_path):
    ukprn = fresh_ukprn()
    good, other, withdrawn = register(database_url, 3)
    run_miap(
        "learner", "delete", withdrawn, "--reason", "test", "--by", "tester", "--db", database_url
    )
    people = list(synthetic.learners([good, other, withdrawn, random_uln(), "1000000063"]))
    path = ilr_file(tmp_path, people, ukprn)
    first_rejects, again_rejects = tmp_path / "first.csv", tmp_path / "again.csv"
    first = load(database_url, path, "--source", "ILR", "--rejects", str(first_rejects))
    before = stored(database_url, ukprn)

    again = load(database_url, path, "--source", "ILR", "--rejects", str(again_rejects))

    assert _read_again(first) and not _read_again(again)
    assert counts(first)["loaded"] == 4 and counts(first)["rejected"] == 6
    assert counts(again) == {**counts(first), "loaded": 0, "unchanged": 4}
    assert again_rejects.read_bytes() == first_rejects.read_bytes()
    assert stored(database_url, ukprn) == before
    (one, two) = _returns(database_url, ukprn)
    assert one[1:] == two[1:] == (one[1], 6, 0, 6)
    assert f"the same file as load {one[0]}, not read again" in again.stdout

    # --reread reads it, to the same outcome.
    reread_rejects = tmp_path / "reread.csv"
    reread = load(
        database_url, path, "--source", "ILR", "--reread", "--rejects", str(reread_rejects)
    )
    assert _read_again(reread)
    assert counts(reread) == counts(again)
    assert reread_rejects.read_bytes() == first_rejects.read_bytes()
    assert stored(database_url, ukprn) == before


def test_the_same_bytes_under_another_name_are_the_same_return(database_url, tmp_path):
    """The ILR's scope is read from its header before its learners; the name only dates it."""
    ukprn = fresh_ukprn()
    ulns = register(database_url, 2)
    path = ilr_file(tmp_path, synthetic.learners(ulns), ukprn)
    load(database_url, path, "--source", "ILR")
    later = tmp_path / synthetic.file_name(ukprn, "1920", PREPARED + dt.timedelta(hours=1), 1)
    later.write_bytes(path.read_bytes())

    result = load(database_url, later, "--source", "ILR")

    assert not _read_again(result)
    assert counts(result)["unchanged"] == 4


def test_a_uln_withdrawn_since_makes_the_file_read(database_url, tmp_path):
    ukprn = fresh_ukprn()
    ulns = register(database_url, 3)
    path = _results(tmp_path / "results.csv", ulns, ukprn, per_learner=2)
    load(database_url, path, *_scope(ukprn))
    run_miap(
        "learner", "delete", ulns[1], "--reason", "test", "--by", "tester", "--db", database_url
    )

    result = load(database_url, path, *_scope(ukprn))

    assert _read_again(result)
    assert counts(result) == {
        "events": 6,
        "loaded": 0,
        "updated": 0,
        "unchanged": 4,
        "withdrawn": 2,
        "rejected": 2,
    }
    assert events(database_url, ulns[1]) == []
    # The register is as it was at that load now: the next one repeats it.
    assert not _read_again(load(database_url, path, *_scope(ukprn)))


def test_a_uln_registered_since_makes_the_file_read(database_url, tmp_path):
    ukprn = fresh_ukprn()
    known, later = register(database_url, 2)
    unknown = random_uln()
    while unknown in (known, later):
        unknown = random_uln()
    path = _results(tmp_path / "results.csv", [known, unknown], ukprn)
    assert counts(load(database_url, path, *_scope(ukprn)))["rejected"] == 1
    # ``unknown`` is registered now (the learner registered since is given that ULN).
    _sql(database_url, "UPDATE learners SET uln = :new WHERE uln = :old", new=unknown, old=later)

    result = load(database_url, path, *_scope(ukprn))

    assert _read_again(result)
    assert (counts(result)["loaded"], counts(result)["rejected"]) == (1, 0)
    assert len(events(database_url, unknown)) == 1


def test_a_uln_reinstated_since_makes_the_file_read(database_url, tmp_path):
    ukprn = fresh_ukprn()
    ulns = register(database_url, 2)
    run_miap(
        "learner", "delete", ulns[1], "--reason", "test", "--by", "tester", "--db", database_url
    )
    path = _results(tmp_path / "results.csv", ulns, ukprn)
    assert counts(load(database_url, path, *_scope(ukprn)))["rejected"] == 1
    _sql(database_url, "UPDATE learners SET deleted_at = NULL WHERE uln = :uln", uln=ulns[1])

    result = load(database_url, path, *_scope(ukprn))

    assert _read_again(result)
    assert (counts(result)["loaded"], counts(result)["rejected"]) == (1, 0)


def test_only_the_last_return_of_the_scope_is_repeated(database_url, tmp_path):
    ukprn = fresh_ukprn()
    ulns = register(database_url, 3)
    whole = _results(tmp_path / "whole.csv", ulns, ukprn)
    part = _results(tmp_path / "part.csv", ulns[:2], ukprn)
    load(database_url, whole, *_scope(ukprn))
    load(database_url, part, *_scope(ukprn))

    result = load(database_url, whole, *_scope(ukprn))

    assert _read_again(result)
    assert (counts(result)["updated"], counts(result)["unchanged"]) == (1, 2)
    assert len(events(database_url, ulns[2])) == 1
    # Another scope of the same file is a first load.
    other = load(database_url, whole, "--source", "NPD", *_scope(ukprn)[2:])
    assert _read_again(other) and counts(other)["loaded"] == 3


def test_a_return_whose_rejects_were_not_kept_is_read(database_url, tmp_path):
    """Loads made before rejects were kept (``skipped`` NULL, no kept rejects) cannot be
    repeated: what their reject files said is not known."""
    ukprn = fresh_ukprn()
    ulns = register(database_url, 2)
    path = _results(tmp_path / "results.csv", [*ulns, "1000000063"], ukprn)
    load(database_url, path, *_scope(ukprn))
    of_owner = "SELECT id FROM record_returns WHERE provider_ukprn = :ukprn"
    _sql(database_url, f"DELETE FROM record_rejects WHERE return_id IN ({of_owner})", ukprn=ukprn)
    assert _read_again(load(database_url, path, *_scope(ukprn)))
    _sql(
        database_url,
        f"UPDATE record_returns SET skipped = NULL WHERE id IN ({of_owner})",
        ukprn=ukprn,
    )
    assert _read_again(load(database_url, path, *_scope(ukprn)))
    assert not _read_again(load(database_url, path, *_scope(ukprn)))


def test_a_changed_file_is_read(database_url, tmp_path):
    ukprn = fresh_ukprn()
    ulns = register(database_url, 2)
    path = _results(tmp_path / "results.csv", ulns, ukprn)
    load(database_url, path, *_scope(ukprn))
    _results(path, ulns, ukprn, reverse=True)  # the same events in another order

    result = load(database_url, path, *_scope(ukprn))

    assert _read_again(result)
    assert counts(result)["unchanged"] == 2
