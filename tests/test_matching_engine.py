"""The matching engine against a real register (SQLite and PostgreSQL): hand-written cases for
every normalisation and error kind, the 10-match cap, and registration's duplicate check."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import text

from miap.server.admin import synth
from miap.server.admin.synth import Person
from miap.server.matching.engine import (
    EXACT,
    NO_MATCH,
    PAIR_LIMIT,
    POSSIBLE,
    TOO_MANY,
    Demographics,
    ScoringMatcher,
    reaching_keys,
)
from miap.server.outcomes import Outcome
from miap.server.register import learners
from miap.storage.engine import Database
from miap.storage.models import utcnow
from tests.support import synthetic_name, synthetic_postcode

matcher = ScoringMatcher()


def person(**overrides) -> dict:
    """A synthetic learner; each call lives at a new address so tests stay apart."""
    values = {
        "given_name": "Katherine",
        "family_name": synthetic_name() + "-Jones",
        "date_of_birth": dt.date(2007, 4, 9),
        "gender": "2",
        "postcode": synthetic_postcode(),
        "previous_family_name": None,
        "verification_type": "1",
        "ability_to_share": "1",
    }
    values.update(overrides)
    return values


def register(db: Database, details: dict) -> str:
    with db.transaction() as session:
        code, uln = learners.register(session, matcher, details, "10000002")
    assert code == Outcome.REGISTERED
    return uln


def find(db: Database, details: dict, **changes):
    values = {**details, **changes}
    query = Demographics(
        given_name=values["given_name"],
        family_name=values["family_name"],
        date_of_birth=values["date_of_birth"],
        gender=values["gender"],
        postcode=values["postcode"],
        previous_family_name=values.get("query_previous_family_name"),
    )
    with db.transaction() as session:
        result = matcher.find(session, query)
        return result.code, [learner.uln for learner in result.learners]


@pytest.fixture
def registered(db):
    details = person(previous_family_name="Oldfield")
    return details, register(db, details)


def test_exact_after_normalisation(db, registered):
    details, uln = registered
    family = details["family_name"]
    spaced = family.replace("-", " ").upper()
    assert find(db, details) == (EXACT, [uln])
    lower = details["postcode"].lower().replace(" ", "")
    assert find(db, details, family_name=spaced, postcode=lower) == (EXACT, [uln])
    assert find(db, details, given_name=" katherine ") == (EXACT, [uln])


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("nickname", {"given_name": "Kate"}),
        ("gender unknown", {"gender": "9"}),
        ("gender not known", {"gender": "0"}),
    ],
)
def test_tolerated_changes_that_stay_exact(db, registered, case, changes):
    details, uln = registered
    assert find(db, details, **changes) == (EXACT, [uln]), case


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("given typo", {"given_name": "Katherone"}),
        ("given transposition", {"given_name": "Kahterine"}),
        ("family typo", {"family_name": "__FAMILY__x"}),
        ("names swapped", {"given_name": "__FAMILY__", "family_name": "Katherine"}),
        ("former family name", {"family_name": "Oldfield"}),
        (
            "new family name",
            {"family_name": "Newlywed", "query_previous_family_name": "__FAMILY__"},
        ),
        ("day and month swapped", {"date_of_birth": dt.date(2007, 9, 4)}),
        ("one wrong digit", {"date_of_birth": dt.date(2007, 4, 8)}),
        ("wrong year digit", {"date_of_birth": dt.date(2008, 4, 9)}),
        ("moved", {"postcode": "M1 1AE"}),
        ("postcode not known", {"postcode": "ZZ99 9ZZ"}),
        ("typo and moved", {"given_name": "Katerine", "postcode": "B2 4QA"}),
        ("digit and nickname", {"given_name": "Kate", "date_of_birth": dt.date(2007, 4, 19)}),
    ],
)
def test_one_and_two_errors_return_the_learner_as_possible(db, registered, case, changes):
    details, uln = registered
    family = details["family_name"]
    changes = {
        k: v.replace("__FAMILY__", family) if isinstance(v, str) else v for k, v in changes.items()
    }
    code, found = find(db, details, **changes)
    assert code == POSSIBLE and uln in found, (case, code, found)
    assert found[0] == uln, case  # best first


def test_someone_else_is_not_matched(db, registered):
    details, _ = registered
    stranger = person(
        given_name="Petra", family_name="Elsewhere", date_of_birth=dt.date(2003, 1, 2)
    )
    assert find(db, stranger) == (NO_MATCH, [])


def test_more_than_ten_possibles_is_too_many(db):
    family = synthetic_name()
    # A birth date of this test's own: the module's other Katherines, born on the shared
    # default date, would otherwise be possible matches too and make the count depend on order.
    born = dt.date(1985, 1, 1) + dt.timedelta(days=random.randrange(6000))
    # Each differs from the query by one letter of the given name: a possible match apiece.
    slips = [
        person(given_name=f"Katherine{letter}", family_name=family, date_of_birth=born)
        for letter in "abcdefghijk"
    ]
    for slip in slips[:10]:
        register(db, slip)
    query = person(family_name=family, date_of_birth=born)
    code, found = find(db, query)
    assert code == POSSIBLE and len(found) == 10
    register(db, slips[10])
    assert find(db, query) == (TOO_MANY, [])


def test_registration_refuses_a_nickname_duplicate(db):
    details = person(given_name="Robert", gender="1")
    register(db, details)
    with db.transaction() as session:
        code, uln = learners.register(
            session, matcher, {**details, "given_name": "Bob"}, "10000002"
        )
    assert (code, uln) == (Outcome.NOT_REGISTERED, None)


def test_merged_and_withdrawn_learners_are_not_candidates(db):
    master, duplicate = person(), person(given_name="Katharine")
    master_uln, duplicate_uln = register(db, master), register(db, duplicate)
    with db.transaction() as session:
        master_row = learners.learner_by_uln(session, master_uln)
        learners.learner_by_uln(session, duplicate_uln).merged_into_id = master_row.id
    assert duplicate_uln not in find(db, duplicate)[1]
    with db.transaction() as session:
        learners.learner_by_uln(session, master_uln).deleted_at = utcnow()
    assert master_uln not in find(db, master)[1]


def plan(db: Database, statement) -> str:
    """The query plan of ``statement`` (values bound) on this backend; on PostgreSQL with
    sequential scans forbidden, so a plan without one proves the indexes can serve it."""
    with db.engine.connect() as connection:
        dialect = connection.dialect
        sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if dialect.name == "sqlite":
            rows = connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            return " ".join(str(row) for row in rows)
        connection.execute(text("SET enable_seqscan = off"))
        return " ".join(row[0] for row in connection.execute(text(f"EXPLAIN {sql}")))


@pytest.mark.parametrize("bounded", [False, True], ids=["whole register", "up to an id"])
@pytest.mark.parametrize("postcode", ["LS1 4AP", "ZZ99 9ZZ"])
def test_blocking_reads_through_indexes(db, postcode, bounded):
    probe = matcher.probe(
        Demographics("Katherine", "Testwood", dt.date(2007, 4, 9), "2", postcode, "Oldfield")
    )
    statement, values = matcher.candidates(probe, up_to_id=10**9 if bounded else None)
    found = plan(db, statement.params(values))
    indexes = ["ix_learners_dob_", "uq_learners_identity"]
    if postcode != "ZZ99 9ZZ":
        indexes.append("ix_learners_postcode")
    assert "SCAN learners" not in found and "Seq Scan" not in found, found
    assert all(index in found for index in indexes), found
    # Every block carries its own LIMIT, and the nearest holders of the name pair are read in
    # index order (a range on the identity index's date column), so no block reads more than
    # its limit however common the name pair or the postcode. The one sort is the variant
    # block's: the holders of the given name's variants with the family name, nearest first.
    blocks = 6 if postcode != "ZZ99 9ZZ" else 5
    if db.engine.dialect.name == "sqlite":
        assert found.count("CO-ROUTINE") == blocks, found
        assert found.count("TEMP B-TREE") == 1, found
        assert "uq_learners_identity (given_key=? AND family_key=? AND date_of_birth>?)" in found
        assert "uq_learners_identity (given_key=? AND family_key=? AND date_of_birth<?)" in found
    else:
        assert found.count("Limit") == blocks, found
        assert found.count("Sort Key") == 1, found


def test_a_bound_on_ids_applies_inside_each_block(db):
    """A bulk load matches against the register as it stood when it began: the learners
    registered since must not crowd an earlier one out of a block's LIMIT."""
    family = synthetic_name() + "-Crowd"
    earlier = Person("Katherine", family, dt.date(2009, 11, 30), "2", synthetic_postcode())
    [earlier_uln] = synth.load(db, [earlier], "10000002")
    with db.reading() as session:
        high_id = learners.learner_by_uln(session, earlier_uln).id
    born = dt.date(2001, 2, 3)
    crowd = [
        Person("Katherine", family, born, "2", synthetic_postcode()) for _ in range(PAIR_LIMIT + 5)
    ]
    synth.load(db, crowd, "10000002")
    query = Demographics("Katherine", family, born, "2", synthetic_postcode())
    with db.reading() as session:
        everyone = {item.uln for item in matcher.scored(session, query)}
        bounded = [item.uln for item in matcher.scored(session, query, up_to_id=high_id)]
    if db.engine.dialect.name == "sqlite":  # the premise: read in index order, later rows fill
        assert earlier_uln not in everyone  # every block the earlier learner could come by
    assert bounded == [earlier_uln]


