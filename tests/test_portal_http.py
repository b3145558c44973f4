"""The portal over raw HTTP: accounts, sessions, CSRF, the access rules and the register pages,
against a real ``miap serve`` (both databases)."""

from __future__ import annotations

import datetime as dt
import re
from contextlib import ExitStack

import pytest
from sqlalchemy import select, update

from miap.server.portal import demo
from miap.server.portal.accounts import digest
from miap.storage.engine import Database
from miap.storage.models import AuditEntry, Learner, utcnow
from miap.storage.portal import PortalSession, PortalUser
from tests.conftest import POSTGRES_ADMIN_URL, TEST_UKPRN
from tests.support import Server, post, postgres_database, run_miap, synthetic_person
from tests.support_portal import (
    PASSWORD,
    PortalClient,
    activate,
    activation_link,
    make_user,
    portal_url,
    signed_in,
)
from tests.test_auth import find

OTHER_UKPRN = "10099021"
_CODE = re.compile(r'data-code="([A-Z_]+)"')


def code_of(html: str) -> str | None:
    found = _CODE.search(html)
    return found.group(1) if found else None


@pytest.fixture(scope="module")
def registrar(server):
    return make_user(server, "registrar", TEST_UKPRN)


@pytest.fixture(scope="module")
def other_provider(server):
    run_miap(
        "provider",
        "add",
        "--db",
        server.database_url,
        "--ukprn",
        OTHER_UKPRN,
        "--name",
        "Other College",
        "--org-password",
        "OtherPassword001",
        check=False,
    )
    return make_user(server, "registrar", OTHER_UKPRN)


def register(client: PortalClient, person: dict[str, str]) -> str:
    """Register ``person`` in the portal; their ULN."""
    client.get("/register")
    answer = client.post(
        "/register",
        {**person, "VerificationType": "0", "AbilityToShare": "1"},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:3000]
    return answer.headers["Location"].split("/learners/")[1].split("?")[0]


def test_sign_in_rotates_the_session_and_sets_safe_cookies(server, registrar):
    client = PortalClient(portal_url(server))
    page = client.get("/sign-in")
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    before = client.cookie
    answer = client.post("/sign-in", {"email": registrar.email, "password": PASSWORD})
    assert "Sign out" in answer.text
    after = client.cookie
    assert after and after != before
    # The pre-sign-in id is dead: presenting it again is an anonymous visitor.
    stale = PortalClient(portal_url(server))
    stale.cookie = before
    assert stale.get("/find", allow_redirects=False).status_code == 302


def test_csrf_missing_or_wrong_is_refused(server, registrar):
    client = signed_in(server, registrar)
    person = synthetic_person()
    missing = client.post("/find", person, csrf=False)
    assert missing.status_code == 403 and "security token" in missing.text
    wrong = client.post("/find", {**person, "csrf_token": "x" * 43})
    assert wrong.status_code == 403
    # A token of another session is wrong too.
    other = signed_in(server, registrar)
    assert client.post("/find", {**person, "csrf_token": other.csrf}).status_code == 403


def _account_audit(db, operation: str) -> list[tuple]:  # noqa: ANN001 - a Database
    """The audit rows of one account change: (route, ukprn, user type, outcome, ULN)."""
    with db.reading() as session:
        rows = session.execute(
            select(
                AuditEntry.route,
                AuditEntry.ukprn,
                AuditEntry.user_type,
                AuditEntry.outcome,
                AuditEntry.uln,
            ).where(AuditEntry.operation == operation)
        )
        return [tuple(row) for row in rows]


def _account_id(db, email: str) -> int:  # noqa: ANN001 - a Database
    with db.reading() as session:
        return session.scalar(select(PortalUser.id).where(PortalUser.email == email))


