"""Provider authentication: UKPRN (or OrganisationRef) + OrgPassword against the register.

Passwords are stored as Argon2id hashes. Verifying one costs tens of milliseconds by design, so
a successful verification is remembered in this process for a short time (``ttl`` seconds),
keyed by an HMAC of the password under a per-process secret together with the stored hash it
was verified against: the cache never holds the password, and a wrong password never matches a
cached entry, so every request that sends one is refused.

Every request still reads the provider's row (one indexed query on the read path, no Argon2),
so a change of status or password takes effect at once: a deactivated provider is refused on
its next request, and a changed password no longer matches the hash a cached entry was
verified against. When an entry expires, or is missing, the password is verified once however
many requests are waiting for it (single flight): the others wait for that verification and
share its answer instead of each running Argon2.
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
from sqlalchemy.orm import Session

from miap.server import exceptions
from miap.storage.engine import Database
from miap.storage.models import Provider
from miap.storage.reads import Reads

#: Provider statuses (UKRLP codes) allowed to call: active and verified.
ACTIVE_STATUSES = frozenset({"A", "V"})
PROVIDER_STATUSES = ("A", "V", "PD1", "PD2")

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@dataclass(frozen=True)
class Caller:
    """Who is calling: the organisation's UKPRN, the named user within it, and the user type
    the request claims (``ORG`` unless a transport carries another: the PLR's ``userType``,
    getLearnerRecord's ``UserType``). ``server/access/policy.py`` decides what the claim is
    worth."""

    ukprn: str
    user_name: str
    user_type: str = "ORG"
    #: The user types the organisation is granted (LNR, AO), read with its register row on
    #: every request; None when the caller was not authenticated here (the policy reads them).
    grants: frozenset[str] | None = None


class _Flight:
    """One verification in progress; requests for the same key wait for its answer."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.verified = False
        self.error: BaseException | None = None


def require_active(session: Session, ukprn: str) -> None:
    """Refuse a provider whose register status does not allow it to call (PD1, PD2) or that
    is not on the register: read on every request by the routes that authenticate their
    callers otherwise (SIF agents, portal users), so a status change holds at once there too."""
    status = session.scalar(select(Provider.status).where(Provider.ukprn == ukprn))
    if status not in ACTIVE_STATUSES:
        raise exceptions.ProviderNotActive(f"UKPRN {ukprn} status {status or 'unknown'}")


class Authenticator:
    def __init__(
        self,
        db: Database,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        reads: Reads | None = None,
    ):
        self._reads = reads or Reads(db.read_engine)
        self._ttl = ttl
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        #: (identity, HMAC of the password) -> (the hash it verified against, expiry).
        self._verified: dict[tuple[str, bytes], tuple[str, float]] = {}
        self._flights: dict[tuple[str, bytes, str], _Flight] = {}
        self._lock = threading.Lock()
        #: How many Argon2 verifications ran (tests and diagnostics).
        self.verifications = 0
        # Verified against when the organisation is unknown, so that its answer takes as long.
        self._dummy_hash = hash_password(secrets.token_hex(8))

    def authenticate(
        self, ukprn: str | None, organisation_ref: str | None, password: str, user_name: str
    ) -> Caller:
        identity = ukprn or organisation_ref
        if not identity:
            raise exceptions.IdentityMissing("Send UKPRN (or OrganisationRef)")
        # Read on every request: status and password changes take effect at once.
        provider = self._reads.provider(identity, by_ukprn=bool(ukprn))
        if provider is None:
            self._count()
            _verify(self._dummy_hash, password)
            raise exceptions.AuthenticationFailed()
        key = (identity, hmac.new(self._secret, password.encode(), hashlib.sha256).digest())
        if not self._cached(key, provider.password_hash) and not self._verify_once(
            key, provider.password_hash, password
        ):
            raise exceptions.AuthenticationFailed()
        if provider.status not in ACTIVE_STATUSES:
            raise exceptions.ProviderNotActive(f"UKPRN {provider.ukprn} status {provider.status}")
        return Caller(provider.ukprn, user_name, grants=self._reads.grants(provider.ukprn))

    def _cached(self, key: tuple[str, bytes], password_hash: str) -> bool:
        with self._lock:
            cached = self._verified.get(key)
        return cached is not None and cached[0] == password_hash and cached[1] > self._clock()

    def _verify_once(self, key: tuple[str, bytes], password_hash: str, password: str) -> bool:
        """Verify ``password`` against ``password_hash``; concurrent requests for the same
        key and hash wait for the first one's verification instead of running their own."""
        flight_key = (*key, password_hash)
        with self._lock:
            flight = self._flights.get(flight_key)
            leader = flight is None
            if leader:
                flight = self._flights[flight_key] = _Flight()
        assert flight is not None
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise exceptions.AuthenticationFailed() from flight.error
            return flight.verified
        try:
            # The slow hash runs outside any lock or transaction.
            self._count()
            flight.verified = _verify(password_hash, password)
            if flight.verified:
                now = self._clock()
                with self._lock:
                    if len(self._verified) > 10_000:
                        self._verified = {k: v for k, v in self._verified.items() if v[1] > now}
                    self._verified[key] = (password_hash, now + self._ttl)
            return flight.verified
        except BaseException as error:
            flight.error = error
            raise
        finally:
            with self._lock:
                del self._flights[flight_key]
            flight.done.set()

    def _count(self) -> None:
        with self._lock:
            self.verifications += 1


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
