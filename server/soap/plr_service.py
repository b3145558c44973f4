"""The Personal Learning Record service, ``LearnerServiceR9`` (``/LearnerServiceR9.svc``).

A .NET data-contract SOAP 1.1 service beside the LearnerService, on the same machinery
(``endpoint.SoapService``): requests in ``http://tempuri.org/`` with qualified parameters, the
caller's organisation in ``invokingOrganisation`` (Interface data-contract namespace), results
in the model namespace, and faults as ``DomainFault``. The domain is ``server/access``: the
access policy, the learner's consent and the events' restrictions decide what is shown.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from sqlalchemy import select

from miap.server.access import audit_view, learner_record, sharing
from miap.server.access.policy import Action
from miap.server.namespaces import PLR_INTERFACE, PLR_MODEL, TEMPURI, qname
from miap.server.outcomes import Outcome
from miap.server.register import audit
from miap.server.register.fields import parse_date
from miap.server.soap import contract, faults, plr_faults
from miap.server.soap.endpoint import Identity, SoapService
from miap.server.soap.faults import ServiceFault, code_of
from miap.server.soap.learning_events import event_element
from miap.server.soap.operations import Call, Operation, Reply
from miap.server.soap.wire import append, fields
from miap.storage.models import Learner, Provider

PLR_PATH = "/LearnerServiceR9.svc"
PLR_WSDL = contract.WSDL_DIR / "LearnerServiceR9.wsdl"
_NSMAP = {None: TEMPURI, "a": PLR_MODEL}
#: ViewAudit's sort: newest first, by the entry's date and time.
_SORT_INDEX, _SORT_ORDER = "DateTime", "Descending"


def _model(local: str) -> str:
    return qname(PLR_MODEL, local)


def _fill(element: etree._Element, type_name: str, values: dict[str, Any]) -> etree._Element:
    """Append ``values`` as model-namespace children in ``type_name``'s schema order."""
    for child in contract.sequence(PLR_MODEL, type_name):
        append(element, _model(child.name), values.get(child.name), child.type)
    return element


def _result(operation: str) -> tuple[etree._Element, etree._Element]:
    """``<OperationResponse><OperationResult/>`` (both in tempuri) and the result element."""
    response = etree.Element(qname(TEMPURI, f"{operation}Response"), nsmap=_NSMAP)
    return response, etree.SubElement(response, qname(TEMPURI, f"{operation}Result"))


def _request(call: Call) -> dict[str, str | None]:
    return fields(call.payload)


# -- GetLearnerLearningEvents -----------------------------------------------------------------


def get_learner_learning_events(call: Call) -> Reply:
    request = _request(call)
    record = learner_record.read_record(
        call.session,
        call.matcher,
        call.caller,
        request["uln"],
        request["givenName"],
        request["familyName"],
        parse_date(request.get("dateOfBirth"), "dateOfBirth"),
        request.get("gender"),
    )
    call.acting = record.user_type
    response, result = _result("GetLearnerLearningEvents")
    append(result, _model("ResponseCode"), record.outcome)
    append(result, _model("FoundULN"), record.found_uln or "")
    append(result, _model("IncomingULN"), request["uln"])
    events = etree.SubElement(result, _model("LearnerRecord"))
    brief = request["getType"] == "BRIEF"
    for event in record.events:
        event_element(events, event, PLR_MODEL, qualified=True, brief=brief)
    return Reply(response, code_of(record.outcome), record.disclosed)


# -- LearnerByUln -----------------------------------------------------------------------------

#: The model Learner's fields and the learner column each comes from.
_LEARNER_FIELDS = {
    "DateOfBirth": "date_of_birth",
    "EmailAddress": "email_address",
    "FamilyName": "family_name",
    "Gender": "gender",
    "GivenName": "given_name",
    "LastKnownPostCode": "postcode",
    "PreferredGivenName": "preferred_given_name",
    "SchoolAtAge16": "school_at_age16",
    "TelephoneNumber": "telephone_number",
    "ULN": "uln",
    "VersionNumber": "version",
}


def _learner_values(learner: Learner) -> dict[str, Any]:
    values = {wire: getattr(learner, column) for wire, column in _LEARNER_FIELDS.items()}
    values["AbilityToShare"] = sharing.plr_value(learner.ability_to_share)
    return values


def learner_by_uln(call: Call) -> Reply:
    request = _request(call)
    answer = learner_record.learner_by_uln(
        call.session,
        call.matcher,
        call.caller,
        request["uln"],
        request["givenName"],
        request["familyName"],
    )
    call.acting = answer.user_type
    response, result = _result("LearnerByUln")
    append(result, _model("ResponseCode"), answer.outcome)
    append(result, _model("FoundULN"), answer.learner.uln if answer.learner else "")
    append(result, _model("IncomingULN"), request["uln"])
    if answer.learner is not None:
        _fill(
            etree.SubElement(result, _model("Learner")), "Learner", _learner_values(answer.learner)
        )
    return Reply(response, code_of(answer.outcome), answer.disclosed)