def test_lockout_after_five_failures(server, db):
    account = make_user(server, "viewer", TEST_UKPRN)
    client = PortalClient(portal_url(server))
    for _ in range(5):
        assert client.sign_in(account.email, "wrong-password-123").status_code == 400
    locked = client.sign_in(account.email, PASSWORD)
    assert locked.status_code == 400 and "Sign out" not in locked.text
    run_miap("portal", "user", "unlock", "--db", server.database_url, "--email", account.email)
    assert "Sign out" in client.sign_in(account.email, PASSWORD).text
    # Each account change is audited: by number, never by e-mail address.
    number = _account_id(db, account.email)
    assert _account_audit(db, f"portal user add #{number}") == [("CLI", None, None, "OK", None)]
    assert _account_audit(db, f"portal user unlock #{number}") == [("CLI", None, None, "OK", None)]


def test_successes_reset_the_failure_count(server):
    account = make_user(server, "viewer", TEST_UKPRN)
    client = PortalClient(portal_url(server))
    for _ in range(2):
        for _ in range(4):
            client.sign_in(account.email, "wrong-password-123")
        assert "Sign out" in client.sign_in(account.email, PASSWORD).text


def test_find_exact_possible_none_and_register_duplicate(server, registrar):
    client = signed_in(server, registrar)
    person = synthetic_person()
    client.get("/find")
    assert code_of(client.post("/find", person).text) == "NO_MATCH"
    uln = register(client, person)
    exact = client.post("/find", person)
    assert code_of(exact.text) == "EXACT" and uln in exact.text
    near = {**person, "GivenName": person["GivenName"][:-2] + "xq"}
    assert code_of(client.post("/find", near).text) in ("POSSIBLE", "EXACT")
    again = client.post("/register", {**person, "VerificationType": "0", "AbilityToShare": "1"})
    assert again.status_code == 409 and "already registered" in again.text
    by_uln = client.post(
        "/find-uln",
        {"ULN": uln, "GivenName": person["GivenName"], "FamilyName": person["FamilyName"]},
    )
    assert code_of(by_uln.text) == "EXACT"


def test_register_shows_errors_beside_fields(server, registrar):
    client = signed_in(server, registrar)
    client.get("/register")
    bad = synthetic_person(DateOfBirth="2003-02-30", LastKnownPostCode="NOT A POSTCODE")
    answer = client.post("/register", {**bad, "VerificationType": "0", "AbilityToShare": "1"})
    assert answer.status_code == 400
    assert 'id="DateOfBirth-error"' in answer.text
    assert 'id="LastKnownPostCode-error"' in answer.text
    assert "There is a problem" in answer.text


def test_update_refuses_a_stale_version_and_shows_the_other_change(server, registrar):
    client = signed_in(server, registrar)
    person = synthetic_person()
    uln = register(client, person)
    form = {**person, "VerificationType": "0", "AbilityToShare": "1", "version": "1"}
    first = client.post(
        f"/learners/{uln}/edit", {**form, "LastKnownAddressTown": "Exeter"}, allow_redirects=False
    )
    assert first.status_code == 302
    stale = client.post(f"/learners/{uln}/edit", {**form, "LastKnownAddressTown": "Bath"})
    assert stale.status_code == 409 and "Someone else changed" in stale.text
    assert "Exeter" in stale.text


def test_another_providers_learner_and_job_are_refused_and_audited(
    server, db, registrar, other_provider
):
    mine = signed_in(server, registrar)
    uln = register(mine, synthetic_person())
    theirs = signed_in(server, other_provider)
    answer = theirs.get(f"/learners/{uln}")
    assert answer.status_code == 403 and "no relation" in answer.text
    with db.reading() as session:
        refused = session.scalars(
            select(AuditEntry.outcome).where(
                AuditEntry.uln == uln,
                AuditEntry.ukprn == OTHER_UKPRN,
                AuditEntry.route == "portal",
            )
        ).all()
    assert refused and all(outcome.startswith("WSEC") for outcome in refused)
    assert theirs.get("/batches/999999999").status_code == 403


def test_a_viewer_changes_nothing(server, registrar):
    viewer = signed_in(server, make_user(server, "viewer", TEST_UKPRN))
    viewer.get("/find")
    answer = viewer.post(
        "/register", {**synthetic_person(), "VerificationType": "0", "AbilityToShare": "1"}
    )
    assert answer.status_code == 403 and "does not allow" in answer.text


