"""Names in every script: registered (never refused as duplicates of each other), returned
exactly as given, found again by the same name and by its ASCII transliteration.

The transliteration is computed here with ``anyascii``, the library the register's name keys
use, so the test states the rule rather than a table. All people are synthetic."""

from __future__ import annotations

import pytest
from anyascii import anyascii

from miap.client import LrsClient
from tests.conftest import TEST_PASSWORD, TEST_UKPRN
from tests.support import synthetic_name, synthetic_person, synthetic_postcode

#: (GivenName, FamilyName); None is replaced by a synthetic Latin name.
PEOPLE = {
    "Chinese family name": (None, "李"),
    "Norwegian family name": (None, "Ødegård"),
    "Polish given name": ("Łukasz", None),
    "Greek given name": ("Σοφία", None),
    "Cyrillic given name": ("Дмитрий", None),
    "Arabic given name": ("محمد", None),
    "Greek both": ("Σοφία", "Παπαδοπούλου"),
    "Cyrillic both": ("Дмитрий", "Смирнов"),
    "Arabic both": ("محمد", "الحسن"),
    "Chinese both": ("小龙", "李"),
    "Latin with marks": ("Łukasz", "Ødegård"),
}


@pytest.fixture(scope="module")
def lrs(server):
    with LrsClient(server.url, TEST_UKPRN, TEST_PASSWORD, "scripts.tester") as client:
        yield client


def person_named(given: str | None, family: str | None, **extra: str) -> dict:
    person = synthetic_person(**extra)
    person["GivenName"] = given or synthetic_name()
    person["FamilyName"] = family or synthetic_name()
    return person


def register(lrs: LrsClient, person: dict) -> str:
    code, uln = lrs.register({**person, "VerificationType": "1", "AbilityToShare": "1"})
    assert (code, uln is not None) == ("WSRC0005", True), person
    return uln


def find(lrs: LrsClient, person: dict, given: str, family: str) -> dict:
    return lrs.find_by_demographics(
        given,
        family,
        person["DateOfBirth"],
        person["Gender"],
        person["LastKnownPostCode"],
    )


@pytest.mark.parametrize("case", list(PEOPLE))
def test_name_registers_round_trips_and_is_found(lrs, case):
    person = person_named(*PEOPLE[case])
    given, family = person["GivenName"], person["FamilyName"]
    uln = register(lrs, person)

    by_uln = lrs.find_by_uln(uln, given, family)
    assert by_uln["ResponseCode"] == "WSRC0004"
    [learner] = by_uln["Learner"]
    assert (learner["GivenName"], learner["FamilyName"]) == (given, family)  # exactly as given
    assert (by_uln["GivenName"], by_uln["FamilyName"]) == (given, family)  # the echo too

    same = find(lrs, person, given, family)
    assert same["ResponseCode"] == "WSRC0004"
    assert [x["ULN"] for x in same["Learner"]] == [uln]
    assert (same["Learner"][0]["GivenName"], same["Learner"][0]["FamilyName"]) == (given, family)

    ascii_given, ascii_family = anyascii(given), anyascii(family)
    assert ascii_given.isascii() and ascii_family.isascii()
    transliterated = find(lrs, person, ascii_given, ascii_family)
    assert transliterated["ResponseCode"] in ("WSRC0004", "WSRC0003"), (ascii_given, ascii_family)
    assert uln in [x["ULN"] for x in transliterated["Learner"]]
    [found] = [x for x in transliterated["Learner"] if x["ULN"] == uln]
    assert (found["GivenName"], found["FamilyName"]) == (given, family)  # stored as given

    # The same person again is a genuine duplicate.
    assert lrs.register({**person, "VerificationType": "1", "AbilityToShare": "1"}) == (
        "WSRC0021",
        None,
    )


@pytest.mark.parametrize(
    "first, second",
    [
        (("Wei", "李"), ("Wei", "王")),
        (("Дмитрий", "Смирнов"), ("Σοφία", "Смирнов")),
        (("محمد", "الحسن"), ("علي", "الحسن")),
        (("Łukasz", "Ødegård"), ("Łukasz", "Åsgård")),
        (("小龙", "李"), ("小虎", "李")),
    ],
)
def test_different_people_in_a_script_are_not_duplicates(lrs, first, second):
    """Two different people who share a birth date, gender and postcode and whose names differ
    only in non-Latin letters are two learners, not one registered twice."""
    shared = {"DateOfBirth": "2006-03-14", "Gender": "2", "LastKnownPostCode": synthetic_postcode()}
    one = register(lrs, person_named(*first, **shared))
    other = register(lrs, person_named(*second, **shared))
    assert one != other


def test_transliteration_is_what_the_test_expects():
    """The examples the issue names (a check of the test's own premise)."""
    assert [anyascii(name) for name in ("李", "Ødegård", "Łukasz", "Σοφία")] == [
        "Li",
        "Odegard",
        "Lukasz",
        "Sofia",
    ]
