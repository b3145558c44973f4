"""Push delivery: the work-queue handler that POSTs each push agent's waiting messages.

One wake-up item per agent is queued at a time (``outbox.kick``). Doing it delivers the oldest
messages of the agent's queue by HTTP POST, one at a time and in order (up to ``PUSH_RUN``),
before the item's transaction opens (the worker's ``prepare`` step: no database lock is held
while the agent answers); the agent's SIF_Ack in each HTTP answer lets the next go, the acked
messages are released, and the next wake-up is queued while messages remain. A failure
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

#: Messages one delivery POSTs at most, one after another as each is acked, before the next
#: wake-up (fewer transactions per message when an agent's queue has grown).
PUSH_RUN = 50


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
        """POST each agent's oldest messages, outside any writing transaction (the worker calls
        this first: on SQLite a transaction open during a POST would hold the database's write
        lock for as long as the agent takes to answer)."""
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
        return {"delivered": [], "failed": reason}

    def _send(self, db: Database, agent_id: int) -> dict:
        """POST the agent's oldest messages in order, each once the one before is acked, up
        to ``PUSH_RUN`` of them: the ids acked, and the one that was not with what became of
        it (or why nothing was sent)."""
        with db.reading() as session:
            agent = session.get(outbox.SifAgent, agent_id)
            if agent is None:
                return {"acked": [], "state": "agent removed"}
            if not agent.registered or agent.mode != "Push" or agent.asleep:
                return {"acked": [], "state": "not a registered, awake push agent"}
            url, version = agent.url, agent.version
            waiting = [(m.msg_id, m.body) for m in outbox.first(session, agent_id, PUSH_RUN)]
        if not waiting:
            return {"acked": [], "state": "nothing waiting"}
        acked = []
        for msg_id, body in waiting:
            outcome = self._post(url, serialise(with_version(body.encode(), version)), msg_id)
            if outcome != "acked":
                return {"acked": acked, "msg_id": msg_id, "outcome": outcome}
            acked.append(msg_id)
        return {"acked": acked}

    def _settle(self, session: Session, agent_id: int, sent: dict) -> dict:
        """What the POSTs mean for the agent's queue, under the agent's row lock: acks release
        their messages, status 8 puts the agent to sleep, a failure queues a retry after the
        back-off. Otherwise a message still waiting (or one that arrived meanwhile) for an
        agent that may take one gets its wake-up."""
        if session.get(outbox.SifAgent, agent_id) is None:
            return {"delivered": [], "state": "agent removed"}
        agent = outbox.lock(session, agent_id)
        agent.delivery_queued = False
        acked, outcome = sent["acked"], sent.get("outcome")
        for msg_id in acked:
            outbox.release(session, agent_id, msg_id)
        if acked:
            agent.delivery_failures = 0
        answer: dict = {"delivered": acked}
        if outcome == "sleeping":
            agent.asleep = True
            answer["state"] = "agent sleeping"
        elif outcome is not None:
            agent.delivery_failures += 1
            log.info(
                "sif push to agent %s failed (%s), attempt %d",
                agent.id,
                outcome,
                agent.delivery_failures,
            )
            if agent.delivery_failures < self.max_failures:
                outbox.kick(session, agent, delay=self.backoff(agent.delivery_failures))
            answer.update(failed=outcome, attempt=agent.delivery_failures)
        else:
            if "state" in sent:
                answer["state"] = sent["state"]
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