def test_admin_adds_a_user_who_activates(server, db):
    admin = signed_in(server, make_user(server, "admin", TEST_UKPRN))
    admin.get("/users")
    answer = admin.post(
        "/users", {"action": "add", "email": "new.user.x@example.org", "role": "viewer"}
    )
    activate(portal_url(server), activation_link(answer.text))
    # A provider admin makes provider users only.
    escalate = admin.post(
        "/users", {"action": "add", "email": "boss.x@example.org", "role": "service-admin"}
    )
    assert escalate.status_code == 400 and "activation-link" not in escalate.text
    fresh = PortalClient(portal_url(server))
    assert "Sign out" in fresh.sign_in("new.user.x@example.org").text
    # The admin disables the account: its session ends, and both changes are audited.
    number = _account_id(db, "new.user.x@example.org")
    admin.get("/users")
    admin.post("/users", {"action": "disable", "user_id": str(number)})
    assert "Sign out" not in fresh.get("/find").text
    by_admin = [("portal", TEST_UKPRN, "ORG", "OK", None)]
    assert _account_audit(db, f"portal user add #{number}") == by_admin
    assert _account_audit(db, f"portal user disable #{number}") == by_admin
    assert _account_id(db, "boss.x@example.org") is None  # refused: nothing to audit


def test_a_learner_code_issued_from_the_command_line_is_audited(server, db, registrar):
    uln = register(signed_in(server, registrar), synthetic_person())
    issued = run_miap("portal", "learner-code", "--db", server.database_url, "--uln", uln)
    activate(portal_url(server), activation_link(issued.stdout))
    audited = [row for row in _account_audit(db, "issueLearnerCode") if row[-1] == uln]
    assert audited == [("CLI", None, None, "OK", uln)]


def test_learner_signs_in_sees_audit_and_opts_out(server, db, registrar):
    provider = signed_in(server, registrar)
    person = synthetic_person()
    uln = register(provider, person)
    provider.get(f"/learners/{uln}")
    issued = provider.post(f"/learners/{uln}/portal-access")
    activate(portal_url(server), activation_link(issued.text))
    learner = PortalClient(portal_url(server))
    wrong = learner.learner_sign_in(uln, "2000-01-01")
    assert wrong.status_code == 400
    page = learner.learner_sign_in(uln, person["DateOfBirth"])
    assert uln in page.text and "Sign out" in page.text
    audit = learner.get("/me/audit")
    assert "Test College" in audit.text or TEST_UKPRN in audit.text
    learner.post("/me/sharing", {"share": "no"})
    with db.reading() as session:
        stored = session.scalar(select(Learner.ability_to_share).where(Learner.uln == uln))
    assert stored == "2"
    # A learner cannot open provider pages.
    assert learner.get("/find").status_code == 403


def test_names_and_dates_never_in_urls_or_logs(server, registrar):
    client = signed_in(server, registrar)
    person = synthetic_person()
    client.get("/find")
    answer = client.post("/find", person)
    assert person["FamilyName"] not in answer.url
    log = server.log.read_text(errors="replace")
    assert person["FamilyName"] not in log and person["DateOfBirth"] not in log


def test_two_step_sign_in(server):
    pyotp = pytest.importorskip("pyotp")
    account = make_user(server, "viewer", TEST_UKPRN)
    client = signed_in(server, account)
    page = client.get("/account/two-factor")
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', page.text).group(1)
    wrong = client.post("/account/two-factor", {"secret": secret, "code": "000000"})
    assert wrong.status_code == 400
    totp = pyotp.TOTP(secret)
    assert (
        "is on" in client.post("/account/two-factor", {"secret": secret, "code": totp.now()}).text
    )
    fresh = PortalClient(portal_url(server))
    answer = fresh.sign_in(account.email)
    assert answer.url.endswith("/sign-in/code") and "Sign out" not in answer.text
    assert fresh.get("/find", allow_redirects=False).status_code == 302
    assert fresh.post("/sign-in/code", {"code": "123456"}).status_code == 400
    # The code of the next time step: the enrolment's own code is never accepted twice.
    later = totp.at(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30))
    assert "Sign out" in fresh.post("/sign-in/code", {"code": later}).text


