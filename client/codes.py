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
    "WSRC0030": "batch accepted",
    "WSRC0031": "batch not finished yet",
    "WSRC0032": "batch finished",
}

#: Fault (MIAPAPIException) ErrorCodes: the spec's, then miap's own (docs/contract.md).
FAULT_CODES: dict[str, str] = {
    "WSEC0001": "badly formed request (schema validation)",
    "WSEC0004": "service out of hours",
    "WSEC0136": "supplied ULN is invalid",
    "WSEC0206": "learner has not agreed to share data",
    "WSEC0208": "learner could not be verified",
    "WSEC0701": "no learner holds the ULN to be updated",
    "WSEC0702": "VersionNumber is out of date",
    "WSEC0703": "the update would duplicate another learner",
    "WSEC0704": "the ULN has been merged into another ULN",
    "WSEC0705": "the ULN has been withdrawn",
    "WSEC0706": "the learner's details could not be stored",
    "WSEC0801": "authentication failed",
    "WSEC0802": "the organisation is not an active provider",
    "WSEC0803": "the request names no organisation (UKPRN)",
    "WSEC0999": "internal error",
    "WSEC1001": "LearnerRecordCount does not equal the learners sent",
    "WSEC1002": "no batch job of this organisation has that JobID",
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
    meaning = RESPONSE_CODES.get(code) or FAULT_CODES.get(code)
    return f"{code} {meaning}" if meaning else code
