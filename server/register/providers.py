"""The provider register, admin side: adding providers, their status and their password.

Every change goes through the register (``miap.server.ukrlp.register``), so each one is kept
in the provider's history with who made it and when. The authenticator reads status and
password hash on every request, so a change here takes effect on the provider's next request.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from miap.server import exceptions
from miap.server.register.auth import PROVIDER_STATUSES, hash_password
from miap.server.register.identifiers import is_valid_ukprn
from miap.server.ukrlp import register
from miap.storage.models import Provider, utcnow

_ORG_REF = re.compile(r"[0-9a-zA-Z]{6}")
#: Who a change is recorded as made by when the caller does not say.
DEFAULT_BY = "admin"


class ProviderError(exceptions.AdminRefusal):
    """A provider change that the register refuses; the message says why."""


def _check_password(org_password: str) -> None:
    if len(org_password) != 16:
        raise ProviderError("OrgPassword must be exactly 16 characters (the LRS schema's rule)")


def _check_status(status: str) -> None:
    if status not in PROVIDER_STATUSES:
        raise ProviderError(f"status must be one of {', '.join(PROVIDER_STATUSES)}")


def _provider(session: Session, ukprn: str) -> Provider:
    provider = session.scalars(select(Provider).where(Provider.ukprn == ukprn)).first()
    if provider is None:
        raise ProviderError(f"no provider with UKPRN {ukprn}")
    return provider


def add_provider(
    session: Session,
    ukprn: str,
    name: str,
    org_password: str,
    status: str = "A",
    organisation_ref: str | None = None,
    by: str = DEFAULT_BY,
) -> Provider:
    if not is_valid_ukprn(ukprn):
        raise ProviderError(f"UKPRN {ukprn!r} is not 8 digits in 10000000-99999999")
    _check_password(org_password)
    _check_status(status)
    if organisation_ref is not None and not _ORG_REF.fullmatch(organisation_ref):
        raise ProviderError("OrganisationRef must be 6 letters or digits")
    if not name.strip():
        raise ProviderError("the provider needs a name")
    if len(name.strip()) > 255:
        raise ProviderError("the provider's name is longer than 255 characters")
    if session.scalars(select(Provider).where(Provider.ukprn == ukprn)).first():
        raise ProviderError(f"a provider with UKPRN {ukprn} is already registered")
    register.upsert(session, register.ProviderDetails(ukprn, name.strip(), status), by)
    provider = _provider(session, ukprn)
    provider.organisation_ref = organisation_ref
    provider.password_hash = hash_password(org_password)
    session.flush()
    return provider


def set_status(session: Session, ukprn: str, status: str, by: str = DEFAULT_BY) -> Provider:
    _check_status(status)
    provider = _provider(session, ukprn)
    register.change(session, ukprn, by, status=status)
    session.refresh(provider)  # the register writes with set-based statements
    return provider


def set_password(session: Session, ukprn: str, org_password: str, by: str = DEFAULT_BY) -> Provider:
    """Give a provider a (new) OrgPassword; recorded in its history without the password."""
    _check_password(org_password)
    provider = _provider(session, ukprn)
    provider.password_hash = hash_password(org_password)
    provider.updated_at = utcnow()
    register.record(session, ukprn, by, "password", None, "set")
    return provider
