"""What a domain operation answers, as domain values; transports map them to wire codes.

The LearnerService's table is ``server/soap/faults.py``'s ``OUTCOME_CODES``; a code such as
WSRC0004 is written there once and nowhere in the domain.
"""

from __future__ import annotations

import enum


class Disagreement(enum.Enum):
    """One comparison of a verification that does not agree, in the order the answer lists
    them: each incoming name against the stored given, family and previous family names, then
    the date of birth and the gender."""

    GIVEN_VS_GIVEN = "incoming given name vs stored given name"
    GIVEN_VS_FAMILY = "incoming given name vs stored family name"
    GIVEN_VS_PREVIOUS = "incoming given name vs stored previous family name"
    FAMILY_VS_GIVEN = "incoming family name vs stored given name"
    FAMILY_VS_FAMILY = "incoming family name vs stored family name"
    FAMILY_VS_PREVIOUS = "incoming family name vs stored previous family name"
    DATE_OF_BIRTH = "date of birth"
    GENDER = "gender"


class Outcome(enum.Enum):
    # Finds (demographics, by ULN) and each ULN of retrieveULNs.
    NO_MATCH = "no match"
    TOO_MANY = "too many matches"
    POSSIBLE = "possible matches"
    EXACT = "exact match"
    LINKED = "linked learner found"
    # Registration and update.
    REGISTERED = "registered"
    NOT_REGISTERED = "not registered: already on the register"
    UPDATED = "updated"
    # Verification.
    VERIFIED = "verified"
    VERIFIED_LINKED = "verified on a linked ULN"
    VERIFIED_SIMILAR = "names similar"
    VERIFIED_SIMILAR_LINKED = "names similar, on a linked ULN"
    NOT_VERIFIED = "does not match"
    ULN_NOT_FOUND = "ULN not found"
    #: retrieveULNs: the ULN asked for fails its check digit.
    INVALID_ULN = "invalid ULN"
    # Reports.
    REPORT_ENTRIES = "report has entries"
    REPORT_EMPTY = "report is empty"
    # Batches (SubmitBatch / SubmitVerifyBatch and their outputs).
    BATCH_ACCEPTED = "batch accepted: a job was created"
    BATCH_PENDING = "batch not finished yet"
    BATCH_FINISHED = "batch finished: every learner's outcome is given"
    # Learning records (PLR GetLearnerLearningEvents, LearnerService getLearnerRecord).
    RECORD_FOUND = "learning record found"
    RECORD_LINKED = "learning record found under the master of a linked ULN"
    NOT_SHARED = "the learner has not agreed to share their record"
    RECORD_NOT_VERIFIED = "the details given do not verify against the ULN"
    # The learner's own changes (PLR UpdateLearnerSubsetFields).
    SUBSET_UPDATED = "learner's own fields updated"
