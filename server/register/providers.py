"""The provider register: adding providers and changing their status (admin side)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from miap.server import exceptions
from miap.server.register.auth import PROVIDER_STATUSES, hash_password
from miap.server.register.identifiers import is_valid_ukprn
from miap.storage.models import Provider, utcnow

_ORG_REF = re.compile(r"[0-9a-zA-Z]{6}")


class ProviderError(exceptions.AdminRefusal):
    """A provider change that the register refuses; the message says why."""


def add_provider(
    session: Session,
    ukprn: str,
    name: str,
    org_password: str,
    status: str = "A",
    organisation_ref: str | None = None,
) -> Provider:
    if not is_valid_ukprn(ukprn):
        raise ProviderError(f"UKPRN {ukprn!r} is not 8 digits in 10000000-99999999")
    if len(org_password) != 16:
        raise ProviderError("OrgPassword must be exactly 16 characters (the LRS schema's rule)")
    if status not in PROVIDER_STATUSES:
        raise ProviderError(f"status must be one of {', '.join(PROVIDER_STATUSES)}")
    if organisation_ref is not None and not _ORG_REF.fullmatch(organisation_ref):
        raise ProviderError("OrganisationRef must be 6 letters or digits")
    if not name.strip():
        raise ProviderError("the provider needs a name")
    if session.scalars(select(Provider).where(Provider.ukprn == ukprn)).first():
        raise ProviderError(f"a provider with UKPRN {ukprn} is already registered")
    provider = Provider(
        ukprn=ukprn,
        name=name.strip(),
        status=status,
        organisation_ref=organisation_ref,
        password_hash=hash_password(org_password),
    )
    session.add(provider)
    session.flush()
    return provider


def set_status(session: Session, ukprn: str, status: str) -> Provider:
    if status not in PROVIDER_STATUSES:
        raise ProviderError(f"status must be one of {', '.join(PROVIDER_STATUSES)}")
    provider = session.scalars(select(Provider).where(Provider.ukprn == ukprn)).first()
    if provider is None:
        raise ProviderError(f"no provider with UKPRN {ukprn}")
    provider.status = status
    provider.updated_at = utcnow()
    return provider
