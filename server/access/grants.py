"""Granting an organisation a user type other than ORG (``access_grants``): LNR for a learner
portal's organisation, AO for an awarding organisation. SER needs no grant (it only narrows
what a caller sees). ``docs/access.md``."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from miap.server.access.policy import AO, LNR
from miap.server.exceptions import AdminRefusal
from miap.storage.models import AccessGrant, Provider

GRANTABLE = (LNR, AO)


def grant(session: Session, ukprn: str, user_type: str, by: str) -> bool:
    """Grant ``user_type`` to the provider ``ukprn``; False if it already held it."""
    if user_type not in GRANTABLE:
        raise AdminRefusal(f"user type {user_type!r} is not granted (grantable: LNR, AO)")
    if session.scalar(select(Provider.id).where(Provider.ukprn == ukprn)) is None:
        raise AdminRefusal(f"no provider with UKPRN {ukprn}")
    held = session.get(AccessGrant, (ukprn, user_type))
    if held is not None:
        return False
    session.add(AccessGrant(ukprn=ukprn, user_type=user_type, granted_by=by))
    session.flush()
    return True


def revoke(session: Session, ukprn: str, user_type: str) -> bool:
    """Withdraw a grant; it takes effect on the organisation's next request."""
    result = session.execute(
        delete(AccessGrant).where(AccessGrant.ukprn == ukprn, AccessGrant.user_type == user_type)
    )
    return bool(result.rowcount)
