"""the provider register (UKRLP): names, contacts, verification, associations, history

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29

Beside the ``providers`` account row (unchanged): ``ukrlp_providers`` (dates),
``ukrlp_names`` (legal, trading and alias names with search keys), ``ukrlp_contacts``,
``ukrlp_verifications``, ``ukrlp_associations`` and ``ukrlp_history`` (every change). Every
provider already registered gets its entry and its legal name, so the provider query finds it.
"""

import datetime as dt
import re

import sqlalchemy as sa
from alembic import op
from anyascii import anyascii

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["ukprn"], ["providers.ukprn"], name=f"fk_{table}_ukprn_providers"
    )


def upgrade() -> None:
    op.create_table(
        "ukrlp_providers",
        sa.Column("ukprn", sa.String(length=8), nullable=False),
        sa.Column("verified_on", sa.Date(), nullable=True),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        _fk("ukrlp_providers"),
        sa.PrimaryKeyConstraint("ukprn", name="pk_ukrlp_providers"),
    )
    op.create_index("ix_ukrlp_providers_verified_on", "ukrlp_providers", ["verified_on"])
    op.create_index("ix_ukrlp_providers_updated_at", "ukrlp_providers", ["updated_at"])
    op.create_table(
        "ukrlp_names",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("ukprn", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("name_key", sa.String(length=255), nullable=False),
        sa.Column("last_updated", sa.Date(), nullable=False),
        _fk("ukrlp_names"),
        sa.PrimaryKeyConstraint("id", name="pk_ukrlp_names"),
    )
    op.create_index("ix_ukrlp_names_name_key", "ukrlp_names", ["name_key"])
    op.create_index(
        "uq_ukrlp_names_ukprn_kind_name_key",
        "ukrlp_names",
        ["ukprn", "kind", "name_key"],
        unique=True,
    )
    op.create_table(
        "ukrlp_contacts",
        sa.Column("ukprn", sa.String(length=8), nullable=False),
        sa.Column("contact_type", sa.String(length=1), nullable=False),
        *(sa.Column(f"address{n}", sa.String(length=100), nullable=True) for n in range(1, 5)),
        sa.Column("town", sa.String(length=100), nullable=True),
        sa.Column("county", sa.String(length=100), nullable=True),
        sa.Column("postcode", sa.String(length=9), nullable=True),
        sa.Column("postcode_key", sa.String(length=9), nullable=True),
        sa.Column("district", sa.String(length=4), nullable=True),
        sa.Column("person_title", sa.String(length=35), nullable=True),
        sa.Column("person_given_name", sa.String(length=100), nullable=True),
        sa.Column("person_family_name", sa.String(length=100), nullable=True),
        sa.Column("role", sa.String(length=100), nullable=True),
        sa.Column("telephone", sa.String(length=30), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("website", sa.String(length=254), nullable=True),
        sa.Column("last_updated", sa.Date(), nullable=False),
        _fk("ukrlp_contacts"),
        sa.PrimaryKeyConstraint("ukprn", "contact_type", name="pk_ukrlp_contacts"),
    )
    op.create_index("ix_ukrlp_contacts_postcode_key", "ukrlp_contacts", ["postcode_key"])
    op.create_index("ix_ukrlp_contacts_district", "ukrlp_contacts", ["district"])
    op.create_table(
        "ukrlp_verifications",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("ukprn", sa.String(length=8), nullable=False),
        sa.Column("authority", sa.String(length=100), nullable=False),
        sa.Column("verification_id", sa.String(length=100), nullable=False),
        sa.Column("primary_source", sa.Boolean(), nullable=False),
        _fk("ukrlp_verifications"),
        sa.PrimaryKeyConstraint("id", name="pk_ukrlp_verifications"),
    )
    op.create_index(
        "uq_ukrlp_verifications_ukprn_authority_verification_id",
        "ukrlp_verifications",
        ["ukprn", "authority", "verification_id"],
        unique=True,
    )
    op.create_table(
        "ukrlp_associations",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("ukprn", sa.String(length=8), nullable=False),
        sa.Column("associated_ukprn", sa.String(length=8), nullable=False),
        sa.Column("association_type", sa.String(length=50), nullable=False),
        sa.Column("last_updated", sa.Date(), nullable=False),
        _fk("ukrlp_associations"),
        sa.PrimaryKeyConstraint("id", name="pk_ukrlp_associations"),
    )
    op.create_index(
        "uq_ukrlp_associations_ukprn_associated_ukprn_association_type",
        "ukrlp_associations",
        ["ukprn", "associated_ukprn", "association_type"],
        unique=True,
    )
    op.create_table(
        "ukrlp_history",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("ukprn", sa.String(length=8), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        _fk("ukrlp_history"),
        sa.PrimaryKeyConstraint("id", name="pk_ukrlp_history"),
    )
    op.create_index("ix_ukrlp_history_ukprn_at", "ukrlp_history", ["ukprn", "at"])
    _enter_existing_providers()


def _name_key(name: str) -> str:
    """The register's search key (a copy of ``miap.server.ukrlp.keys.name_key``, which a
    migration may not import): accents dropped, upper case, other characters one space."""
    return " ".join(re.sub(r"[^A-Z0-9]+", " ", anyascii(name).upper()).split())[:255]


def _enter_existing_providers() -> None:
    """Give every provider already registered its register entry and legal name."""
    bind = op.get_bind()
    providers = bind.execute(sa.text("SELECT ukprn, name, updated_at FROM providers")).all()
    today = dt.date.today()
    for ukprn, name, updated_at in providers:
        bind.execute(
            sa.text("INSERT INTO ukrlp_providers (ukprn, updated_at) VALUES (:ukprn, :at)"),
            {"ukprn": ukprn, "at": updated_at},
        )
        bind.execute(
            sa.text(
                "INSERT INTO ukrlp_names (ukprn, kind, name, name_key, last_updated)"
                " VALUES (:ukprn, 'legal', :name, :key, :today)"
            ),
            {"ukprn": ukprn, "name": name, "key": _name_key(name), "today": today},
        )


def downgrade() -> None:
    for table in (
        "ukrlp_history",
        "ukrlp_associations",
        "ukrlp_verifications",
        "ukrlp_contacts",
        "ukrlp_names",
        "ukrlp_providers",
    ):
        op.drop_table(table)
