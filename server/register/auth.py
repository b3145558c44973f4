"""Provider authentication: UKPRN (or OrganisationRef) + OrgPassword against the register.

Passwords are stored as Argon2id hashes. Verifying one costs tens of milliseconds by design, so
a successful verification is remembered in this process for a short time (``ttl`` seconds),
keyed by an HMAC of the password under a per-process secret: the cache never holds the password
and a wrong password never matches a cached entry, so it is verified and refused every time.
A provider's deactivation takes effect within ``ttl``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from miap.server import exceptions
from miap.storage.engine import Database
from miap.storage.models import Provider

#: Provider statuses (UKRLP codes) allowed to call: active and verified.
ACTIVE_STATUSES = frozenset({"A", "V"})
PROVIDER_STATUSES = ("A", "V", "PD1", "PD2")

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@dataclass(frozen=True)
class Caller:
    """Who is calling: the provider's UKPRN and the named user within it."""

    ukprn: str
    user_name: str


class Authenticator:
    def __init__(
        self, db: Database, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic
    ):
        self._db = db
        self._ttl = ttl
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._verified: dict[tuple[str, bytes], tuple[str, float]] = {}
        self._lock = threading.Lock()
        # Verified against when the organisation is unknown, so that its answer takes as long.
        self._dummy_hash = hash_password(secrets.token_hex(8))

    def authenticate(
        self, ukprn: str | None, organisation_ref: str | None, password: str, user_name: str
    ) -> Caller:
        identity = ukprn or organisation_ref
        if not identity:
            raise exceptions.IdentityMissing("Send UKPRN (or OrganisationRef)")
        key = (identity, hmac.new(self._secret, password.encode(), hashlib.sha256).digest())
        now = self._clock()
        with self._lock:
            cached = self._verified.get(key)
        if cached is not None and cached[1] > now:
            return Caller(cached[0], user_name)

        with self._db.transaction() as session:
            column = Provider.ukprn if ukprn else Provider.organisation_ref
            provider = session.scalars(select(Provider).where(column == identity)).first()
            found = (provider.ukprn, provider.status, provider.password_hash) if provider else None
        # The slow hash runs outside any transaction so it never holds a database lock.
        if found is None:
            _verify(self._dummy_hash, password)
            raise exceptions.AuthenticationFailed()
        provider_ukprn, status, password_hash = found
        if not _verify(password_hash, password):
            raise exceptions.AuthenticationFailed()
        if status not in ACTIVE_STATUSES:
            raise exceptions.ProviderNotActive(f"UKPRN {provider_ukprn} status {status}")
        with self._lock:
            if len(self._verified) > 10_000:
                self._verified = {k: v for k, v in self._verified.items() if v[1] > now}
            self._verified[key] = (provider_ukprn, now + self._ttl)
        return Caller(provider_ukprn, user_name)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
