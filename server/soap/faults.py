"""The SOAP services' one table of codes: every fault they answer with, and every domain
outcome and refusal mapped to its WSRC/WSVRC/WSEC code.

The spec fixes WSEC0001 (badly formed request), WSEC0136 (invalid ULN), WSEC0206 and WSEC0208.
The other WSEC codes are ours, in ranges the national service's published codes do not use:
07xx learner-update refusals (conflicts, merged or withdrawn ULNs, details not storable), 08xx
authentication and authorisation (0801-0803 who the caller is, 0810-0815 the access policy's
refusals, ``docs/access.md``), 09xx transport and envelope problems. ``docs/contract.md``
lists them for integrators.
"""

from __future__ import annotations

from dataclasses import dataclass

from miap.server import exceptions
from miap.server.outcomes import Disagreement, Outcome


@dataclass(frozen=True)
class ErrorCode:
    code: str
    description: str
    http_status: int = 500
    #: SOAP 1.1 faultcode (local name in the envelope namespace). Bad input is the client's.
    faultcode: str = "Client"


BADLY_FORMED = ErrorCode("WSEC0001", "The request was badly formed (XSD validation error)")
INVALID_ULN = ErrorCode("WSEC0136", "Supplied ULN is invalid")
NO_SHARING = ErrorCode("WSEC0206", "Learner has not agreed to share data")
NOT_VERIFIED = ErrorCode("WSEC0208", "Learner could not be verified")

LEARNER_NOT_FOUND = ErrorCode("WSEC0701", "No learner holds the ULN to be updated")
VERSION_CONFLICT = ErrorCode(
    "WSEC0702", "The learner was changed by someone else: VersionNumber is out of date"
)
UPDATE_DUPLICATES = ErrorCode(
    "WSEC0703", "The update would make this learner identical to another registered learner"
)
ULN_MERGED = ErrorCode(
    "WSEC0704", "The ULN has been merged into another ULN: update the master learner instead"
)
ULN_WITHDRAWN = ErrorCode("WSEC0705", "The ULN has been withdrawn and can no longer be updated")
NOT_STORABLE = ErrorCode(
    "WSEC0706", "The learner's details could not be stored as given; nothing was changed"
)

AUTHENTICATION_FAILED = ErrorCode(
    "WSEC0801", "Authentication failed: unknown organisation or wrong OrgPassword"
)
PROVIDER_NOT_ACTIVE = ErrorCode("WSEC0802", "The organisation is not an active provider")
IDENTITY_MISSING = ErrorCode("WSEC0803", "The request names no organisation (UKPRN)")

# 081x: the access policy's refusals (server/access/policy.py).
ACCESS_REFUSED = ErrorCode("WSEC0810", "Access refused")
NOT_OWN_RECORD = ErrorCode("WSEC0811", "A learner may see and change their own record only")
NO_RELATION = ErrorCode(
    "WSEC0812", "The organisation has no relation to this learner that allows this"
)
AGGREGATE_ONLY = ErrorCode("WSEC0813", "This user type may see aggregate data only")
USER_TYPE_NOT_GRANTED = ErrorCode(
    "WSEC0814", "The organisation is not granted the user type it claims"
)
ACTION_NOT_PERMITTED = ErrorCode("WSEC0815", "This user type may not do this")

EMPTY_REQUEST = ErrorCode("WSEC0901", "The request body is empty", 400)
NOT_WELL_FORMED = ErrorCode("WSEC0902", "The request is not well-formed XML", 400)
DTD_FORBIDDEN = ErrorCode("WSEC0903", "Document type and entity declarations are not accepted", 400)
TOO_LARGE = ErrorCode("WSEC0904", "The request body is larger than this service accepts", 413)
NOT_SOAP11 = ErrorCode("WSEC0905", "The request is not a SOAP 1.1 envelope", 400, "VersionMismatch")
BAD_ENVELOPE = ErrorCode("WSEC0906", "The SOAP envelope is not usable", 400)
UNKNOWN_OPERATION = ErrorCode("WSEC0907", "The body names no operation of this service")
NOT_UNDERSTOOD = ErrorCode(
    "WSEC0908", "A SOAP header marked mustUnderstand is not understood", 500, "MustUnderstand"
)
METHOD_NOT_ALLOWED = ErrorCode("WSEC0909", "Use POST for operations, GET for ?wsdl or ?xsd", 405)
NOT_FOUND = ErrorCode("WSEC0910", "No service at this address", 404)
INTERNAL = ErrorCode("WSEC0999", "Internal error; the request was not carried out", 500, "Server")

# 10xx: batches (ours).
BATCH_COUNT_MISMATCH = ErrorCode(
    "WSEC1001", "LearnerRecordCount does not equal the number of learners in the batch"
)
JOB_NOT_FOUND = ErrorCode("WSEC1002", "No batch job of this organisation has that JobID")


class ServiceFault(Exception):
    """Raised anywhere in request handling; becomes a SOAP Fault with MIAPAPIException detail."""

    def __init__(self, error: ErrorCode, further_details: str = "") -> None:
        super().__init__(f"{error.code}: {further_details or error.description}")
        self.error = error
        self.further_details = further_details


