"""Each agent's queue of messages from the zone, in the database: a message is put in the
receiver's queue in the transaction that produced it and taken out only when the receiver
acks it, so a restart in between loses nothing. Push agents get a wake-up in the work queue
(``delivery.py``); pull agents take the head with SIF_GetMessage."""

from __future__ import annotations

import datetime as dt

from lxml import etree
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from miap.server.sif.messages import serialise
from miap.server.work import queue
from miap.storage.models import WorkJob, utcnow
from miap.storage.sif import SifAgent, SifOutbox

#: The work-queue kind of a push agent's delivery wake-up.
DELIVER = "sif.deliver"


def lock(session: Session, agent_id: int) -> SifAgent:
    """The agent's row, locked until the transaction ends (delivery and queueing for one
    agent take turns, so a wake-up is never lost between them)."""
    return session.scalars(
        select(SifAgent)
        .where(SifAgent.id == agent_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def put(session: Session, agent_id: int, message: etree._Element) -> None:
    """Queue ``message`` (checked against the schemas) for the agent."""
    body = message[0]
    msg_id = body.findtext("./{*}SIF_Header/{*}SIF_MsgId")
    session.add(
        SifOutbox(
            agent_id=agent_id,
            msg_id=msg_id,
            kind=etree.QName(body).localname,
            body=serialise(message).decode("utf-8"),
            created_at=utcnow(),
        )
    )
    kick(session, lock(session, agent_id))


def kick(session: Session, agent: SifAgent, delay: float = 0.0) -> WorkJob | None:
    """Queue a delivery wake-up for a registered, awake push agent, unless one is queued,
    ``delay`` seconds from now (a retry's back-off); the new wake-up's job, if any. The caller
    holds the agent's row lock (``lock``)."""
    if not agent.registered or agent.mode != "Push" or agent.asleep or agent.delivery_queued:
        return None
    agent.delivery_queued = True
    session.flush()
    not_before = utcnow() + dt.timedelta(seconds=delay) if delay > 0 else None
    return queue.enqueue(
        session, DELIVER, [{"agent": agent.id}], owner=f"sif:{agent.id}", not_before=not_before
    )


def head(session: Session, agent_id: int) -> SifOutbox | None:
    return next(iter(first(session, agent_id, 1)), None)


def first(session: Session, agent_id: int, count: int) -> list[SifOutbox]:
    """The agent's ``count`` oldest messages, oldest first."""
    return list(
        session.scalars(
            select(SifOutbox)
            .where(SifOutbox.agent_id == agent_id)
            .order_by(SifOutbox.id)
            .limit(count)
        )
    )


def waiting(session: Session, agent_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(SifOutbox).where(SifOutbox.agent_id == agent_id)
        )
        or 0
    )


def release(session: Session, agent_id: int, msg_id: str) -> bool:
    """The receiver acked ``msg_id``: drop it if it is the head (releasing the next one)."""
    first = head(session, agent_id)
    if first is None or first.msg_id != msg_id:
        return False
    session.execute(delete(SifOutbox).where(SifOutbox.id == first.id))
    return True


def clear(session: Session, agent_id: int) -> None:
    session.execute(delete(SifOutbox).where(SifOutbox.agent_id == agent_id))
