"""Search keys of the provider register: provider names and postcodes."""

from __future__ import annotations

import re

from anyascii import anyascii

from miap.server.matching.normalise import postcode_key

#: Longest name key stored (the column's length).
NAME_KEY_LENGTH = 255
#: A full UK postcode: outward code (area letters, district digit(s), optional letter or
#: digit), inward code (sector digit, unit letters). Upper case, one optional space.
_POSTCODE = re.compile(r"([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})")
#: An outward code alone (a postcode district), e.g. ``M1`` or ``SW1A``.
_DISTRICT = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]?")


def name_key(name: str) -> str:
    """The name transliterated to ASCII, upper case, every run of anything but letters and
    digits one space: ``Collège d'Écosse`` and ``COLLEGE D ECOSSE`` share a key, so names are
    searched without regard to case or accents. Words stay apart, so a search term matches
    within a name (``LONDON`` in ``CITY OF LONDON COLLEGE``)."""
    return " ".join(re.sub(r"[^A-Z0-9]+", " ", anyascii(name).upper()).split())[:NAME_KEY_LENGTH]


def full_postcode(value: str) -> tuple[str, str] | None:
    """(outward, inward) of a full postcode in any case and spacing, or None."""
    match = _POSTCODE.fullmatch(postcode_key(value) or "")
    return (match.group(1), match.group(2)) if match else None


def district_of(value: str) -> str | None:
    """The postcode district (outward code) of a full postcode or of an outward code alone."""
    parts = full_postcode(value)
    if parts:
        return parts[0]
    key = postcode_key(value) or ""
    return key if _DISTRICT.fullmatch(key) else None


__all__ = ["district_of", "full_postcode", "name_key", "postcode_key"]
