"""the school census: runs, staged rows and UPN links

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08

``census_runs`` holds one row per load of a census file (its content hash and academic year
are the idempotency key; two high-water marks make it resumable), ``census_rows`` the file's
rows staged with their matching keys and then their outcomes, ``census_pupils`` each UPN's
link to its learner and the school that last returned it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "census_runs",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("academic_year", sa.String(length=9), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("staged_lines", sa.Integer(), nullable=False),
        sa.Column("total_lines", sa.Integer(), nullable=True),
        sa.Column("settled_line", sa.Integer(), nullable=False),
        sa.Column("register_high_id", BIG_ID, nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("linked", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("possible", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_census_runs")),
    )
    op.create_index(
        "uq_census_runs_content_hash_academic_year",
        "census_runs",
        ["content_hash", "academic_year"],
        unique=True,
    )
    op.create_table(
        "census_rows",
        sa.Column("run_id", BIG_ID, nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("upn", sa.String(length=13), nullable=True),
        sa.Column("laestab", sa.String(length=7), nullable=True),
        sa.Column("nc_year", sa.String(length=3), nullable=True),
        sa.Column("given_name", sa.String(length=35), nullable=True),
        sa.Column("middle_other_name", sa.String(length=35), nullable=True),
        sa.Column("family_name", sa.String(length=35), nullable=True),
        sa.Column("preferred_given_name", sa.String(length=35), nullable=True),
        sa.Column("preferred_family_name", sa.String(length=35), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("gender", sa.String(length=1), nullable=True),
        sa.Column("postcode", sa.String(length=9), nullable=True),
        sa.Column("given_key", sa.String(length=100), nullable=True),
        sa.Column("family_key", sa.String(length=100), nullable=True),
        sa.Column("postcode_key", sa.String(length=9), nullable=True),
        sa.Column("given_sound", sa.String(length=8), nullable=True),
        sa.Column("family_sound", sa.String(length=8), nullable=True),
        sa.Column("sounds", sa.Text(), nullable=True),
        sa.Column("givens", sa.Text(), nullable=True),
        sa.Column("uln", sa.String(length=10), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("learner_id", BIG_ID, nullable=True),
        sa.Column("leader_line", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["census_runs.id"], name=op.f("fk_census_rows_run_id_census_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "line", name=op.f("pk_census_rows")),
    )
    op.create_table(
        "census_pupils",
        sa.Column("upn", sa.String(length=13), nullable=False),
        sa.Column("learner_id", BIG_ID, nullable=False),
        sa.Column("laestab", sa.String(length=7), nullable=False),
        sa.Column("nc_year", sa.String(length=3), nullable=True),
        sa.Column("academic_year", sa.String(length=9), nullable=False),
        sa.Column("first_run_id", BIG_ID, nullable=False),
        sa.Column("last_run_id", BIG_ID, nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_census_pupils_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("upn", name=op.f("pk_census_pupils")),
    )
    op.create_index(
        op.f("ix_census_pupils_learner_id"), "census_pupils", ["learner_id"], unique=False
    )
    op.create_index(op.f("ix_census_pupils_laestab"), "census_pupils", ["laestab"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_census_pupils_laestab"), table_name="census_pupils")
    op.drop_index(op.f("ix_census_pupils_learner_id"), table_name="census_pupils")
    op.drop_table("census_pupils")
    op.drop_table("census_rows")
    op.drop_index("uq_census_runs_content_hash_academic_year", table_name="census_runs")
    op.drop_table("census_runs")
