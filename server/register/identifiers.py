"""ULN, UPN and UKPRN check algorithms (``docs/identifiers.md``) and ULN allocation."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

_ULN_RE = re.compile(r"[1-9][0-9]{9}")
_UPN_RE = re.compile(r"[A-Z][0-9]{11}[0-9A-Z]")
_UKPRN_RE = re.compile(r"[1-9][0-9]{7}")

#: The placeholder "temporary ULN" of learner-record feeds; it fails the checksum anyway.
TEMPORARY_ULN = "9999999999"

_UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ0123456789"


def uln_check_digit(prefix: str) -> int | None:
    """Check digit for a nine-digit ULN prefix, or None when no valid ULN has this prefix."""
    total = sum(int(d) * w for d, w in zip(prefix, range(10, 1, -1), strict=True))
    r = total % 11
    if r == 0:
        return None
    return 10 - r


def is_valid_uln(value: str | None) -> bool:
    """True for ten digits, not starting with 0, with a correct check digit."""
    if not value or not _ULN_RE.fullmatch(value):
        return False
    return uln_check_digit(value[:9]) == int(value[9])


def upn_check_letter(body: str) -> str:
    """Check letter for the last twelve characters of a UPN."""
    total = sum(w * _UPN_ALPHABET.index(ch) for w, ch in zip(range(2, 14), body, strict=True))
    return _UPN_ALPHABET[total % 23]


def is_valid_upn(value: str | None) -> bool:
    """True for a 13-character UPN (permanent or temporary) whose check letter is right."""
    if not value or not _UPN_RE.fullmatch(value):
        return False
    if value[0] not in _UPN_ALPHABET[:23] or value[12] in "IOS":
        return False
    return upn_check_letter(value[1:]) == value[0]


def is_valid_ukprn(value: str | None) -> bool:
    """True for an eight-digit UKPRN in 10000000–99999999."""
    return bool(value) and _UKPRN_RE.fullmatch(value) is not None


def random_uln(randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """Draw a ULN uniformly from all valid ULNs.

    Prefixes are drawn at random (never sequentially, so issued numbers reveal nothing about
    each other); a prefix with no valid check digit is skipped and another drawn. Uniqueness is
    the database's job: the caller inserts and draws again on a unique-constraint collision.
    """
    while True:
        prefix = str(100_000_000 + randbelow(900_000_000))
        check = uln_check_digit(prefix)
        if check is not None:
            # Every ULN drawn passes its check, so the placeholder 9999999999 (which fails it:
            # prefix 999999999 takes check digit 8) can never be issued.
            return prefix + str(check)
