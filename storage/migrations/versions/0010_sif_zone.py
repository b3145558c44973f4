"""SIF zone: zones, agents, permissions, provision, subscriptions, queues, pupil links

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29

``sif_agents`` holds each agent the administrator added (its secret as an Argon2 hash) and how
it registered; ``sif_outbox`` every message waiting for an agent until that agent acks it;
``sif_received`` every SIF_MsgId an agent sent (duplicates answer status 7);
``sif_pupil_links`` the UPNs a school's agent linked to learners by LearnerPersonal events.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sif_zones",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sif_zones"),
        sa.UniqueConstraint("name", name="uq_sif_zones_name"),
    )
    op.create_table(
        "sif_agents",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("zone_id", BIG_ID, nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("ukprn", sa.String(length=8), nullable=False),
        sa.Column("laestab", sa.String(length=7), nullable=True),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("registered", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("version", sa.String(length=16), nullable=True),
        sa.Column("mode", sa.String(length=4), nullable=True),
        sa.Column("url", sa.String(length=1024), nullable=True),
        sa.Column("max_buffer", sa.Integer(), nullable=True),
        sa.Column("asleep", sa.Boolean(), nullable=False),
        sa.Column("delivery_queued", sa.Boolean(), nullable=False),
        sa.Column("delivery_failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["sif_zones.id"], name="fk_sif_agents_zone_id_sif_zones"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sif_agents"),
    )
    op.create_index(
        "uq_sif_agents_zone_id_source_id", "sif_agents", ["zone_id", "source_id"], unique=True
    )
    op.create_table(
        "sif_permissions",
        sa.Column("agent_id", BIG_ID, nullable=False),
        sa.Column("object_name", sa.String(length=64), nullable=False),
        sa.Column("right", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["sif_agents.id"], name="fk_sif_permissions_agent_id_sif_agents"
        ),
        sa.PrimaryKeyConstraint("agent_id", "object_name", "right", name="pk_sif_permissions"),
    )
    op.create_table(
        "sif_provisions",
        sa.Column("zone_id", BIG_ID, nullable=False),
        sa.Column("object_name", sa.String(length=64), nullable=False),
        sa.Column("agent_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["sif_zones.id"], name="fk_sif_provisions_zone_id_sif_zones"
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["sif_agents.id"], name="fk_sif_provisions_agent_id_sif_agents"
        ),
        sa.PrimaryKeyConstraint("zone_id", "object_name", name="pk_sif_provisions"),
    )
    op.create_index("ix_sif_provisions_agent_id", "sif_provisions", ["agent_id"])
    op.create_table(
        "sif_subscriptions",
        sa.Column("agent_id", BIG_ID, nullable=False),
        sa.Column("object_name", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["sif_agents.id"], name="fk_sif_subscriptions_agent_id_sif_agents"
        ),
        sa.PrimaryKeyConstraint("agent_id", "object_name", name="pk_sif_subscriptions"),
    )
    op.create_table(
        "sif_received",
        sa.Column("agent_id", BIG_ID, nullable=False),
        sa.Column("msg_id", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["sif_agents.id"], name="fk_sif_received_agent_id_sif_agents"
        ),
        sa.PrimaryKeyConstraint("agent_id", "msg_id", name="pk_sif_received"),
    )
    op.create_index("ix_sif_received_received_at", "sif_received", ["received_at"])
    op.create_table(
        "sif_outbox",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("agent_id", BIG_ID, nullable=False),
        sa.Column("msg_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("handed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["sif_agents.id"], name="fk_sif_outbox_agent_id_sif_agents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sif_outbox"),
    )
    op.create_index("ix_sif_outbox_agent_id_id", "sif_outbox", ["agent_id", "id"])
    op.create_table(
        "sif_requests",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("zone_id", BIG_ID, nullable=False),
        sa.Column("msg_id", sa.String(length=32), nullable=False),
        sa.Column("requester_id", BIG_ID, nullable=False),
        sa.Column("responder_id", BIG_ID, nullable=False),
        sa.Column("object_name", sa.String(length=64), nullable=False),
        sa.Column("max_buffer", sa.Integer(), nullable=False),
        sa.Column("last_packet", sa.Integer(), nullable=False),
        sa.Column("sent_packets", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["sif_zones.id"], name="fk_sif_requests_zone_id_sif_zones"
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["sif_agents.id"], name="fk_sif_requests_requester_id_sif_agents"
        ),
        sa.ForeignKeyConstraint(
            ["responder_id"], ["sif_agents.id"], name="fk_sif_requests_responder_id_sif_agents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sif_requests"),
    )
    op.create_index(
        "uq_sif_requests_responder_id_msg_id",
        "sif_requests",
        ["responder_id", "msg_id"],
        unique=True,
    )
    op.create_table(
        "sif_pupil_links",
        sa.Column("laestab", sa.String(length=7), nullable=False),
        sa.Column("upn", sa.String(length=13), nullable=False),
        sa.Column("learner_id", BIG_ID, nullable=False),
        sa.Column("ref_id", sa.String(length=32), nullable=True),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name="fk_sif_pupil_links_learner_id_learners"
        ),
        sa.PrimaryKeyConstraint("laestab", "upn", name="pk_sif_pupil_links"),
    )
    op.create_index("ix_sif_pupil_links_learner_id", "sif_pupil_links", ["learner_id"])


def downgrade() -> None:
    op.drop_index("ix_sif_pupil_links_learner_id", table_name="sif_pupil_links")
    op.drop_table("sif_pupil_links")
    op.drop_index("uq_sif_requests_responder_id_msg_id", table_name="sif_requests")
    op.drop_table("sif_requests")
    op.drop_index("ix_sif_outbox_agent_id_id", table_name="sif_outbox")
    op.drop_table("sif_outbox")
    op.drop_index("ix_sif_received_received_at", table_name="sif_received")
    op.drop_table("sif_received")
    op.drop_table("sif_subscriptions")
    op.drop_index("ix_sif_provisions_agent_id", table_name="sif_provisions")
    op.drop_table("sif_provisions")
    op.drop_table("sif_permissions")
    op.drop_index("uq_sif_agents_zone_id_source_id", table_name="sif_agents")
    op.drop_table("sif_agents")
    op.drop_table("sif_zones")
