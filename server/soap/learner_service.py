"""The LearnerService SOAP operations: wire elements in, domain calls, wire elements out.

Request bodies arrive already validated against ``xsd/``; only rules a schema cannot express
(calendar dates, check digits, cross-field rules) are checked here or in the domain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from lxml import etree

from miap.server.access import learner_record
from miap.server.access.policy import Action
from miap.server.matching.engine import Demographics, FindResult, VerifyQuery
from miap.server.namespaces import FINDMSG, LEARNER, LEARNERREC, REGMSG, REPORTMSG, qname
from miap.server.outcomes import Outcome
from miap.server.register import learners, merging
from miap.server.register.fields import LEARNER_COLUMNS, parse_date
from miap.server.soap import contract, faults
from miap.server.soap.faults import ServiceFault, code_of
from miap.server.soap.learning_events import event_element
from miap.server.soap.operations import Call, Operation, Reply
from miap.server.soap.wire import append, fields, fill
from miap.storage.models import Learner

#: The elements of a LearnerToRegister (and so of a LearnerToUpdate's details), in order.
_DETAIL_ELEMENTS = tuple(
    (child.name, LEARNER_COLUMNS[child.name], child.type)
    for child in contract.sequence(LEARNER, "LearnerToRegister")
)
_LINKED_ULNS = qname(LEARNER, "LinkedULNs")
_DATE_TYPES = frozenset({"DateType", "OptionalDateType"})
#: The searched fields a FindLearnerResponse echoes: its children between code and learners.
_FIND_ECHO = tuple(
    child.name
    for child in contract.sequence(FINDMSG, "FindLearnerResponse")
    if child.name not in ("ResponseCode", "Learner")
)


# -- reading requests -------------------------------------------------------------------------


def child(element: etree._Element, name: str) -> etree._Element:
    found = element.find(name)
    assert found is not None, f"schema-validated request lacks {name}"
    return found


def learner_details(element: etree._Element) -> dict[str, Any]:
    """A LearnerToRegister / LearnerToUpdate element as domain column values."""
    values = fields(element)
    details: dict[str, Any] = {}
    for wire, column, xsd_type in _DETAIL_ELEMENTS:
        value = values.get(wire)
        details[column] = parse_date(value, wire) if xsd_type in _DATE_TYPES else value
    return details


# -- writing responses ------------------------------------------------------------------------


def learner_element(
    learner: Learner, linked: Sequence[str] = (), substituted: bool = False
) -> etree._Element:
    """A Learner element; MasterSubstituted=Y when it stands in for a merged duplicate, and
    LinkedULNs (learner namespace, as the national service sends it) when ULNs are merged in."""
    element = etree.Element("Learner")
    for child in contract.sequence(LEARNER, "Learner"):
        if child.name == "LinkedULNs":
            if linked:
                links = etree.SubElement(element, _LINKED_ULNS, nsmap={"l": LEARNER})
                for uln in linked:
                    etree.SubElement(links, qname(LEARNER, "ULN")).text = uln
        elif child.name == "MasterSubstituted":
            append(element, child.name, "Y" if substituted else None)
        else:
            append(element, child.name, getattr(learner, LEARNER_COLUMNS[child.name]), child.type)
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
    substituted = result.code == Outcome.LINKED
    disclosed = list(searched)
    for learner in result.learners:
        response.append(learner_element(learner, linked.get(learner.id, []), substituted))
        disclosed += [learner.uln, *linked.get(learner.id, [])]
    return Reply(response, code_of(result.code), list(dict.fromkeys(disclosed)))


# -- operations -------------------------------------------------------------------------------


def learner_by_uln(call: Call) -> Reply:
    request = fields(call.payload)
    call.allow(Action.FIND, request["ULN"])
    result = learners.find_by_uln(
        call.reads or call.session,
        call.matcher,
        request["ULN"],
        request["GivenName"],
        request["FamilyName"],
    )
    return find_reply(call, result, request, [request["ULN"]])


def learner_by_demographics(call: Call) -> Reply:
    request = fields(call.payload)
    call.allow(Action.FIND)
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
    call.allow(Action.REGISTER)
    details = learner_details(child(call.payload, "Learner"))
    code, uln = learners.register(call.session, call.matcher, details, call.caller.ukprn)
    response = etree.Element(qname(REGMSG, "RegisterLearnerResponse"), nsmap={"reg": REGMSG})
    append(response, "ResponseCode", code)
    append(response, "ULN", uln)
    return Reply(response, code_of(code), [uln] if uln else [])


def update_single_learner(call: Call) -> Reply:
    element = child(call.payload, "Learner")
    request = fields(element)
    uln = request["ULN"]
    call.allow(Action.UPDATE, uln)
    code = learners.update(
        call.session, learner_details(element), uln, int(request["VersionNumber"])
    )
    response = etree.Element(qname(REGMSG, "UpdateLearnerResponse"), nsmap={"reg": REGMSG})
    append(response, "ResponseCode", code)
    return Reply(response, code_of(code), [uln])


def verify_learner(call: Call) -> Reply:
    request = fields(child(call.payload, "LearnerToVerify"))
    call.allow(Action.FIND, request["ULN"])
    query = VerifyQuery(
        given_name=request["GivenName"],
        family_name=request["FamilyName"],
        date_of_birth=parse_date(request.get("DateOfBirth"), "DateOfBirth"),
        gender=request.get("Gender"),
    )
    result = learners.verify(call.reads or call.session, call.matcher, request["ULN"], query)
    response = etree.Element(qname(REPORTMSG, "VerifyLearnerResponse"), nsmap={"rep": REPORTMSG})
    values: dict[str, Any] = {f"Searched{name}": value for name, value in request.items()}
    values["ResponseCode"] = result.code
    # Stored details are disclosed only to a caller whose details verified (fully or nearly).
    if result.learner is not None and result.code != Outcome.NOT_VERIFIED:
        values.update(_person("", result.learner))
    verified = fill(
        etree.SubElement(response, "VerifiedLearner"), REPORTMSG, "VerifiedLearnerType", values
    )
    for flag in result.failure_flags:
        append(verified, "FailureFlag", faults.FAILURE_FLAGS[flag])
    disclosed = [request["ULN"]]
    if result.learner is not None and result.learner.uln != request["ULN"]:
        disclosed.append(result.learner.uln)
    return Reply(response, code_of(result.code), disclosed)


def retrieve_ulns(call: Call) -> Reply:
    call.allow(Action.FIND)
    wanted = [(element.text or "").strip() for element in child(call.payload, "ULNsToRetrieve")]
    response = etree.Element(qname(REPORTMSG, "RetrieveULNsResponse"), nsmap={"rep": REPORTMSG})
    retrieved = etree.SubElement(response, "RetrievedULNs")
    disclosed = set()
    for answer in learners.retrieve(call.session, wanted):
        values: dict[str, Any] = {
            "ULN": answer.uln,
            "MasterULN": answer.master_uln,
            "ResponseCode": answer.code,
        }
        if answer.learner is not None:
            disclosed |= {answer.uln, answer.learner.uln}
            values.update(_person("", answer.learner, with_uln=False))
        fill(etree.SubElement(retrieved, "VerifiedULN"), REPORTMSG, "VerifiedULNType", values)
    return Reply(response, "OK", sorted(disclosed))


# -- reports ----------------------------------------------------------------------------------


def _report_range(call: Call) -> tuple[dict[str, str | None], dt.date, dt.date | None]:
    call.allow(Action.REPORT)
    request = fields(call.payload)
    from_date = parse_date(request["FromDate"], "FromDate")
    to_date = parse_date(request.get("ToDate"), "ToDate")
    assert from_date is not None, "schema-validated request lacks FromDate"
    if to_date is not None and to_date < from_date:
        raise ServiceFault(faults.BADLY_FORMED, f"ToDate {to_date} is before FromDate {from_date}")
    return request, from_date, to_date


def _report_response(name: str, code: Outcome, request: dict[str, str | None]) -> etree._Element:
    response = etree.Element(qname(REPORTMSG, name), nsmap={"rep": REPORTMSG})
    append(response, "ResponseCode", code)
    append(response, "FromDate", request["FromDate"])
    append(response, "ToDate", request.get("ToDate"))
    return response


def _person(prefix: str, learner: Learner, with_uln: bool = True) -> dict[str, Any]:
    """A learner's identifying fields, named ``{prefix}ULN``, ``{prefix}FamilyName``, …"""
    values = {
        f"{prefix}FamilyName": learner.family_name,
        f"{prefix}GivenName": learner.given_name,
        f"{prefix}DateOfBirth": learner.date_of_birth,
        f"{prefix}Gender": learner.gender,
    }
    if with_uln:
        values[f"{prefix}ULN"] = learner.uln
    return values


