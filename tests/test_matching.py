"""The matching engine's field levels and decisions, without a database."""

import datetime as dt

import pytest

from miap.server.matching.comparison import (
    Probe,
    Stored,
    compare,
    dob_level,
    gender_level,
    is_exact,
    postcode_level,
)
from miap.server.matching.engine import (
    EXACT,
    MAX_MATCHES,
    NO_MATCH,
    PAIR_LIMIT,
    POSSIBLE,
    TOO_MANY,
    MatchWeights,
    Scored,
    ScoringMatcher,
    VerifyQuery,
    one_digit_variants,
    pair_level,
    swapped_day_month,
    transposed_variants,
)
from miap.server.matching.normalise import default_variants, name_key
from miap.server.soap.faults import FAILURE_FLAGS
from miap.storage.models import Learner

BORN = dt.date(2006, 5, 17)
STORED = Stored("MAREN", "TESTWOOD", "OLDHAM", None, BORN, "2", "LS14AP")


def wire_flags(outcome) -> list[str]:  # noqa: ANN001
    """The FailureFlag codes a verification's disagreements go out as."""
    return [FAILURE_FLAGS[flag] for flag in outcome.failure_flags]


def probe(**overrides) -> Probe:
    values = {
        "given": "MAREN",
        "family": "TESTWOOD",
        "previous_family": None,
        "date_of_birth": BORN,
        "gender": "2",
        "postcode": "LS14AP",
    }
    values.update(overrides)
    return Probe(**values)


def levels(**overrides) -> dict[str, str]:
    return compare(probe(**overrides), STORED, default_variants())


def test_all_fields_agree_is_exact():
    assert levels() == {
        "given": "exact",
        "family": "exact",
        "dob": "exact",
        "gender": "match",
        "postcode": "exact",
    }
    assert is_exact(levels())


@pytest.mark.parametrize(
    ("overrides", "field", "level"),
    [
        ({"given": "MARNE"}, "given", "typo"),  # transposition
        ({"given": "MAREM"}, "given", "typo"),  # one wrong letter
        ({"family": "TESTWOD"}, "family", "typo"),  # one letter missing
        ({"family": "OLDHAM"}, "family", "previous"),  # searched by the former name
        ({"family": "NEWNAME", "previous_family": "TESTWOOD"}, "family", "previous"),
        ({"given": "TESTWOOD", "family": "MAREN"}, "family", "swapped"),
        ({"date_of_birth": dt.date(2006, 5, 18)}, "dob", "one_digit"),
        ({"date_of_birth": dt.date(2016, 5, 17)}, "dob", "one_digit"),
        ({"date_of_birth": dt.date(2005, 7, 19)}, "dob", "different"),
        ({"date_of_birth": dt.date(2006, 7, 19)}, "dob", "year"),
        ({"date_of_birth": dt.date(2006, 5, 28)}, "dob", "year_month"),
        ({"date_of_birth": dt.date(2060, 5, 17)}, "dob", "transposed"),  # 2006 typed 2060
        ({"date_of_birth": dt.date(1998, 5, 17)}, "dob", "month_day"),  # a parent's year
        ({"date_of_birth": dt.date(2006, 1, 1)}, "dob", "year"),  # a placeholder
        ({"given": "TESTWOOD", "family": "NEWNAME"}, "given", "crossed"),
        ({"given": "NEWNAME", "family": "MAREN"}, "family", "crossed"),
        ({"given": "ASTRID"}, "given", "different"),
        ({"gender": "9"}, "gender", "unknown"),
        ({"gender": "1"}, "gender", "mismatch"),
        ({"postcode": "LS14AQ"}, "postcode", "sector"),
        ({"postcode": "LS19ZZ"}, "postcode", "district"),
        ({"postcode": "ZZ999ZZ"}, "postcode", "missing"),
        ({"postcode": "LS221AA"}, "postcode", "area"),  # the next town
        ({"postcode": "L14AP"}, "postcode", "different"),  # L is not LS
        ({"postcode": "M11AE"}, "postcode", "different"),
    ],
)
def test_each_real_error_has_its_level(overrides, field, level):
    assert levels(**overrides)[field] == level


def test_nickname_is_a_variant_and_still_exact():
    stored = Stored("ROBERT", "TESTWOOD", None, None, BORN, "1", "LS14AP")
    found = compare(probe(given="BOB", gender="1"), stored, default_variants())
    assert found["given"] == "variant" and is_exact(found)


