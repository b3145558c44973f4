"""Portal accounts: creating them, activating them, signing in, lockout and the second factor.

Passwords are hashed with the register's Argon2id (``server/register/auth.py``). An account is
locked after ``MAX_FAILURES`` failed sign-ins in a row (a success resets the count; only
failures count) until an administrator unlocks it. A wrong password, an unknown account and a
locked one all get the same answer, so the sign-in page does not tell which accounts exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from miap.server.exceptions import AdminRefusal
from miap.server.register.auth import _verify, hash_password
from miap.server.register.identifiers import is_valid_ukprn, is_valid_uln
from miap.storage.models import Learner, Provider, utcnow
from miap.storage.portal import LEARNER, PROVIDER, SERVICE, PortalUser

#: Failed sign-ins in a row that lock an account.
MAX_FAILURES = 5
#: How long an activation code works.
ACTIVATION_DAYS = 7
MIN_PASSWORD = 12
PROVIDER_ROLES = ("admin", "registrar", "viewer")
SERVICE_ADMIN = "service-admin"
LEARNER_ROLE = "learner"
ROLES = (*PROVIDER_ROLES, SERVICE_ADMIN)
#: Checked against so that an unknown account takes as long as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


def digest(secret: str) -> str:
    """SHA-256 of a long random secret (an activation code, a session id)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_activation(user: PortalUser) -> str:
    code = secrets.token_urlsafe(24)
    user.activation_hash = digest(code)
    user.activation_expires_at = utcnow() + dt.timedelta(days=ACTIVATION_DAYS)
    return code