def merged_unmerged_ulns(call: Call) -> Reply:
    """Merges and unmerges in the date range, each with both learners' current details."""
    request, from_date, to_date = _report_range(call)
    entries = merging.link_report(call.session, from_date, to_date)
    code = Outcome.REPORT_ENTRIES if entries else Outcome.REPORT_EMPTY
    response = _report_response("MergedUnmergedULNsResponse", code, request)
    if entries:
        report = etree.SubElement(response, "ULNReport")
        for action, prefix in ((merging.MERGE, "Merged"), (merging.UNMERGE, "Unmerged")):
            chosen = [entry for entry in entries if entry.action == action]
            if not chosen:
                continue
            listing = etree.SubElement(report, f"{prefix}Learners")
            for entry in chosen:
                values = {
                    **_person("Master", entry.master),
                    **_person(prefix, entry.duplicate),
                    f"{prefix}Date": entry.at,
                }
                item = etree.SubElement(listing, f"{prefix}Learner")
                fill(item, LEARNER, f"{prefix}Learner", values)
    ulns = [uln for entry in entries for uln in (entry.master.uln, entry.duplicate.uln)]
    return Reply(response, code_of(code), list(dict.fromkeys(ulns)))


def deleted_ulns(call: Call) -> Reply:
    """ULNs withdrawn in the date range, with when."""
    request, from_date, to_date = _report_range(call)
    entries = merging.deleted_report(call.session, from_date, to_date)
    code = Outcome.REPORT_ENTRIES if entries else Outcome.REPORT_EMPTY
    response = _report_response("DeletedULNsResponse", code, request)
    if entries:
        listing = etree.SubElement(etree.SubElement(response, "ULNReport"), "DeletedLearners")
        for uln, at in entries:
            values = {"ULN": uln, "DeletedDate": at}
            fill(etree.SubElement(listing, "DeletedLearner"), LEARNER, "DeletedLearner", values)
    return Reply(response, code_of(code), [uln for uln, _ in entries])