def _enrol(client: PortalClient) -> None:
    pyotp = pytest.importorskip("pyotp")
    page = client.get("/account/two-factor")
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', page.text).group(1)
    done = client.post("/account/two-factor", {"secret": secret, "code": pyotp.TOTP(secret).now()})
    assert "is on" in done.text


def _asks_for_a_code(server: Server, email: str) -> bool:
    answer = PortalClient(portal_url(server)).sign_in(email)
    return answer.url.endswith("/sign-in/code")


def test_a_lost_authenticator_is_turned_off_by_an_administrator(server, db):
    account = make_user(server, "viewer", TEST_UKPRN)
    user = signed_in(server, account)
    _enrol(user)
    assert _asks_for_a_code(server, account.email)
    number = _account_id(db, account.email)

    # The provider's administrator turns it off: the user's sessions end, the password alone
    # signs in, and the change is audited.
    admin = signed_in(server, make_user(server, "admin", TEST_UKPRN))
    assert "Turn off two-step sign-in" in admin.get("/users").text
    admin.post("/users", {"action": "reset-two-step", "user_id": str(number)})
    assert "Sign out" not in user.get("/find").text
    assert not _asks_for_a_code(server, account.email)
    audited = _account_audit(db, f"portal user reset-two-step #{number}")
    assert audited == [("portal", TEST_UKPRN, "ORG", "OK", None)]

    # From the command line too; an account without it is refused with a message.
    _enrol(signed_in(server, account))
    reset = ["portal", "user", "reset-two-step", "--db", server.database_url]
    run_miap(*reset, "--email", account.email)
    assert not _asks_for_a_code(server, account.email)
    assert len(_account_audit(db, f"portal user reset-two-step #{number}")) == 2
    again = run_miap(*reset, "--email", account.email, check=False)
    assert again.returncode != 0 and "no two-step sign-in to turn off" in again.stderr


def test_an_idle_session_expires(server, db, registrar):
    client = signed_in(server, registrar)
    with db.transaction() as session:
        session.execute(
            update(PortalSession)
            .where(PortalSession.id_hash == digest(client.cookie))
            .values(last_seen_at=utcnow() - dt.timedelta(minutes=31))
        )
    assert client.get("/find", allow_redirects=False).status_code == 302


def test_sign_out_ends_the_session(server, registrar):
    client = signed_in(server, registrar)
    old = client.cookie
    client.post("/sign-out")
    replay = PortalClient(portal_url(server))
    replay.cookie = old
    assert replay.get("/find", allow_redirects=False).status_code == 302


def test_demo_accounts_sign_in(server, db, registrar):
    register(signed_in(server, registrar), synthetic_person())
    lines = demo.seed(db, TEST_UKPRN, "http://127.0.0.1:8000")
    assert lines == demo.seed(db, TEST_UKPRN, "http://127.0.0.1:8000")  # idempotent
    staff = PortalClient(portal_url(server))
    assert "Sign out" in staff.sign_in(demo.DEMO_EMAIL, demo.DEMO_STAFF_PASSWORD).text
    uln, born = re.search(r"ULN (\d{10}), date of birth (\S+),", lines[-1]).groups()
    learner = PortalClient(portal_url(server))
    assert uln in learner.learner_sign_in(uln, born, demo.DEMO_LEARNER_PASSWORD).text


