"""Batch jobs on the work queue: submit, process (a handler per job kind), read the output.

A job is the provider's: only the UKPRN that submitted it can read it; any other JobID,
another provider's included, is ``JobNotFound``. Each learner is a work item; its outcome is
stored with it (JSON) in the transaction that registered or looked it up, together with its
audit entry.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from miap.server import exceptions
from miap.server.batches import learners as batch_learners
from miap.server.matching.engine import Matcher
from miap.server.outcomes import Disagreement, Outcome
from miap.server.register import audit
from miap.server.work import queue
from miap.storage.models import WorkItem, WorkJob

REGISTER = "batch.register"
VERIFY = "batch.verify"

#: What each outcome counts as in a registration job's output.
NEW, EXISTING, POSSIBLE, NOT_FOUND, REJECTED = (
    "new",
    "existing",
    "possible",
    "not_found",
    "rejected",
)
CATEGORIES = (NEW, EXISTING, POSSIBLE, NOT_FOUND, REJECTED)
_CATEGORY = {
    Outcome.REGISTERED: NEW,
    Outcome.EXACT: EXISTING,
    Outcome.LINKED: EXISTING,
    Outcome.POSSIBLE: POSSIBLE,
    Outcome.TOO_MANY: POSSIBLE,
    Outcome.NO_MATCH: NOT_FOUND,
}

#: The wire code of an outcome or a refusal, for audit entries (the transport's table,
#: handed in by whoever builds the handlers: the domain never writes a code itself).
CodeOf = Callable[[Outcome | exceptions.DomainError], str]


# -- submitting -------------------------------------------------------------------------------


def _check_count(declared: int, learners: Sequence[Any]) -> None:
    if declared != len(learners):
        raise exceptions.BatchCountMismatch(
            f"LearnerRecordCount is {declared} but the batch holds {len(learners)} learners"
        )


def submit_registration(
    session: Session,
    ukprn: str,
    user_name: str | None,
    job_type: str,
    declared_count: int,
    learners: Sequence[dict[str, str]],
    operation: str = "submitBatchRegistration",
    idempotency_key: str | None = None,
) -> int:
    """Queue a registration (FUL) or look-up (CHK) job; its JobID."""
    _check_count(declared_count, learners)
    job = queue.enqueue(
        session,
        REGISTER,
        list(learners),
        owner=ukprn,
        params={"job_type": job_type, "user_name": user_name, "operation": operation},
        idempotency_key=idempotency_key,
    )
    return job.id


def submit_verification(
    session: Session,
    ukprn: str,
    user_name: str | None,
    declared_count: int,
    learners: Sequence[dict[str, str]],
    org_email: str | None = None,
    operation: str = "submitVerifyBatch",
) -> int:
    _check_count(declared_count, learners)
    job = queue.enqueue(
        session,
        VERIFY,
        list(learners),
        owner=ukprn,
        params={"user_name": user_name, "org_email": org_email, "operation": operation},
    )
    return job.id


# -- processing -------------------------------------------------------------------------------


def _refusal(error: exceptions.DomainError) -> dict[str, str]:
    return {"refusal": type(error).__name__, "reason": str(error)}


class _Handler:
    def __init__(self, matcher: Matcher, code_of: CodeOf) -> None:
        self.matcher = matcher
        self.code_of = code_of

    def _entry(self, job: WorkJob, params: dict, code: str, ulns: list) -> dict[str, Any]:
        """One learner's audit entry, for ``audit.record_all``."""
        return {
            "request_id": f"job{job.id}",
            "ukprn": job.owner,
            "user_name": params.get("user_name"),
            "user_type": "ORG",  # batches are a provider's (the submitting UKPRN owns the job)
            "route": audit.BATCH,
            "operation": params.get("operation") or job.kind,
            "outcome": code,
            "ulns": ulns,
        }

    def failed(self, job: WorkJob, item: WorkItem, reason: str) -> dict[str, str]:
        # Answered as the service's internal error (WSEC0999), never left pending for ever.
        return {"refusal": "DomainError", "reason": f"could not be processed ({reason})"}


