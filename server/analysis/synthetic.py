"""Synthetic data for the analysts' queries: learners, learning events, census pupils and
merges, written in bulk (multi-row inserts in chunks), for benchmarks and tests.

Everybody is invented: names are random letters, ULNs random valid ULNs, postcodes are real
districts with made-up inward codes. Rows are built by small functions (``learner_row``,
``event_row``, …) that tests use to write exactly the people they need.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, update

from miap.server.register.identifiers import random_uln
from miap.server.ukrlp.postcodes import centroids
from miap.storage.engine import Database
from miap.storage.models import CensusPupil, CensusRow, CensusRun, Learner, LearnerLink, utcnow
from miap.storage.records import LearningEvent

CHUNK = 5000
QUALIFICATION_TYPES = ("GCSE", "A Level", "BTEC", "NVQ", "Functional Skills", "Apprenticeship")
LEVELS = ("1", "2", "3", "4", "E")


def learner_row(
    rng: random.Random,
    date_of_birth: dt.date,
    gender: str,
    postcode: str,
    created_at: dt.datetime | None = None,
) -> dict:
    """A learners row with unique random names (and so a unique identity)."""
    given = "".join(rng.choice("BCDFGKLMNPRSTVZ") + rng.choice("AEIOU") for _ in range(4))
    family = "".join(rng.choice("BCDFGKLMNPRSTVZ") + rng.choice("AEIOU") for _ in range(5))
    now = created_at or utcnow()
    key = "".join(postcode.split()).upper()
    return {
        "uln": random_uln(rng.randrange),
        "given_name": given.title(),
        "family_name": family.title(),
        "postcode": postcode,
        "date_of_birth": date_of_birth,
        "gender": gender,
        "verification_type": "1",
        "tier_level": "1",
        "ability_to_share": "1",
        "learner_status": "1",
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "given_key": given,
        "family_key": family,
        "postcode_key": key,
        "duplicate_count": 0,
    }


def event_row(
    uln: str,
    n: int,
    provider_ukprn: str,
    qualification_type: str,
    level: str,
    award_date: dt.date | None,
) -> dict:
    return {
        "uln": uln,
        "source": "ILR",
        "provider_ukprn": provider_ukprn,
        "collection": "synthetic",
        "source_event_id": f"{uln}-{n}",
        "return_key": "synthetic-01",
        "digest": "0" * 32,
        "qualification_type": qualification_type,
        "level": level,
        "achievement_award_date": award_date,
        "loaded_at": utcnow(),
    }


def insert_rows(db: Database, table, rows: list[dict]) -> None:  # noqa: ANN001
    """Write ``rows`` into ``table`` in multi-row inserts of ``CHUNK``."""
    with db.transaction() as session:
        for start in range(0, len(rows), CHUNK):
            session.execute(insert(table), rows[start : start + CHUNK])


@dataclass
class Populated:
    learners: int = 0
    events: int = 0
    pupils: int = 0
    merges: int = 0


_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def populate(
    db: Database,
    learners: int,
    events_per_learner: float = 5.0,
    pupil_share: float = 0.3,
    merge_share: float = 0.01,
    seed: int = 1,
) -> Populated:
    """Write ``learners`` synthetic learners with about ``events_per_learner`` events each,
    ``pupil_share`` of them census pupils and ``merge_share`` merged into another."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    districts = sorted(centroids())
    today = dt.date.today()
    now = utcnow()
    done = Populated()
    providers = [str(10_000_000 + n) for n in range(1, 400)]
    las = [f"{rng.randrange(201, 942)}" for _ in range(150)]
    with db.transaction() as session:
        run_id = session.execute(
            insert(CensusRun).returning(CensusRun.id),
            {
                "content_hash": f"synthetic-{seed}-{rng.random()}",
                "academic_year": "2025/26",
                "file_name": "synthetic",
                "state": "done",
                "staged_lines": 0,
                "settled_line": 0,
                "started_at": now,
                "new": 0,
                "linked": 0,
                "matched": 0,
                "possible": 0,
                "rejected": 0,
            },
        ).scalar_one()
    ids: list[int] = []
    ulns: set[str] = set()
    line = 0
    for start in range(0, learners, CHUNK):
        rows = []
        for _ in range(min(CHUNK, learners - start)):
            born = today - dt.timedelta(days=rng.randrange(14 * 365, 60 * 365))
            inward = f"{rng.randrange(10)}{rng.choice(_LETTERS)}{rng.choice(_LETTERS)}"
            created = now - dt.timedelta(days=rng.randrange(3 * 365))
            row = learner_row(
                rng, born, rng.choice("1122229"), f"{rng.choice(districts)} {inward}", created
            )
            while row["uln"] in ulns:  # random ULNs may repeat; the register's are unique
                row["uln"] = random_uln(rng.randrange)
            ulns.add(row["uln"])
            rows.append(row)
        events, pupils, unlinked = [], [], []
        with db.transaction() as session:
            written = session.execute(
                insert(Learner).returning(Learner.id, Learner.uln), rows
            ).all()
            for learner_id, uln in written:
                ids.append(learner_id)
                for n in range(
                    int(rng.expovariate(1 / events_per_learner)) if events_per_learner else 0
                ):
                    award = today - dt.timedelta(days=rng.randrange(6 * 365))
                    events.append(
                        event_row(
                            uln,
                            n,
                            rng.choice(providers),
                            rng.choice(QUALIFICATION_TYPES),
                            rng.choice(LEVELS),
                            award if rng.random() < 0.7 else None,
                        )
                    )
                school = rng.choice(las) + f"{rng.randrange(10000):04d}"
                if rng.random() < pupil_share:
                    pupils.append(
                        {
                            "upn": f"S{learner_id:012d}",
                            "learner_id": learner_id,
                            "laestab": school,
                            "academic_year": "2025/26",
                            "first_run_id": run_id,
                            "last_run_id": run_id,
                            "updated_at": now,
                        }
                    )
                elif rng.random() < pupil_share * 0.05:
                    line += 1
                    unlinked.append(
                        {
                            "run_id": run_id,
                            "line": line,
                            "upn": f"U{learner_id:012d}",
                            "laestab": school,
                            "outcome": "possible",
                        }
                    )
            for table, batch in (
                (LearningEvent.__table__, events),
                (CensusPupil.__table__, pupils),
                (CensusRow.__table__, unlinked),
            ):
                for at in range(0, len(batch), CHUNK):
                    session.execute(insert(table), batch[at : at + CHUNK])
        done.learners += len(rows)
        done.events += len(events)
        done.pupils += len(pupils)
    merges = []
    duplicates = rng.sample(ids, min(len(ids) // 2, int(learners * merge_share)))
    masters = set(ids) - set(duplicates)
    master_pool = rng.sample(sorted(masters), min(len(masters), 10_000)) if masters else []
    for duplicate in duplicates:
        merges.append(
            {
                "master_id": rng.choice(master_pool),
                "duplicate_id": duplicate,
                "action": "merge",
                "at": now - dt.timedelta(days=rng.randrange(3 * 365)),
                "by": "synthetic",
            }
        )
    with db.transaction() as session:
        for at in range(0, len(merges), CHUNK):
            batch = merges[at : at + CHUNK]
            session.execute(insert(LearnerLink), batch)
            session.execute(
                update(Learner.__table__)
                .where(Learner.__table__.c.id == bindparam("duplicate"))
                .values(merged_into_id=bindparam("master")),
                [{"duplicate": m["duplicate_id"], "master": m["master_id"]} for m in batch],
            )
    done.merges = len(merges)
    return done
