"""SQLAlchemy models of the SIF zone: zones, their agents and what each may do, provision and
subscriptions, the messages waiting for each agent, routed requests, and the MsgIds received.

Every queue lives here, so a server restart between a message's arrival and its delivery loses
nothing: a message is removed from ``sif_outbox`` only when its receiver has acknowledged it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from miap.storage.models import Base, BigId, utcnow


class SifZone(Base):
    __tablename__ = "sif_zones"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SifAgent(Base):
    """An agent the administrator added to a zone (it acts for one provider, or for a school
    by its LAESTAB) and, once it has sent SIF_Register, how it registered."""

    __tablename__ = "sif_agents"
    __table_args__ = (
        Index("uq_sif_agents_zone_id_source_id", "zone_id", "source_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    zone_id: Mapped[int] = mapped_column(BigId, ForeignKey("sif_zones.id"))
    source_id: Mapped[str] = mapped_column(String(64))
    ukprn: Mapped[str] = mapped_column(String(8))
    laestab: Mapped[str | None] = mapped_column(String(7))
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Set by SIF_Register, cleared by SIF_Unregister.
    registered: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(16))
    mode: Mapped[str | None] = mapped_column(String(4))
    url: Mapped[str | None] = mapped_column(String(1024))
    max_buffer: Mapped[int | None] = mapped_column(Integer)
    asleep: Mapped[bool] = mapped_column(Boolean, default=False)
    # Push delivery: a wake-up is queued in the work queue; consecutive failed attempts.
    delivery_queued: Mapped[bool] = mapped_column(Boolean, default=False)
    delivery_failures: Mapped[int] = mapped_column(Integer, default=0)


class SifPermission(Base):
    """One right of an agent on one object: provide, subscribe, request, respond, add,
    change, delete (publish that event)."""

    __tablename__ = "sif_permissions"

    agent_id: Mapped[int] = mapped_column(BigId, ForeignKey("sif_agents.id"), primary_key=True)
    object_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    right: Mapped[str] = mapped_column(String(16), primary_key=True)


class SifProvision(Base):
    """The one provider of an object in a zone (the zone itself provides LearnerPersonal)."""

    __tablename__ = "sif_provisions"

    zone_id: Mapped[int] = mapped_column(BigId, ForeignKey("sif_zones.id"), primary_key=True)
    object_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(BigId, ForeignKey("sif_agents.id"), index=True)


class SifSubscription(Base):
    __tablename__ = "sif_subscriptions"

    agent_id: Mapped[int] = mapped_column(BigId, ForeignKey("sif_agents.id"), primary_key=True)
    object_name: Mapped[str] = mapped_column(String(64), primary_key=True)


class SifReceived(Base):
    """Every SIF_MsgId an agent sent: a repeat is answered status 7 and not processed again."""

    __tablename__ = "sif_received"

    agent_id: Mapped[int] = mapped_column(BigId, ForeignKey("sif_agents.id"), primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class SifOutbox(Base):
    """A message waiting for its receiver, oldest first; removed when the receiver acks it."""

    __tablename__ = "sif_outbox"
    __table_args__ = (Index("ix_sif_outbox_agent_id_id", "agent_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(BigId, ForeignKey("sif_agents.id"))
    msg_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    #: The whole SIF_Message; its Version is set to the receiver's when it is handed over.
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: When a pull agent was last handed it (it stays until acked).
    handed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class SifRequest(Base):
    """A SIF_Request routed to an agent that provides its object, until its last packet."""

    __tablename__ = "sif_requests"
    __table_args__ = (
        Index("uq_sif_requests_responder_id_msg_id", "responder_id", "msg_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    zone_id: Mapped[int] = mapped_column(BigId, ForeignKey("sif_zones.id"))
    msg_id: Mapped[str] = mapped_column(String(32))
    requester_id: Mapped[int] = mapped_column(BigId, ForeignKey("sif_agents.id"))
    responder_id: Mapped[int] = mapped_column(BigId, ForeignKey("sif_agents.id"))
    object_name: Mapped[str] = mapped_column(String(64))
    #: The requester's SIF_MaxBufferSize: the packets it is sent are split to fit.
    max_buffer: Mapped[int] = mapped_column(Integer)
    #: The responder's last packet number, and how many packets the requester was sent.
    last_packet: Mapped[int] = mapped_column(Integer, default=0)
    sent_packets: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SifPupilLink(Base):
    """A school's UPN linked to a learner by a LearnerPersonal event of that school's agent
    (the census links UPNs in ``census_pupils``); ``ref_id`` is the school's RefId for it."""

    __tablename__ = "sif_pupil_links"

    laestab: Mapped[str] = mapped_column(String(7), primary_key=True)
    upn: Mapped[str] = mapped_column(String(13), primary_key=True)
    learner_id: Mapped[int] = mapped_column(BigId, ForeignKey("learners.id"), index=True)
    ref_id: Mapped[str | None] = mapped_column(String(32))
    linked_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