def test_candidate_statement_is_built_once_per_shape():
    def statement(postcode: str):
        probe = matcher.probe(
            Demographics(synthetic_name(), "Testwood", dt.date(2001, 2, 3), "1", postcode)
        )
        return matcher.candidates(probe)[0]

    assert statement("LS1 4AP") is statement("M1 1AE")
    assert statement("ZZ99 9ZZ") is statement("ZZ99 9ZZ") is not statement("LS1 4AP")


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("a parent's birth date", {"date_of_birth": dt.date(1979, 2, 11)}),
        ("a 1 January placeholder", {"date_of_birth": dt.date(2007, 1, 1)}),
        ("several digits wrong", {"date_of_birth": dt.date(2001, 4, 6)}),
        ("enrolment date, names swapped", {"date_of_birth": dt.date(2025, 9, 8), "swap": True}),
        (
            "wrong date, another first name",
            {"date_of_birth": dt.date(2008, 9, 1), "given_name": "Astrid"},
        ),
        (
            "family name in the given field, new family name",
            {"given_name": "__FAMILY__", "family_name": "Newlywed"},
        ),
        (
            "first name replaced, moved to the next town",
            {"given_name": "Astrid", "postcode": "__AREA__98 9ZZ"},
        ),
        (
            "a parent's birth date, moved within the district",
            {"date_of_birth": dt.date(1979, 2, 11), "postcode": "__DISTRICT__ 9ZZ"},
        ),
        (
            "several digits wrong, moved within the area",
            {"date_of_birth": dt.date(2001, 4, 6), "postcode": "__AREA__98 9ZZ"},
        ),
        ("the middle name as the first name, moved", {"given_name": "Jane", "postcode": "B2 4QA"}),
        (
            "the preferred name as the first name, postcode not known",
            {"given_name": "Rowan", "postcode": "ZZ99 9ZZ"},
        ),
    ],
)
def test_wrong_dates_and_names_are_possible_never_exact(db, case, changes):
    details = person(
        family_name=synthetic_name(), middle_other_name="Jane", preferred_given_name="Rowan"
    )
    uln = register(db, details)
    changes = dict(changes)
    if changes.pop("swap", False):
        changes.update(given_name=details["family_name"], family_name=details["given_name"])
    district = details["postcode"].split()[0]
    places = {
        "__FAMILY__": details["family_name"],
        "__DISTRICT__": district,
        "__AREA__": district.rstrip("0123456789"),
    }
    for placeholder, value in places.items():
        changes = {
            k: v.replace(placeholder, value) if isinstance(v, str) else v
            for k, v in changes.items()
        }
    code, found = find(db, details, **changes)
    assert code == POSSIBLE and found[0] == uln, (case, code, found)


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        (("Ingrid", "Ødegård"), ("INGRID", "ODEGARD")),
        (("Łukasz", "Wiśniewski"), ("Lukasz", "Wisniewski")),
        (("Σοφία", "Κατσαρός"), ("Sofia", "Katsaros")),
        (("Дмитрий", "Иванов"), ("Dmitriy", "Ivanov")),
        (("李", "王"), ("Li", "Wang")),
        (("☆", "★"), ("☆", "★")),
    ],
)
def test_names_in_any_script_are_found_as_typed_in_ascii(db, stored, typed):
    details = person(given_name=stored[0], family_name=stored[1])
    uln = register(db, details)
    assert find(db, details) == (EXACT, [uln])
    assert find(db, details, given_name=typed[0], family_name=typed[1]) == (EXACT, [uln])


