"""learner records: learning events and the returns that loaded them

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

``learning_events`` holds every learning event of every ULN, keyed by source, data owner
(UKPRN), collection and the owner's event id; ``record_returns`` one row per file loaded.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "learning_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("uln", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("provider_ukprn", sa.String(length=8), nullable=False),
        sa.Column("collection", sa.String(length=16), nullable=False),
        sa.Column("source_event_id", sa.String(length=64), nullable=False),
        sa.Column("return_key", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("achievement_award_date", sa.Date(), nullable=True),
        sa.Column("achievement_provider_name", sa.String(length=255), nullable=True),
        sa.Column("achievement_provider_ukprn", sa.String(length=8), nullable=True),
        sa.Column("awarding_organisation_name", sa.String(length=255), nullable=True),
        sa.Column("awarding_organisation_ukprn", sa.String(length=8), nullable=True),
        sa.Column("collection_type", sa.String(length=8), nullable=True),
        sa.Column("credits", sa.Integer(), nullable=True),
        sa.Column("grade", sa.String(length=16), nullable=True),
        sa.Column("language_for_assessment", sa.String(length=32), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("outcome", sa.String(length=2), nullable=True),
        sa.Column("participation_end_date", sa.Date(), nullable=True),
        sa.Column("participation_start_date", sa.Date(), nullable=True),
        sa.Column("qualification_type", sa.String(length=64), nullable=True),
        sa.Column("restriction", sa.String(length=16), nullable=True),
        sa.Column("return_number", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("subject_code", sa.String(length=32), nullable=True),
        sa.Column("under_data_challenge", sa.String(length=1), nullable=True),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_events")),
    )
    op.create_index(op.f("ix_learning_events_uln"), "learning_events", ["uln"], unique=False)
    op.create_index(
        "uq_learning_events_key",
        "learning_events",
        ["source", "provider_ukprn", "collection", "source_event_id"],
        unique=True,
    )
    op.create_table(
        "record_returns",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("provider_ukprn", sa.String(length=8), nullable=False),
        sa.Column("collection", sa.String(length=16), nullable=False),
        sa.Column("return_key", sa.String(length=32), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("prepared_at", sa.DateTime(), nullable=True),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("loaded", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column("unchanged", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_returns")),
    )
    op.create_index(
        "ix_record_returns_scope",
        "record_returns",
        ["source", "provider_ukprn", "collection", "loaded_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_record_returns_scope", table_name="record_returns")
    op.drop_table("record_returns")
    op.drop_index("uq_learning_events_key", table_name="learning_events")
    op.drop_index(op.f("ix_learning_events_uln"), table_name="learning_events")
    op.drop_table("learning_events")
