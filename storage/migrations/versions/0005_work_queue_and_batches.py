"""the durable work queue (jobs and items), used first by SOAP and file batches

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-08

A job has an idempotency key; its items are claimed by workers (``FOR UPDATE SKIP LOCKED``
on PostgreSQL) under a lease, and an item's outcome is written in the transaction that marks
it done.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "work_jobs",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_jobs")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_work_jobs_idempotency_key")),
    )
    op.create_index(op.f("ix_work_jobs_owner"), "work_jobs", ["owner"])
    op.create_table(
        "work_items",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("job_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["work_jobs.id"], name=op.f("fk_work_items_job_id_work_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_items")),
    )
    op.create_index("uq_work_items_job_id_seq", "work_items", ["job_id", "seq"], unique=True)
    op.create_index("ix_work_items_status_id", "work_items", ["status", "id"])


def downgrade() -> None:
    op.drop_table("work_items")
    op.drop_table("work_jobs")
