"""``POST /sif/<ZONE>``: the zone's HTTP endpoint (transport only).

Every message: HTTP Basic with the agent's SourceId and secret (401 otherwise), the body
parsed and held to ``xsd/sif/``, its SIF_SourceId the authenticated agent's, then
``routing.handle`` in one transaction. Whatever is wrong with a readable message is answered
with a SIF_Ack carrying SIF_Error (``codes.py``), never an HTTP error.
"""

from __future__ import annotations

import base64
import binascii
import logging
import traceback
import uuid
from collections.abc import Callable, Iterable

from miap.server.bodies import BodyRefused, read_body
from miap.server.exceptions import DomainError
from miap.server.register.auth import require_active
from miap.server.services import Services
from miap.server.sif import agents, routing
from miap.server.sif.agents import SecretChecker
from miap.server.sif.codes import Problem, SifRefusal, error_for
from miap.server.sif.messages import ack, header_ids, read, serialise
from miap.server.sif.schema import CONTENT_TYPE, VERSIONS, NotWellFormed, parse
from miap.storage.sif import SifAgent, SifZone

log = logging.getLogger("miap.sif")

SIF_PATH = "/sif"
#: The OriginalMsgId of an ack to a message whose own MsgId could not be read.
UNKNOWN_MSG_ID = "0" * 32

StartResponse = Callable[[str, list[tuple[str, str]]], object]


class HttpRefusal(Exception):
    def __init__(self, status: str, text: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(text)
        self.status, self.text, self.headers = status, text, headers or []


class SifZoneApp:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.secrets = SecretChecker(ttl=services.settings.auth_cache_seconds)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        request_id = uuid.uuid4().hex
        try:
            body = self._handle(environ, request_id)
            status, headers = "200 OK", [("Content-Type", CONTENT_TYPE)]
        except HttpRefusal as refusal:
            status, body = refusal.status, (refusal.text + "\n").encode()
            headers = [("Content-Type", "text/plain; charset=utf-8"), *refusal.headers]
            log.info("%s sif %s", request_id, status)
        except Exception as error:  # noqa: BLE001 - the last line of defence
            log.error(
                "%s sif internal error %s\n%s",
                request_id,
                type(error).__name__,
                "".join(traceback.format_tb(error.__traceback__)),
            )
            status, body = "500 Internal Server Error", f"request {request_id}\n".encode()
            headers = [("Content-Type", "text/plain; charset=utf-8")]
        headers += [("Content-Length", str(len(body))), ("X-Request-Id", request_id)]
        start_response(status, headers)
        return [body]

    def _handle(self, environ: dict, request_id: str) -> bytes:
        zone_name = environ.get("PATH_INFO", "")[len(SIF_PATH) :].strip("/")
        if not zone_name or "/" in zone_name:
            raise HttpRefusal("404 Not Found", f"a zone is at {SIF_PATH}/<ZONE>")
        if environ.get("REQUEST_METHOD") != "POST":
            raise HttpRefusal("405 Method Not Allowed", "POST SIF messages", [("Allow", "POST")])
        source_id, secret = _basic(environ, zone_name)
        zone, agent = agents.load_agent(self.services.db, zone_name, source_id)
        if not self.secrets.check(agent, secret):
            # Unknown zone, unknown agent and wrong secret are not told apart.
            raise _unauthorised(zone_name)
        raw = self._read_body(environ)
        try:
            root = parse(raw)
        except NotWellFormed as error:
            return self._refuse(agent, None, None, (Problem.NOT_WELL_FORMED, str(error)))
        sent_source, sent_msg_id = header_ids(root)
        version = root.get("Version") or ""
        try:
            message = read(root)
            if message.source_id != agent.source_id:
                raise SifRefusal(
                    Problem.SOURCE_ID_MISMATCH,
                    "SIF_SourceId is not the SourceId this message was authenticated as",
                )
            with self.services.db.transaction() as session:
                # The agent's provider may have been deactivated since its last message.
                require_active(session, agent.ukprn)
                context = routing.Context(
                    session,
                    self.services,
                    session.get(SifZone, zone.id),
                    session.get(SifAgent, agent.id),
                    message,
                    request_id,
                )
                answer = routing.handle(context)
                reply = serialise(answer)
        except (SifRefusal, DomainError) as failure:
            problem, description = error_for(failure)
            log.info(
                "%s sif %s refused %s/%s",
                request_id,
                agent.source_id,
                problem.category,
                problem.code,
            )
            return self._refuse(agent, sent_msg_id, version, (problem, description))
        log.info("%s sif %s %s %s", request_id, agent.source_id, message.kind, message.msg_id)
        return reply

    def _refuse(self, agent, msg_id, version, error) -> bytes:  # noqa: ANN001
        """A SIF_Ack carrying SIF_Error for a message that was not processed."""
        if msg_id is None or len(msg_id) != 32 or msg_id.strip("0123456789ABCDEF"):
            msg_id = UNKNOWN_MSG_ID
        version = routing.answer_version(agent, version if version in VERSIONS else "")
        return serialise(ack(version, agent.source_id, msg_id, error=error))

    def _read_body(self, environ: dict) -> bytes:
        try:
            return read_body(environ, self.services.settings.max_body_bytes)
        except BodyRefused as refused:
            status = "413 Content Too Large" if refused.too_large else "400 Bad Request"
            raise HttpRefusal(status, str(refused)) from None


def _unauthorised(zone_name: str) -> HttpRefusal:
    return HttpRefusal(
        "401 Unauthorized",
        "HTTP Basic authentication with the agent's SourceId and secret is required",
        [("WWW-Authenticate", f'Basic realm="SIF zone {zone_name}", charset="UTF-8"')],
    )


def _basic(environ: dict, zone_name: str) -> tuple[str, str]:
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise _unauthorised(zone_name)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorised(zone_name) from None
    source_id, sep, secret = decoded.partition(":")
    if not sep or not source_id:
        raise _unauthorised(zone_name)
    return source_id, secret
