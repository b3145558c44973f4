"""Every error the service can answer with, in one place.

The spec fixes WSEC0001 (badly formed request) and WSEC0136 (invalid ULN). The other WSEC codes
are ours, in ranges the national service's published codes do not use: 07xx learner-update
refusals (conflicts, merged or withdrawn ULNs), 08xx authentication and authorisation, 09xx
transport and envelope problems.
"""

from __future__ import annotations

from dataclasses import dataclass


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

AUTHENTICATION_FAILED = ErrorCode(
    "WSEC0801", "Authentication failed: unknown organisation or wrong OrgPassword"
)
PROVIDER_NOT_ACTIVE = ErrorCode("WSEC0802", "The organisation is not an active provider")
IDENTITY_MISSING = ErrorCode("WSEC0803", "The request names no organisation (UKPRN)")

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


class ServiceFault(Exception):
    """Raised anywhere in request handling; becomes a SOAP Fault with MIAPAPIException detail."""

    def __init__(self, error: ErrorCode, further_details: str = "") -> None:
        super().__init__(f"{error.code}: {further_details or error.description}")
        self.error = error
        self.further_details = further_details
