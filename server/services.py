"""What every transport of one server process shares.

One database pool, one read path, one credential cache, one audit writer and one matcher per
process, whichever route a request comes in by (LearnerService, PLR, provider query, SIF zone,
portal): a rule or a cache lives once, so a change shows on every route at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from miap.server.matching.engine import Matcher, ScoringMatcher
from miap.server.register.audit import AuditWriter
from miap.server.register.auth import Authenticator
from miap.server.settings import Settings
from miap.storage.engine import Database
from miap.storage.reads import Reads


@dataclass
class Services:
    db: Database
    settings: Settings
    matcher: Matcher
    reads: Reads
    authenticator: Authenticator
    audit: AuditWriter

    @classmethod
    def start(cls, db: Database, settings: Settings, matcher: Matcher | None = None) -> Services:
        reads = Reads(db.read_engine)
        return cls(
            db=db,
            settings=settings,
            matcher=matcher or ScoringMatcher(),
            reads=reads,
            authenticator=Authenticator(db, ttl=settings.auth_cache_seconds, reads=reads),
            audit=AuditWriter(db),
        )
