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
        with self.db.transaction() as session:
            items = queue.lock_pending(session, item_ids)
            if not items:
                return
            job = session.get(WorkJob, job_id)
            outcomes = self.handlers[job.kind](session, job, items)
            if len(outcomes) != len(items):
                raise RuntimeError(f"handler for {job.kind} answered {len(outcomes)} items")
            queue.complete_all(session, items, outcomes)
        self.done += len(items)

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
