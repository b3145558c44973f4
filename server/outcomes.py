"""What a domain operation answers, as domain values; transports map them to wire codes.

The LearnerService's table is ``server/soap/faults.py``'s ``OUTCOME_CODES``; a code such as
WSRC0004 is written there once and nowhere in the domain.
"""

from __future__ import annotations

import enum


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
