"""The portal: providers and learners use the register in a browser, on the same domain code,
access policy and audit as the SOAP routes (served at ``/portal/`` by every ``miap serve``).

Server-rendered pages that work without JavaScript. Every POST carries the session's CSRF
token; a missing or wrong one, and anything the access policy refuses, answers 403 with a page
that says why. Searches are POSTs, so no name, date of birth or postcode is ever in a URL.
"""

from __future__ import annotations

import logging
import secrets
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from miap.server.exceptions import ActionNotPermitted, ProviderNotActive
from miap.server.portal import web
from miap.server.portal.guard import Refused, entry, may, outcome_code
from miap.server.portal.sessions import COOKIE, Current, Sessions, Who
from miap.server.register.auth import require_active
from miap.server.services import Services
from miap.storage.portal import PROVIDER

log = logging.getLogger("miap.portal")

PORTAL_PATH = web.PREFIX
#: Largest request body the portal reads (a batch file of 5,000 learners is well under it).
MAX_UPLOAD_BYTES = 16 * 1024 * 1024

Handler = Callable[["Context"], Response]


@dataclass(frozen=True)
class Page:
    """A route: its handler and who may open it (None: anyone, signed in or not)."""

    path: str
    handler: Handler
    methods: tuple[str, ...] = ("GET",)
    kinds: tuple[str, ...] | None = (PROVIDER,)


@dataclass
class Context:
    """One request as a page handler sees it."""

    app: PortalApp
    request: Request
    request_id: str
    current: Current | None
    args: dict[str, Any] = field(default_factory=dict)
    #: A new session's cookie value, set on the response.
    new_cookie: str | None = None

    @property
    def services(self) -> Services:
        return self.app.services

    @property
    def who(self) -> Who:
        assert self.current is not None and self.current.user is not None
        return self.current.user

    def render(self, template: str, status: int = 200, **values: Any) -> Response:  # noqa: ANN401
        user = self.current.user if self.current else None
        return web.render(
            template,
            status,
            user=user,
            may=(lambda action: user is not None and may(user, action)),
            csrf_token=self.current.csrf_token if self.current else "",
            **values,
        )

    def audit(self, operation: str, outcome: str, ulns: list[str] | None = None) -> None:
        """Audit an answer that changed nothing (the process's group-commit writer)."""
        user = self.current.user if self.current else None
        self.services.audit.record(**entry(user, self.request_id, operation, outcome, ulns))

    def entry(self, operation: str, outcome: str, ulns: list[str] | None = None) -> dict:
        """An audit entry to write in a change's own transaction (``audit.record``)."""
        user = self.current.user if self.current else None
        return entry(user, self.request_id, operation, outcome, ulns)

    def start_session(self, session, user=None, pending=None) -> None:  # noqa: ANN001
        """Replace the request's session by a new one (new id, new CSRF token)."""
        if self.current is not None:
            Sessions.end(session, self.current.id_hash)
        self.new_cookie, self.current = self.app.sessions.start(session, user, pending)


def _pages() -> list[Page]:
    from miap.server.portal import (
        account_pages,
        admin_pages,
        batch_pages,
        learner_pages,
        provider_pages,
    )

    return [
        *account_pages.PAGES,
        *provider_pages.PAGES,
        *batch_pages.PAGES,
        *learner_pages.PAGES,
        *admin_pages.PAGES,
    ]


