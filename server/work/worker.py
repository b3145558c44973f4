"""A worker: claims items of the kinds it has handlers for and does them (``queue.py``).

``miap worker`` runs one as its own process; ``miap serve`` starts one beside the server. On
PostgreSQL a worker may run several threads and any number of workers may share the queue;
on SQLite a worker runs one thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.orm import Session

from miap.server.settings import Settings
from miap.server.work import queue
from miap.storage.engine import Database
from miap.storage.models import WorkItem, WorkJob, utcnow

log = logging.getLogger("miap.work")

#: An item whose handler fails this many times is given the handler's failure outcome.
MAX_ATTEMPTS = 5
#: How often a running worker deletes jobs finished longer ago than the retention period.
PURGE_EVERY_SECONDS = 3600.0


class Handler(Protocol):
    """Does a job's items inside the caller's transaction and returns one outcome (any JSON
    value) per item, in order. Its writes commit with the outcomes, or not at all."""

    def __call__(self, session: Session, job: WorkJob, items: list[WorkItem]) -> list[Any]: ...

    def failed(self, job: WorkJob, item: WorkItem, reason: str) -> Any:  # noqa: ANN401
        """The outcome recorded for an item that failed ``MAX_ATTEMPTS`` times."""
        ...


class PreparingHandler(Handler, Protocol):
    """A handler with work to do before its items' transaction opens: network calls, which
    must not hold it open (on SQLite every writing transaction holds the database's one write
    lock). The worker calls ``prepare`` with the pending items' payloads, outside any
    transaction of its own, then the handler with ``prepared=`` its answers by item id. An item
    prepared twice (its lease ran out, or its worker died) is prepared again: a preparing
    handler's effects must bear repeating (a SIF agent acks a message it already has)."""

    def prepare(self, db: Database, payloads: dict[int, str]) -> dict[int, Any]: ...

    def __call__(
        self, session: Session, job: WorkJob, items: list[WorkItem], *, prepared: dict[int, Any]
    ) -> list[Any]: ...


class Worker:
    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, Handler],
        *,
        name: str | None = None,
        batch_size: int = Settings.work_batch_size,
        lease_seconds: float = Settings.work_lease_seconds,
        poll_seconds: float = Settings.work_poll_seconds,
        max_attempts: int = MAX_ATTEMPTS,
        retention_days: float = Settings.work_retention_days,
    ) -> None:
        self.db = db
        self.handlers = dict(handlers)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        #: Finished jobs older than this are deleted (``purge``); None keeps them for ever.
        self.retention = dt.timedelta(days=retention_days) if retention_days > 0 else None
        self._purge_lock = threading.Lock()
        self._next_purge = 0.0
        #: Items whose outcome this worker recorded (tests and diagnostics).
        self.done = 0

    # -- one round ----------------------------------------------------------------------------

    def run_once(self, name: str | None = None) -> int:
        """Claim up to ``batch_size`` items and do them; returns how many were claimed."""
        name = name or self.name
        with self.db.transaction() as session:
            claimed = queue.claim(session, name, self.handlers, self.batch_size, self.lease_seconds)
        by_job: dict[int, list[int]] = defaultdict(list)
        for item_id, job_id in claimed:
            by_job[job_id].append(item_id)
        for job_id, item_ids in by_job.items():
            try:
                self._do(job_id, item_ids)
            except Exception as error:  # noqa: BLE001 - one bad item must not stop the queue
                log.warning(
                    "job %s: %d items failed together (%s); doing them one at a time",
                    job_id,
                    len(item_ids),
                    type(error).__name__,
                )
                for item_id in item_ids:
                    self._do_alone(job_id, item_id)
        return len(claimed)

    def drain(self) -> int:
        """Do work until none is left (tests, ``miap batch import``); returns items claimed."""
        total = 0
        while claimed := self.run_once():
            total += claimed
        return total

    def _do(self, job_id: int, item_ids: list[int]) -> None:
        prepared = self._prepare(job_id, item_ids)
        with self.db.transaction() as session:
            items = queue.lock_pending(session, item_ids)
            if not items:
                return
            job = session.get(WorkJob, job_id)
            handler = self.handlers[job.kind]
            if prepared is None:
                outcomes = handler(session, job, items)
            else:
                outcomes = handler(session, job, items, prepared=prepared)
            if len(outcomes) != len(items):
                raise RuntimeError(f"handler for {job.kind} answered {len(outcomes)} items")
            queue.complete_all(session, items, outcomes)
        self.done += len(items)

    def _prepare(self, job_id: int, item_ids: list[int]) -> dict[int, Any] | None:
        """A ``PreparingHandler``'s answers for the items still pending (None for a handler
        without ``prepare``), read and prepared outside any writing transaction."""
        with self.db.reading() as session:
            job = session.get(WorkJob, job_id)
            prepare = getattr(self.handlers.get(job.kind) if job else None, "prepare", None)
            if prepare is None:
                return None
            payloads = queue.pending_payloads(session, item_ids)
        return prepare(self.db, payloads)

    def _do_alone(self, job_id: int, item_id: int) -> None:
        try:
            self._do(job_id, [item_id])
            return
        except Exception as error:  # noqa: BLE001
            reason = type(error).__name__
            log.error("job %s item %s failed: %s", job_id, item_id, reason)
        with self.db.transaction() as session:
            [item] = queue.lock_pending(session, [item_id]) or [None]
            if item is None or item.attempts < self.max_attempts:
                return  # retried once its lease expires
            job = session.get(WorkJob, job_id)
            queue.complete(item, self.handlers[job.kind].failed(job, item, reason))
        self.done += 1

    def purge(self, now: dt.datetime | None = None) -> int:
        """Delete the jobs (and their outputs) finished longer ago than the retention period,
        a few hundred per transaction; returns how many."""
        if self.retention is None:
            return 0
        before = (now or utcnow()) - self.retention
        total = 0
        while True:
            with self.db.transaction() as session:
                purged = queue.purge_finished(session, before)
            total += purged
            if purged < 500:
                return total

    def _purge_when_due(self) -> None:
        with self._purge_lock:
            if time.monotonic() < self._next_purge:
                return
            self._next_purge = time.monotonic() + PURGE_EVERY_SECONDS
        if purged := self.purge():
            log.info("worker %s: deleted %d finished jobs past retention", self.name, purged)

    # -- running ------------------------------------------------------------------------------

    def run(self, stop: threading.Event, threads: int = 1) -> None:
        """Work until ``stop`` is set; ``threads`` loops share the work (PostgreSQL only)."""
        if self.db.dialect == "sqlite":
            threads = 1
        loops = [
            threading.Thread(
                target=self._loop, args=(stop, f"{self.name}:{n}"), name=f"miap-work-{n}"
            )
            for n in range(threads)
        ]
        for loop in loops:
            loop.start()
        for loop in loops:
            loop.join()

    def _loop(self, stop: threading.Event, name: str) -> None:
        while not stop.is_set():
            try:
                self._purge_when_due()
                claimed = self.run_once(name)
            except Exception as error:  # noqa: BLE001 - e.g. the database restarting
                log.error("worker %s: %s; trying again", name, type(error).__name__)
                claimed = 0
            if not claimed:
                stop.wait(self.poll_seconds)
