"""The WSGI application: routing, body limits, SOAP dispatch, faults and the request log.

Transport only: every answer comes from ``learner_service`` handlers; every failure becomes a
SOAP Fault with a MIAPAPIException detail, never a traceback.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from urllib.parse import parse_qs
from wsgiref.util import request_uri

from miap.server.exceptions import DomainError
from miap.server.register import audit
from miap.server.services import Services
from miap.server.soap import contract, faults, xmlsafe
from miap.server.soap import envelope as soap
from miap.server.soap.faults import ServiceFault, fault_for
from miap.server.soap.learner_service import OPERATIONS
from miap.server.soap.operations import READ_ONLY, Call, Operation, Reply
from miap.server.soap.wire import fields

log = logging.getLogger("miap.request")

SERVICE_PATH = "/LearnerService.svc"
XML = "text/xml; charset=utf-8"
#: Bodies over the limit but under this are read and discarded so the client sees the fault.
DRAIN_LIMIT = 64 * 1024 * 1024


StartResponse = Callable[[str, list[tuple[str, str]]], object]


class LearnerServiceApp:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.db = services.db
        self.settings = services.settings
        self.matcher = services.matcher
        self.reads = services.reads
        self.authenticator = services.authenticator
        #: Audit entries of read-only answers and of refusals: one writer thread, group commit.
        self.audit = services.audit
        self.operations: dict[str, Operation] = {op.request: op for op in OPERATIONS}

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        request_id = uuid.uuid4().hex
        started = time.perf_counter()
        try:
            status, body = self._route(environ, request_id)
        except ServiceFault as fault:
            status, body = _status(fault.error.http_status), soap.fault_envelope(fault)
            log.info("%s fault %s", request_id, fault.error.code)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: answer, never crash
            # The exception text may quote request values; log its type and stack only.
            log.error(
                "%s internal error %s\n%s",
                request_id,
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            fault = ServiceFault(faults.INTERNAL, f"Request id {request_id}")
            status, body = _status(500), soap.fault_envelope(fault)
        log.debug("%s %s in %.1f ms", request_id, status, (time.perf_counter() - started) * 1000)
        start_response(
            status,
            [
                ("Content-Type", XML),
                ("Content-Length", str(len(body))),
                ("X-Request-Id", request_id),
            ],
        )
        return [body]

    def _route(self, environ: dict, request_id: str) -> tuple[str, bytes]:
        if environ.get("PATH_INFO", "").rstrip("/").lower() != SERVICE_PATH.lower():
            raise ServiceFault(faults.NOT_FOUND, f"The service is at {SERVICE_PATH}")
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
        document = contract.served_document(name, url)
        if document is None:
            raise ServiceFault(faults.NOT_FOUND, f"No schema named {name!r}")
        return document

    def _read_body(self, environ: dict) -> bytes:
        limit = self.settings.max_body_bytes
        stream = environ["wsgi.input"]
        try:
            declared = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            raise ServiceFault(faults.BAD_ENVELOPE, "Content-Length is not a number") from None
        if declared > limit:
            _drain(stream, min(declared, DRAIN_LIMIT))
            raise ServiceFault(faults.TOO_LARGE, f"Limit {limit} bytes, declared {declared}")
        body = stream.read(declared) if declared >= 0 else stream.read(limit + 1)
        if len(body) > limit:
            raise ServiceFault(faults.TOO_LARGE, f"Limit {limit} bytes")
        return body

    def _dispatch(self, payload, request_id: str) -> Reply:  # noqa: ANN001
        operation = self.operations.get(payload.tag)
        if operation is None:
            raise ServiceFault(faults.UNKNOWN_OPERATION, f"Unknown request element {payload.tag}")
        contract.validate(payload)
        header = fields(payload)
        ukprn, user_name = header.get("UKPRN"), header.get("UserName")
        entry = {"request_id": request_id, "user_name": user_name, "operation": operation.name}
        try:
            caller = self.authenticator.authenticate(
                # The password is taken verbatim: spaces in it are significant.
                ukprn,
                header.get("OrganisationRef"),
                payload.findtext("OrgPassword"),
                user_name,
            )
            if operation.name in READ_ONLY:
                reply = self._read(operation, caller, payload)
                # Answered only once the entry is committed (by the writer, with others').
                self.audit.record(
                    ukprn=caller.ukprn, outcome=reply.outcome, ulns=reply.ulns, **entry
                )
            else:
                with self.db.transaction() as session:
                    reply = operation.handler(
                        Call(session, self.matcher, caller, payload, self.reads)
                    )
                    if self.settings.validate_responses:
                        _validate_response(reply)
                    # In the change's own transaction: both commit, or neither.
                    audit.record(
                        session, ukprn=caller.ukprn, outcome=reply.outcome, ulns=reply.ulns, **entry
                    )
        except (ServiceFault, DomainError) as failure:
            fault = failure if isinstance(failure, ServiceFault) else fault_for(failure)
            self.audit.record(ukprn=ukprn, outcome=fault.error.code, **entry)
            raise fault from None
        except Exception:
            self._audit_internal_error(ukprn, entry)
            raise
        log.info(
            "%s %s %s ukprn=%s ulns=%s",
            request_id,
            operation.name,
            reply.outcome,
            caller.ukprn,
            ",".join(reply.ulns[:10]),
        )
        return reply

    def _read(self, operation: Operation, caller, payload) -> Reply:  # noqa: ANN001
        """A read-only operation on the read path: no write lock, no writing transaction."""
        with self.db.reading() as session:
            reply = operation.handler(Call(session, self.matcher, caller, payload, self.reads))
        if self.settings.validate_responses:
            _validate_response(reply)
        return reply

    def _audit_internal_error(self, ukprn: str | None, entry: dict) -> None:
        """Audit a request that failed inside the server (best effort: the failure may be
        the database itself, and the client gets WSEC0999 either way)."""
        try:
            self.audit.record(ukprn=ukprn, outcome=faults.INTERNAL.code, **entry)
        except Exception as error:  # noqa: BLE001
            log.error("%s could not audit an internal error: %s", entry["request_id"], error)


def _validate_response(reply: Reply) -> None:
    try:
        contract.validate(reply.element)
    except ServiceFault as fault:
        raise ServiceFault(
            faults.INTERNAL, f"Outbound message breaks the contract: {fault.further_details}"
        ) from None


def _drain(stream, size: int) -> None:  # noqa: ANN001
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 16))
        if not chunk:
            break
        remaining -= len(chunk)


def _status(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"
