"""A merged ULN's learning events are read under its master, and move back on unmerge.

Events stay stored under the ULN they were loaded for; ``events_of`` resolves the links as it
reads, so ``miap learner merge`` and ``unmerge`` move them without touching an event.
"""

from __future__ import annotations

import json

from miap.server.records import synthetic
from tests.support import run_miap
from tests.support_records import events, fresh_ukprn, ilr_file, load, register


def _shown(url: str, uln: str) -> list[dict]:
    result = run_miap("records", "show", uln, "--json", "--db", url)
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_merge_and_unmerge_move_events(database_url, tmp_path):
    master, duplicate, other = register(database_url, 3)
    college = fresh_ukprn()
    load(
        database_url,
        ilr_file(tmp_path, synthetic.learners([master, duplicate, other]), college),
        "--source",
        "ILR",
    )
    results = tmp_path / "results.csv"
    with results.open("w", newline="", encoding="utf-8") as out:
        synthetic.write_results(out, synthetic.result_rows([duplicate], college, 1))
    load(
        database_url, results, "--source", "AO", "--provider", fresh_ukprn(), "--collection", "2025"
    )
    own = {uln: {e.id for e in events(database_url, uln)} for uln in (master, duplicate)}
    assert (len(own[master]), len(own[duplicate])) == (2, 3)

    run_miap("learner", "merge", master, duplicate, "--by", "tester", "--db", database_url)

    merged = events(database_url, master)
    assert {e.id for e in merged} == own[master] | own[duplicate]
    assert {e.uln for e in merged} == {master, duplicate}  # each still says whose it was
    assert events(database_url, duplicate) == merged  # a duplicate reads as its master
    assert {row["id"] for row in _shown(database_url, master)} == own[master] | own[duplicate]
    assert len(events(database_url, other)) == 2

    run_miap("learner", "unmerge", master, duplicate, "--by", "tester", "--db", database_url)

    assert {e.id for e in events(database_url, master)} == own[master]
    assert {e.id for e in events(database_url, duplicate)} == own[duplicate]
    assert {row["id"] for row in _shown(database_url, duplicate)} == own[duplicate]


def test_events_for_a_merged_duplicate_still_load(database_url, tmp_path):
    master, duplicate = register(database_url, 2)
    run_miap("learner", "merge", master, duplicate, "--by", "tester", "--db", database_url)

    load(
        database_url,
        ilr_file(tmp_path, synthetic.learners([duplicate]), fresh_ukprn()),
        "--source",
        "ILR",
    )

    assert {e.uln for e in events(database_url, master)} == {duplicate}
