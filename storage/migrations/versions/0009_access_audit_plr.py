"""access policy, learner-visible audit and PLR (PLACEHOLDER: filled in by that work)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
