"""Helpers for the portal's tests: a browser-like HTTP client and accounts made the way an
operator makes them (``miap portal user add``, then the activation link)."""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass

import requests

from tests.support import SERVICE_PATH, Server, run_miap

PASSWORD = "Portal-Test-Password-1"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LINK = re.compile(r"(https?://\S+/portal/activate/\S+)")
_counter = itertools.count()


_SET_COOKIE = re.compile(r"miap_portal=([^;]*)")


def portal_url(server: Server) -> str:
    return server.url.removesuffix(SERVICE_PATH) + "/portal"


class PortalClient:
    """A requests session that keeps the portal's cookie and sends each form's CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.csrf: str | None = None
        #: The session cookie, kept by hand: the server marks it Secure and requests' cookie
        #: jar sends no Secure cookie over the tests' plain HTTP (browsers do, to localhost).
        self.cookie: str | None = None

    def _headers(self) -> dict[str, str]:
        return {"Cookie": f"miap_portal={self.cookie}"} if self.cookie else {}

    def _remember(self, response: requests.Response) -> requests.Response:
        found = _SET_COOKIE.search(response.headers.get("Set-Cookie", ""))
        if found:
            self.cookie = found.group(1) or None
        found = (
            _CSRF.search(response.text)
            if "html" in response.headers.get("Content-Type", "")
            else None
        )
        if found:
            self.csrf = found.group(1)
        return response

    def _send(self, method: str, path: str, follow: bool, **kwargs) -> requests.Response:  # noqa: ANN003
        url = self.base + path
        response = self.http.request(
            method, url, headers=self._headers(), allow_redirects=False, timeout=60, **kwargs
        )
        self._remember(response)
        while (
            follow and response.status_code in (301, 302, 303) and response.headers.get("Location")
        ):
            url = requests.compat.urljoin(url, response.headers["Location"])
            response = self.http.get(
                url, headers=self._headers(), allow_redirects=False, timeout=60
            )
            self._remember(response)
        return response

    def get(self, path: str, allow_redirects: bool = True, **kwargs) -> requests.Response:  # noqa: ANN003
        return self._send("GET", path, allow_redirects, **kwargs)

    def post(
        self,
        path: str,
        data: dict | None = None,
        csrf: bool = True,
        allow_redirects: bool = True,
        **kwargs,  # noqa: ANN003
    ) -> requests.Response:
        data = dict(data or {})
        if csrf and "csrf_token" not in data:
            if self.csrf is None:
                self.get("/sign-in")
            data["csrf_token"] = self.csrf
        return self._send("POST", path, allow_redirects, data=data, **kwargs)

    def sign_in(self, email: str, password: str = PASSWORD) -> requests.Response:
        self.get("/sign-in")
        return self.post("/sign-in", {"email": email, "password": password})

    def learner_sign_in(self, uln: str, born: str, password: str = PASSWORD) -> requests.Response:
        self.get("/learner/sign-in")
        return self.post(
            "/learner/sign-in", {"uln": uln, "date_of_birth": born, "password": password}
        )


_LINK_ON_PAGE = re.compile(r'id="activation-link">([^<]+)<')


def activation_link(output: str) -> str:
    """The activation link a command printed or a page shows."""
    found = _LINK_ON_PAGE.search(output) or _LINK.search(output)
    assert found, output
    return found.group(1)


def activate(base: str, link: str, password: str = PASSWORD) -> None:
    path = link[link.index("/portal/") + len("/portal") :]
    client = PortalClient(base)
    client.get(path)
    answer = client.post(path, {"password": password, "confirm": password}, allow_redirects=False)
    assert answer.status_code == 302, answer.text


def unique_email(role: str) -> str:
    return f"{role}.{next(_counter)}.{uuid.uuid4().hex[:8]}@example.org"


@dataclass
class Account:
    email: str
    role: str
    ukprn: str | None


def make_user(server: Server, role: str, ukprn: str | None) -> Account:
    """A provider user (or service administrator), activated with ``PASSWORD``."""
    email = unique_email(role)
    args = ["portal", "user", "add", "--db", server.database_url, "--email", email, "--role", role]
    if ukprn:
        args += ["--ukprn", ukprn]
    output = run_miap(*args).stdout
    activate(portal_url(server), activation_link(output))
    return Account(email, role, ukprn)


def signed_in(server: Server, account: Account) -> PortalClient:
    client = PortalClient(portal_url(server))
    answer = client.sign_in(account.email)
    assert answer.status_code == 200 and "Sign out" in answer.text, answer.text[:2000]
    return client