# -- UpdateLearnerSubsetFields ----------------------------------------------------------------

#: The request's subset fields and the learner column each sets.
_SUBSET = {
    "emailAddress": "email_address",
    "telephoneNumber": "telephone_number",
    "schoolAtAge16": "school_at_age16",
    "preferredGivenName": "preferred_given_name",
}


def update_learner_subset_fields(call: Call) -> Reply:
    request = _request(call)
    uln = request["uln"]
    outcome, learner, decision = learner_record.update_subset(
        call.session,
        call.caller,
        uln,
        int(request["versionNumber"]),
        {column: request.get(wire) for wire, column in _SUBSET.items()},
        int(request["abilityToShare"]),
    )
    call.acting = decision.user_type
    response, result = _result("UpdateLearnerSubsetFields")
    _fill(
        result,
        "UpdateResult",
        {"ResponseCode": outcome, "ULN": learner.uln, "VersionNumber": learner.version},
    )
    return Reply(response, code_of(outcome), [uln])


# -- ViewAudit --------------------------------------------------------------------------------


def view_audit(call: Call) -> Reply:
    request = _request(call)
    uln = request["learnerUln"]
    call.allow(Action.VIEW_AUDIT, uln)
    learner = learner_record.verified_learner(
        call.session, call.matcher, uln, request["learnerGivenName"], request["learnerFamilyName"]
    )
    ulns = learner_record.same_learner_ulns(call.session, learner)
    page = audit_view.page_of(call.session, ulns, int(request["page"]))
    response, result = _result("ViewAudit")
    listing = etree.SubElement(result, _model("List"))
    for entry in page.entries:
        values = {
            "Action": entry.action,
            "DateTime": entry.at,
            "Organisation": entry.organisation,
            "User": entry.user_name or "",
        }
        _fill(etree.SubElement(listing, _model("PlrAccessEntry")), "PlrAccessEntry", values)
    for name, value in (
        ("PageCount", page.count),
        ("PageIndex", page.index),
        ("PageSize", page.size),
        ("SortIndex", _SORT_INDEX),
        ("SortOrder", _SORT_ORDER),
        ("TotalItems", page.total),
    ):
        append(result, _model(name), value)
    return Reply(response, "OK", list(dict.fromkeys([uln, learner.uln])))


# -- GetOrganisation --------------------------------------------------------------------------


def get_organisation(call: Call) -> Reply:
    """An organisation on the provider register, by UKPRN or OrganisationRef. (The UKRLP
    register's fuller details, ``storage/ukrlp.py``, plug in here: docs/plr.md.)"""
    request = _request(call)
    call.allow(Action.ORGANISATION)
    ukprn, org_ref = request.get("ukPrn"), request.get("orgRef")
    if not ukprn and not org_ref:
        raise ServiceFault(faults.BADLY_FORMED, "Send ukPrn or orgRef")
    column = Provider.ukprn if ukprn else Provider.organisation_ref
    provider = call.session.scalars(select(Provider).where(column == (ukprn or org_ref))).first()
    outcome = Outcome.EXACT if provider is not None else Outcome.NO_MATCH
    response, result = _result("GetOrganisation")
    append(result, _model("ResponseCode"), outcome)
    if provider is not None:
        values = {
            "Name": provider.name,
            "OrganisationRef": provider.organisation_ref,
            "Status": provider.status,
            "Ukprn": provider.ukprn,
        }
        _fill(etree.SubElement(result, _model("Organisation")), "Organisation", values)
    return Reply(response, code_of(outcome), [])


PLR_OPERATIONS: tuple[Operation, ...] = tuple(
    Operation(name, qname(TEMPURI, name), handler)
    for name, handler in (
        ("GetLearnerLearningEvents", get_learner_learning_events),
        ("LearnerByUln", learner_by_uln),
        ("UpdateLearnerSubsetFields", update_learner_subset_fields),
        ("ViewAudit", view_audit),
        ("GetOrganisation", get_organisation),
    )
)


class PlrServiceApp(SoapService):
    """LearnerServiceR9 at ``/LearnerServiceR9.svc``, its WSDL at ``?wsdl``."""

    path = PLR_PATH
    wsdl = PLR_WSDL
    route = audit.PLR
    operations_list = PLR_OPERATIONS
    read_only = frozenset(
        {"GetLearnerLearningEvents", "LearnerByUln", "ViewAudit", "GetOrganisation"}
    )

    def identity(self, payload: etree._Element) -> Identity:
        organisation = payload.find(qname(TEMPURI, "invokingOrganisation"))
        assert organisation is not None, "schema-validated request lacks invokingOrganisation"
        values = fields(organisation)
        return Identity(
            values.get("Ukprn"),
            values.get("OrganisationRef"),
            # Verbatim: spaces in a password are significant.
            organisation.findtext(qname(PLR_INTERFACE, "Password")),
            values.get("Username"),
            payload.findtext(qname(TEMPURI, "userType")),
        )

    def fault_body(self, fault: ServiceFault) -> bytes:
        return plr_faults.fault_envelope(fault)