#: Each domain refusal's fault. A subclass not listed answers as its nearest listed base.
DOMAIN_FAULTS: dict[type[exceptions.DomainError], ErrorCode] = {
    exceptions.InvalidDetails: BADLY_FORMED,
    exceptions.InvalidUln: INVALID_ULN,
    exceptions.LearnerNotFound: LEARNER_NOT_FOUND,
    exceptions.VersionConflict: VERSION_CONFLICT,
    exceptions.WouldDuplicate: UPDATE_DUPLICATES,
    exceptions.UlnMerged: ULN_MERGED,
    exceptions.UlnWithdrawn: ULN_WITHDRAWN,
    exceptions.DetailsNotStorable: NOT_STORABLE,
    exceptions.UlnsExhausted: INTERNAL,
    exceptions.IdentityMissing: IDENTITY_MISSING,
    exceptions.AuthenticationFailed: AUTHENTICATION_FAILED,
    exceptions.ProviderNotActive: PROVIDER_NOT_ACTIVE,
    exceptions.DomainError: INTERNAL,
    exceptions.BatchCountMismatch: BATCH_COUNT_MISMATCH,
    exceptions.JobNotFound: JOB_NOT_FOUND,
    exceptions.LearnerNotVerified: NOT_VERIFIED,
    exceptions.AccessRefused: ACCESS_REFUSED,
    exceptions.NotOwnRecord: NOT_OWN_RECORD,
    exceptions.NoRelation: NO_RELATION,
    exceptions.AggregateOnly: AGGREGATE_ONLY,
    exceptions.UserTypeNotGranted: USER_TYPE_NOT_GRANTED,
    exceptions.ActionNotPermitted: ACTION_NOT_PERMITTED,
}

#: Each domain outcome's response code on the wire.
OUTCOME_CODES: dict[Outcome, str] = {
    Outcome.NO_MATCH: "WSRC0001",
    Outcome.TOO_MANY: "WSRC0002",
    Outcome.POSSIBLE: "WSRC0003",
    Outcome.EXACT: "WSRC0004",
    Outcome.LINKED: "WSRC0022",
    Outcome.REGISTERED: "WSRC0005",
    Outcome.NOT_REGISTERED: "WSRC0021",
    # The spec names no success code for an update; this one is ours.
    Outcome.UPDATED: "WSRC0006",
    Outcome.VERIFIED: "WSVRC001",
    Outcome.VERIFIED_LINKED: "WSVRC002",
    Outcome.VERIFIED_SIMILAR: "WSVRC003",
    Outcome.VERIFIED_SIMILAR_LINKED: "WSVRC004",
    Outcome.NOT_VERIFIED: "WSVRC005",
    Outcome.ULN_NOT_FOUND: "WSVRC006",
    Outcome.INVALID_ULN: INVALID_ULN.code,
    # A report with entries in its range, and one with none (our choice, as for finds).
    Outcome.REPORT_ENTRIES: "WSRC0004",
    Outcome.REPORT_EMPTY: "WSRC0001",
    # Batches (ours): accepted, not finished yet, finished with every learner's outcome.
    Outcome.BATCH_ACCEPTED: "WSRC0030",
    Outcome.BATCH_PENDING: "WSRC0031",
    Outcome.BATCH_FINISHED: "WSRC0032",
    # Learning records: found, found under the master of a linked ULN (as finds answer it),
    # not shared by the learner, details not verified (the spec's codes, as response codes).
    Outcome.RECORD_FOUND: "WSRC0004",
    Outcome.RECORD_LINKED: "WSRC0022",
    Outcome.NOT_SHARED: NO_SHARING.code,
    Outcome.RECORD_NOT_VERIFIED: NOT_VERIFIED.code,
    Outcome.SUBSET_UPDATED: "WSRC0006",
}


#: Each verification disagreement's FailureFlag on the wire.
FAILURE_FLAGS: dict[Disagreement, str] = {
    Disagreement.GIVEN_VS_GIVEN: "VRF1",
    Disagreement.GIVEN_VS_FAMILY: "VRF2",
    Disagreement.GIVEN_VS_PREVIOUS: "VRF3",
    Disagreement.FAMILY_VS_GIVEN: "VRF4",
    Disagreement.FAMILY_VS_FAMILY: "VRF5",
    Disagreement.FAMILY_VS_PREVIOUS: "VRF6",
    Disagreement.DATE_OF_BIRTH: "VRF7",
    Disagreement.GENDER: "VRF8",
}


def code_of(outcome: Outcome) -> str:
    return OUTCOME_CODES[outcome]


def fault_for(error: exceptions.DomainError) -> ServiceFault:
    """The fault a domain refusal answers with (the most specific class listed wins)."""
    for cls in type(error).__mro__:
        if cls in DOMAIN_FAULTS:
            return ServiceFault(DOMAIN_FAULTS[cls], str(error))
    raise TypeError(f"not a domain error: {type(error).__name__}")  # unreachable for DomainError
