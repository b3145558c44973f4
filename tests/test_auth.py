"""Authentication against the provider register, over the wire, with audit entries."""

from __future__ import annotations

import random
import threading
import time

import pytest
from sqlalchemy import select

from miap.server import exceptions
from miap.server.namespaces import FINDMSG
from miap.server.register import auth
from miap.server.register.auth import Authenticator, hash_password
from miap.server.register.providers import add_provider, set_status
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


def test_deactivation_takes_effect_at_once_over_the_wire(database_url, tmp_path):
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
    with start_server(database_url, tmp_path) as running:
        assert post(running.url, find("10000005", "SoonClosedPass01")).status == 200  # cached
        run_miap(
            "provider", "set-status", "--db", database_url, "--ukprn", "10000005", "--status", "PD1"
        )
        # The same server, well within the default 60 s cache lifetime.
        reply = post(running.url, find("10000005", "SoonClosedPass01", "closing.user"))
        assert reply.fault_code == "WSEC0802"
    assert audit_outcomes(database_url, "closing.user") == [
        ("learnerByULN", "10000005", "WSEC0802")
    ]


# -- the Authenticator itself, on an injectable clock -----------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _new_provider(db: Database, status: str = "A") -> tuple[str, str]:
    ukprn = str(random.randint(20_000_000, 99_999_999))
    password = f"Pw{random.randrange(10**13):014d}"
    with db.transaction() as session:
        add_provider(session, ukprn, "Clocked College", password, status=status)
    return ukprn, password


def _set_status(db: Database, ukprn: str, status: str) -> None:
    with db.transaction() as session:
        set_status(session, ukprn, status)


@pytest.fixture
def clocked(db):
    clock = Clock()
    authenticator = Authenticator(db, ttl=60.0, clock=clock)
    return authenticator, clock


def test_deactivated_provider_is_refused_within_the_cache_lifetime(db, clocked):
    authenticator, clock = clocked
    ukprn, password = _new_provider(db)
    assert authenticator.authenticate(ukprn, None, password, "u").ukprn == ukprn
    assert authenticator.verifications == 1
    clock.now += 1  # well within ttl: the password is still cached
    _set_status(db, ukprn, "PD2")
    with pytest.raises(exceptions.ProviderNotActive):
        authenticator.authenticate(ukprn, None, password, "u")
    # Reactivation is as immediate, and the cached verification still stands (no Argon2).
    _set_status(db, ukprn, "V")
    assert authenticator.authenticate(ukprn, None, password, "u").ukprn == ukprn
    assert authenticator.verifications == 1


def test_changed_password_no_longer_matches_a_cached_entry(db, clocked):
    authenticator, clock = clocked
    ukprn, password = _new_provider(db)
    authenticator.authenticate(ukprn, None, password, "u")
    with db.transaction() as session:
        provider = session.scalars(select(Provider).where(Provider.ukprn == ukprn)).one()
        provider.password_hash = hash_password("AnotherPasswd001")
    clock.now += 1
    with pytest.raises(exceptions.AuthenticationFailed):
        authenticator.authenticate(ukprn, None, password, "u")
    assert authenticator.authenticate(ukprn, None, "AnotherPasswd001", "u").ukprn == ukprn


def test_cached_entry_expires_after_ttl(db, clocked):
    authenticator, clock = clocked
    ukprn, password = _new_provider(db)
    authenticator.authenticate(ukprn, None, password, "u")
    clock.now += 59
    authenticator.authenticate(ukprn, None, password, "u")
    assert authenticator.verifications == 1
    clock.now += 2  # past ttl
    authenticator.authenticate(ukprn, None, password, "u")
    assert authenticator.verifications == 2


def test_wrong_password_is_never_cached(db, clocked):
    authenticator, _ = clocked
    ukprn, password = _new_provider(db)
    authenticator.authenticate(ukprn, None, password, "u")
    for _ in range(3):
        with pytest.raises(exceptions.AuthenticationFailed):
            authenticator.authenticate(ukprn, None, "WrongPassword001", "u")
    assert authenticator.verifications == 4


def test_expired_credential_is_verified_once_for_all_waiting_requests(db, clocked, monkeypatch):
    authenticator, clock = clocked
    ukprn, password = _new_provider(db)
    authenticator.authenticate(ukprn, None, password, "u")
    clock.now += 61  # expired
    real_verify = auth._verify
    started = threading.Event()

    def slow_verify(password_hash: str, given: str) -> bool:
        started.set()
        time.sleep(0.3)  # long enough for every other request to arrive and wait
        return real_verify(password_hash, given)

    monkeypatch.setattr(auth, "_verify", slow_verify)
    results: list[object] = []

    def call() -> None:
        try:
            results.append(authenticator.authenticate(ukprn, None, password, "u").ukprn)
        except Exception as error:  # noqa: BLE001 - recorded and asserted below
            results.append(error)

    first = threading.Thread(target=call)
    first.start()
    started.wait(5)
    others = [threading.Thread(target=call) for _ in range(7)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(10)
    assert results == [ukprn] * 8
    assert authenticator.verifications == 2  # the first login, then one refresh for all eight


def test_concurrent_wrong_passwords_are_all_refused(db, clocked, monkeypatch):
    authenticator, _ = clocked
    ukprn, _password = _new_provider(db)
    real_verify = auth._verify

    def slow_verify(password_hash: str, given: str) -> bool:
        time.sleep(0.1)
        return real_verify(password_hash, given)

    monkeypatch.setattr(auth, "_verify", slow_verify)
    refused = []

    def call() -> None:
        try:
            authenticator.authenticate(ukprn, None, "WrongPassword001", "u")
        except exceptions.AuthenticationFailed:
            refused.append(True)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(refused) == 5


def test_passwords_are_stored_as_argon2_hashes(server):
    db = Database(server.database_url)
    try:
        with db.transaction() as session:
            stored = session.scalars(select(Provider).where(Provider.ukprn == TEST_UKPRN)).one()
            assert stored.password_hash.startswith("$argon2id$")
            assert TEST_PASSWORD not in stored.password_hash
    finally:
        db.dispose()