def test_searches_read_together_answer_as_searches_one_at_a_time(db):
    """``scored_many`` (on PostgreSQL one statement for all the searches, a LATERAL join of
    the blocks) scores exactly what ``scored`` scores for each search, bounded or not."""
    population = synth.Population(seed=random.randrange(1 << 30))
    tag = synthetic_name()
    people = [
        Person(p.given_name, f"{p.family_name}-{tag}", p.date_of_birth, p.gender, p.postcode)
        for p in population.people(40)
    ]
    ulns = synth.load(db, people[:30], "10000002")
    with db.reading() as session:
        high_id = learners.learner_by_uln(session, ulns[14]).id
    noise = synth.Noise(population, matcher.variants)
    kinds = sorted(synth.KIND_WEIGHTS)
    slips = [noise.apply(p, kinds[n % len(kinds)]) for n, p in enumerate(people[:30])]
    queries = [synth.demographics(p) for p in [*people, *filter(None, slips)]]
    with db.reading() as session:
        for bound in (high_id, None):
            one_at_a_time = [matcher.scored(session, query, up_to_id=bound) for query in queries]
            assert matcher.scored_many(session, queries, up_to_id=bound) == one_at_a_time
        together = [
            (r.code, [x.uln for x in r.learners]) for r in matcher.find_many(session, queries)
        ]
        alone = [matcher.find(session, query) for query in queries]
        assert together == [(r.code, [x.uln for x in r.learners]) for r in alone]
    assert {EXACT, NO_MATCH, POSSIBLE} <= {code for code, _ in together}


