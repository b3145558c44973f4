"""SQLAlchemy models of the portal: its user accounts, their sessions and uploaded batch files.

Three kinds of account share one table: provider staff (an e-mail address under a UKPRN, with
a role), learners (their ULN; they sign in with it, their date of birth and a password) and the
service's administrators. Secrets are stored as hashes only: passwords as Argon2id, activation
codes and session ids as SHA-256 (both are long random values, so a fast hash is enough), so a
copy of the database signs nobody in.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from miap.storage.models import Base, BigId, utcnow

PROVIDER = "provider"
LEARNER = "learner"
SERVICE = "service"
KINDS = (PROVIDER, LEARNER, SERVICE)


class PortalUser(Base):
    """One person who signs in to the portal."""

    __tablename__ = "portal_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: ``provider``, ``learner`` or ``service``.
    kind: Mapped[str] = mapped_column(String(8))
    #: Provider staff and administrators sign in with it (stored lower-cased).
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    #: The provider a provider user works for.
    ukprn: Mapped[str | None] = mapped_column(String(8), index=True)
    #: A learner's own ULN.
    uln: Mapped[str | None] = mapped_column(String(10), unique=True)
    #: ``admin``, ``registrar``, ``viewer`` (provider), ``learner``, ``service-admin``.
    role: Mapped[str] = mapped_column(String(16))
    #: Argon2id; None until the account is activated.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    #: The TOTP secret once the user has enrolled a second factor (base32).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    #: The last TOTP time step accepted, so a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: SHA-256 of the one-time activation code, until it is used or expires.
    activation_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    activation_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(254))
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class PortalSession(Base):
    """A browser's session: anonymous (before sign-in: it carries the sign-in form's CSRF
    token) or a user's. The cookie holds the id; the table holds its SHA-256."""

    __tablename__ = "portal_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("portal_users.id", ondelete="CASCADE")
    )
    #: Signed in with a password, waiting for the TOTP code.
    pending_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("portal_users.id", ondelete="CASCADE")
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    #: ULNs a find or registration disclosed to this session (JSON list), which it may open.
    disclosed: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_portal_sessions_user_id", "user_id"),
        Index("ix_portal_sessions_expires_at", "expires_at"),
    )


class PortalUpload(Base):
    """A batch file uploaded in the portal, kept so its output file can be written in the
    file's own form (its rows, malformed ones included, with their answers)."""

    __tablename__ = "portal_uploads"

    job_id: Mapped[int] = mapped_column(BigId, ForeignKey("work_jobs.id"), primary_key=True)
    ukprn: Mapped[str] = mapped_column(String(8), index=True)
    file_name: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    rows: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[int] = mapped_column(BigId, ForeignKey("portal_users.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: A CHK job looks learners up only; FUL registers the ones not found.
    job_type: Mapped[str] = mapped_column(String(3))
