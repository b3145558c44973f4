"""The provider register's details (UKRLP), keyed by UKPRN beside the ``providers`` account row.

``providers`` (``miap.storage.models.Provider``) stays the account: UKPRN, legal name, status
and password hash, read by the authenticator on every request. These tables hold the rest of a
provider's register entry: its names (legal, trading and aliases, each with a search key),
contacts (legal address and primary contact), verification details, associations, dates, and
the history of every change to any of them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from miap.storage.models import Base, BigId, utcnow


class ProviderEntry(Base):
    """The register's dates of one provider (one row per UKPRN)."""

    __tablename__ = "ukrlp_providers"

    ukprn: Mapped[str] = mapped_column(String(8), ForeignKey("providers.ukprn"), primary_key=True)
    #: ProviderVerificationDate: when the provider's identity was last verified.
    verified_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    expiry_date: Mapped[dt.date | None] = mapped_column(Date)
    #: When any of the provider's register details last changed (ProviderUpdatedSince).
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class ProviderName(Base):
    """One name of a provider: ``legal`` (also ``providers.name``), ``trading`` or ``alias``.

    ``name_key`` is the name transliterated to ASCII, upper-cased, with every run of other
    characters one space: searches compare keys, so they ignore case and accents.
    """

    __tablename__ = "ukrlp_names"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ukprn: Mapped[str] = mapped_column(String(8), ForeignKey("providers.ukprn"))
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(255))
    name_key: Mapped[str] = mapped_column(String(255), index=True)
    last_updated: Mapped[dt.date] = mapped_column(Date)

    __table_args__ = (
        Index("uq_ukrlp_names_ukprn_kind_name_key", "ukprn", "kind", "name_key", unique=True),
    )


class ProviderContact(Base):
    """A provider's contact: ``L`` the legal address, ``P`` the primary contact."""

    __tablename__ = "ukrlp_contacts"

    ukprn: Mapped[str] = mapped_column(String(8), ForeignKey("providers.ukprn"), primary_key=True)
    contact_type: Mapped[str] = mapped_column(String(1), primary_key=True)
    address1: Mapped[str | None] = mapped_column(String(100))
    address2: Mapped[str | None] = mapped_column(String(100))
    address3: Mapped[str | None] = mapped_column(String(100))
    address4: Mapped[str | None] = mapped_column(String(100))
    town: Mapped[str | None] = mapped_column(String(100))
    county: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(9))
    #: The postcode upper-cased without spaces (PostcodeList compares these).
    postcode_key: Mapped[str | None] = mapped_column(String(9), index=True)
    #: The postcode's district (outward code): radius searches select districts.
    district: Mapped[str | None] = mapped_column(String(4), index=True)
    person_title: Mapped[str | None] = mapped_column(String(35))
    person_given_name: Mapped[str | None] = mapped_column(String(100))
    person_family_name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(100))
    telephone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(254))
    website: Mapped[str | None] = mapped_column(String(254))
    last_updated: Mapped[dt.date] = mapped_column(Date)


class ProviderVerification(Base):
    """Who vouches for the provider's identity (e.g. Companies House, Charity Commission)."""

    __tablename__ = "ukrlp_verifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ukprn: Mapped[str] = mapped_column(String(8), ForeignKey("providers.ukprn"))
    authority: Mapped[str] = mapped_column(String(100))
    verification_id: Mapped[str] = mapped_column(String(100))
    primary_source: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index(
            "uq_ukrlp_verifications_ukprn_authority_verification_id",
            "ukprn",
            "authority",
            "verification_id",
            unique=True,
        ),
    )


class ProviderAssociation(Base):
    """Another provider this one is associated with (a parent body, a partner, …)."""

    __tablename__ = "ukrlp_associations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ukprn: Mapped[str] = mapped_column(String(8), ForeignKey("providers.ukprn"))
    associated_ukprn: Mapped[str] = mapped_column(String(8))
    association_type: Mapped[str] = mapped_column(String(50))
    last_updated: Mapped[dt.date] = mapped_column(Date)

    __table_args__ = (
        Index(
            "uq_ukrlp_associations_ukprn_associated_ukprn_association_type",
            "ukprn",
            "associated_ukprn",
            "association_type",
            unique=True,
        ),
    )


class ProviderChange(Base):
    """One change to a provider's register entry: which field, old and new value, who, when."""

    __tablename__ = "ukrlp_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ukprn: Mapped[str] = mapped_column(String(8), ForeignKey("providers.ukprn"))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    by: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_ukrlp_history_ukprn_at", "ukprn", "at"),)
