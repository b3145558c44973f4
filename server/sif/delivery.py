"""Push delivery: the work-queue handler that POSTs each push agent's waiting messages.

One wake-up item per agent is queued at a time (``outbox.kick``). Doing it delivers the head
of the agent's queue by HTTP POST, made before the item's transaction opens (the worker's
``prepare`` step: no database lock is held while the agent answers); the agent's SIF_Ack in
the HTTP answer releases it, and the next wake-up is queued while messages remain. A failure
(no answer, an HTTP error, an answer that is not an ack of that message, status 8
"sleeping") leaves the message where it is and queues the next try after a back-off that
doubles with each consecutive failure; after ``sif_max_failures`` of them (a setting) the
zone stops trying until the agent registers, pings or wakes up again.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import requests
from sqlalchemy.orm import Session

from miap.server.settings import Settings
from miap.server.sif import outbox
from miap.server.sif.codes import Status
from miap.server.sif.messages import serialise, with_version
from miap.server.sif.schema import CONTENT_TYPE, NotWellFormed, errors, parse, q
from miap.storage.engine import Database
from miap.storage.models import WorkItem, WorkJob

log = logging.getLogger("miap.sif.delivery")


class Delivery:
    """The ``sif.deliver`` handler (see ``server/work/worker.py``'s Handler)."""

    def __init__(self, settings: Settings) -> None:
        self.timeout = settings.sif_push_timeout
        self.backoff_first = settings.sif_backoff_first
        self.backoff_max = settings.sif_backoff_max
        self.max_failures = settings.sif_max_failures
        self._local = threading.local()

    @property
    def http(self) -> requests.Session:
        """One keep-alive session per worker thread."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def prepare(self, db: Database, payloads: dict[int, str]) -> dict[int, dict]:
        """POST each agent's head message, outside any writing transaction (the worker calls
        this first: on SQLite a transaction open during the POST would hold the database's
        write lock for as long as the agent takes to answer)."""
        return {
            item_id: self._send(db, json.loads(payload)["agent"])
            for item_id, payload in payloads.items()
        }

    def __call__(
        self, session: Session, job: WorkJob, items: list[WorkItem], *, prepared: dict[int, dict]
    ) -> list[Any]:
        return [
            self._settle(session, json.loads(item.payload)["agent"], prepared[item.id])
            for item in items
        ]

    def failed(self, job: WorkJob, item: WorkItem, reason: str) -> Any:  # noqa: ANN401
        return {"delivered": None, "failed": reason}

    def _send(self, db: Database, agent_id: int) -> dict:
        """The head message's id and what became of its POST, or why nothing was sent."""
        with db.reading() as session:
            agent = session.get(outbox.SifAgent, agent_id)
            if agent is None:
                return {"msg_id": None, "state": "agent removed"}
            if not agent.registered or agent.mode != "Push" or agent.asleep:
                return {"msg_id": None, "state": "not a registered, awake push agent"}
            first = outbox.head(session, agent_id)
            if first is None:
                return {"msg_id": None, "state": "nothing waiting"}
            url, msg_id = agent.url, first.msg_id
            body = serialise(with_version(first.body.encode(), agent.version))
        return {"msg_id": msg_id, "outcome": self._post(url, body, msg_id)}

    def _settle(self, session: Session, agent_id: int, sent: dict) -> dict:
        """What the POST means for the agent's queue, under the agent's row lock: an ack
        releases the message, status 8 puts the agent to sleep, a failure queues a retry
        after the back-off. Whatever came of it, a message waiting for an agent that may take
        one gets its wake-up (one may have arrived while this one was in flight)."""
        if session.get(outbox.SifAgent, agent_id) is None:
            return {"delivered": None, "state": "agent removed"}
        agent = outbox.lock(session, agent_id)
        agent.delivery_queued = False
        msg_id, outcome = sent["msg_id"], sent.get("outcome")
        if msg_id is None:
            answer: dict = {"delivered": None, "state": sent["state"]}
        elif outcome == "acked":
            outbox.release(session, agent_id, msg_id)
            agent.delivery_failures = 0
            answer = {"delivered": msg_id}
        elif outcome == "sleeping":
            agent.asleep = True
            return {"delivered": None, "state": "agent sleeping"}
        else:
            agent.delivery_failures += 1
            log.info(
                "sif push to agent %s failed (%s), attempt %d",
                agent.id,
                outcome,
                agent.delivery_failures,
            )
            if agent.delivery_failures < self.max_failures:
                outbox.kick(session, agent, delay=self.backoff(agent.delivery_failures))
            return {"delivered": None, "failed": outcome, "attempt": agent.delivery_failures}
        if outbox.head(session, agent_id) is not None:
            outbox.kick(session, agent)
        return answer

    def backoff(self, failures: int) -> float:
        """Seconds before the next try: doubling with each consecutive failure, capped."""
        return min(self.backoff_max, self.backoff_first * 2 ** (failures - 1))

    def _post(self, url: str, body: bytes, msg_id: str) -> str:
        """``acked``, ``sleeping``, or why the delivery failed."""
        try:
            response = self.http.post(
                url, data=body, headers={"Content-Type": CONTENT_TYPE}, timeout=self.timeout
            )
        except requests.RequestException as error:
            return type(error).__name__
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        try:
            root = parse(response.content)
        except NotWellFormed:
            return "answer not well-formed"
        reply = root.find(q("SIF_Ack"))
        if reply is None or errors(root):
            return "answer is not a valid SIF_Ack"
        if reply.findtext(q("SIF_OriginalMsgId")) != msg_id:
            return "ack of another message"
        if reply.findtext(f"{q('SIF_Status')}/{q('SIF_Code')}") == str(int(Status.SLEEPING)):
            return "sleeping"
        # Any other ack, SIF_Error included, is the receiver's answer: the message is taken.
        return "acked"


def handlers(settings: Settings) -> dict[str, Any]:
    return {outbox.DELIVER: Delivery(settings)}
