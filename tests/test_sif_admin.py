"""``miap sif``: zones, agents and their rights from the command line; refusals exit 2 with
one line, and secrets are stored as Argon2 hashes."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from miap.storage.sif import SifAgent
from tests.conftest import TEST_UKPRN
from tests.support import run_miap


@pytest.mark.slow
def test_zones_agents_and_rights(database_url, db):
    zone = f"Z{uuid.uuid4().hex[:10]}"
    source = f"school-{uuid.uuid4().hex[:8]}"
    run_miap("sif", "zone", "add", zone, "--db", database_url)
    again = run_miap("sif", "zone", "add", zone, "--db", database_url, check=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    secret = "a-long-enough-secret"
    add = ["sif", "agent", "add", "--zone", zone, "--source-id", source, "--db", database_url]
    added = run_miap(*add, "--ukprn", TEST_UKPRN, "--laestab", "8012345", "--secret", secret)
    assert source in added.stdout
    for bad, message in (
        (["--ukprn", "123", "--secret", secret], "UKPRN"),
        (["--ukprn", "99999998", "--secret", secret], "provider register"),
        (["--ukprn", TEST_UKPRN, "--secret", "short"], "secret"),
        (["--ukprn", TEST_UKPRN, "--laestab", "12", "--secret", secret], "LAESTAB"),
    ):
        refused = run_miap(*add[:6], f"x{source}", "--db", database_url, *bad, check=False)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    with db.reading() as session:
        agent = session.scalars(select(SifAgent).where(SifAgent.source_id == source)).one()
        assert agent.secret_hash.startswith("$argon2") and secret not in agent.secret_hash
    listing = run_miap("sif", "agent", "list", "--zone", zone, "--db", database_url).stdout
    assert "LearnerPersonal:add" in listing and "LearnerPersonal:subscribe" in listing
    assert "LearnerPersonal:delete" not in listing
    who = ["--zone", zone, "--source-id", source, "--db", database_url]
    run_miap("sif", "agent", "permit", *who, "--object", "TeachingGroup", "--right", "provide")
    run_miap("sif", "agent", "deny", *who, "--object", "LearnerPersonal", "--right", "add")
    listing = run_miap("sif", "agent", "list", "--zone", zone, "--db", database_url).stdout
    assert "TeachingGroup:provide" in listing and "LearnerPersonal:add" not in listing
    run_miap("sif", "agent", "remove", *who)
    assert (
        source not in run_miap("sif", "agent", "list", "--zone", zone, "--db", database_url).stdout
    )
    gone = run_miap("sif", "agent", "remove", *who, check=False)
    assert gone.returncode == 2 and "no agent" in gone.stderr
