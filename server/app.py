"""The WSGI application a server process runs, built from the one settings object."""

from __future__ import annotations

from miap.server.matching.engine import MatchWeights, ScoringMatcher
from miap.server.matching.normalise import NameVariants
from miap.server.outcomes import Outcome
from miap.server.settings import Settings
from miap.server.soap.endpoint import LearnerServiceApp
from miap.server.work.worker import Worker
from miap.storage.engine import Database


def make_matcher(settings: Settings) -> ScoringMatcher:
    """The matching engine with the settings' weights and name variants (shipped by default)."""
    weights = MatchWeights.load(settings.match_weights) if settings.match_weights else None
    variants = NameVariants.load(settings.name_variants) if settings.name_variants else None
    return ScoringMatcher(weights=weights, variants=variants)


def make_app(settings: Settings) -> LearnerServiceApp:
    """One process's application: its own database pool and matcher (built after the fork)."""
    return LearnerServiceApp(Database(settings.database_url), settings, make_matcher(settings))


def make_worker(settings: Settings, db: Database | None = None) -> Worker:
    """A work-queue worker with the handlers of every job kind (batches so far); audit
    entries carry the SOAP table's codes, as the same answers over SOAP would."""
    from miap.server.batches import jobs
    from miap.server.exceptions import DomainError
    from miap.server.soap.faults import code_of, fault_for

    def wire_code(answer: Outcome | DomainError) -> str:
        if isinstance(answer, DomainError):
            return fault_for(answer).error.code
        return code_of(answer)

    return Worker(
        db or Database(settings.database_url),
        jobs.handlers(make_matcher(settings), wire_code),
        batch_size=settings.work_batch_size,
        lease_seconds=settings.work_lease_seconds,
        poll_seconds=settings.work_poll_seconds,
    )