def test_unknown_gender_still_exact_but_a_moved_postcode_is_not():
    assert is_exact(levels(gender="0"))
    assert not is_exact(levels(postcode="M11AE"))


def test_day_and_month_swapped():
    stored = Stored("MAREN", "TESTWOOD", None, None, dt.date(2006, 5, 7), "2", "LS14AP")
    assert (
        compare(probe(date_of_birth=dt.date(2006, 7, 5)), stored, default_variants())["dob"]
        == "swapped_dm"
    )
    assert swapped_day_month(dt.date(2006, 5, 7)) == dt.date(2006, 7, 5)
    assert swapped_day_month(dt.date(2006, 5, 17)) is None  # 17 is no month
    assert dob_level(dt.date(2006, 5, 7), dt.date(2006, 5, 7)) == "exact"


def test_partial_and_transposed_dates():
    assert dob_level(dt.date(2006, 5, 21), dt.date(2006, 5, 12)) == "transposed"
    assert dob_level(dt.date(2006, 5, 11), dt.date(2006, 5, 17)) == "one_digit"
    assert dob_level(dt.date(2006, 5, 17), dt.date(2006, 9, 1)) == "year"
    assert dob_level(dt.date(2005, 5, 18), dt.date(2006, 9, 1)) == "different"
    today = dt.date(2026, 11, 28)
    # 20060512: only 20060521 is a real date up to today (2060, 2000-65, 2006-50 are not).
    assert transposed_variants(dt.date(2006, 5, 12), today=today) == {dt.date(2006, 5, 21)}
    assert dt.date(1989, 5, 17) in transposed_variants(dt.date(1998, 5, 17), today=today)


def test_one_digit_variants_are_real_dates_in_range():
    variants = one_digit_variants(dt.date(2006, 5, 17), today=dt.date(2026, 11, 28))
    assert dt.date(2006, 5, 18) in variants and dt.date(2008, 5, 17) in variants
    assert dt.date(2006, 5, 17) not in variants
    assert all(dt.date(1900, 1, 1) <= d <= dt.date(2026, 11, 28) for d in variants)


def test_gender_and_postcode_helpers():
    assert gender_level("0", "1") == gender_level("1", "9") == "unknown"
    assert postcode_level(None, "LS14AP") == "missing"


# -- decisions ----------------------------------------------------------------------------------

WEIGHTS = MatchWeights(
    {
        "given": {"exact": 4, "variant": 3, "typo": 2, "similar": 1, "swapped": 2, "different": -4},
        "family": {
            "exact": 5,
            "previous": 3,
            "typo": 2,
            "similar": 1,
            "swapped": 2,
            "different": -5,
        },
        "dob": {"exact": 6, "swapped_dm": 3, "one_digit": 2, "different": -6},
        "gender": {"match": 1, "unknown": 0, "mismatch": -3},
        "postcode": {
            "exact": 3,
            "sector": 2,
            "district": 1,
            "area": 0,
            "missing": 0,
            "different": -1,
        },
    },
    threshold=8,
)
matcher = ScoringMatcher(WEIGHTS)


def scored(uln: str, **overrides) -> Scored:
    found = levels(**overrides)
    return Scored(int(uln[-3:]), uln, found, WEIGHTS.score(found))


def ranked(*items: Scored) -> list[Scored]:
    return sorted(items, key=lambda item: (-item.score, item.uln))


def test_decide_exact_only_when_one_learner_agrees_on_everything():
    exact, near = scored("1000000001"), scored("1000000002", postcode="M11AE")
    assert matcher.decide(ranked(exact, near)) == (EXACT, [exact])
    twin = scored("1000000003")
    code, chosen = matcher.decide(ranked(exact, twin))
    assert code == POSSIBLE and {c.uln for c in chosen} == {"1000000001", "1000000003"}


def test_decide_possible_best_first_and_threshold():
    typo = scored("1000000004", given="MARNE")  # 2+5+6+1+3 = 17
    moved = scored("1000000005", postcode="M11AE", given="MAREM")  # 2+5+6+1-1 = 13
    weak = scored("1000000006", given="PETRA", family="ELSEWHERE")  # -4-5+6+1+3 = 1
    assert matcher.decide(ranked(weak, moved, typo)) == (POSSIBLE, [typo, moved])
    assert matcher.decide([weak]) == (NO_MATCH, [])


def test_pair_rarity_only_for_both_names_exact():
    assert pair_level(levels(), holders=1) == "unique"
    assert pair_level(levels(), holders=3) == "few"
    assert pair_level(levels(), holders=5) == "several"
    assert pair_level(levels(), holders=PAIR_LIMIT) == "common"
    assert pair_level(levels(), holders=10 * PAIR_LIMIT) == "common"
    assert pair_level(levels(given="MARNE"), holders=1) == "other"


