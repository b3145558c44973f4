"""portal accounts, sessions and uploaded batch files

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29

``portal_users`` holds provider staff, learners and administrators who sign in to the portal,
``portal_sessions`` their browser sessions (ids stored hashed), ``portal_uploads`` the batch
files uploaded there (so the output file can be written in the file's own form).
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "portal_users",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("ukprn", sa.String(length=8), nullable=True),
        sa.Column("uln", sa.String(length=10), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_at", sa.DateTime(), nullable=True),
        sa.Column("activation_hash", sa.String(length=64), nullable=True),
        sa.Column("activation_expires_at", sa.DateTime(), nullable=True),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=True),
        sa.Column("last_sign_in_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_users")),
        sa.UniqueConstraint("email", name=op.f("uq_portal_users_email")),
        sa.UniqueConstraint("uln", name=op.f("uq_portal_users_uln")),
        sa.UniqueConstraint("activation_hash", name=op.f("uq_portal_users_activation_hash")),
    )
    op.create_index("ix_portal_users_ukprn", "portal_users", ["ukprn"])
    op.create_table(
        "portal_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", BIG_ID, nullable=True),
        sa.Column("pending_user_id", BIG_ID, nullable=True),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("disclosed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["portal_users.id"],
            name=op.f("fk_portal_sessions_user_id_portal_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pending_user_id"],
            ["portal_users.id"],
            name=op.f("fk_portal_sessions_pending_user_id_portal_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_portal_sessions")),
    )
    op.create_index("ix_portal_sessions_user_id", "portal_sessions", ["user_id"])
    op.create_index("ix_portal_sessions_expires_at", "portal_sessions", ["expires_at"])
    op.create_table(
        "portal_uploads",
        sa.Column("job_id", BIG_ID, nullable=False),
        sa.Column("ukprn", sa.String(length=8), nullable=False),
        sa.Column("file_name", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", BIG_ID, nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.Column("job_type", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["work_jobs.id"], name=op.f("fk_portal_uploads_job_id_work_jobs")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["portal_users.id"],
            name=op.f("fk_portal_uploads_uploaded_by_portal_users"),
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_portal_uploads")),
    )
    op.create_index("ix_portal_uploads_ukprn", "portal_uploads", ["ukprn"])
    # The portal is the organisation learners act through (``server/portal/guard.py``): the
    # access policy lets it send LNR requests, each for the signed-in learner's own record.
    op.execute(
        sa.text(
            "INSERT INTO access_grants (ukprn, user_type, granted_at, granted_by) "
            "VALUES (:ukprn, 'LNR', CURRENT_TIMESTAMP, 'migration 0012 (portal)')"
        ).bindparams(ukprn=LEARNER_PORTAL_UKPRN)
    )


#: The UKPRN the portal acts as for learners (``server/portal/guard.py`` names it too).
LEARNER_PORTAL_UKPRN = "10000000"


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM access_grants WHERE ukprn = :ukprn AND user_type = 'LNR'").bindparams(
            ukprn=LEARNER_PORTAL_UKPRN
        )
    )
    op.drop_index("ix_portal_uploads_ukprn", table_name="portal_uploads")
    op.drop_table("portal_uploads")
    op.drop_index("ix_portal_sessions_expires_at", table_name="portal_sessions")
    op.drop_index("ix_portal_sessions_user_id", table_name="portal_sessions")
    op.drop_table("portal_sessions")
    op.drop_index("ix_portal_users_ukprn", table_name="portal_users")
    op.drop_table("portal_users")
