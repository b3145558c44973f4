"""access policy, the audit a learner can read, and the PLR service

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29

* ``audit_log`` gains ``user_type`` (LNR, ORG, AO, SER) and ``route`` (LearnerService, batch,
  PLR, SIF, portal, CLI), so every route writes the same row shape; the per-ULN index becomes
  (uln, at) for reading one learner's audit newest first, a page at a time.
* ``audit_log`` is append-only: triggers refuse UPDATE and DELETE on PostgreSQL and SQLite.
* ``access_grants``: organisations allowed to act as a user type other than ORG.
* ``learners.telephone_number`` (set by the learner through the PLR service) and an index on
  ``learners.registered_by_ukprn`` (the access policy's "registered by" relation).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_REFUSAL = "audit_log is append-only"

_PG_FUNCTION = f"""
CREATE FUNCTION miap_audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{_REFUSAL}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("user_type", sa.String(length=3), nullable=True))
        batch.add_column(sa.Column("route", sa.String(length=16), nullable=True))
    op.drop_index("ix_audit_log_uln", table_name="audit_log")
    op.create_index("ix_audit_log_uln_at", "audit_log", ["uln", "at"])

    op.create_table(
        "access_grants",
        sa.Column("ukprn", sa.String(length=8), nullable=False),
        sa.Column("user_type", sa.String(length=3), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("ukprn", "user_type", name=op.f("pk_access_grants")),
    )
    with op.batch_alter_table("learners") as batch:
        batch.add_column(sa.Column("telephone_number", sa.String(length=18), nullable=True))
    op.create_index(
        "ix_learners_registered_by_ukprn", "learners", ["registered_by_ukprn"], unique=False
    )

    # Created last: SQLite's batch mode above copies tables, which would drop triggers.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION miap_audit_log_append_only()"
        )
        # TRUNCATE skips row triggers; refuse it too.
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION miap_audit_log_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}: {verb} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION miap_audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER audit_log_no_update")
        op.execute("DROP TRIGGER audit_log_no_delete")
    op.drop_index("ix_learners_registered_by_ukprn", table_name="learners")
    with op.batch_alter_table("learners") as batch:
        batch.drop_column("telephone_number")
    op.drop_table("access_grants")
    op.drop_index("ix_audit_log_uln_at", table_name="audit_log")
    op.create_index("ix_audit_log_uln", "audit_log", ["uln"])
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("route")
        batch.drop_column("user_type")
