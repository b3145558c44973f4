"""Zones and their agents: adding and removing them, their rights on objects, and checking an
agent's SourceId and secret on every message.

Secrets are Argon2id hashes (``register/auth.py``'s hasher). A verified secret is remembered
in the process for a short while, keyed by an HMAC of the secret and the hash it matched, so a
busy agent does not pay Argon2 on every message and a changed secret takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from miap.server.exceptions import AdminRefusal
from miap.server.register.auth import hash_password
from miap.server.register.identifiers import is_valid_ukprn
from miap.storage.engine import Database
from miap.storage.models import Provider
from miap.storage.sif import (
    SifAgent,
    SifOutbox,
    SifPermission,
    SifProvision,
    SifReceived,
    SifRequest,
    SifSubscription,
    SifZone,
)

#: An agent's rights on an object: provide it, subscribe to its events, request it, respond
#: to requests for it, publish Add / Change / Delete events of it.
RIGHTS = ("provide", "subscribe", "request", "respond", "add", "change", "delete")
LEARNER_PERSONAL = "LearnerPersonal"
#: What every new agent may do: publish Add and Change events of LearnerPersonal (the zone
#: registers or matches the learner), subscribe to it and request it.
DEFAULT_RIGHTS = (
    (LEARNER_PERSONAL, "add"),
    (LEARNER_PERSONAL, "change"),
    (LEARNER_PERSONAL, "subscribe"),
    (LEARNER_PERSONAL, "request"),
)
SECRET_MIN_LENGTH = 12
_ZONE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_LAESTAB = re.compile(r"[0-9]{7}")
_OBJECT = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def zone_by_name(session: Session, name: str) -> SifZone | None:
    return session.scalars(select(SifZone).where(SifZone.name == name)).first()


def add_zone(session: Session, name: str) -> SifZone:
    if not _ZONE.fullmatch(name):
        raise AdminRefusal(f"zone name {name[:70]!r}: 1-64 letters, digits, '_', '.' or '-'")
    if zone_by_name(session, name) is not None:
        raise AdminRefusal(f"zone {name} already exists")
    zone = SifZone(name=name)
    session.add(zone)
    session.flush()
    return zone


def _zone(session: Session, name: str) -> SifZone:
    zone = zone_by_name(session, name)
    if zone is None:
        raise AdminRefusal(f"no zone {name!r} (miap sif zone add {name})")
    return zone


def agent_by_source(session: Session, zone_id: int, source_id: str) -> SifAgent | None:
    return session.scalars(
        select(SifAgent).where(SifAgent.zone_id == zone_id, SifAgent.source_id == source_id)
    ).first()


def _agent(session: Session, zone_name: str, source_id: str) -> SifAgent:
    agent = agent_by_source(session, _zone(session, zone_name).id, source_id)
    if agent is None:
        raise AdminRefusal(f"no agent {source_id!r} in zone {zone_name}")
    return agent


def add_agent(
    session: Session,
    zone_name: str,
    source_id: str,
    ukprn: str,
    secret: str,
    laestab: str | None = None,
) -> SifAgent:
    zone = _zone(session, zone_name)
    if not source_id or len(source_id) > 64 or source_id != source_id.strip() or ":" in source_id:
        raise AdminRefusal("SourceId: 1-64 characters, no ':' and no surrounding spaces")
    if not is_valid_ukprn(ukprn):
        raise AdminRefusal(f"UKPRN {ukprn[:20]!r} is not eight digits from 10000000")
    if laestab is not None and not _LAESTAB.fullmatch(laestab):
        raise AdminRefusal(f"LAESTAB {laestab[:20]!r} is not seven digits")
    if len(secret) < SECRET_MIN_LENGTH:
        raise AdminRefusal(f"the secret must be at least {SECRET_MIN_LENGTH} characters")
    if agent_by_source(session, zone.id, source_id) is not None:
        raise AdminRefusal(f"agent {source_id} already exists in zone {zone_name}")
    if session.scalars(select(Provider.id).where(Provider.ukprn == ukprn)).first() is None:
        raise AdminRefusal(f"UKPRN {ukprn} is not on the provider register (miap provider add)")
    agent = SifAgent(
        zone_id=zone.id,
        source_id=source_id,
        ukprn=ukprn,
        laestab=laestab,
        secret_hash=hash_password(secret),
        registered=False,
        asleep=False,
        delivery_queued=False,
        delivery_failures=0,
    )
    session.add(agent)
    session.flush()
    session.add_all(
        SifPermission(agent_id=agent.id, object_name=name, right=right)
        for name, right in DEFAULT_RIGHTS
    )
    return agent


def list_agents(session: Session, zone_name: str) -> list[tuple[SifAgent, list[str]]]:
    """Every agent of the zone with its rights as ``Object:right``."""
    zone = _zone(session, zone_name)
    agents = session.scalars(
        select(SifAgent).where(SifAgent.zone_id == zone.id).order_by(SifAgent.source_id)
    ).all()
    answer = []
    for agent in agents:
        rights = session.execute(
            select(SifPermission.object_name, SifPermission.right)
            .where(SifPermission.agent_id == agent.id)
            .order_by(SifPermission.object_name, SifPermission.right)
        )
        answer.append((agent, [f"{name}:{right}" for name, right in rights]))
    return answer


def remove_agent(session: Session, zone_name: str, source_id: str) -> None:
    """The agent and everything of it: rights, provision, subscriptions, queued messages."""
    agent = _agent(session, zone_name, source_id)
    for model in (SifPermission, SifProvision, SifSubscription, SifReceived, SifOutbox):
        session.execute(delete(model).where(model.agent_id == agent.id))
    session.execute(
        delete(SifRequest).where(
            (SifRequest.requester_id == agent.id) | (SifRequest.responder_id == agent.id)
        )
    )
    session.delete(agent)


def set_rights(
    session: Session,
    zone_name: str,
    source_id: str,
    object_name: str,
    rights: Iterable[str],
    granted: bool,
) -> None:
    """Grant (``granted``) or withdraw ``rights`` on ``object_name``."""
    agent = _agent(session, zone_name, source_id)
    if not _OBJECT.fullmatch(object_name):
        raise AdminRefusal(f"object name {object_name[:70]!r} is not a SIF object name")
    rights = list(dict.fromkeys(rights))
    unknown = [right for right in rights if right not in RIGHTS]
    if unknown or not rights:
        raise AdminRefusal(f"rights are {', '.join(RIGHTS)}; not {', '.join(unknown) or 'none'}")
    for right in rights:
        key = (agent.id, object_name, right)
        held = session.get(SifPermission, key)
        if granted and held is None:
            session.add(SifPermission(agent_id=agent.id, object_name=object_name, right=right))
        elif not granted and held is not None:
            session.delete(held)


def may(session: Session, agent: SifAgent, object_name: str, right: str) -> bool:
    return session.get(SifPermission, (agent.id, object_name, right)) is not None


# -- authentication -------------------------------------------------------------------------

_hasher = PasswordHasher()


class SecretChecker:
    """Checks an agent's secret against its stored hash, remembering success for ``ttl``."""

    def __init__(self, ttl: float = 60.0) -> None:
        self._ttl = ttl
        self._key = secrets.token_bytes(32)
        self._verified: dict[tuple[int, bytes], tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._dummy = hash_password(secrets.token_hex(8))

    def check(self, agent: SifAgent | None, secret: str) -> bool:
        """True when ``secret`` is ``agent``'s; an unknown agent costs a verification too."""
        if agent is None:
            _verify(self._dummy, secret)
            return False
        key = (agent.id, hmac.new(self._key, secret.encode(), hashlib.sha256).digest())
        now = time.monotonic()
        with self._lock:
            cached = self._verified.get(key)
        if cached is not None and cached[0] == agent.secret_hash and cached[1] > now:
            return True
        if not _verify(agent.secret_hash, secret):
            return False
        with self._lock:
            if len(self._verified) > 10_000:
                self._verified = {k: v for k, v in self._verified.items() if v[1] > now}
            self._verified[key] = (agent.secret_hash, now + self._ttl)
        return True


def _verify(stored: str, secret: str) -> bool:
    try:
        return _hasher.verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False


def load_agent(
    db: Database, zone_name: str, source_id: str
) -> tuple[SifZone | None, SifAgent | None]:
    """The zone and the agent (either may be None), read without the write lock."""
    with db.reading() as session:
        zone = zone_by_name(session, zone_name)
        agent = agent_by_source(session, zone.id, source_id) if zone is not None else None
        for row in (zone, agent):
            if row is not None:
                session.expunge(row)
        return zone, agent