def test_wrong_date_or_crossed_name_is_never_exact():
    assert not is_exact(levels(date_of_birth=dt.date(1980, 1, 1)))
    assert not is_exact(levels(given="TESTWOOD", family="NEWNAME"))
    assert not is_exact(levels(given="TESTWOOD", family="MAREN"))


def test_decide_caps_at_ten():
    many = [scored(f"1000000{i:03d}", given="MARNE") for i in range(MAX_MATCHES + 1)]
    assert matcher.decide(many) == (TOO_MANY, [])
    assert matcher.decide(many[:MAX_MATCHES]) == (POSSIBLE, many[:MAX_MATCHES])


# -- verification -------------------------------------------------------------------------------


def learner(**overrides) -> Learner:
    values = {
        "uln": "1000000043",
        "given_key": "MAREN",
        "family_key": "TESTWOOD",
        "previous_family_key": None,
        "family_at16_key": None,
        "date_of_birth": BORN,
        "gender": "2",
        "postcode_key": "LS14AP",
    }
    values.update(overrides)
    return Learner(**values)


def test_verify_all_fields_match():
    outcome = matcher.verify(learner(), VerifyQuery("maren", "TESTWOOD", BORN, "2"))
    assert (outcome.names, outcome.date_of_birth_ok, outcome.gender_ok) == ("match", True, True)


def test_verify_swapped_names_are_similar_and_flagged():
    outcome = matcher.verify(learner(), VerifyQuery("Testwood", "Maren"))
    assert outcome.names == "similar"
    # Given name differs from stored given (VRF1) but equals stored family (no VRF2);
    # family name equals stored given (no VRF4) but differs from stored family (VRF5).
    assert wire_flags(outcome) == ["VRF1", "VRF5"]


def test_verify_typo_and_previous_family_name_are_similar():
    assert matcher.verify(learner(), VerifyQuery("Marne", "Testwood")).names == "similar"
    former = learner(previous_family_key="OLDHAM")
    outcome = matcher.verify(former, VerifyQuery("Maren", "Oldham"))
    assert outcome.names == "similar"
    assert "VRF6" not in wire_flags(outcome) and "VRF5" in wire_flags(outcome)


def test_verify_wrong_date_and_gender_are_flagged():
    outcome = matcher.verify(learner(), VerifyQuery("Maren", "Testwood", dt.date(2006, 5, 18), "1"))
    assert outcome.names == "match"
    assert not outcome.date_of_birth_ok and not outcome.gender_ok
    assert wire_flags(outcome)[-2:] == ["VRF7", "VRF8"]


def test_verify_different_names():
    outcome = matcher.verify(learner(), VerifyQuery("Petra", "Elsewhere"))
    assert outcome.names == "different"
    assert {"VRF1", "VRF2", "VRF4", "VRF5"} <= set(wire_flags(outcome))


def test_names_match_allows_variants_and_former_names_only():
    former = learner(given_key="ROBERT", previous_family_key=name_key("O'Neil"))
    assert matcher.names_match(former, "Bob", "testwood")
    assert matcher.names_match(former, "Robert", "O Neil")
    assert not matcher.names_match(former, "Robret", "Testwood")


def test_the_name_beside_a_crossed_one_is_new_not_different():
    assert levels(given="TESTWOOD", family="NEWNAME")["family"] == "new"
    assert levels(given="NEWNAME", family="MAREN")["given"] == "new"


def test_placeholder_date_keeps_the_year():
    assert dob_level(dt.date(2006, 1, 1), BORN) == "year"
    assert dob_level(dt.date(1979, 2, 11), BORN) == "different"


def test_given_name_typed_as_the_stored_middle_or_preferred_name():
    stored = Stored(
        "MAREN", "TESTWOOD", None, None, BORN, "2", "LS14AP", frozenset({"ASTRID", "JO"})
    )
    for given in ("ASTRID", "JO"):
        found = compare(probe(given=given), stored, default_variants())
        assert found["given"] == "other_name"
        assert not is_exact(found)
    assert compare(probe(given="KLARA"), stored, default_variants())["given"] == "different"


def test_a_moved_postcode_is_never_exact():
    for postcode in ("LS14AQ", "LS19ZZ", "LS221AA", "M11AE"):
        assert not is_exact(levels(postcode=postcode))
