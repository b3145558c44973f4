"""transliterated name keys and date-free blocking

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05

Name keys become the name transliterated to A-Z (anyascii), so names in any script get a key
(李 is LI, Ødegård ODEGARD) and the key columns widen to hold it. Learners whose names are not
plain ASCII are re-keyed here, in batches, with the rule frozen below. The postcode blocking
index no longer leads with the date of birth: a find reads the same postcode with any date.
"""

import logging
import unicodedata

import jellyfish
import sqlalchemy as sa
from alembic import op
from anyascii import anyascii

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KEY_LENGTH = 100
OLD_KEY_LENGTH = 35
KEY_COLUMNS = ("given_key", "family_key", "previous_family_key", "family_at16_key")
#: Each key column and the name it is the key of.
NAMES = {
    "given_key": "given_name",
    "family_key": "family_name",
    "previous_family_key": "previous_family_name",
    "family_at16_key": "family_name_at_age16",
}
log = logging.getLogger("alembic.runtime.migration")


def name_key(value: str | None) -> str | None:
    """The name key as this revision defines it, frozen here: a migration never imports
    application code, whose rules move on."""
    if value is None:
        return None
    key = "".join(ch for ch in anyascii(value).upper() if "A" <= ch <= "Z")
    if not key:
        key = "".join(unicodedata.normalize("NFKC", value).casefold().split())
    return key[:KEY_LENGTH] or None


def sound_key(key: str | None) -> str | None:
    return jellyfish.soundex(key) if key else None


def upgrade() -> None:
    with op.batch_alter_table("learners", schema=None) as batch_op:
        for column in KEY_COLUMNS:
            batch_op.alter_column(
                column,
                existing_type=sa.String(length=OLD_KEY_LENGTH),
                type_=sa.String(length=KEY_LENGTH),
                existing_nullable=column in ("previous_family_key", "family_at16_key"),
            )
    _rekey()
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_index("ix_learners_dob_postcode")
        batch_op.create_index("ix_learners_postcode", ["postcode_key"], unique=False)


def _learners() -> sa.TableClause:
    return sa.table(
        "learners",
        sa.column("id", sa.BigInteger),
        sa.column("date_of_birth", sa.Date),
        sa.column("gender", sa.String),
        sa.column("postcode_key", sa.String),
        sa.column("given_sound", sa.String),
        sa.column("family_sound", sa.String),
        *(sa.column(name, sa.String) for name in (*NAMES, *NAMES.values())),
    )


def _needs_rekey(row: sa.Row) -> bool:
    """A name that is not plain ASCII, or a name the former rule gave no key."""
    return any(
        (name := getattr(row, column)) is not None
        and (not name.isascii() or getattr(row, key) is None)
        for key, column in NAMES.items()
    )


def _rekey(batch: int = 5000) -> None:
    """New keys (and Soundex codes) for learners whose names are not plain ASCII.

    A learner whose new identity (names, birth date, gender, postcode) is already another
    learner's is a duplicate the former rule hid; it keeps its old keys, is logged, and is left
    to an administrator's merge (a migration does not merge learners).
    """
    learners = _learners()
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(learners).where(learners.c.id > last).order_by(learners.c.id).limit(batch)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        for row in filter(_needs_rekey, rows):
            keys = {key: name_key(getattr(row, column)) for key, column in NAMES.items()}
            keys["given_sound"] = sound_key(keys["given_key"])
            keys["family_sound"] = sound_key(keys["family_key"])
            clash = connection.execute(
                sa.select(learners.c.id).where(
                    learners.c.id != row.id,
                    learners.c.given_key == keys["given_key"],
                    learners.c.family_key == keys["family_key"],
                    learners.c.date_of_birth == row.date_of_birth,
                    learners.c.gender == row.gender,
                    learners.c.postcode_key == row.postcode_key,
                )
            ).first()
            if clash is not None:
                log.warning("learner id %s not re-keyed: same identity as id %s", row.id, clash.id)
                continue
            connection.execute(learners.update().where(learners.c.id == row.id).values(**keys))


def downgrade() -> None:
    """Back to the former index and column widths; keys longer than those are cut short (the
    transliterated keys stay: the former rule gave names in other scripts no key at all)."""
    learners = _learners()
    connection = op.get_bind()
    for column in KEY_COLUMNS:
        key = learners.c[column]
        connection.execute(
            learners.update()
            .where(sa.func.length(key) > OLD_KEY_LENGTH)
            .values({column: sa.func.substr(key, 1, OLD_KEY_LENGTH)})
        )
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_index("ix_learners_postcode")
        batch_op.create_index(
            "ix_learners_dob_postcode", ["date_of_birth", "postcode_key"], unique=False
        )
        for column in KEY_COLUMNS:
            batch_op.alter_column(
                column,
                existing_type=sa.String(length=KEY_LENGTH),
                type_=sa.String(length=OLD_KEY_LENGTH),
                existing_nullable=column in ("previous_family_key", "family_at16_key"),
            )
