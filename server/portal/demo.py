"""Demo accounts for ``miap demo``: a provider user of the demo provider and a learner account
for the first demo learner, each with a known password, and the lines that say how to sign in.
Synthetic people only; the passwords are the demo's, printed like the demo's OrgPassword."""

from __future__ import annotations

from sqlalchemy import select

from miap.server.portal import accounts, web
from miap.server.register.auth import hash_password
from miap.storage.engine import Database
from miap.storage.models import Learner
from miap.storage.portal import LEARNER, PROVIDER, PortalUser

DEMO_EMAIL = "demo.registrar@example.org"
DEMO_STAFF_PASSWORD = "DemoPortal-0001"  # noqa: S105 - the demo's, printed
DEMO_LEARNER_PASSWORD = "DemoLearner-0001"  # noqa: S105 - the demo's, printed


def seed(db: Database, ukprn: str, base_url: str) -> list[str]:
    """Add (once) a registrar of ``ukprn`` and an account for its first learner; the lines to
    print. ``base_url`` is the server's address (``http://127.0.0.1:8000``)."""
    with db.transaction() as session:
        staff = session.scalars(select(PortalUser).where(PortalUser.email == DEMO_EMAIL)).first()
        if staff is None:
            staff, _code = accounts.add_staff(session, DEMO_EMAIL, "registrar", ukprn, "demo")
            staff.password_hash = hash_password(DEMO_STAFF_PASSWORD)
            staff.activation_hash = None
        learner = session.scalars(
            select(Learner)
            .where(Learner.registered_by_ukprn == ukprn, Learner.deleted_at.is_(None))
            .order_by(Learner.id)
            .limit(1)
        ).first()
        lines = [
            f"Portal: {base_url}{web.PREFIX}/",
            f"  provider user: {DEMO_EMAIL} / {DEMO_STAFF_PASSWORD} (registrar, UKPRN {ukprn})",
        ]
        if learner is not None:
            account = session.scalars(
                select(PortalUser).where(PortalUser.uln == learner.uln)
            ).first()
            if account is None:
                accounts.issue_learner_code(session, learner.uln, "demo")
                account = session.scalars(
                    select(PortalUser).where(PortalUser.uln == learner.uln)
                ).first()
                account.password_hash = hash_password(DEMO_LEARNER_PASSWORD)
                account.activation_hash = None
                account.activation_expires_at = None
            assert account.kind == LEARNER and staff.kind == PROVIDER
            lines.append(
                f"  learner ({base_url}{web.PREFIX}/learner/sign-in): ULN {learner.uln}, "
                f"date of birth {learner.date_of_birth}, password {DEMO_LEARNER_PASSWORD}"
            )
    return lines
