"""The LearnerService SOAP operations: wire elements in, domain calls, wire elements out.

Request bodies arrive already validated against ``xsd/``; only rules a schema cannot express
(calendar dates, check digits, cross-field rules) are checked here or in the domain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from lxml import etree

from miap.server.matching.engine import Demographics, FindResult, VerifyQuery
from miap.server.namespaces import FINDMSG, LEARNER, REGMSG, REPORTMSG, qname
from miap.server.register import learners, merging
from miap.server.soap import faults as errors
from miap.server.soap.faults import ServiceFault
from miap.server.soap.operations import Call, Operation, Reply
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


def learner_element(
    learner: Learner, linked: Sequence[str] = (), substituted: bool = False
) -> etree._Element:
    """A Learner element; MasterSubstituted=Y when it stands in for a merged duplicate, and
    LinkedULNs (learner namespace, as the national service sends it) when ULNs are merged in."""
    element = etree.Element("Learner")
    for wire, column in LEARNER_ELEMENTS:
        if wire == "Notes" and linked:
            links = etree.SubElement(element, qname(LEARNER, "LinkedULNs"), nsmap={"l": LEARNER})
            for uln in linked:
                etree.SubElement(links, qname(LEARNER, "ULN")).text = uln
        append(element, wire, getattr(learner, column))
        if wire == "ULN" and substituted:
            append(element, "MasterSubstituted", "Y")
    return element


def find_reply(
    call: Call, result: FindResult, echo: dict[str, str | None], searched: list[str]
) -> Reply:
    """A FindLearnerResponse; the audit names every ULN searched for or disclosed."""
    response = etree.Element(qname(FINDMSG, "FindLearnerResponse"), nsmap={"fin": FINDMSG})
    append(response, "ResponseCode", result.code)
    for name in _FIND_ECHO:
        append(response, name, echo.get(name))
    linked = merging.linked_ulns(call.session, result.learners)
    substituted = result.code == learners.LINKED
    disclosed = list(searched)
    for learner in result.learners:
        response.append(learner_element(learner, linked.get(learner.id, []), substituted))
        disclosed += [learner.uln, *linked.get(learner.id, [])]
    return Reply(response, result.code, list(dict.fromkeys(disclosed)))


# -- operations -------------------------------------------------------------------------------


def learner_by_uln(call: Call) -> Reply:
    request = fields(call.payload)
    result = learners.find_by_uln(
        call.session, call.matcher, request["ULN"], request["GivenName"], request["FamilyName"]
    )
    return find_reply(call, result, request, [request["ULN"]])


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
    return find_reply(call, call.matcher.find(call.session, query), request, [])


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
    disclosed = [request["ULN"]]
    if result.learner is not None and result.learner.uln != request["ULN"]:
        disclosed.append(result.learner.uln)
    return Reply(response, result.code, disclosed)


def retrieve_ulns(call: Call) -> Reply:
    wanted = [(element.text or "").strip() for element in child(call.payload, "ULNsToRetrieve")]
    response = etree.Element(qname(REPORTMSG, "RetrieveULNsResponse"), nsmap={"rep": REPORTMSG})
    retrieved = etree.SubElement(response, "RetrievedULNs")
    disclosed = set()
    for answer in learners.retrieve(call.session, wanted):
        item = etree.SubElement(retrieved, "VerifiedULN")
        append(item, "ULN", answer.uln)
        append(item, "MasterULN", answer.master_uln)
        append(item, "ResponseCode", answer.code)
        if answer.learner is not None:
            disclosed |= {answer.uln, answer.learner.uln}
            append(item, "FamilyName", answer.learner.family_name)
            append(item, "GivenName", answer.learner.given_name)
            append(item, "DateOfBirth", answer.learner.date_of_birth)
            append(item, "Gender", answer.learner.gender)
    return Reply(response, "OK", sorted(disclosed))


# -- reports ----------------------------------------------------------------------------------

#: A report with entries in its range, and one with none (our choice; see README).
REPORT_ENTRIES = learners.FOUND
REPORT_EMPTY = learners.NO_MATCH


def _report_range(call: Call) -> tuple[dict[str, str | None], dt.date, dt.date | None]:
    request = fields(call.payload)
    from_date = parse_date(request["FromDate"], "FromDate")
    to_date = parse_date(request.get("ToDate"), "ToDate")
    assert from_date is not None, "schema-validated request lacks FromDate"
    if to_date is not None and to_date < from_date:
        raise ServiceFault(errors.BADLY_FORMED, f"ToDate {to_date} is before FromDate {from_date}")
    return request, from_date, to_date


def _report_response(name: str, code: str, request: dict[str, str | None]) -> etree._Element:
    response = etree.Element(qname(REPORTMSG, name), nsmap={"rep": REPORTMSG})
    append(response, "ResponseCode", code)
    append(response, "FromDate", request["FromDate"])
    append(response, "ToDate", request.get("ToDate"))
    return response


def _person(parent: etree._Element, prefix: str, learner: Learner) -> None:
    append(parent, f"{prefix}ULN", learner.uln)
    append(parent, f"{prefix}FamilyName", learner.family_name)
    append(parent, f"{prefix}GivenName", learner.given_name)
    append(parent, f"{prefix}DateOfBirth", learner.date_of_birth)


def merged_unmerged_ulns(call: Call) -> Reply:
    """Merges and unmerges in the date range, each with both learners' current details."""
    request, from_date, to_date = _report_range(call)
    entries = merging.link_report(call.session, from_date, to_date)
    code = REPORT_ENTRIES if entries else REPORT_EMPTY
    response = _report_response("MergedUnmergedULNsResponse", code, request)
    if entries:
        report = etree.SubElement(response, "ULNReport")
        for action, group, item, stamp in (
            (merging.MERGE, "MergedLearners", "MergedLearner", "DateMerged"),
            (merging.UNMERGE, "UnmergedLearners", "UnmergedLearner", "DateUnmerged"),
        ):
            chosen = [entry for entry in entries if entry.action == action]
            if not chosen:
                continue
            listing = etree.SubElement(report, group)
            for entry in chosen:
                element = etree.SubElement(listing, item)
                _person(element, "Master", entry.master)
                _person(element, "", entry.duplicate)
                append(element, stamp, entry.at)
    ulns = [uln for entry in entries for uln in (entry.master.uln, entry.duplicate.uln)]
    return Reply(response, code, list(dict.fromkeys(ulns)))


def deleted_ulns(call: Call) -> Reply:
    """ULNs withdrawn in the date range, with when."""
    request, from_date, to_date = _report_range(call)
    entries = merging.deleted_report(call.session, from_date, to_date)
    code = REPORT_ENTRIES if entries else REPORT_EMPTY
    response = _report_response("DeletedULNsResponse", code, request)
    if entries:
        listing = etree.SubElement(etree.SubElement(response, "ULNReport"), "DeletedLearners")
        for uln, at in entries:
            element = etree.SubElement(listing, "DeletedLearner")
            append(element, "ULN", uln)
            append(element, "DeletedDate", at)
    return Reply(response, code, [uln for uln, _ in entries])


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
    Operation(
        "getMergedUnmergedULNsReport",
        qname(REPORTMSG, "GetMergedUnmergedULNs"),
        merged_unmerged_ulns,
    ),
    Operation("getDeletedULNsReport", qname(REPORTMSG, "GetDeletedULNs"), deleted_ulns),
)
