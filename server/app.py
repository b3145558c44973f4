"""The WSGI application a server process runs, built from the one settings object."""

from __future__ import annotations

from miap.server.matching.engine import MatchWeights, ScoringMatcher
from miap.server.matching.normalise import NameVariants
from miap.server.settings import Settings
from miap.server.soap.endpoint import LearnerServiceApp
from miap.storage.engine import Database


def make_matcher(settings: Settings) -> ScoringMatcher:
    """The matching engine with the settings' weights and name variants (shipped by default)."""
    weights = MatchWeights.load(settings.match_weights) if settings.match_weights else None
    variants = NameVariants.load(settings.name_variants) if settings.name_variants else None
    return ScoringMatcher(weights=weights, variants=variants)


def make_app(settings: Settings) -> LearnerServiceApp:
    """One process's application: its own database pool and matcher (built after the fork)."""
    return LearnerServiceApp(Database(settings.database_url), settings, make_matcher(settings))