class RegistrationHandler(_Handler):
    """Each learner of a FUL / CHK job: registered, found, possible matches or rejected.

    The chunk is read set-based first (``batch_learners.Chunk``: the ULNs it gives, the
    identity keys of its learners, and the engine's candidates for the rest in one statement),
    so a learner whose identity keys prove the engine's exact answer does not go through the
    engine, and the others are answered in order from what was read unless an earlier learner
    of the chunk wrote a learner their search could reach (then searched again). The chunk's
    audit entries are one insert."""

    def __call__(self, session: Session, job: WorkJob, items: list[WorkItem]) -> list[dict]:
        params = json.loads(job.params)
        batch = [json.loads(item.payload) for item in items]
        chunk = batch_learners.Chunk.read(session, batch, self.matcher)
        outcomes, entries = [], []
        for fields in batch:
            try:
                answer = batch_learners.register_or_find(
                    session, self.matcher, fields, params["job_type"], job.owner, chunk=chunk
                )
            except exceptions.DomainError as error:
                outcomes.append(_refusal(error))
                entries.append(self._entry(job, params, self.code_of(error), []))
                continue
            outcomes.append({"outcome": answer.outcome.name, "uln": answer.uln})
            ulns = [answer.uln] if answer.uln else []
            entries.append(self._entry(job, params, self.code_of(answer.outcome), ulns))
        audit.record_all(session, entries)
        return outcomes


class VerificationHandler(_Handler):
    """Each learner of a verify job, answered as verifyLearner answers one."""

    def __call__(self, session: Session, job: WorkJob, items: list[WorkItem]) -> list[dict]:
        params = json.loads(job.params)
        outcomes, entries = [], []
        for item in items:
            fields = json.loads(item.payload)
            try:
                verified = batch_learners.verify(session, self.matcher, fields)
            except exceptions.DomainError as error:
                outcomes.append(_refusal(error))
                entries.append(self._entry(job, params, self.code_of(error), [fields.get("ULN")]))
                continue
            outcomes.append(
                {
                    "outcome": verified.outcome.name,
                    "learner": verified.learner,
                    "flags": [flag.name for flag in verified.failure_flags],
                }
            )
            entries.append(self._entry(job, params, self.code_of(verified.outcome), verified.ulns))
        audit.record_all(session, entries)
        return outcomes


def handlers(matcher: Matcher, code_of: CodeOf) -> dict[str, Any]:
    """The work-queue handlers of batch jobs, by job kind."""
    return {
        REGISTER: RegistrationHandler(matcher, code_of),
        VERIFY: VerificationHandler(matcher, code_of),
    }


# -- reading the output -----------------------------------------------------------------------


@dataclass
class LearnerResult:
    """One learner's stored outcome: an Outcome, or the refusal that rejected it."""

    outcome: Outcome | None = None
    refusal: exceptions.DomainError | None = None
    uln: str | None = None
    #: Verify jobs: the stored identity when verified, and the failure flags.
    learner: dict[str, str | None] | None = None
    flags: list[Disagreement] = field(default_factory=list)

    @classmethod
    def load(cls, stored: dict[str, Any]) -> LearnerResult:
        if "refusal" in stored:
            refusal_class = getattr(exceptions, stored["refusal"], exceptions.DomainError)
            return cls(refusal=refusal_class(stored.get("reason", "")))
        return cls(
            outcome=Outcome[stored["outcome"]],
            uln=stored.get("uln"),
            learner=stored.get("learner"),
            flags=[Disagreement[name] for name in stored.get("flags") or []],
        )

    @property
    def category(self) -> str | None:
        """Which count of a registration job it adds to (None for a verify job's answers)."""
        return REJECTED if self.outcome is None else _CATEGORY.get(self.outcome)


@dataclass
class JobOutput:
    outcome: Outcome  # BATCH_FINISHED or BATCH_PENDING
    state: str  # queued, running, finished
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    counts: dict[str, int]
    #: Each learner as sent and its result (None while not done), in the order sent.
    learners: list[tuple[dict[str, str], LearnerResult | None]]


def output(session: Session, ukprn: str, job_id: int, kind: str) -> JobOutput:
    """The job's progress, counts and (once finished) every learner's result."""
    job = queue.get_job(session, job_id)
    if job is None or job.owner != ukprn or job.kind != kind:
        raise exceptions.JobNotFound(f"JobID {job_id}")
    progress = queue.progress(session, job_id)
    learners = [
        (fields, None if stored is None else LearnerResult.load(stored))
        for fields, stored in queue.results(session, job_id)
    ]
    counted = Counter(result.category for _, result in learners if result is not None)
    finished = progress.state == "finished"
    return JobOutput(
        Outcome.BATCH_FINISHED if finished else Outcome.BATCH_PENDING,
        progress.state,
        progress.started_at,
        progress.finished_at,
        {category: counted.get(category, 0) for category in CATEGORIES},
        learners,
    )
