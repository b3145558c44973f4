"""The deterministic matcher's rules, without a database (finds are tested in test_storage)."""

import datetime as dt

import pytest

from miap.server.matching import (
    Demographics,
    DeterministicMatcher,
    VerifyQuery,
    name_key,
    postcode_key,
)
from miap.storage.models import Learner


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("O'Neil", "ONEIL"),
        ("O Neil", "ONEIL"),
        ("oneil", "ONEIL"),
        ("  Smith-Jones ", "SMITHJONES"),
        ("Smith Jones", "SMITHJONES"),
        ("Zoë", "ZOE"),
        ("Ångström", "ANGSTROM"),
        ("---", None),
        (None, None),
    ],
)
def test_name_key(raw, key):
    assert name_key(raw) == key


@pytest.mark.parametrize("raw", ["LS1 4AP", "ls14ap", " Ls1  4aP "])
def test_postcode_key(raw):
    assert postcode_key(raw) == "LS14AP"


def stored(**overrides) -> Learner:
    person = Demographics(
        given_name="Maren",
        family_name="Testwood",
        date_of_birth=dt.date(2006, 5, 17),
        gender="2",
        postcode="LS1 4AP",
        previous_family_name=overrides.pop("previous_family_name", None),
    )
    learner = Learner(
        uln="1000000043",
        given_name=person.given_name,
        family_name=person.family_name,
        date_of_birth=person.date_of_birth,
        gender=person.gender,
        postcode=person.postcode,
        **person.keys,
    )
    for name, value in overrides.items():
        setattr(learner, name, value)
    return learner


matcher = DeterministicMatcher()


def test_verify_all_fields_match():
    outcome = matcher.verify(stored(), VerifyQuery("maren", "TESTWOOD", dt.date(2006, 5, 17), "2"))
    assert (outcome.names, outcome.date_of_birth_ok, outcome.gender_ok) == ("match", True, True)


def test_verify_swapped_names_are_similar_and_flagged():
    outcome = matcher.verify(stored(), VerifyQuery("Testwood", "Maren"))
    assert outcome.names == "similar"
    # Given name differs from stored given (VRF1) but equals stored family (no VRF2);
    # family name equals stored given (no VRF4) but differs from stored family (VRF5).
    assert outcome.failure_flags == ["VRF1", "VRF5"]


def test_verify_previous_family_name_is_similar():
    learner = stored(previous_family_name="Oldham", previous_family_key="OLDHAM")
    outcome = matcher.verify(learner, VerifyQuery("Maren", "Oldham"))
    assert outcome.names == "similar"
    assert "VRF6" not in outcome.failure_flags and "VRF5" in outcome.failure_flags


def test_verify_wrong_date_and_gender_are_flagged():
    outcome = matcher.verify(stored(), VerifyQuery("Maren", "Testwood", dt.date(2006, 5, 18), "1"))
    assert outcome.names == "match"
    assert not outcome.date_of_birth_ok and not outcome.gender_ok
    assert outcome.failure_flags[-2:] == ["VRF7", "VRF8"]


def test_verify_different_names():
    outcome = matcher.verify(stored(), VerifyQuery("Petra", "Elsewhere"))
    assert outcome.names == "different"
    assert {"VRF1", "VRF2", "VRF4", "VRF5"} <= set(outcome.failure_flags)


def test_names_match_accepts_previous_family_name_and_normalisation():
    learner = stored(previous_family_name="O'Neil", previous_family_key="ONEIL")
    assert matcher.names_match(learner, "MAREN", "testwood")
    assert matcher.names_match(learner, "Maren", "O Neil")
    assert not matcher.names_match(learner, "Marena", "Testwood")
