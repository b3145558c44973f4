"""The UKRLP provider query service (``retrieveAllProviders``), SOAP 1.1 document/literal.

Transport only: parse the request (schema-checked against ``xsd/ukrlp.xsd``), authenticate
the caller from the WS-Security UsernameToken (Username = UKPRN, Password = OrgPassword; the
same authenticator as every route, so status is re-read on every request), ask the register
(``miap.server.ukrlp.query``), and write the answer in the order the schema gives. Every
failure is a SOAP Fault whose detail is ``faultDetail`` (``major``, ``minor``); ``FAULTS`` is
the one table from domain results to those codes.

SelectionCriteria's children are accepted in any order and SOAPAction may be sent or not
(``retrieveAllProviders``, quoted or not, or empty); answers are always in the schema's order.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import parse_qs
from wsgiref.util import request_uri

from lxml import etree

from miap.server import exceptions
from miap.server.bodies import BodyRefused, read_body
from miap.server.namespaces import SOAP_ENV, UKRLP, XSD, qname
from miap.server.services import Services
from miap.server.soap import contract, xmlsafe
from miap.server.soap import envelope as soap
from miap.server.soap.answering import StartResponse, log_internal_error, send, status_line
from miap.server.soap.faults import ServiceFault
from miap.server.soap.wire import fields
from miap.server.ukrlp import query
from miap.server.ukrlp.register import CONTACT_TYPES, ProviderDetails
from miap.server.xmlschemas import per_thread

log = logging.getLogger("miap.request")

PROVIDER_QUERY_PATH = "/UkrlpProviderQueryWS/ProviderQueryServiceV6"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SOAP_ACTION = "retrieveAllProviders"
OPERATION = "retrieveAllProviders"
XSD_PATH = contract.XSD_DIR / "ukrlp.xsd"
WSDL_PATH = contract.WSDL_PATH.parent / "ProviderQueryServiceV6.wsdl"

_REQUEST = qname(UKRLP, "ProviderQueryRequest")
_UKPRN = re.compile(r"[0-9]{8}")
_SECURITY = qname(WSSE, "Security")
_WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"


class Fault(NamedTuple):
    faultcode: str  # Client or Server
    major: str
    http_status: int


#: Domain results -> (faultcode, faultDetail/major, HTTP status). faultDetail/minor says why;
#: the audit log records a refusal as its key in capitals (``NOT_ACTIVE``, ``TOO_MANY``, …).
FAULTS: dict[str, Fault] = {
    "envelope": Fault("Client", "InvalidEnvelope", 500),
    "invalid": Fault("Client", "InvalidRequest", 500),
    "too_many": Fault("Client", "TooManyRecords", 500),
    "unauthenticated": Fault("Client", "NotAuthenticated", 500),
    "not_active": Fault("Client", "ProviderNotActive", 500),
    "not_found": Fault("Client", "NotFound", 404),
    "method": Fault("Client", "MethodNotAllowed", 405),
    "too_large": Fault("Client", "RequestTooLarge", 413),
    "internal": Fault("Server", "ServiceError", 500),
}
_DOMAIN_FAULTS: dict[type[exceptions.DomainError], str] = {
    exceptions.IdentityMissing: "unauthenticated",
    exceptions.AuthenticationFailed: "unauthenticated",
    exceptions.ProviderNotActive: "not_active",
}


class QueryFault(Exception):
    def __init__(self, kind: str, minor: str) -> None:
        super().__init__(minor)
        self.kind = kind
        self.minor = minor


# -- the schema: validation and element orders ---------------------------------------------


def _schema() -> etree.XMLSchema:
    """The compiled schema, one per thread (an XMLSchema's error log is per object)."""
    return per_thread("provider-query", lambda: etree.XMLSchema(etree.parse(str(XSD_PATH))))


def _validate(element: etree._Element, kind: str) -> None:
    schema = _schema()
    if not schema.validate(element):
        error = schema.error_log.last_error
        raise QueryFault(kind, f"line {error.line}: {error.message}")


class Child(NamedTuple):
    name: str
    type: str  # local name of the type ("" for an anonymous simple type)
    complex: bool


@functools.cache
def sequences() -> dict[str, tuple[Child, ...]]:
    """Each named complex type's children, in the schema's order."""
    root = etree.parse(str(XSD_PATH)).getroot()
    complex_types = {t.get("name") for t in root.iterfind(f"{{{XSD}}}complexType")}
    found = {}
    for complex_type in root.iterfind(f"{{{XSD}}}complexType"):
        children = []
        for group in ("sequence", "all"):
            for element in complex_type.iterfind(f"{{{XSD}}}{group}/{{{XSD}}}element"):
                type_name = (element.get("type") or "").rpartition(":")[2]
                children.append(Child(element.get("name"), type_name, type_name in complex_types))
        found[complex_type.get("name")] = tuple(children)
    return found


def _text(value: Any) -> str:  # noqa: ANN401
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def build(parent: etree._Element, type_name: str, values: Mapping[str, Any]) -> etree._Element:
    """Append ``values`` under ``parent`` in ``type_name``'s order; a list value repeats its
    element, a mapping value fills a complex child, None and empty lists are left out."""
    for child in sequences()[type_name]:
        value = values.get(child.name)
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            element = etree.SubElement(parent, child.name)
            if child.complex:
                build(element, child.type, item)
            else:
                element.text = _text(item)
    return parent


# -- reading the request ---------------------------------------------------------------------


def _datetime(value: str | None) -> dt.datetime | None:
    """An xs:dateTime (schema-checked) as a naive UTC datetime."""
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed


def _list(criteria: etree._Element, wrapper: str) -> tuple[str, ...]:
    element = criteria.find(wrapper)
    if element is None:
        return ()
    return tuple(text for child in element if (text := (child.text or "").strip()))


def criteria_of(request: etree._Element) -> tuple[query.Criteria, str, str]:
    """(domain criteria, QueryId, StakeholderId) of a schema-valid request."""
    selection = request.find("SelectionCriteria")
    assert selection is not None, "schema-validated request lacks SelectionCriteria"
    values = fields(selection)
    distance = values.get("MaxDistanceFromBasePostcode")  # an xs:decimal, schema-checked
    miles = float(Decimal(distance)) if distance is not None else None
    verified_after = _datetime(values.get("ProviderVerifiedAfter"))
    verified_before = _datetime(values.get("ProviderVerifiedBefore"))
    verification = selection.find("VerificationDetails")
    criteria = query.Criteria(
        ukprns=_list(selection, "UnitedKingdomProviderReferenceNumberList"),
        names=_list(selection, "ProviderNameList"),
        postcodes=_list(selection, "PostcodeList"),
        search_term=values.get("SearchTerm"),
        base_postcode=values.get("BasePostcode"),
        max_distance_miles=miles,
        updated_since=_datetime(values.get("ProviderUpdatedSince")),
        verified_after=verified_after.date() if verified_after else None,
        verified_before=verified_before.date() if verified_before else None,
        verification=(
            (
                (verification.findtext("VerificationAuthority") or "").strip(),
                (verification.findtext("VerificationID") or "").strip(),
            )
            if verification is not None
            else None
        ),
        condition=values.get("CriteriaCondition") or "AND",
        approved_only=values.get("ApprovedProvidersOnly") == "Yes",
        status=values.get("ProviderStatus"),
    )
    query_id = (request.findtext("QueryId") or "").strip()
    return criteria, query_id, values["StakeholderId"] or ""


def credentials(header: etree._Element | None) -> tuple[str | None, str]:
    """(UKPRN, OrgPassword) from a WS-Security UsernameToken; no UKPRN when there is no token
    or its Username is not eight digits (no provider could have it)."""
    token = header.find(f"{{{WSSE}}}UsernameToken") if header is not None else None
    if token is None:
        return None, ""
    username = (token.findtext(f"{{{WSSE}}}Username") or "").strip()
    ukprn = username if _UKPRN.fullmatch(username) else None
    return ukprn, token.findtext(f"{{{WSSE}}}Password") or ""


# -- writing the answer ----------------------------------------------------------------------


def record_values(provider: ProviderDetails) -> dict[str, Any]:
    """A ProviderRecordStructure's values (schema names) for one provider."""
    contacts = []
    for kind in CONTACT_TYPES:
        contact = provider.contacts.get(kind)
        if contact is None:
            continue
        address = {
            "Address1": contact.address1,
            "Address2": contact.address2,
            "Address3": contact.address3,
            "Address4": contact.address4,
            "Town": contact.town,
            "County": contact.county,
            "PostCode": contact.postcode,
        }
        person = {
            "PersonNameTitle": contact.person_title,
            "PersonGivenName": contact.person_given_name,
            "PersonFamilyName": contact.person_family_name,
        }
        contacts.append(
            {
                "ContactType": kind,
                "ContactAddress": address if any(address.values()) else None,
                "ContactPersonalDetails": person if any(person.values()) else None,
                "ContactRole": contact.role,
                "ContactTelephone1": contact.telephone,
                "ContactWebsiteAddress": contact.website,
                "ContactEmail": contact.email,
                "LastUpdated": contact.last_updated,
            }
        )
    aliases = [{"ProviderAlias": provider.trading_name}] if provider.trading_name else []
    aliases += [
        {"ProviderAlias": alias.name, "LastUpdated": alias.last_updated}
        for alias in provider.aliases
    ]
    return {
        "UnitedKingdomProviderReferenceNumber": provider.ukprn,
        "ProviderName": provider.legal_name,
        "ProviderStatus": provider.status,
        "ProviderContact": contacts,
        "ProviderVerificationDate": provider.verified_on,
        "ExpiryDate": provider.expiry_date,
        "ProviderAssociations": [
            {
                "UnitedKingdomProviderReferenceNumber": association.ukprn,
                "AssociationType": association.association_type,
                "LastUpdated": association.last_updated,
            }
            for association in provider.associations
        ],
        "ProviderAliases": aliases,
        "VerificationDetails": [
            {
                "PrimaryVerificationSource": verification.primary,
                "VerificationAuthority": verification.authority,
                "VerificationID": verification.verification_id,
            }
            for verification in provider.verifications
        ],
    }


def response_element(
    providers: Iterable[ProviderDetails], query_id: str, stakeholder_id: str
) -> etree._Element:
    response = etree.Element(qname(UKRLP, "ProviderQueryResponse"), nsmap={"ns": UKRLP})
    return build(
        response,
        "ProviderQueryResponse",
        {
            "MatchingProviderRecords": [record_values(p) for p in providers],
            "QueryId": query_id,
            "StakeholderId": stakeholder_id,
        },
    )


def fault_envelope(fault: Fault, minor: str) -> bytes:
    env = etree.Element(qname(SOAP_ENV, "Envelope"), nsmap={"soapenv": SOAP_ENV})
    body = etree.SubElement(env, qname(SOAP_ENV, "Body"))
    soap_fault = etree.SubElement(body, qname(SOAP_ENV, "Fault"))
    etree.SubElement(soap_fault, "faultcode").text = f"soapenv:{fault.faultcode}"
    etree.SubElement(soap_fault, "faultstring").text = f"{fault.major}: {minor}"
    detail = etree.SubElement(soap_fault, "detail")
    build(
        etree.SubElement(detail, qname(UKRLP, "faultDetail"), nsmap={"ns": UKRLP}),
        "FaultDetailStructure",
        {"major": fault.major, "minor": minor},
    )
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


# -- the WSGI application --------------------------------------------------------------------


class ProviderQueryApp:
    def __init__(self, services: Services, max_records: int = query.MAX_RECORDS) -> None:
        self.services = services
        self.max_records = max_records

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        request_id = uuid.uuid4().hex
        started = time.perf_counter()
        try:
            status, body = self._route(environ, request_id)
        except QueryFault as failure:
            fault = FAULTS[failure.kind]
            status, body = status_line(fault.http_status), fault_envelope(fault, failure.minor)
            log.info("%s provider query fault %s", request_id, fault.major)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: answer, never crash
            log_internal_error(request_id, exc)
            fault = FAULTS["internal"]
            status, body = status_line(500), fault_envelope(fault, f"Request id {request_id}")
        return send(start_response, status, body, request_id, started)

    def _route(self, environ: dict, request_id: str) -> tuple[str, bytes]:
        path = environ.get("PATH_INFO", "").rstrip("/")
        if path.lower() != PROVIDER_QUERY_PATH.lower():
            raise QueryFault("not_found", f"The service is at {PROVIDER_QUERY_PATH}")
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "GET":
            return "200 OK", self._document(environ)
        if method != "POST":
            raise QueryFault("method", "POST a SOAP request, or GET ?wsdl")
        action = environ.get("HTTP_SOAPACTION")
        if action is not None and action.strip().strip('"') not in ("", SOAP_ACTION):
            raise QueryFault("invalid", f"SOAPAction {action!r} is not {SOAP_ACTION}")
        return "200 OK", self._answer(self._read_body(environ), request_id)

    def _document(self, environ: dict) -> bytes:
        query_string = environ.get("QUERY_STRING", "")
        params = parse_qs(query_string, keep_blank_values=True)
        if query_string.lower() == "wsdl" or "wsdl" in params:
            name = "wsdl"
        elif params.get("xsd"):
            name = params["xsd"][0]
        else:
            raise QueryFault("method", "GET serves ?wsdl and ?xsd=NAME only")
        url = request_uri(environ, include_query=False)
        document = contract.served_document(name, url, WSDL_PATH)
        if document is None:
            raise QueryFault("not_found", f"No schema named {name!r}")
        return document

    def _read_body(self, environ: dict) -> bytes:
        try:
            return read_body(environ, self.services.settings.max_body_bytes)
        except BodyRefused as refused:
            raise QueryFault(
                "too_large" if refused.too_large else "envelope", str(refused)
            ) from None

    def _answer(self, body: bytes, request_id: str) -> bytes:
        try:
            document = xmlsafe.parse(body)
            # The Security header is understood here (it is the caller's credentials), so
            # its mustUnderstand does not stop the envelope being read.
            header = document.find(qname(SOAP_ENV, "Header"))
            security = header.find(_SECURITY) if header is not None else None
            if security is not None:
                header.remove(security)
            payload = soap.body_payload(document)
        except ServiceFault as fault:
            raise QueryFault("envelope", fault.error.description) from None
        if payload.tag != _REQUEST:
            raise QueryFault("invalid", f"Unknown request element {payload.tag}")
        _validate(payload, "invalid")
        criteria, query_id, stakeholder_id = criteria_of(payload)
        ukprn, password = credentials(security)
        user = f"stakeholder {stakeholder_id}"
        entry = {"request_id": request_id, "user_name": user, "operation": OPERATION}
        services = self.services
        try:
            caller = services.authenticator.authenticate(ukprn, None, password, user)
            with services.db.reading() as session:
                providers = query.retrieve(session, criteria, self.max_records)
        except exceptions.DomainError as error:
            kind = _DOMAIN_FAULTS.get(type(error))
            if kind is None:
                raise
            services.audit.record(ukprn=ukprn, outcome=kind.upper(), **entry)
            raise QueryFault(kind, str(error) or FAULTS[kind].major) from None
        except query.QueryRefused as refused:
            services.audit.record(ukprn=ukprn, outcome=refused.kind.upper(), **entry)
            raise QueryFault(refused.kind, str(refused)) from None
        response = response_element(providers, query_id, stakeholder_id)
        if services.settings.validate_responses:
            _validate(response, "internal")
        services.audit.record(ukprn=caller.ukprn, outcome="OK", **entry)
        log.info(
            "%s %s OK ukprn=%s records=%d", request_id, OPERATION, caller.ukprn, len(providers)
        )
        return soap.envelope(response)