def test_cli_refuses_bad_accounts(server):
    bad_role = run_miap(
        "portal",
        "user",
        "add",
        "--db",
        server.database_url,
        "--email",
        "x@example.org",
        "--role",
        "boss",
        "--ukprn",
        TEST_UKPRN,
        check=False,
    )
    assert bad_role.returncode == 2
    unknown = run_miap(
        "portal",
        "user",
        "add",
        "--db",
        server.database_url,
        "--email",
        "y@example.org",
        "--role",
        "viewer",
        "--ukprn",
        "10999999",
        check=False,
    )
    assert unknown.returncode == 2 and "not a registered provider" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_the_portal_root_and_static_files(server):
    client = PortalClient(portal_url(server))
    assert client.get("", allow_redirects=False).headers["Location"].endswith("/portal/sign-in")
    css = client.get("/static/govuk/govuk-frontend.min.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert "@font-face" not in css.text
    assert client.get("/static/../app.py").status_code == 404


def test_service_admin_merges_and_withdraws_with_reasons(server, db, registrar):
    provider = signed_in(server, registrar)
    master, duplicate, gone = (register(provider, synthetic_person()) for _ in range(3))
    admin = signed_in(server, make_user(server, "service-admin", None))
    page = admin.get("/admin")
    assert "Test College" in page.text
    merged = admin.post(
        "/admin",
        {"action": "merge", "master": master, "duplicate": duplicate, "reason": "same person"},
    )
    assert merged.status_code == 200 and f"ULN {duplicate} is merged" in merged.text
    no_reason = admin.post("/admin", {"action": "withdraw", "uln": gone, "reason": ""})
    assert no_reason.status_code == 400 and "reason is required" in no_reason.text
    admin.post("/admin", {"action": "withdraw", "uln": gone, "reason": "issued in error"})
    with db.reading() as session:
        rows = dict(
            session.execute(
                select(Learner.uln, Learner.merged_into_id.is_not(None)).where(
                    Learner.uln.in_([duplicate])
                )
            ).all()
        )
        withdrawn = session.scalar(select(Learner.deleted_at).where(Learner.uln == gone))
    assert rows[duplicate] and withdrawn is not None
    # A provider user may not open the administrator's page.
    assert provider.get("/admin").status_code == 403
    # The analysts' tables: counts under disclosure control, and nothing about a person.
    table = admin.get("/admin/analysis?query=learners")
    assert table.status_code == 200 and "Learners by age band" in table.text
    assert master not in table.text and duplicate not in table.text
    assert admin.get("/admin/analysis?query=nothing").status_code == 404
    assert provider.get("/admin/analysis").status_code == 403


def test_service_admin_deactivates_a_provider_refused_at_once_on_the_soap_route(server):
    ukprn, password = "10000006", "PortalClosePass1"
    run_miap(
        "provider", "add", "--db", server.database_url, "--ukprn", ukprn,
        "--name", "Portal Closed College", "--org-password", password,
    )  # fmt: skip
    assert post(server.url, find(ukprn, password)).status == 200
    staff = signed_in(server, make_user(server, "registrar", ukprn))
    assert staff.get("/find").status_code == 200
    admin = signed_in(server, make_user(server, "service-admin", None))
    changed = admin.post("/admin", {"action": "status", "ukprn": ukprn, "status": "PD1"})
    assert changed.status_code == 200 and f"Provider {ukprn} now has status PD1" in changed.text
    assert post(server.url, find(ukprn, password)).fault_code == "WSEC0802"
    # Its portal users too, on their very next page.
    assert staff.get("/find").status_code == 403
    unknown = admin.post("/admin", {"action": "status", "ukprn": "19999998", "status": "PD1"})
    assert unknown.status_code == 400 and "no provider" in unknown.text


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def test_migration_0012_downgrades_and_upgrades(backend, tmp_path):
    from alembic import command

    from miap.storage.migrations import alembic_config, upgrade

    with ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'down.db'}"
        else:
            try:
                url = stack.enter_context(postgres_database(POSTGRES_ADMIN_URL, "miap_portal"))
            except Exception as error:  # noqa: BLE001 - psycopg2's OperationalError
                pytest.skip(f"PostgreSQL not reachable: {error}")
        upgrade(url)
        command.downgrade(alembic_config(url), "0011")
        upgrade(url)
        with Database(url).engine.connect() as connection:
            grants = connection.exec_driver_sql(
                "SELECT count(*) FROM access_grants WHERE user_type = 'LNR' AND ukprn = '10000000'"
            ).scalar()
        assert grants == 1