def add_staff(
    session: Session, email: str, role: str, ukprn: str | None, created_by: str
) -> tuple[PortalUser, str]:
    """A provider user (admin, registrar, viewer) or a service administrator, not yet active:
    the account and its one-time activation code."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        raise AdminRefusal(f"{email[:60]!r} is not an e-mail address")
    if role not in ROLES:
        raise AdminRefusal(f"role {role!r} is not one of {', '.join(ROLES)}")
    if role == SERVICE_ADMIN:
        if ukprn:
            raise AdminRefusal("a service administrator belongs to no provider: leave out --ukprn")
        kind = SERVICE
    else:
        if not ukprn or not is_valid_ukprn(ukprn):
            raise AdminRefusal("a provider user needs the provider's --ukprn (8 digits)")
        if session.scalar(select(Provider.id).where(Provider.ukprn == ukprn)) is None:
            raise AdminRefusal(f"UKPRN {ukprn} is not a registered provider")
        kind = PROVIDER
    if session.scalar(select(PortalUser.id).where(PortalUser.email == email)) is not None:
        raise AdminRefusal(f"{email} already has an account")
    user = PortalUser(kind=kind, email=email, ukprn=ukprn, role=role, created_by=created_by)
    code = _new_activation(user)
    session.add(user)
    session.flush()
    return user, code


def issue_learner_code(session: Session, uln: str, created_by: str) -> str:
    """An activation code for the learner holding ``uln`` (a new account, or a new code that
    replaces the password of an existing one: a learner who forgot it asks their provider)."""
    if not is_valid_uln(uln):
        raise AdminRefusal(f"ULN {uln[:12]} fails its check digit")
    learner = session.scalars(select(Learner).where(Learner.uln == uln)).first()
    if learner is None or learner.deleted_at is not None or learner.merged_into_id is not None:
        raise AdminRefusal(f"ULN {uln} is not a live learner's ULN")
    user = session.scalars(select(PortalUser).where(PortalUser.uln == uln)).first()
    if user is None:
        user = PortalUser(kind=LEARNER, uln=uln, role=LEARNER_ROLE, created_by=created_by)
        session.add(user)
    user.password_hash = None
    code = _new_activation(user)
    session.flush()
    return code


def check_password_rule(password: str, confirm: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD:
        return f"The password must be at least {MIN_PASSWORD} characters"
    if len(password) > 256:
        return "The password must be at most 256 characters"
    if password != confirm:
        return "The two passwords are not the same"
    return None


def activate(session: Session, code: str, password: str) -> PortalUser | None:
    """Set the password of the account ``code`` activates; None if the code is unknown or
    expired. The code works once."""
    user = session.scalars(
        select(PortalUser).where(PortalUser.activation_hash == digest(code)).with_for_update()
    ).first()
    if user is None or user.activation_expires_at is None or user.activation_expires_at < utcnow():
        return None
    user.password_hash = hash_password(password)
    user.activation_hash = None
    user.activation_expires_at = None
    user.failed_attempts = 0
    user.locked_at = None
    return user


@dataclass(frozen=True)
class SignIn:
    """A sign-in's answer: the user when the password was right, and whether a TOTP code is
    still wanted."""

    user: PortalUser | None
    needs_code: bool = False


def _attempt(session: Session, user: PortalUser | None, password: str) -> SignIn:
    if user is None or user.password_hash is None or user.disabled_at is not None:
        _verify(_DUMMY_HASH, password)
        return SignIn(None)
    if user.locked_at is not None:
        _verify(_DUMMY_HASH, password)
        return SignIn(None)
    if not _verify(user.password_hash, password):
        user.failed_attempts += 1
        if user.failed_attempts >= MAX_FAILURES:
            user.locked_at = utcnow()
        return SignIn(None)
    user.failed_attempts = 0
    if user.totp_secret:
        return SignIn(user, needs_code=True)
    user.last_sign_in_at = utcnow()
    return SignIn(user)


def sign_in_staff(session: Session, email: str, password: str) -> SignIn:
    user = session.scalars(
        select(PortalUser)
        .where(PortalUser.email == email.strip().lower(), PortalUser.kind != LEARNER)
        .with_for_update()
    ).first()
    return _attempt(session, user, password)


def sign_in_learner(session: Session, uln: str, date_of_birth: dt.date, password: str) -> SignIn:
    """A learner signs in with their ULN, their date of birth (as the register holds it) and
    their password; a wrong date of birth counts as a failure, like a wrong password."""
    user = session.scalars(
        select(PortalUser)
        .where(PortalUser.uln == uln, PortalUser.kind == LEARNER)
        .with_for_update()
    ).first()
    if user is not None:
        born = session.scalar(select(Learner.date_of_birth).where(Learner.uln == uln))
        if born != date_of_birth:
            _verify(_DUMMY_HASH, password)
            if user.locked_at is None and user.password_hash is not None:
                user.failed_attempts += 1
                if user.failed_attempts >= MAX_FAILURES:
                    user.locked_at = utcnow()
            return SignIn(None)
    return _attempt(session, user, password)


def learner_has_account(session: Session, uln: str) -> bool:
    return session.scalar(select(PortalUser.id).where(PortalUser.uln == uln)) is not None


# -- the second factor ----------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(user: PortalUser, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(
        name=user.email or user.uln or str(user.id), issuer_name="miap portal"
    )


def check_code(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step ``code`` is valid for (this step or the one either side), if it is later
    than ``last_step``; None otherwise (wrong, or already used)."""
    totp = pyotp.TOTP(secret)
    now = utcnow().replace(tzinfo=dt.timezone.utc)
    code = code.strip().replace(" ", "")
    for offset in (0, -1, 1):
        at = now + dt.timedelta(seconds=30 * offset)
        if secrets.compare_digest(totp.at(at), code):
            step = totp.timecode(at)
            if last_step is not None and step <= last_step:
                return None
            return step
    return None


def finish_second_factor(user: PortalUser, code: str) -> bool:
    """Check the TOTP code of a user whose password was right; failures count to lockout."""
    assert user.totp_secret is not None
    if user.locked_at is not None:
        return False
    step = check_code(user.totp_secret, code, user.totp_last_step)
    if step is None:
        user.failed_attempts += 1
        if user.failed_attempts >= MAX_FAILURES:
            user.locked_at = utcnow()
        return False
    user.totp_last_step = step
    user.failed_attempts = 0
    user.last_sign_in_at = utcnow()
    return True


# -- administration -------------------------------------------------------------------------


def users_of(session: Session, ukprn: str) -> list[PortalUser]:
    return list(
        session.scalars(
            select(PortalUser).where(PortalUser.ukprn == ukprn).order_by(PortalUser.email)
        )
    )


def audited_operation(action: str, user: PortalUser) -> str:
    """The audit log's operation for a change to an account (``add``, ``unlock``,
    ``disable``, ``reset-two-step``): the account's number, never its e-mail address."""
    return f"portal user {action} #{user.id}"[:64]


def reset_second_factor(user: PortalUser) -> None:
    """Turn the user's two-step sign-in off (their device is lost): they sign in with their
    password alone until they enrol an app again."""
    user.totp_secret = None
    user.totp_last_step = None


def unlock(user: PortalUser) -> None:
    user.locked_at = None
    user.failed_attempts = 0


def disable(user: PortalUser) -> None:
    user.disabled_at = utcnow()
