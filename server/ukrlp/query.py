"""Finding providers in the register by the provider query's selection criteria.

Selection criteria (each optional): UKPRNs, names, postcodes, a search term, a base postcode
with a maximum distance, updated since, verified within a range, a verification. With
``condition`` ``AND`` (the default) a provider must meet every criterion given, with ``OR``
at least one; with no criterion every provider is selected. ``status`` and ``approved_only``
are filters, not criteria: they always narrow the selection, whatever the condition.

One statement selects the UKPRNs (set-based: each criterion is an indexed ``IN`` subquery,
never a loop over providers); the entries are then read in a fixed number of queries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from miap.server.ukrlp import postcodes
from miap.server.ukrlp.keys import name_key, postcode_key
from miap.server.ukrlp.register import ProviderDetails, load
from miap.storage.models import Provider
from miap.storage.ukrlp import (
    ProviderContact,
    ProviderEntry,
    ProviderName,
    ProviderVerification,
)

#: Most providers one answer carries; a query selecting more is refused (narrow it).
MAX_RECORDS = 2000
#: Most UKPRNs, names or postcodes one list may hold.
MAX_LIST = 5000
#: The status of providers that are approved (verified) — ApprovedProvidersOnly.
APPROVED_STATUS = "V"


class QueryRefused(ValueError):
    """The query cannot be answered as asked; ``kind`` says why (the transport's code)."""

    #: ``invalid`` (a criterion is unusable) or ``too_many`` (over the record limit).
    kind = "invalid"


class TooManyProviders(QueryRefused):
    kind = "too_many"


@dataclass(frozen=True)
class Criteria:
    ukprns: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    postcodes: tuple[str, ...] = ()
    search_term: str | None = None
    base_postcode: str | None = None
    max_distance_miles: float | None = None
    updated_since: dt.datetime | None = None
    verified_after: dt.date | None = None
    verified_before: dt.date | None = None
    #: (authority, id): providers with that verification.
    verification: tuple[str, str] | None = None
    #: ``AND`` or ``OR``.
    condition: str = "AND"
    approved_only: bool = False
    status: str | None = None


def _criteria(criteria: Criteria) -> list[ColumnElement]:
    """One condition on ``providers.ukprn`` per criterion given."""
    ukprn = Provider.ukprn
    found: list[ColumnElement] = []
    for values in (criteria.ukprns, criteria.names, criteria.postcodes):
        if len(values) > MAX_LIST:
            raise QueryRefused(f"a list holds {len(values)} values; at most {MAX_LIST}")
    if criteria.ukprns:
        found.append(ukprn.in_(sorted(set(criteria.ukprns))))
    if criteria.names:
        keys = sorted({key for key in map(name_key, criteria.names) if key})
        found.append(ukprn.in_(select(ProviderName.ukprn).where(ProviderName.name_key.in_(keys))))
    if criteria.postcodes:
        keys = sorted({postcode_key(value) for value in criteria.postcodes} - {None})
        found.append(
            ukprn.in_(select(ProviderContact.ukprn).where(ProviderContact.postcode_key.in_(keys)))
        )
    if criteria.search_term is not None:
        term = name_key(criteria.search_term)
        if not term:
            raise QueryRefused("the search term has no letter or digit")
        # Keys hold only A-Z, 0-9 and single spaces, so the term cannot hold a LIKE wildcard.
        found.append(
            ukprn.in_(
                select(ProviderName.ukprn).where(ProviderName.name_key.like(f"%{term}%")),
            )
        )
    if (criteria.base_postcode is None) != (criteria.max_distance_miles is None):
        raise QueryRefused("a base postcode and a maximum distance go together")
    if criteria.base_postcode is not None:
        assert criteria.max_distance_miles is not None
        if criteria.max_distance_miles < 0:
            raise QueryRefused("the maximum distance is negative")
        try:
            districts = postcodes.districts_within(
                criteria.base_postcode, criteria.max_distance_miles
            )
        except postcodes.UnknownLocation as error:
            raise QueryRefused(str(error)) from None
        found.append(
            ukprn.in_(
                select(ProviderContact.ukprn).where(
                    ProviderContact.district.in_(sorted(districts))
                ),
            )
        )
    if criteria.updated_since is not None:
        found.append(
            ukprn.in_(
                select(ProviderEntry.ukprn).where(
                    ProviderEntry.updated_at >= criteria.updated_since
                ),
            )
        )
    if criteria.verified_after is not None or criteria.verified_before is not None:
        bounds = []
        if criteria.verified_after is not None:
            bounds.append(ProviderEntry.verified_on >= criteria.verified_after)
        if criteria.verified_before is not None:
            bounds.append(ProviderEntry.verified_on <= criteria.verified_before)
        found.append(ukprn.in_(select(ProviderEntry.ukprn).where(*bounds)))
    if criteria.verification is not None:
        authority, identifier = criteria.verification
        found.append(
            ukprn.in_(
                select(ProviderVerification.ukprn).where(
                    ProviderVerification.authority == authority,
                    ProviderVerification.verification_id == identifier,
                )
            )
        )
    return found


def select_ukprns(session: Session, criteria: Criteria, limit: int = MAX_RECORDS) -> list[str]:
    """The UKPRNs selected, in UKPRN order; raises TooManyProviders past ``limit``."""
    if criteria.condition not in ("AND", "OR"):
        raise QueryRefused(f"CriteriaCondition {criteria.condition!r} is not AND or OR")
    found = _criteria(criteria)
    selection = (and_ if criteria.condition == "AND" else or_)(*found) if found else true()
    filters = [selection]
    if criteria.status is not None:
        filters.append(Provider.status == criteria.status)
    if criteria.approved_only:
        filters.append(Provider.status == APPROVED_STATUS)
    ukprns = list(
        session.scalars(
            select(Provider.ukprn).where(*filters).order_by(Provider.ukprn).limit(limit + 1)
        )
    )
    if len(ukprns) > limit:
        raise TooManyProviders(
            f"more than {limit} providers match; at most {limit} are returned per answer:"
            " narrow the selection criteria"
        )
    return ukprns


def retrieve(
    session: Session, criteria: Criteria, limit: int = MAX_RECORDS
) -> list[ProviderDetails]:
    """The entries of the providers selected, in UKPRN order."""
    ukprns = select_ukprns(session, criteria, limit)
    entries = load(session, ukprns)
    return [entries[ukprn] for ukprn in ukprns]
