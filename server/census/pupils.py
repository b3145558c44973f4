"""The census extract's format: its header, one row's validation, and the learner it makes.

A row is either a ``Pupil`` (valid, with its matching keys computed exactly as a registration
would store them) or a ``Rejected`` with the reason. No database here.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
from dataclasses import dataclass

from miap.server.matching.engine import Demographics
from miap.server.matching.normalise import NameVariants, name_key, postcode_key, sound_key
from miap.server.register import learners

#: The matching keys' functions, memoised: a census repeats the same few thousand names and
#: postcodes a million times, and each key is a pure function of its one argument (the very
#: functions ``Demographics.keys`` calls, so the values are the ones a registration stores).
_name_key = functools.lru_cache(maxsize=1 << 16)(name_key)
_sound_key = functools.lru_cache(maxsize=1 << 16)(sound_key)
_postcode_key = functools.lru_cache(maxsize=1 << 18)(postcode_key)

#: ``identifiers.is_valid_upn``, unrolled for a million rows (a test holds them equal).
_UPN_FORM = re.compile(r"[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]")
_UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_UPN_VALUE = {ch: i for i, ch in enumerate(_UPN_LETTERS + "0123456789")}.__getitem__
_UPN_WEIGHTS = tuple(range(2, 14))


def valid_upn(value: str) -> bool:
    """``is_valid_upn(value)``: thirteen characters, the check letter first (not I, O or S),
    eleven digits, a last digit or letter (not I, O or S), and the check letter right."""
    if not _UPN_FORM.fullmatch(value):
        return False
    total = sum(map(operator.mul, _UPN_WEIGHTS, map(_UPN_VALUE, value[1:])))
    return _UPN_LETTERS[total % 23] == value[0]


HEADER = (
    "UPN",
    "Surname",
    "Forename",
    "MiddleNames",
    "PreferredSurname",
    "PreferredForename",
    "DOB",
    "Gender",
    "Postcode",
    "LAESTAB",
    "NCYearActual",
)
GENDERS = {"M": "1", "F": "2"}
#: The LRS "postcode not known", stored for a pupil whose postcode the census leaves empty.
UNKNOWN_POSTCODE = "ZZ99 9ZZ"
#: What a learner loaded from the census is registered with (docs/census.md says why):
#: VerificationType 1, "relationship with school" (the school enrolled the child and returns
#: them in its statutory census); AbilityToShare 0, "privacy notice not seen" (nobody showed
#: the learner the register's notice: a provider that does sets it when it updates them).
VERIFICATION_TYPE = "1"
ABILITY_TO_SHARE = "0"
NAME_LENGTH = 35

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_POSTCODE = re.compile(
    r"(?:[A-Z]{1,2}[0-9R][0-9A-Z]? ?[0-9][ABD-HJLNP-UW-Z]{2}|BFPO ?[0-9]{1,4})", re.IGNORECASE
)
_LAESTAB = re.compile(r"[0-9]{7}")
_NC_YEAR = re.compile(r"[A-Z0-9]{1,3}")
_EARLIEST = dt.date(1900, 1, 1)


class CensusFormatError(ValueError):
    """The file is not a census extract (its header is wrong); nothing is loaded."""


@dataclass(frozen=True)
class Pupil:
    line: int
    upn: str
    family_name: str
    given_name: str
    middle_other_name: str | None
    preferred_family_name: str | None
    preferred_given_name: str | None
    date_of_birth: dt.date
    gender: str  # "1" or "2"
    postcode: str
    laestab: str
    nc_year: str | None

    @property
    def demographics(self) -> Demographics:
        return Demographics.of(self)

    def details(self) -> dict:
        """The details a registration of this pupil carries (``learners.stored_columns``)."""
        return {
            "given_name": self.given_name,
            "middle_other_name": self.middle_other_name,
            "family_name": self.family_name,
            "preferred_given_name": self.preferred_given_name,
            "date_of_birth": self.date_of_birth,
            "gender": self.gender,
            "postcode": self.postcode,
            "verification_type": VERIFICATION_TYPE,
            "ability_to_share": ABILITY_TO_SHARE,
        }


@dataclass(frozen=True)
class Rejected:
    line: int
    upn: str | None
    reason: str


def check_header(fields: list[str]) -> None:
    cleaned = [field.strip().lstrip("\ufeff") for field in fields]
    if tuple(cleaned) != HEADER:
        raise CensusFormatError(f"the header must be {','.join(HEADER)}, not {','.join(cleaned)}")


#: Characters XML 1.0 cannot carry.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _name(value: str, label: str, required: bool) -> str | None:
    value = value.strip()
    if not value:
        if required:
            raise _Refused(f"{label} is empty")
        return None
    if len(value) > NAME_LENGTH:
        raise _Refused(f"{label} is longer than {NAME_LENGTH} characters")
    key = _name_key(value)
    if required and not (key and key.isascii() and key.isalpha()):
        raise _Refused(f"{label} has no letters")
    return value


class _Refused(Exception):
    pass


def parse(line: int, fields: list[str], today: dt.date) -> Pupil | Rejected:
    """One data row of the extract (``line``: its line number, the header being line 1)."""
    upn = fields[0].strip().upper() if fields else ""
    upn_ok = valid_upn(upn)
    shown = upn if upn_ok else None
    if len(fields) != len(HEADER):
        return Rejected(line, shown, f"{len(fields)} fields, not {len(HEADER)}")
    for label, value in zip(HEADER, fields, strict=True):
        if _NOT_XML.search(value):
            # No answer of the register could carry it: every find of the pupil would fail.
            return Rejected(line, shown, f"{label} holds a control character")
    try:
        if not upn_ok:
            raise _Refused(f"UPN {upn[:20]!r} fails its check letter or is not a UPN")
        family = _name(fields[1], "Surname", True)
        given = _name(fields[2], "Forename", True)
        middle = _name(fields[3], "MiddleNames", False)
        preferred_family = _name(fields[4], "PreferredSurname", False)
        preferred_given = _name(fields[5], "PreferredForename", False)
        text = fields[6].strip()
        try:
            if not _DATE.fullmatch(text):
                raise ValueError
            born = dt.date.fromisoformat(text)
        except ValueError:
            raise _Refused(f"DOB {text[:20]!r} is not a date YYYY-MM-DD") from None
        if born > today or born < _EARLIEST:
            raise _Refused(f"DOB {text} is in the future or before 1900")
        gender = GENDERS.get(fields[7].strip().upper())
        if gender is None:
            raise _Refused(f"Gender {fields[7].strip()[:10]!r} is not M or F")
        postcode = " ".join(fields[8].split()).upper()
        if not postcode:
            postcode = UNKNOWN_POSTCODE
        elif not _POSTCODE.fullmatch(postcode):
            raise _Refused(f"Postcode {postcode[:20]!r} is not a UK postcode")
        laestab = fields[9].strip()
        if not _LAESTAB.fullmatch(laestab):
            raise _Refused(f"LAESTAB {laestab[:20]!r} is not seven digits")
        nc_year = fields[10].strip().upper() or None
        if nc_year is not None and not _NC_YEAR.fullmatch(nc_year):
            raise _Refused(f"NCYearActual {nc_year[:20]!r} is not a year group")
    except _Refused as refused:
        return Rejected(line, shown, str(refused))
    return Pupil(
        line=line,
        upn=upn,
        family_name=family,
        given_name=given,
        middle_other_name=middle,
        preferred_family_name=preferred_family,
        preferred_given_name=preferred_given,
        date_of_birth=born,
        gender=gender,
        postcode=postcode,
        laestab=laestab,
        nc_year=nc_year,
    )


#: The learner columns every census learner shares (the tier follows the verification type).
_SAMPLE = learners.stored_columns(
    {
        "given_name": "A",
        "family_name": "B",
        "date_of_birth": dt.date(2010, 1, 1),
        "gender": "1",
        "postcode": UNKNOWN_POSTCODE,
        "verification_type": VERIFICATION_TYPE,
        "ability_to_share": ABILITY_TO_SHARE,
    }
)
CONSTANT_COLUMNS = {
    "verification_type": VERIFICATION_TYPE,
    "ability_to_share": ABILITY_TO_SHARE,
    "tier_level": _SAMPLE["tier_level"],
    "learner_status": learners.ACTIVE,
}


def keys(pupil: Pupil) -> dict:
    """``pupil.demographics.keys`` (the stored matching keys), from the memoised functions."""
    given, family = _name_key(pupil.given_name), _name_key(pupil.family_name)
    return {
        "given_key": given,
        "family_key": family,
        "postcode_key": _postcode_key(pupil.postcode),
        "given_sound": _sound_key(given),
        "family_sound": _sound_key(family),
    }


@functools.lru_cache(maxsize=1 << 17)
def _blocking(given: str | None, family: str | None, variants: NameVariants) -> tuple[str, str]:
    """The ``sounds`` and ``givens`` staging columns of a name pair (see ``staged_values``),
    with the given-name variants the matcher uses (``variants`` is cached by identity)."""
    givens = variants.variants(given) | {given}
    sounds = {sound_key(key) for key in givens | {family}} - {None}
    return ",".join(sorted(sounds)), ",".join(sorted(givens - {None}))


def staged_values(pupil: Pupil, variants: NameVariants) -> tuple:
    """The staging columns of a valid pupil, in the order of ``STAGED``: details, the stored
    matching keys, and the blocking values the set-based candidate check reads (see
    ``loader``). A tuple, not a dict: the census loader stages a million of them."""
    given, family = _name_key(pupil.given_name), _name_key(pupil.family_name)
    sounds, givens = _blocking(given, family, variants)
    return (
        pupil.line,
        pupil.upn,
        pupil.laestab,
        pupil.nc_year,
        pupil.given_name,
        pupil.middle_other_name,
        pupil.family_name,
        pupil.preferred_given_name,
        pupil.preferred_family_name,
        pupil.date_of_birth,
        pupil.gender,
        pupil.postcode,
        given,
        family,
        _postcode_key(pupil.postcode),
        _sound_key(given),
        _sound_key(family),
        sounds,
        givens,
    )


#: The keys of ``staged``, in order (``staged_values``).
STAGED = (
    "line",
    "upn",
    "laestab",
    "nc_year",
    "given_name",
    "middle_other_name",
    "family_name",
    "preferred_given_name",
    "preferred_family_name",
    "date_of_birth",
    "gender",
    "postcode",
    "given_key",
    "family_key",
    "postcode_key",
    "given_sound",
    "family_sound",
    "sounds",
    "givens",
)