class PortalApp:
    def __init__(self, services: Services) -> None:
        self.services = services
        settings = services.settings
        self.secure_cookies = settings.portal_secure_cookies
        self.sessions = Sessions(settings.portal_idle_minutes, settings.portal_session_hours)
        self.pages = _pages()
        self.url_map = Map(
            [
                Rule(web.PREFIX + page.path, endpoint=page, methods=page.methods)
                for page in self.pages
            ],
            strict_slashes=False,
        )

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_UPLOAD_BYTES
        request.max_form_memory_size = MAX_UPLOAD_BYTES
        request_id = uuid.uuid4().hex
        response = web.secure(self._answer(request, request_id))
        response.headers["X-Request-Id"] = request_id
        return response(environ, start_response)

    def _answer(self, request: Request, request_id: str) -> Response:
        if request.path.startswith(web.STATIC + "/"):
            found = web.static_file(request.path[len(web.STATIC) + 1 :])
            return found or _error(404, "Page not found", "There is no such file.")
        context = Context(self, request, request_id, None)
        try:
            context.current = self._session(request)
            return self._dispatch(context)
        except Refused as refused:
            uln = context.args.get("uln")
            context.audit(_operation(request), refused.code, [uln] if uln else [])
            log.info("%s refused %s %s", request_id, request.path, refused.code)
            return _with_cookie(
                self, context, context.render("forbidden.html", 403, message=refused.message)
            )
        except HTTPException as error:
            if error.code == 413:
                return _error(413, "File too large", "The file is larger than the portal takes.")
            if isinstance(error, NotFound):
                return _error(404, "Page not found", "Check the address and try again.")
            if error.code == 405:
                return _error(405, "Not allowed", "That page does not take this kind of request.")
            return error.get_response()
        except Exception as error:  # noqa: BLE001 - answer with a page, never a traceback
            log.error(
                "%s portal error %s\n%s",
                request_id,
                type(error).__name__,
                "".join(traceback.format_tb(error.__traceback__)),
            )
            return _error(
                500, "Sorry, there is a problem", f"Try again later. Reference: {request_id}"
            )

    def _session(self, request: Request) -> Current | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        db = self.services.db
        with db.reading() as session:
            current, expired = self.sessions.load(session, token)
        if expired:
            from miap.server.portal.accounts import digest

            with db.transaction() as session:
                Sessions.end(session, digest(token))
        elif current is not None and current.stale:
            with db.transaction() as session:
                Sessions.touch(session, current.id_hash)
        return current

    def _dispatch(self, context: Context) -> Response:
        request = context.request
        adapter = self.url_map.bind_to_environ(request.environ)
        page, context.args = adapter.match()
        if page.kinds is not None:
            user = context.current.user if context.current else None
            if user is None:
                if request.method == "GET":
                    return redirect(f"{web.PREFIX}/sign-in")
                return _error(403, "Signed out", "Your session has ended. Sign in again.")
            if user.kind not in page.kinds:
                refusal = ActionNotPermitted(f"a {user.kind} account may not open {request.path}")
                raise Refused("This page is not for your kind of account.", outcome_code(refusal))
            if user.kind == PROVIDER:
                self._require_active_provider(user)
        if request.method == "POST":
            self._check_csrf(context)
        response = page.handler(context)
        return _with_cookie(self, context, response)

    def _require_active_provider(self, user: Who) -> None:
        """A provider's users are refused at once when its status no longer lets it call
        (PD1, PD2), as its SOAP and SIF callers are: read on every request."""
        try:
            with self.services.db.reading() as session:
                require_active(session, user.ukprn)
        except ProviderNotActive as refusal:
            raise Refused(
                "Your organisation's registration does not allow it to use the service now.",
                outcome_code(refusal),
            ) from None

    def _check_csrf(self, context: Context) -> None:
        sent = context.request.form.get("csrf_token", "")
        expected = context.current.csrf_token if context.current else None
        if not expected or not sent or not secrets.compare_digest(sent, expected):
            raise CsrfFailure()

    def cookie(self, response: Response, value: str) -> None:
        response.set_cookie(
            COOKIE,
            value,
            path=web.PREFIX,
            secure=self.secure_cookies,
            httponly=True,
            samesite="Lax",
        )


class CsrfFailure(HTTPException):
    code = 403

    def get_response(self, environ=None, scope=None) -> Response:  # noqa: ANN001
        return _error(
            403,
            "The form could not be accepted",
            "The form was missing its security token, or the token was wrong or out of date. "
            "Go back, reload the page and try again.",
        )


def _with_cookie(app: PortalApp, context: Context, response: Response) -> Response:
    if context.new_cookie:
        app.cookie(response, context.new_cookie)
    return response


def _operation(request: Request) -> str:
    """A refused request's operation: its method and route (ids, not personal data)."""
    return f"portal {request.method} {request.path.removeprefix(web.PREFIX)}"[:64]


def _error(status: int, title: str, message: str) -> Response:
    return web.render("error.html", status, title=title, message=message, user=None)
