"""The audit a learner can read: ViewAudit (PLR) shows exactly the accesses made to their
record, newest first, a page at a time; ``miap audit`` shows administrators the same rows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from miap.storage.models import AuditEntry
from tests.conftest import INACTIVE_UKPRN
from tests.support import run_miap
from tests.support_plr import (
    AWARDER,
    PORTAL,
    REGISTRAR,
    REPORTER,
    STRANGER,
    M,
    add_event,
    ensure_organisations,
    learning_events,
    plr_body,
    plr_post,
    register,
)


def view_audit(url, person, page=1, org=PORTAL, user_type="LNR", username=None, given=None):
    params = [
        ("learnerUln", person.uln),
        ("learnerGivenName", given or person.given),
        ("learnerFamilyName", person.family),
        ("page", str(page)),
    ]
    body = plr_body("ViewAudit", params, org, user_type, username or person.uln)
    return plr_post(url, "ViewAudit", body)


def entries(reply) -> list[tuple[str, str, str]]:
    return [
        (e.findtext(M + "Action"), e.findtext(M + "Organisation"), e.findtext(M + "User"))
        for e in reply.result.iterfind(f"{M}List/{M}PlrAccessEntry")
    ]


@pytest.fixture(scope="module")
def setup(db, server):
    ensure_organisations(db)
    return db, server.url


def test_view_audit_shows_the_accesses_made_and_nothing_else(setup):
    db, url = setup
    learner = register(db)
    add_event(db, learner.uln, REPORTER.ukprn)
    # Registering through the domain leaves no entry: the learner's audit starts empty.
    first = view_audit(url, learner)
    assert entries(first) == []
    assert first.model("TotalItems") == "0" and first.model("PageCount") == "1"

    learning_events(url, learner, REGISTRAR, username="alice")
    learning_events(url, learner, REPORTER, username="bob", get_type="BRIEF")
    refused = learning_events(url, learner, STRANGER, username="eve", full_demographics=False)
    assert refused.fault_code == "WSEC0812"

    shown = view_audit(url, learner)
    assert entries(shown) == [
        ("GetLearnerLearningEvents", STRANGER.name, "eve"),
        ("GetLearnerLearningEvents", REPORTER.name, "bob"),
        ("GetLearnerLearningEvents", REGISTRAR.name, "alice"),
        ("ViewAudit", PORTAL.name, learner.uln),
    ]
    assert shown.model("TotalItems") == "4"
    assert (shown.model("SortIndex"), shown.model("SortOrder")) == ("DateTime", "Descending")
    stamps = [e.findtext(M + "DateTime") for e in shown.result.iter(M + "PlrAccessEntry")]
    assert stamps == sorted(stamps, reverse=True)

    # The rows say who, which user type, through which route and how it ended.
    with db.reading() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.uln == learner.uln).order_by(AuditEntry.id)
        ).all()
        shape = [(r.ukprn, r.user_type, r.route, r.outcome) for r in rows]
    assert shape == [
        (PORTAL.ukprn, "LNR", "PLR", "OK"),
        (REGISTRAR.ukprn, "ORG", "PLR", "WSRC0004"),
        (REPORTER.ukprn, "ORG", "PLR", "WSRC0004"),
        (STRANGER.ukprn, "ORG", "PLR", "WSEC0812"),
        (PORTAL.ukprn, "LNR", "PLR", "OK"),
    ]


def test_view_audit_pages(setup):
    db, url = setup
    learner = register(db)
    for number in range(22):
        learning_events(url, learner, REGISTRAR, username=f"user{number}")
    first, second = view_audit(url, learner, 1), view_audit(url, learner, 2)
    assert (first.model("PageCount"), first.model("PageSize")) == ("2", "20")
    assert len(entries(first)) == 20 and first.model("PageIndex") == "1"
    # The request for page 1 is now the newest entry: 23 in all.
    assert second.model("TotalItems") == "23"
    assert [user for _, _, user in entries(second)][-2:] == ["user1", "user0"]
    assert view_audit(url, learner, 9).result.find(f"{M}List/{M}PlrAccessEntry") is None


@pytest.mark.parametrize(
    ("caller", "code"),
    [
        (dict(org=REGISTRAR, user_type="ORG", username="staff"), "WSEC0815"),
        (dict(org=REGISTRAR, user_type="LNR"), "WSEC0814"),  # no LNR grant
        (dict(org=AWARDER, user_type="ORG", username="staff"), "WSEC0815"),
        (dict(org=PORTAL, user_type="SER", username="staff"), "WSEC0813"),
        (dict(org=PORTAL, user_type="LNR", username="1000000043"), "WSEC0811"),
        (dict(given="Wrongname"), "WSEC0208"),
    ],
)
def test_view_audit_is_the_learners_own(setup, caller, code):
    db, url = setup
    learner = register(db)
    assert view_audit(url, learner, **caller).fault_code == code


def test_miap_audit_for_administrators(setup, database_url):
    db, url = setup
    learner = register(db)
    learning_events(url, learner, REGISTRAR, username="carol")
    result = run_miap("audit", "--uln", learner.uln, "--db", database_url, "--by", "ops")
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == [
        "at",
        "route",
        "ukprn",
        "type",
        "user",
        "operation",
        "outcome",
        "uln",
    ]
    [row] = [line.split("\t") for line in lines[1:-1]]
    assert row[1:] == [
        "PLR",
        REGISTRAR.ukprn,
        "ORG",
        "carol",
        "GetLearnerLearningEvents",
        "WSRC0004",
        learner.uln,
    ]
    assert lines[-1] == "# page 1 of 1, 1 entries"
    # The administrator's reading is itself on the learner's audit.
    assert entries(view_audit(url, learner))[0] == ("audit", "CLI", "ops")
    refused = run_miap("audit", "--uln", "1000000044", "--db", database_url, check=False)
    assert refused.returncode == 2 and "not a valid ULN" in refused.stderr


def test_grants_are_given_and_withdrawn_from_the_command_line(database_url):
    grant = run_miap(
        "access", "grant", "--ukprn", INACTIVE_UKPRN, "--user-type", "AO", "--db", database_url
    )
    assert grant.stdout.strip() == f"AO granted for {INACTIVE_UKPRN}"
    again = run_miap(
        "access", "grant", "--ukprn", INACTIVE_UKPRN, "--user-type", "AO", "--db", database_url
    )
    assert again.stdout.strip() == f"AO unchanged for {INACTIVE_UKPRN}"
    revoke = run_miap(
        "access", "revoke", "--ukprn", INACTIVE_UKPRN, "--user-type", "AO", "--db", database_url
    )
    assert revoke.stdout.strip() == f"AO revoked for {INACTIVE_UKPRN}"
    unknown = run_miap(
        "access", "grant", "--ukprn", "19999999", "--user-type", "LNR", "--db", database_url,
        check=False,
    )  # fmt: skip
    assert unknown.returncode == 2 and "no provider with UKPRN 19999999" in unknown.stderr
