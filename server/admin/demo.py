"""Synthetic demo data: a provider to log in as and a few hundred invented learners
(``synth.py``); no real learner is represented."""

from __future__ import annotations

from sqlalchemy import select

from miap.server.admin import synth
from miap.server.matching.engine import Matcher, ScoringMatcher
from miap.server.outcomes import Outcome
from miap.server.register import learners
from miap.server.register.providers import add_provider
from miap.storage.engine import Database
from miap.storage.models import Learner, Provider

DEMO_UKPRN = "10000001"
DEMO_PROVIDER = "Demo Sixth Form College (synthetic)"
DEMO_PASSWORD = "DemoPassword0001"
DEMO_USER = "demo.user"


def seed(
    db: Database, count: int = 300, seed_value: int = 2026, matcher: Matcher | None = None
) -> dict[str, int]:
    """Add the demo provider and ``count`` synthetic learners; running it again adds nothing
    (the same seed gives the same people, and registration refuses them as duplicates)."""
    added = 0
    with db.transaction() as session:
        if session.scalars(select(Provider).where(Provider.ukprn == DEMO_UKPRN)).first() is None:
            add_provider(session, DEMO_UKPRN, DEMO_PROVIDER, DEMO_PASSWORD)
        matcher = matcher or ScoringMatcher()
        for person in synth.Population(seed_value).people(count):
            details = synth.learner_details(person)
            code, _uln = learners.register(session, matcher, details, DEMO_UKPRN)
            added += code == Outcome.REGISTERED
    return {"learners_added": added}


def example_learners(db: Database, limit: int = 3) -> list[Learner]:
    with db.transaction() as session:
        return list(session.scalars(select(Learner).order_by(Learner.id).limit(limit)))
