"""merges, deletions and phonetic blocking keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Existing learners get their new blocking keys computed here, in batches.
"""

import unicodedata

import jellyfish
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def name_key(value: str | None) -> str | None:
    """The name key as this revision defined it, frozen here: a migration never imports
    application code, whose rules move on (revision 0003 re-keys with today's rule)."""
    if value is None:
        return None
    folded = unicodedata.normalize("NFKD", value)
    key = "".join(ch for ch in folded.upper() if "A" <= ch <= "Z")
    return key or None


def upgrade() -> None:
    op.create_table(
        "learner_links",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "master_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "duplicate_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["duplicate_id"], ["learners.id"], name=op.f("fk_learner_links_duplicate_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["master_id"], ["learners.id"], name=op.f("fk_learner_links_master_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learner_links")),
    )
    with op.batch_alter_table("learner_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_learner_links_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_learner_links_duplicate_id"), ["duplicate_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_learner_links_master_id"), ["master_id"], unique=False)

    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("family_at16_key", sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column("given_sound", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("family_sound", sa.String(length=8), nullable=True))
        batch_op.add_column(
            sa.Column(
                "merged_into_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("duplicate_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("deletion_reason", sa.String(length=255), nullable=True))

    _backfill_keys()

    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learners_dob_family"))
        batch_op.drop_index(batch_op.f("ix_learners_dob_given"))
        batch_op.drop_index(batch_op.f("ix_learners_family_given"))
        batch_op.drop_index(batch_op.f("ix_learners_previous_family"))
        batch_op.create_index(batch_op.f("ix_learners_deleted_at"), ["deleted_at"], unique=False)
        batch_op.create_index(
            "ix_learners_dob_family_sound", ["date_of_birth", "family_sound"], unique=False
        )
        batch_op.create_index(
            "ix_learners_dob_given_sound", ["date_of_birth", "given_sound"], unique=False
        )
        batch_op.create_index(
            "ix_learners_dob_postcode", ["date_of_birth", "postcode_key"], unique=False
        )
        batch_op.create_index(
            "ix_learners_sounds_dob",
            ["family_sound", "given_sound", "date_of_birth"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_learners_merged_into_id"), ["merged_into_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_learners_merged_into_id_learners"),
            "learners",
            ["merged_into_id"],
            ["id"],
        )


def _backfill_keys(batch: int = 5000) -> None:
    """Soundex blocking keys and the age-16 family-name key for learners already stored."""
    learners = sa.table(
        "learners",
        sa.column("id", sa.BigInteger),
        sa.column("given_key", sa.String),
        sa.column("family_key", sa.String),
        sa.column("family_name_at_age16", sa.String),
        sa.column("given_sound", sa.String),
        sa.column("family_sound", sa.String),
        sa.column("family_at16_key", sa.String),
    )
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(
                learners.c.id,
                learners.c.given_key,
                learners.c.family_key,
                learners.c.family_name_at_age16,
            )
            .where(learners.c.id > last)
            .order_by(learners.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        connection.execute(
            learners.update().where(learners.c.id == sa.bindparam("row_id")),
            [
                {
                    "row_id": row.id,
                    "given_sound": jellyfish.soundex(row.given_key) if row.given_key else None,
                    "family_sound": jellyfish.soundex(row.family_key) if row.family_key else None,
                    "family_at16_key": name_key(row.family_name_at_age16),
                }
                for row in rows
            ],
        )
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_learners_merged_into_id_learners"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_learners_merged_into_id"))
        batch_op.drop_index("ix_learners_sounds_dob")
        batch_op.drop_index("ix_learners_dob_postcode")
        batch_op.drop_index("ix_learners_dob_given_sound")
        batch_op.drop_index("ix_learners_dob_family_sound")
        batch_op.drop_index(batch_op.f("ix_learners_deleted_at"))
        batch_op.create_index(
            batch_op.f("ix_learners_previous_family"), ["previous_family_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_learners_family_given"), ["family_key", "given_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_learners_dob_given"), ["date_of_birth", "given_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_learners_dob_family"), ["date_of_birth", "family_key"], unique=False
        )
        batch_op.drop_column("deletion_reason")
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("duplicate_count")
        batch_op.drop_column("merged_into_id")
        batch_op.drop_column("family_sound")
        batch_op.drop_column("given_sound")
        batch_op.drop_column("family_at16_key")

    with op.batch_alter_table("learner_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learner_links_master_id"))
        batch_op.drop_index(batch_op.f("ix_learner_links_duplicate_id"))
        batch_op.drop_index(batch_op.f("ix_learner_links_at"))

    op.drop_table("learner_links")
