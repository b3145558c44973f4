"""The WSGI application a server process runs, built from the one settings object."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from miap.server.matching.engine import MatchWeights, ScoringMatcher
from miap.server.matching.normalise import NameVariants
from miap.server.outcomes import Outcome
from miap.server.portal.app import PORTAL_PATH, PortalApp
from miap.server.services import Services
from miap.server.settings import Settings
from miap.server.sif.zone import SIF_PATH, SifZoneApp
from miap.server.soap.endpoint import SERVICE_PATH, LearnerServiceApp
from miap.server.soap.plr_service import PLR_PATH, PlrServiceApp
from miap.server.soap.provider_query import PROVIDER_QUERY_PATH, ProviderQueryApp
from miap.server.work.worker import Worker
from miap.storage.engine import Database

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


class Router:
    """Hands each request to the service mounted at its path (case-insensitive, as IIS was);
    anything else goes to the LearnerService, which answers with its not-found fault."""

    def __init__(self, fallback: WsgiApp, mounts: dict[str, WsgiApp]) -> None:
        self.fallback = fallback
        self.mounts = {path.rstrip("/").lower(): app for path, app in mounts.items()}

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "").lower().rstrip("/")
        for prefix, app in self.mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                return app(environ, start_response)
        return self.fallback(environ, start_response)


def make_matcher(settings: Settings) -> ScoringMatcher:
    """The matching engine with the settings' weights and name variants (shipped by default)."""
    weights = MatchWeights.load(settings.match_weights) if settings.match_weights else None
    variants = NameVariants.load(settings.name_variants) if settings.name_variants else None
    return ScoringMatcher(weights=weights, variants=variants)


def make_services(settings: Settings, db: Database | None = None) -> Services:
    """One process's shared services: its own database pool and matcher (built after the fork)."""
    return Services.start(db or Database(settings.database_url), settings, make_matcher(settings))


def make_app(settings: Settings) -> Router:
    """Every route of one server process, over one set of services."""
    services = make_services(settings)
    learner_service = LearnerServiceApp(services)
    return Router(
        learner_service,
        {
            SERVICE_PATH: learner_service,
            PLR_PATH: PlrServiceApp(services),
            PROVIDER_QUERY_PATH: ProviderQueryApp(services, settings.ukrlp_max_records),
            SIF_PATH: SifZoneApp(services),
            PORTAL_PATH: PortalApp(services),
        },
    )


def make_worker(settings: Settings, db: Database | None = None) -> Worker:
    """A work-queue worker with the handlers of every job kind (batches, SIF deliveries); audit
    entries carry the SOAP table's codes, as the same answers over SOAP would."""
    from miap.server.batches import jobs
    from miap.server.exceptions import DomainError
    from miap.server.sif import delivery
    from miap.server.soap.faults import code_of, fault_for

    def wire_code(answer: Outcome | DomainError) -> str:
        if isinstance(answer, DomainError):
            return fault_for(answer).error.code
        return code_of(answer)

    db = db or Database(settings.database_url)
    return Worker(
        db,
        {**jobs.handlers(make_matcher(settings), wire_code), **delivery.handlers(settings)},
        batch_size=settings.work_batch_size,
        lease_seconds=settings.work_lease_seconds,
        poll_seconds=settings.work_poll_seconds,
        retention_days=settings.work_retention_days,
    )