def test_every_candidate_meets_its_search_by_a_reaching_key(db):
    """``reach`` is what lets a batch chunk keep an answer read before its own writes: a
    learner a search's blocks return must share a key with it (``reaching_keys``), or a write
    of such a learner could change the answer unseen. One learner per block, found by that
    block alone (other names, dates and postcodes), so a key ``reach`` forgot fails here."""
    tag = synthetic_name()
    smith, smyth = f"Smith{tag}", f"Smyth{tag}"  # the same Soundex code, other name keys
    born, near_slip = dt.date(2007, 4, 9), dt.date(2007, 4, 19)
    home = synthetic_postcode()
    query = Demographics("Katherine", smith, born, "2", home)
    by_block = {
        "a near date, a Soundex code": Person("Zara", smyth, born, "2", synthetic_postcode()),
        "a wide date, both Soundex": Person("Kothurn", smyth, near_slip, "2", synthetic_postcode()),
        "a wide date, both Soundex crossed": Person(
            smyth, "Kothurn", near_slip, "2", synthetic_postcode()
        ),
        "the postcode": Person("Kothurn", f"Zed{tag}", dt.date(1990, 1, 1), "2", home),
        "a variant pair": Person("Kate", smith, dt.date(1995, 1, 1), "2", synthetic_postcode()),
        "the pair crossed": Person(
            smith, "Katherine", dt.date(1990, 6, 6), "2", synthetic_postcode()
        ),
        "the exact pair": Person(
            "Katherine", smith, dt.date(1999, 9, 9), "2", synthetic_postcode()
        ),
    }
    ulns = dict(zip(by_block, synth.load(db, list(by_block.values()), "10000002"), strict=True))
    reach = matcher.reach(query)
    with db.reading() as session:
        statement, values = matcher.candidates(matcher.probe(query))
        found = {row.uln for row in session.execute(statement, values)}
        for block, uln in ulns.items():
            assert uln in found, block
            learner = learners.learner_by_uln(session, uln)
            assert reaching_keys(learner) & reach, block
