"""The synthetic population and its noisy search stream: deterministic, realistic, labelled."""

from __future__ import annotations

import csv
import re
from collections import Counter

import pytest

from miap.server.admin.synth import (
    ERROR_KINDS,
    MOVE_SHARES,
    Noise,
    Population,
    learner_details,
    load,
    noisy_queries,
)
from miap.server.matching.normalise import default_variants, name_key
from miap.server.register.identifiers import is_valid_uln
from miap.storage.engine import Database
from tests.support import run_miap

POSTCODE = r"[A-Z]{1,2}[0-9R][0-9A-Z]? [0-9][ABD-HJLNP-UW-Z]{2}"


def test_same_seed_same_people_and_queries():
    first = list(Population(9).people(200))
    assert first == list(Population(9).people(200))
    assert first != list(Population(10).people(200))
    variants = default_variants()
    a = list(noisy_queries(Population(1), first, 50, variants))
    b = list(noisy_queries(Population(1), first, 50, variants))
    assert a == b


def test_people_are_distinct_plausible_and_aged_14_to_25():
    population = Population(3)
    people = list(population.people(5000))
    identities = {
        (p.given_name, p.family_name, p.date_of_birth, p.gender, p.postcode) for p in people
    }
    assert len(identities) == 5000
    assert all(re.fullmatch(POSTCODE, p.postcode) for p in people)
    ages = {(population.reference_date - p.date_of_birth).days // 365 for p in people}
    assert min(ages) >= 14 and max(ages) <= 26
    surnames = Counter(p.family_name for p in people)
    assert surnames.most_common(1)[0][0] == "Smith"  # a realistic head ...
    assert sum(1 for n in surnames.values() if n == 1) > 500  # ... and a long tail


@pytest.mark.parametrize("kind", ERROR_KINDS)
def test_each_error_kind_changes_what_it_says(kind):
    population = Population(5)
    noise = Noise(population, default_variants())
    for person in population.people(300):
        changed = noise.apply(person, kind)
        if changed is None:
            continue
        assert changed != person
        if kind == "swapped_names":
            assert (changed.given_name, changed.family_name) == (
                person.family_name,
                person.given_name,
            )
        elif kind == "nickname":
            assert default_variants().equivalent(
                name_key(changed.given_name), name_key(person.given_name)
            )
        elif kind == "dob_day_month":
            assert (changed.date_of_birth.day, changed.date_of_birth.month) == (
                person.date_of_birth.month,
                person.date_of_birth.day,
            )
        elif kind == "postcode_missing":
            assert changed.postcode == "ZZ99 9ZZ"
        elif kind == "gender_unknown":
            assert changed.gender in "09"
        elif kind == "given_replaced":
            assert not default_variants().equivalent(
                name_key(changed.given_name), name_key(person.given_name)
            )
        elif kind == "name_in_other_field":
            assert (
                changed.given_name == person.family_name or changed.family_name == person.given_name
            )
            assert (changed.given_name, changed.family_name) != (
                person.family_name,
                person.given_name,
            )
        return
    pytest.fail(f"{kind} never applied")


def test_query_mix_follows_the_rates():
    people = list(Population(2).people(2000))
    queries = list(noisy_queries(Population(4), people, 4000, default_variants()))
    errors = Counter(len(q.errors) for q in queries)
    strangers = sum(q.truth is None for q in queries)
    assert 300 < strangers < 500 and errors[0] == strangers  # 10%, searched as registered
    assert 700 < errors[2] < 900 and 140 < errors[3] < 260  # 20% and 5%
    kinds = Counter(kind for q in queries for kind in q.errors)
    assert set(kinds) == set(ERROR_KINDS)
    assert kinds["postcode_moved"] > kinds["dob_wrong"] > 0  # in proportion, not uniform


def test_a_search_has_at_most_one_error_of_a_group():
    people = list(Population(2).people(500))
    for query in noisy_queries(Population(6), people, 2000, default_variants()):
        dates = [kind for kind in query.errors if kind.startswith("dob")]
        postcodes = [kind for kind in query.errors if kind.startswith("postcode")]
        assert len(dates) <= 1 and len(postcodes) <= 1, query.errors
        assert len(set(query.errors)) == len(query.errors)


def test_date_errors_are_what_they_say():
    population = Population(8)
    noise = Noise(population, default_variants())
    for person in population.people(300):
        digits = person.date_of_birth.strftime("%Y%m%d")
        for kind, wrong in (("dob_digit", {1}), ("dob_transposed", {2}), ("dob_digits", {2, 3})):
            changed = noise.apply(person, kind)
            if changed is None:
                continue
            typed = changed.date_of_birth.strftime("%Y%m%d")
            assert sum(a != b for a, b in zip(digits, typed, strict=True)) in wrong, kind
            assert typed[:2] == digits[:2]  # no slip in the century
        wrong_date = noise.apply(person, "dob_wrong")
        if wrong_date is not None:
            assert wrong_date.date_of_birth != person.date_of_birth
            assert wrong_date.date_of_birth <= population.reference_date


def test_load_registers_with_valid_unique_ulns(database_url):
    db = Database(database_url)
    try:
        ulns = load(db, Population(77).people(300), "10000002", batch=128)
    finally:
        db.dispose()
    assert len(set(ulns)) == 300 and all(is_valid_uln(u) for u in ulns)


def test_cli_writes_people_and_queries(tmp_path):
    run_miap("synth", "--count", "50", "--seed", "7", "--queries", "20", "--out", str(tmp_path))
    people = list(csv.DictReader((tmp_path / "people.csv").open()))
    queries = list(csv.DictReader((tmp_path / "queries.csv").open()))
    assert len(people) == 50 and len(queries) == 20
    assert all(q["truth"] == "" or 0 <= int(q["truth"]) < 50 for q in queries)
    refused = run_miap("synth", "--count", "5", "--queries", "3", check=False)
    assert refused.returncode == 2 and "--out" in refused.stderr


def test_middle_and_preferred_names_in_realistic_shares():
    people = list(Population(12).people(4000))
    middle = sum(p.middle_name is not None for p in people) / len(people)
    preferred = sum(p.preferred_given_name is not None for p in people) / len(people)
    assert 0.5 < middle < 0.7 and 0.04 < preferred < 0.12
    assert all(p.middle_name != p.given_name for p in people)
    assert all(
        p.preferred_given_name not in (p.given_name, p.middle_name)
        for p in people
        if p.preferred_given_name
    )
    row = learner_details(next(p for p in people if p.middle_name and p.preferred_given_name))
    assert row["middle_other_name"] and row["preferred_given_name"]


def test_first_name_replaced_mostly_by_their_own_other_name():
    population = Population(13)
    noise = Noise(population, default_variants())
    own = other = 0
    for person in population.people(2000):
        if not (person.middle_name or person.preferred_given_name):
            continue
        changed = noise.apply(person, "given_replaced")
        if changed.given_name in (person.middle_name, person.preferred_given_name):
            own += 1
        else:
            other += 1
    assert 0.65 < own / (own + other) < 0.85  # OWN_NAME_SHARE, the rest another name


def test_most_moves_are_local():
    population = Population(14)
    noise = Noise(population, default_variants())
    where = Counter()
    for person in population.people(3000):
        moved = noise.apply(person, "postcode_moved").postcode
        assert moved != person.postcode and re.fullmatch(POSTCODE, moved)
        before, after = person.postcode.split()[0], moved.split()[0]
        if before == after:
            where["district"] += 1
        elif before.rstrip("0123456789") == after.rstrip("0123456789"):
            where["area"] += 1
        else:
            where["national"] += 1
    shares = {key: count / 3000 for key, count in where.items()}
    for key, share in MOVE_SHARES.items():
        assert abs(shares[key] - share) < 0.05, (key, shares)
