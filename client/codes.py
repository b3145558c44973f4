"""What the LRS codes mean, for readable output (response codes, genders, failure flags)."""

from __future__ import annotations

RESPONSE_CODES: dict[str, str] = {
    "WSRC0001": "no match",
    "WSRC0002": "too many matches",
    "WSRC0003": "possible match",
    "WSRC0004": "exact match",
    "WSRC0005": "learner registered",
    "WSRC0006": "learner updated",
    "WSRC0021": "learner could not be registered (same learner already registered?)",
    "WSRC0022": "linked learner found",
    "WSVRC001": "verified: all fields match",
    "WSVRC002": "verified: match on a linked ULN",
    "WSVRC003": "ULN found, names similar",
    "WSVRC004": "ULN found, names similar, on a linked ULN",
    "WSVRC005": "does not match",
    "WSVRC006": "ULN not found",
    "WSEC0136": "supplied ULN is invalid",
}

GENDERS: dict[str, str] = {"0": "not known", "1": "male", "2": "female", "9": "not specified"}

FAILURE_FLAGS: dict[str, str] = {
    "VRF1": "given name differs from the stored given name",
    "VRF2": "given name differs from the stored family name",
    "VRF3": "given name differs from the stored previous family name",
    "VRF4": "family name differs from the stored given name",
    "VRF5": "family name differs from the stored family name",
    "VRF6": "family name differs from the stored previous family name",
    "VRF7": "date of birth differs",
    "VRF8": "gender differs",
}


def describe(code: str | None) -> str:
    """``"WSRC0004 exact match"``; an unknown code is returned as it is."""
    if not code:
        return "(no response code)"
    meaning = RESPONSE_CODES.get(code)
    return f"{code} {meaning}" if meaning else code
