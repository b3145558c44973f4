"""The SOAP services' WSGI machinery: routing, body limits, dispatch, faults, audit and the
request log, shared by the LearnerService (here) and the PLR service (``plr_service.py``).

Transport only: every answer comes from an operation's handler; every failure becomes a SOAP
Fault (the service's own detail: MIAPAPIException here, DomainFault for the PLR), never a
traceback. Every request is audited with the same row shape (``register/audit.py``): the
caller's UKPRN, user name and user type, the route, the operation, its code and the ULNs.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs
from wsgiref.util import request_uri

from miap.server.bodies import BodyRefused, read_body
from miap.server.exceptions import AccessRefused, DomainError
from miap.server.register import audit
from miap.server.services import Services
from miap.server.soap import contract, faults, xmlsafe
from miap.server.soap import envelope as soap
from miap.server.soap.answering import StartResponse, log_internal_error, send, status_line
from miap.server.soap.faults import ServiceFault, fault_for
from miap.server.soap.learner_service import OPERATIONS
from miap.server.soap.operations import READ_ONLY, Call, Operation, Reply
from miap.server.soap.wire import fields

log = logging.getLogger("miap.request")

SERVICE_PATH = "/LearnerService.svc"
#: Bodies over the limit but under this are read and discarded so the client sees the fault.
DRAIN_LIMIT = 64 * 1024 * 1024


class Identity(NamedTuple):
    """Who a request says it is, read from its body before authentication."""

    ukprn: str | None
    organisation_ref: str | None
    password: str
    user_name: str | None
    user_type: str


class SoapService:
    """One SOAP service mounted at ``path``: subclasses name their operations, WSDL, audit
    route, where a request carries its credentials, and how a fault is written."""

    path: str = SERVICE_PATH
    wsdl: Path = contract.WSDL_PATH
    route: str = audit.LEARNER_SERVICE
    operations_list: tuple[Operation, ...] = OPERATIONS
    read_only: frozenset[str] = READ_ONLY

    def __init__(self, services: Services) -> None:
        self.services = services
        self.db = services.db
        self.settings = services.settings
        self.matcher = services.matcher
        self.reads = services.reads
        self.authenticator = services.authenticator
        #: Audit entries of read-only answers and of refusals: one writer thread, group commit.
        self.audit = services.audit
        self.operations: dict[str, Operation] = {op.request: op for op in self.operations_list}

    def identity(self, payload) -> Identity:  # noqa: ANN001
        """The LearnerService's header fields (the password verbatim: spaces count)."""
        header = fields(payload)
        return Identity(
            header.get("UKPRN"),
            header.get("OrganisationRef"),
            payload.findtext("OrgPassword"),
            header.get("UserName"),
            header.get("UserType") or "ORG",
        )

    def fault_body(self, fault: ServiceFault) -> bytes:
        return soap.fault_envelope(fault)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        request_id = uuid.uuid4().hex
        started = time.perf_counter()
        try:
            status, body = self._route(environ, request_id)
        except ServiceFault as fault:
            status, body = status_line(fault.error.http_status), self.fault_body(fault)
            log.info("%s fault %s", request_id, fault.error.code)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: answer, never crash
            log_internal_error(request_id, exc)
            fault = ServiceFault(faults.INTERNAL, f"Request id {request_id}")
            status, body = status_line(500), self.fault_body(fault)
        return send(start_response, status, body, request_id, started)

    def _route(self, environ: dict, request_id: str) -> tuple[str, bytes]:
        if environ.get("PATH_INFO", "").rstrip("/").lower() != self.path.lower():
            raise ServiceFault(faults.NOT_FOUND, f"The service is at {self.path}")
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "GET":
            return "200 OK", self._document(environ)
        if method != "POST":
            raise ServiceFault(faults.METHOD_NOT_ALLOWED)
        body = self._read_body(environ)
        payload = soap.body_payload(xmlsafe.parse(body))
        reply = self._dispatch(payload, request_id)
        return "200 OK", soap.envelope(reply.element)

    def _document(self, environ: dict) -> bytes:
        query = environ.get("QUERY_STRING", "")
        params = parse_qs(query, keep_blank_values=True)
        if query.lower() == "wsdl" or "wsdl" in params:
            name = "wsdl"
        elif params.get("xsd"):
            name = params["xsd"][0]
        else:
            raise ServiceFault(faults.METHOD_NOT_ALLOWED, "GET serves ?wsdl and ?xsd=NAME only")
        url = self.settings.public_url or request_uri(environ, include_query=False)
        document = contract.served_document(name, url, self.wsdl)
        if document is None:
            raise ServiceFault(faults.NOT_FOUND, f"No schema named {name!r}")
        return document

    def _read_body(self, environ: dict) -> bytes:
        try:
            return read_body(environ, self.settings.max_body_bytes, DRAIN_LIMIT)
        except BodyRefused as refused:
            fault = faults.TOO_LARGE if refused.too_large else faults.BAD_ENVELOPE
            raise ServiceFault(fault, str(refused)) from None

    def _dispatch(self, payload, request_id: str) -> Reply:  # noqa: ANN001
        operation = self.operations.get(payload.tag)
        if operation is None:
            raise ServiceFault(faults.UNKNOWN_OPERATION, f"Unknown request element {payload.tag}")
        contract.validate(payload)
        who = self.identity(payload)
        ukprn = who.ukprn
        entry = {
            "request_id": request_id,
            "user_name": who.user_name,
            "operation": operation.name,
            "route": self.route,
            "user_type": who.user_type,
        }
        call: Call | None = None
        try:
            caller = self.authenticator.authenticate(
                ukprn, who.organisation_ref, who.password, who.user_name
            )
            caller = dataclasses.replace(caller, user_type=who.user_type)
            ukprn = caller.ukprn
            if operation.name in self.read_only:
                call, reply = self._read(operation, caller, payload)
                entry["user_type"] = call.acting or who.user_type
                # Answered only once the entry is committed (by the writer, with others').
                self.audit.record(ukprn=ukprn, outcome=reply.outcome, ulns=reply.ulns, **entry)
            else:
                with self.db.transaction() as session:
                    call = Call(session, self.matcher, caller, payload, self.reads)
                    reply = operation.handler(call)
                    if self.settings.validate_responses:
                        _validate_response(reply)
                    entry["user_type"] = call.acting or who.user_type
                    # In the change's own transaction: both commit, or neither.
                    audit.record(
                        session, ukprn=ukprn, outcome=reply.outcome, ulns=reply.ulns, **entry
                    )
        except (ServiceFault, DomainError) as failure:
            fault = failure if isinstance(failure, ServiceFault) else fault_for(failure)
            refused = [failure.uln] if isinstance(failure, AccessRefused) and failure.uln else []
            if call is not None and call.acting:
                entry["user_type"] = call.acting
            self.audit.record(ukprn=ukprn, outcome=fault.error.code, ulns=refused, **entry)
            raise fault from None
        except Exception:
            self._audit_internal_error(ukprn, entry)
            raise
        log.info(
            "%s %s %s ukprn=%s ulns=%s",
            request_id,
            operation.name,
            reply.outcome,
            ukprn,
            ",".join(reply.ulns[:10]),
        )
        return reply

    def _read(self, operation: Operation, caller, payload) -> tuple[Call, Reply]:  # noqa: ANN001
        """A read-only operation on the read path: no write lock, no writing transaction."""
        with self.db.reading() as session:
            call = Call(session, self.matcher, caller, payload, self.reads)
            reply = operation.handler(call)
        if self.settings.validate_responses:
            _validate_response(reply)
        return call, reply

    def _audit_internal_error(self, ukprn: str | None, entry: dict) -> None:
        """Audit a request that failed inside the server (best effort: the failure may be
        the database itself, and the client gets WSEC0999 either way)."""
        try:
            self.audit.record(ukprn=ukprn, outcome=faults.INTERNAL.code, **entry)
        except Exception as error:  # noqa: BLE001
            log.error("%s could not audit an internal error: %s", entry["request_id"], error)


class LearnerServiceApp(SoapService):
    """The LearnerService at ``/LearnerService.svc``: every national operation."""


def _validate_response(reply: Reply) -> None:
    try:
        contract.validate(reply.element)
    except ServiceFault as fault:
        raise ServiceFault(
            faults.INTERNAL, f"Outbound message breaks the contract: {fault.further_details}"
        ) from None
