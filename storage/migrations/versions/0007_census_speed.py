"""census speed: room on each page of the census tables for an updated row

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09

A census load updates every staged row once or twice (its outcome, its learner) and, on a
reload, every ``census_pupils`` row once (the school and year that last returned it). With
half of each page left free (``fillfactor`` 50) the new row version fits on the same page and
no indexed column changes, so PostgreSQL makes it a heap-only tuple: no index entries, no new
pages. PostgreSQL only (SQLite has no such setting); nothing else changes.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("census_rows", "census_pupils")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
