"""the events each records load rejected, and the records it skipped

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30

``record_rejects`` keeps each load's rejected events (what its reject file says), so a
reload of a file already loaded can answer without reading it again; ``record_returns``
gains ``skipped`` (work-placement aims read; NULL for earlier loads, which did not keep it).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("record_returns") as batch:
        batch.add_column(sa.Column("skipped", sa.BigInteger(), nullable=True))
    op.create_table(
        "record_rejects",
        sa.Column("return_id", BIG_ID, nullable=False),
        sa.Column("pos", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("place", sa.Text(), nullable=False),
        sa.Column("uln", sa.Text(), nullable=True),
        sa.Column("source_event_id", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["record_returns.id"],
            name=op.f("fk_record_rejects_return_id_record_returns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("return_id", "pos", name=op.f("pk_record_rejects")),
    )


def downgrade() -> None:
    op.drop_table("record_rejects")
    with op.batch_alter_table("record_returns") as batch:
        batch.drop_column("skipped")
