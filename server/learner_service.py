"""The LearnerService SOAP operations: wire elements in, domain calls, wire elements out.

Request bodies arrive already validated against ``xsd/``; only rules a schema cannot express
(calendar dates, check digits, cross-field rules) are checked here or in the domain.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lxml import etree

from miap.server import errors, learners
from miap.server.errors import ServiceFault
from miap.server.matching import Demographics, VerifyQuery
from miap.server.namespaces import FINDMSG, REGMSG, REPORTMSG, qname
from miap.server.operations import Call, Operation, Reply
from miap.storage.models import Learner

#: The Learner element's children in wire order, with the column each comes from.
LEARNER_ELEMENTS: tuple[tuple[str, str], ...] = (
    ("CreatedDate", "created_at"),
    ("LastUpdatedDate", "updated_at"),
    ("ULN", "uln"),
    ("Title", "title"),
    ("GivenName", "given_name"),
    ("MiddleOtherName", "middle_other_name"),
    ("FamilyName", "family_name"),
    ("PreferredGivenName", "preferred_given_name"),
    ("PreviousFamilyName", "previous_family_name"),
    ("FamilyNameAtAge16", "family_name_at_age16"),
    ("SchoolAtAge16", "school_at_age16"),
    ("LastKnownAddressLine1", "address_line1"),
    ("LastKnownAddressLine2", "address_line2"),
    ("LastKnownAddressTown", "address_town"),
    ("LastKnownAddressCountyOrCity", "address_county_or_city"),
    ("LastKnownPostCode", "postcode"),
    ("DateOfAddressCapture", "date_of_address_capture"),
    ("DateOfBirth", "date_of_birth"),
    ("PlaceOfBirth", "place_of_birth"),
    ("Gender", "gender"),
    ("EmailAddress", "email_address"),
    ("Nationality", "nationality"),
    ("ScottishCandidateNumber", "scottish_candidate_number"),
    ("VerificationType", "verification_type"),
    ("OtherVerificationDescription", "other_verification_description"),
    ("TierLevel", "tier_level"),
    ("AbilityToShare", "ability_to_share"),
    ("LearnerStatus", "learner_status"),
    ("Notes", "notes"),
    ("VersionNumber", "version"),
)
_DETAIL_ELEMENTS = tuple(
    (wire, column) for wire, column in LEARNER_ELEMENTS if column in learners.DETAIL_COLUMNS
)
_DATE_COLUMNS = frozenset({"date_of_birth", "date_of_address_capture"})
_FIND_ECHO = (
    "ULN",
    "FamilyName",
    "GivenName",
    "DateOfBirth",
    "Gender",
    "LastKnownPostCode",
    "PreviousFamilyName",
    "SchoolAtAge16",
    "PlaceOfBirth",
    "EmailAddress",
)


# -- reading requests -------------------------------------------------------------------------


def fields(element: etree._Element) -> dict[str, str | None]:
    """Child element texts by local name; empty elements are absent (real clients send them)."""
    values: dict[str, str | None] = {}
    for child in element:
        if isinstance(child.tag, str):
            text = (child.text or "").strip()
            values[etree.QName(child).localname] = text or None
    return values


def child(element: etree._Element, name: str) -> etree._Element:
    found = element.find(name)
    assert found is not None, f"schema-validated request lacks {name}"
    return found


def parse_date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ServiceFault(errors.BADLY_FORMED, f"{name} {value} is not a calendar date") from None


def learner_details(element: etree._Element) -> dict[str, Any]:
    """A LearnerToRegister / LearnerToUpdate element as domain column values."""
    values = fields(element)
    details: dict[str, Any] = {}
    for wire, column in _DETAIL_ELEMENTS:
        value = values.get(wire)
        details[column] = parse_date(value, wire) if column in _DATE_COLUMNS else value
    return details


# -- writing responses ------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def append(parent: etree._Element, name: str, value: Any) -> None:
    """Append ``<name>value</name>`` (unqualified) unless the value is absent."""
    text = _text(value)
    if text is not None:
        etree.SubElement(parent, name).text = text


def learner_element(learner: Learner) -> etree._Element:
    element = etree.Element("Learner")
    for wire, column in LEARNER_ELEMENTS:
        append(element, wire, getattr(learner, column))
    return element


def find_response(code: str, echo: dict[str, str | None], found: list[Learner]) -> etree._Element:
    response = etree.Element(qname(FINDMSG, "FindLearnerResponse"), nsmap={"fin": FINDMSG})
    append(response, "ResponseCode", code)
    for name in _FIND_ECHO:
        append(response, name, echo.get(name))
    for learner in found:
        response.append(learner_element(learner))
    return response


# -- operations -------------------------------------------------------------------------------


def learner_by_uln(call: Call) -> Reply:
    request = fields(call.payload)
    result = learners.find_by_uln(
        call.session, call.matcher, request["ULN"], request["GivenName"], request["FamilyName"]
    )
    return Reply(
        find_response(result.code, request, result.learners), result.code, [request["ULN"]]
    )


def learner_by_demographics(call: Call) -> Reply:
    request = fields(call.payload)
    query = Demographics(
        given_name=request["GivenName"],
        family_name=request["FamilyName"],
        date_of_birth=parse_date(request["DateOfBirth"], "DateOfBirth"),
        gender=request["Gender"],
        postcode=request["LastKnownPostCode"],
        previous_family_name=request.get("PreviousFamilyName"),
    )
    result = call.matcher.find(call.session, query)
    return Reply(
        find_response(result.code, request, result.learners),
        result.code,
        [learner.uln for learner in result.learners],
    )


def register_single_learner(call: Call) -> Reply:
    details = learner_details(child(call.payload, "Learner"))
    code, uln = learners.register(call.session, call.matcher, details, call.caller.ukprn)
    response = etree.Element(qname(REGMSG, "RegisterLearnerResponse"), nsmap={"reg": REGMSG})
    append(response, "ResponseCode", code)
    append(response, "ULN", uln)
    return Reply(response, code, [uln] if uln else [])


def update_single_learner(call: Call) -> Reply:
    element = child(call.payload, "Learner")
    request = fields(element)
    uln = request["ULN"]
    code = learners.update(
        call.session, learner_details(element), uln, int(request["VersionNumber"])
    )
    response = etree.Element(qname(REGMSG, "UpdateLearnerResponse"), nsmap={"reg": REGMSG})
    append(response, "ResponseCode", code)
    return Reply(response, code, [uln])


def verify_learner(call: Call) -> Reply:
    request = fields(child(call.payload, "LearnerToVerify"))
    query = VerifyQuery(
        given_name=request["GivenName"],
        family_name=request["FamilyName"],
        date_of_birth=parse_date(request.get("DateOfBirth"), "DateOfBirth"),
        gender=request.get("Gender"),
    )
    result = learners.verify(call.session, call.matcher, request["ULN"], query)
    response = etree.Element(qname(REPORTMSG, "VerifyLearnerResponse"), nsmap={"rep": REPORTMSG})
    verified = etree.SubElement(response, "VerifiedLearner")
    for name in ("ULN", "FamilyName", "GivenName", "DateOfBirth", "Gender"):
        append(verified, f"Searched{name}", request.get(name))
    append(verified, "ResponseCode", result.code)
    # Stored details are disclosed only to a caller whose details verified (fully or nearly).
    if result.learner is not None and result.code != learners.NOT_VERIFIED:
        for name, column in (
            ("ULN", "uln"),
            ("FamilyName", "family_name"),
            ("GivenName", "given_name"),
            ("DateOfBirth", "date_of_birth"),
            ("Gender", "gender"),
        ):
            append(verified, name, getattr(result.learner, column))
    for flag in result.failure_flags:
        append(verified, "FailureFlag", flag)
    return Reply(response, result.code, [request["ULN"]])


def retrieve_ulns(call: Call) -> Reply:
    wanted = [(element.text or "").strip() for element in child(call.payload, "ULNsToRetrieve")]
    found = learners.retrieve(call.session, wanted)
    response = etree.Element(qname(REPORTMSG, "RetrieveULNsResponse"), nsmap={"rep": REPORTMSG})
    retrieved = etree.SubElement(response, "RetrievedULNs")
    for uln in wanted:
        item = etree.SubElement(retrieved, "VerifiedULN")
        append(item, "ULN", uln)
        learner = found.get(uln)
        if learner is None:
            invalid = not learners.is_valid_uln(uln)
            append(item, "ResponseCode", errors.INVALID_ULN.code if invalid else learners.NO_MATCH)
            continue
        append(item, "ResponseCode", learners.FOUND)
        append(item, "FamilyName", learner.family_name)
        append(item, "GivenName", learner.given_name)
        append(item, "DateOfBirth", learner.date_of_birth)
        append(item, "Gender", learner.gender)
    return Reply(response, "OK", sorted(found))


OPERATIONS: tuple[Operation, ...] = (
    Operation("learnerByULN", qname(FINDMSG, "FindLearnerByULN"), learner_by_uln),
    Operation(
        "learnerByDemographics",
        qname(FINDMSG, "FindLearnerByDemographics"),
        learner_by_demographics,
    ),
    Operation("registerSingleLearner", qname(REGMSG, "RegisterLearner"), register_single_learner),
    Operation("updateSingleLearner", qname(REGMSG, "UpdateLearner"), update_single_learner),
    Operation("verifyLearner", qname(REPORTMSG, "VerifyLearner"), verify_learner),
    Operation("retrieveULNs", qname(REPORTMSG, "RetrieveULNs"), retrieve_ulns),
)