# -- the learner record -----------------------------------------------------------------------

_INCOMING = ("ULN", "FamilyName", "GivenName", "DateOfBirth", "Gender", "LastKnownPostCode")


def get_learner_record(call: Call) -> Reply:
    """The learner's details and learning events, as the access policy, the learner's consent
    and the events' restrictions let this caller see them (``server/access``)."""
    request = fields(call.payload)
    record = learner_record.read_record(
        call.session,
        call.matcher,
        call.caller,
        request["ULN"],
        request["GivenName"],
        request["FamilyName"],
        parse_date(request["DateOfBirth"], "DateOfBirth"),
        request["Gender"],
    )
    call.acting = record.user_type
    response = etree.Element(qname(LEARNERREC, "GetLearnerRecordResp"), nsmap={"rec": LEARNERREC})
    append(response, "ResponseCode", record.outcome)
    for name in _INCOMING:
        append(response, f"Incoming{name}", request.get(name) or "")
    if record.learner is not None:
        learner = record.learner
        shown = etree.SubElement(response, "LearnerRecord")
        linked = merging.linked_ulns(call.session, [learner]).get(learner.id, [])
        substituted = record.outcome == Outcome.RECORD_LINKED
        shown.append(learner_element(learner, linked, substituted))
        events = etree.SubElement(shown, "LearningEvents")
        for event in record.events:
            event_element(events, event, LEARNERREC, qualified=False)
    return Reply(response, code_of(record.outcome), record.disclosed)


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
    Operation("getLearnerRecord", qname(LEARNERREC, "GetLearnerRecord"), get_learner_record),
)

from miap.server.soap.batch_service import BATCH_OPERATIONS  # noqa: E402 - after OPERATIONS

OPERATIONS += BATCH_OPERATIONS
