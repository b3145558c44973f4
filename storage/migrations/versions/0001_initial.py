"""initial schema: learners, providers, audit log

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("ukprn", sa.String(length=8), nullable=True),
        sa.Column("user_name", sa.String(length=35), nullable=True),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("uln", sa.String(length=10), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_ukprn"), "audit_log", ["ukprn"])
    op.create_index(op.f("ix_audit_log_uln"), "audit_log", ["uln"])

    op.create_table(
        "learners",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("uln", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=35), nullable=True),
        sa.Column("given_name", sa.String(length=35), nullable=False),
        sa.Column("middle_other_name", sa.String(length=35), nullable=True),
        sa.Column("family_name", sa.String(length=35), nullable=False),
        sa.Column("preferred_given_name", sa.String(length=35), nullable=True),
        sa.Column("previous_family_name", sa.String(length=35), nullable=True),
        sa.Column("family_name_at_age16", sa.String(length=35), nullable=True),
        sa.Column("school_at_age16", sa.String(length=254), nullable=True),
        sa.Column("address_line1", sa.String(length=50), nullable=True),
        sa.Column("address_line2", sa.String(length=50), nullable=True),
        sa.Column("address_town", sa.String(length=50), nullable=True),
        sa.Column("address_county_or_city", sa.String(length=50), nullable=True),
        sa.Column("postcode", sa.String(length=9), nullable=False),
        sa.Column("date_of_address_capture", sa.Date(), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("place_of_birth", sa.String(length=35), nullable=True),
        sa.Column("gender", sa.String(length=1), nullable=False),
        sa.Column("email_address", sa.String(length=254), nullable=True),
        sa.Column("nationality", sa.String(length=3), nullable=True),
        sa.Column("scottish_candidate_number", sa.String(length=9), nullable=True),
        sa.Column("verification_type", sa.String(length=3), nullable=False),
        sa.Column("other_verification_description", sa.String(length=255), nullable=True),
        sa.Column("tier_level", sa.String(length=1), nullable=False),
        sa.Column("ability_to_share", sa.String(length=1), nullable=False),
        sa.Column("learner_status", sa.String(length=1), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("registered_by_ukprn", sa.String(length=8), nullable=True),
        sa.Column("given_key", sa.String(length=35), nullable=False),
        sa.Column("family_key", sa.String(length=35), nullable=False),
        sa.Column("previous_family_key", sa.String(length=35), nullable=True),
        sa.Column("postcode_key", sa.String(length=9), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learners")),
        sa.UniqueConstraint("uln", name=op.f("uq_learners_uln")),
    )
    op.create_index("ix_learners_dob_family", "learners", ["date_of_birth", "family_key"])
    op.create_index("ix_learners_family_given", "learners", ["family_key", "given_key"])
    op.create_index("ix_learners_dob_given", "learners", ["date_of_birth", "given_key"])
    op.create_index("ix_learners_previous_family", "learners", ["previous_family_key"])
    op.create_index(
        "uq_learners_identity",
        "learners",
        ["given_key", "family_key", "date_of_birth", "gender", "postcode_key"],
        unique=True,
    )

    op.create_table(
        "providers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("ukprn", sa.String(length=8), nullable=False),
        sa.Column("organisation_ref", sa.String(length=6), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=3), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
        sa.UniqueConstraint("organisation_ref", name=op.f("uq_providers_organisation_ref")),
        sa.UniqueConstraint("ukprn", name=op.f("uq_providers_ukprn")),
    )


def downgrade() -> None:
    op.drop_table("providers")
    op.drop_table("learners")
    op.drop_table("audit_log")
