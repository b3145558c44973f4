"""Authentication against the provider register, over the wire, with audit entries."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from miap.server.namespaces import FINDMSG
from miap.storage.engine import Database
from miap.storage.models import AuditEntry, Provider
from tests.conftest import INACTIVE_PASSWORD, INACTIVE_UKPRN, TEST_PASSWORD, TEST_UKPRN
from tests.support import envelope, post, run_miap, start_server


def find(ukprn: str, password: str, user: str = "auth.tester", org_ref: str = "") -> bytes:
    ukprn_xml = f"<UKPRN>{ukprn}</UKPRN>" if ukprn else "<UKPRN/>"
    org_xml = f"<OrganisationRef>{org_ref}</OrganisationRef>" if org_ref else ""
    return envelope(
        f"""<fin:FindLearnerByULN xmlns:fin="{FINDMSG}"><FindType>FUL</FindType>{org_xml}
        {ukprn_xml}<OrgPassword>{password}</OrgPassword><UserName>{user}</UserName>
        <ULN>1000000043</ULN><FamilyName>Testperson</FamilyName><GivenName>Example</GivenName>
        </fin:FindLearnerByULN>"""
    )


def audit_outcomes(database_url: str, user: str) -> list[tuple[str, str | None, str]]:
    db = Database(database_url)
    try:
        with db.transaction() as session:
            rows = session.scalars(select(AuditEntry).where(AuditEntry.user_name == user))
            return [(row.operation, row.ukprn, row.outcome) for row in rows]
    finally:
        db.dispose()


def test_right_password_is_accepted_and_audited(server):
    assert post(server.url, find(TEST_UKPRN, TEST_PASSWORD, "right.user")).status == 200
    assert audit_outcomes(server.database_url, "right.user") == [
        ("learnerByULN", TEST_UKPRN, "WSRC0001")
    ]


def test_wrong_password_is_refused_every_time_even_after_a_right_one(server):
    assert post(server.url, find(TEST_UKPRN, TEST_PASSWORD)).status == 200  # now cached
    for _ in range(3):
        reply = post(server.url, find(TEST_UKPRN, "WrongPassword001", "wrong.user"))
        assert (reply.status, reply.fault_code) == (500, "WSEC0801")
    assert (
        audit_outcomes(server.database_url, "wrong.user")
        == [("learnerByULN", TEST_UKPRN, "WSEC0801")] * 3
    )


def test_unknown_ukprn_is_refused_with_the_same_code(server):
    reply = post(server.url, find("10999999", TEST_PASSWORD))
    assert reply.fault_code == "WSEC0801"


def test_inactive_provider_is_refused(server):
    reply = post(server.url, find(INACTIVE_UKPRN, INACTIVE_PASSWORD, "closed.user"))
    assert reply.fault_code == "WSEC0802"
    assert audit_outcomes(server.database_url, "closed.user") == [
        ("learnerByULN", INACTIVE_UKPRN, "WSEC0802")
    ]


def test_no_organisation_named(server):
    assert post(server.url, find("", TEST_PASSWORD)).fault_code == "WSEC0803"


def test_organisation_ref_identifies_a_provider(server):
    run_miap(
        "provider",
        "add",
        "--db",
        server.database_url,
        "--ukprn",
        "10000004",
        "--name",
        "Ref College",
        "--org-password",
        "RefCollegePass01",
        "--org-ref",
        "ABC123",
    )
    assert post(server.url, find("", "RefCollegePass01", org_ref="ABC123")).status == 200


@pytest.mark.parametrize("password", ["short", "x" * 17])
def test_password_of_wrong_length_is_a_schema_fault(server, password):
    assert post(server.url, find(TEST_UKPRN, password)).fault_code == "WSEC0001"


def test_deactivation_takes_effect(database_url, tmp_path):
    run_miap(
        "provider",
        "add",
        "--db",
        database_url,
        "--ukprn",
        "10000005",
        "--name",
        "Soon Closed College",
        "--org-password",
        "SoonClosedPass01",
    )
    with start_server(database_url, tmp_path) as fresh:
        assert post(fresh.url, find("10000005", "SoonClosedPass01")).status == 200
        run_miap(
            "provider", "set-status", "--db", database_url, "--ukprn", "10000005", "--status", "PD1"
        )
    with start_server(database_url, tmp_path) as restarted:
        assert post(restarted.url, find("10000005", "SoonClosedPass01")).fault_code == "WSEC0802"


def test_passwords_are_stored_as_argon2_hashes(server):
    db = Database(server.database_url)
    try:
        with db.transaction() as session:
            stored = session.scalars(select(Provider).where(Provider.ukprn == TEST_UKPRN)).one()
            assert stored.password_hash.startswith("$argon2id$")
            assert TEST_PASSWORD not in stored.password_hash
    finally:
        db.dispose()
