"""ULN, UPN and UKPRN rules: every vector of docs/identifiers.md, plus allocation."""

import random

import pytest

from miap.server.register.identifiers import (
    TEMPORARY_ULN,
    is_valid_ukprn,
    is_valid_uln,
    is_valid_upn,
    random_uln,
    uln_check_digit,
    upn_check_letter,
)

VALID_ULNS = [
    "1000000043",
    "1026893096",
    "1964986809",
    "8383558804",
    "6936002314",
    "4444599390",
    "1174112637",
    "1026922983",
    "9276308686",
]
INVALID_ULNS = ["1000000063", "100000004", "0123456789", "9999999999", "", None, "10000000431"]


@pytest.mark.parametrize("uln", VALID_ULNS)
def test_valid_ulns(uln):
    assert is_valid_uln(uln)


@pytest.mark.parametrize("uln", INVALID_ULNS)
def test_invalid_ulns(uln):
    assert not is_valid_uln(uln)


@pytest.mark.parametrize("uln", VALID_ULNS)
def test_weights_ten_to_one_sum_to_ten_mod_eleven(uln):
    assert sum(int(d) * w for d, w in zip(uln, range(10, 0, -1), strict=True)) % 11 == 10


def test_about_one_prefix_in_eleven_has_no_check_digit():
    rng = random.Random(7)
    prefixes = [str(rng.randrange(100_000_000, 1_000_000_000)) for _ in range(22_000)]
    without = sum(uln_check_digit(p) is None for p in prefixes)
    assert 1700 < without < 2300  # 2000 expected


def test_allocation_skips_prefixes_without_check_digit():
    # 100000006: weighted sum 10 + 6*2 = 22, divisible by 11 -> no valid ULN; then 100000004.
    draws = iter([6, 4])
    assert uln_check_digit("100000006") is None
    assert random_uln(lambda _bound: next(draws)) == "1000000043"


def test_allocation_never_issues_the_temporary_placeholder():
    """The placeholder's own prefix, drawn, gives the prefix's one valid ULN instead."""
    assert not is_valid_uln(TEMPORARY_ULN)
    assert random_uln(lambda _bound: 899_999_999) == "9999999998"
    # The fifty highest prefixes, in turn (one without a check digit is passed over).
    draws = iter(range(899_999_999, 899_999_949, -1))
    highest = {random_uln(lambda _bound: next(draws)) for _ in range(45)}
    assert TEMPORARY_ULN not in highest and all(is_valid_uln(uln) for uln in highest)


def test_allocated_ulns_are_valid_and_not_sequential():
    ulns = [random_uln() for _ in range(500)]
    assert all(is_valid_uln(u) for u in ulns)
    assert len(set(ulns)) == 500
    gaps = {abs(int(a) - int(b)) for a, b in zip(ulns, ulns[1:], strict=False)}
    assert min(gaps) > 100  # no run of neighbouring numbers


def test_upn_vector():
    assert is_valid_upn("B801200005001")


@pytest.mark.parametrize(
    "upn",
    ["A801200005001", "B80120000500", "b801200005001", "I801200005001", "B80120000500S", None],
)
def test_invalid_upns(upn):
    assert not is_valid_upn(upn)


def test_temporary_upn_ending_in_a_letter():
    body = "80120000500A"
    assert is_valid_upn(upn_check_letter(body) + body)


@pytest.mark.parametrize("ukprn", ["10000000", "10012345", "99999999"])
def test_valid_ukprns(ukprn):
    assert is_valid_ukprn(ukprn)


@pytest.mark.parametrize("ukprn", ["09999999", "1000000", "100000000", "1000000A", "", None])
def test_invalid_ukprns(ukprn):
    assert not is_valid_ukprn(ukprn)
