"""Browser sessions, stored in the database so that every server process shares them.

The cookie carries a random id; the table keeps its SHA-256 (``accounts.digest``). A session
starts anonymous (it carries the sign-in form's CSRF token) and is replaced by a new one, with a
new id and a new token, at sign-in (no session fixation) and at sign-out. A session ends after
``IDLE_MINUTES`` without a request, and ``MAX_HOURS`` after it began whatever happens.

A request reads its session on the read path (no write lock); it writes only when the session
has expired (deleted) or its last-seen time is more than ``TOUCH_SECONDS`` old.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass, field

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from miap.server.portal.accounts import digest
from miap.storage.models import utcnow
from miap.storage.portal import PortalSession, PortalUser

COOKIE = "miap_portal"
#: Defaults of the settings ``portal_idle_minutes`` and ``portal_session_hours``.
IDLE_MINUTES = 30
MAX_HOURS = 12
#: A session's last-seen time is written at most this often (not on every request).
TOUCH_SECONDS = 60


@dataclass(frozen=True)
class Who:
    """The signed-in user, as read at the start of the request."""

    id: int
    kind: str
    role: str
    email: str | None
    ukprn: str | None
    uln: str | None
    has_totp: bool

    @classmethod
    def of(cls, user: PortalUser) -> Who:
        return cls(
            user.id, user.kind, user.role, user.email, user.ukprn, user.uln, bool(user.totp_secret)
        )

    @property
    def name(self) -> str:
        """How the audit names the user (35 characters at most, the column's width)."""
        return (self.email or self.uln or str(self.id))[:35]


@dataclass
class Current:
    """The session a request came with."""

    id_hash: str
    csrf_token: str
    user: Who | None
    pending_user_id: int | None
    disclosed: list[str] = field(default_factory=list)
    #: Its last-seen time needs writing.
    stale: bool = False


class Sessions:
    def __init__(self, idle_minutes: int = IDLE_MINUTES, max_hours: int = MAX_HOURS) -> None:
        self.idle = dt.timedelta(minutes=idle_minutes)
        self.max_age = dt.timedelta(hours=max_hours)

    def start(
        self, session: Session, user: PortalUser | None = None, pending: PortalUser | None = None
    ) -> tuple[str, Current]:
        """A new session: its cookie value and what it holds."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        row = PortalSession(
            id_hash=digest(token),
            user_id=user.id if user else None,
            pending_user_id=pending.id if pending else None,
            csrf_token=secrets.token_urlsafe(32),
            disclosed="[]",
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.max_age,
        )
        session.add(row)
        session.flush()
        who = Who.of(user) if user else None
        return token, Current(row.id_hash, row.csrf_token, who, row.pending_user_id)

    def load(self, session: Session, token: str | None) -> tuple[Current | None, bool]:
        """The live session ``token`` names, and whether an expired one is to be deleted."""
        if not token or len(token) > 100:
            return None, False
        row = session.get(PortalSession, digest(token))
        if row is None:
            return None, False
        now = utcnow()
        if row.expires_at <= now or row.last_seen_at + self.idle <= now:
            return None, True
        user = session.get(PortalUser, row.user_id) if row.user_id else None
        if user is not None and (user.disabled_at is not None or user.locked_at is not None):
            return None, True
        current = Current(
            row.id_hash,
            row.csrf_token,
            Who.of(user) if user else None,
            row.pending_user_id,
            json.loads(row.disclosed or "[]"),
            stale=(now - row.last_seen_at).total_seconds() >= TOUCH_SECONDS,
        )
        return current, False

    @staticmethod
    def touch(session: Session, id_hash: str) -> None:
        session.execute(
            update(PortalSession)
            .where(PortalSession.id_hash == id_hash)
            .values(last_seen_at=utcnow())
        )

    @staticmethod
    def end(session: Session, id_hash: str) -> None:
        session.execute(delete(PortalSession).where(PortalSession.id_hash == id_hash))

    @staticmethod
    def end_all(session: Session, user_id: int) -> None:
        """Sign a user out everywhere (a disabled or locked account, a new password)."""
        session.execute(delete(PortalSession).where(PortalSession.user_id == user_id))

    @staticmethod
    def purge(session: Session) -> int:
        """Delete sessions past their absolute expiry."""
        result = session.execute(delete(PortalSession).where(PortalSession.expires_at <= utcnow()))
        return result.rowcount or 0

    @staticmethod
    def disclose(session: Session, current: Current, ulns: list[str]) -> None:
        """Remember ULNs a find or registration showed this session (the latest 200): the
        session may open those learners' pages."""
        known = [u for u in current.disclosed if u not in ulns] + list(ulns)
        current.disclosed = known[-200:]
        session.execute(
            update(PortalSession)
            .where(PortalSession.id_hash == current.id_hash)
            .values(disclosed=json.dumps(current.disclosed))
        )
