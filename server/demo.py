"""Synthetic demo data: a provider to log in as and a few hundred invented learners.

Every person here is made up from common name parts; no real learner is represented.
"""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import func, select

from miap.server import learners
from miap.server.matching import ScoringMatcher
from miap.server.providers import add_provider
from miap.storage.engine import Database
from miap.storage.models import Learner, Provider

DEMO_UKPRN = "10000001"
DEMO_PROVIDER = "Demo Sixth Form College (synthetic)"
DEMO_PASSWORD = "DemoPassword0001"
DEMO_USER = "demo.user"

_GIVEN = {
    "1": ["Oliver", "Jack", "Harry", "George", "Noah", "Leo", "Arthur", "Oscar", "Theo", "Finley"],
    "2": ["Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Sophia", "Grace", "Freya"],
}
_FAMILY = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "O'Neil",
    "Smith-Jones",
]
_ADDRESSES = [
    ("LS1 4AP", "Leeds"),
    ("M1 1AE", "Manchester"),
    ("B2 4QA", "Birmingham"),
    ("CV1 2GT", "Coventry"),
    ("NE1 7RU", "Newcastle"),
    ("BS1 5TR", "Bristol"),
    ("SW1A 1AA", "London"),
    ("EH1 1YZ", "Edinburgh"),
]


def synthetic_learner(rng: random.Random, today: dt.date) -> dict:
    gender = rng.choice("12")
    postcode, town = rng.choice(_ADDRESSES)
    born = today - dt.timedelta(days=rng.randint(14 * 365, 25 * 365))
    return {
        "given_name": rng.choice(_GIVEN[gender]),
        "family_name": rng.choice(_FAMILY),
        "date_of_birth": born,
        "gender": gender,
        "postcode": postcode,
        "address_line1": f"{rng.randint(1, 200)} Example Street",
        "address_town": town,
        "verification_type": "1",
        "ability_to_share": "1",
    }


def seed(db: Database, count: int = 300, seed_value: int = 2026) -> dict[str, int]:
    """Add the demo provider and ``count`` learners unless they are already there."""
    rng = random.Random(seed_value)
    added = 0
    with db.transaction() as session:
        if session.scalars(select(Provider).where(Provider.ukprn == DEMO_UKPRN)).first() is None:
            add_provider(session, DEMO_UKPRN, DEMO_PROVIDER, DEMO_PASSWORD)
        existing = session.scalar(select(func.count()).select_from(Learner)) or 0
        matcher = ScoringMatcher()
        today = dt.date.today()
        for _ in range(max(0, count - existing)):
            code, _uln = learners.register(
                session, matcher, synthetic_learner(rng, today), DEMO_UKPRN
            )
            added += code == learners.REGISTERED
    return {"learners_added": added, "learners_before": existing}


def example_learners(db: Database, limit: int = 3) -> list[Learner]:
    with db.transaction() as session:
        return list(session.scalars(select(Learner).order_by(Learner.id).limit(limit)))
