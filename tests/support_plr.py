"""Helpers for the PLR, access and audit tests: the organisations and learners they share,
learning events inserted through the records model, and raw PLR / getLearnerRecord messages
posted over HTTP and held to the XSDs by xmlschema."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from dataclasses import dataclass
from xml.sax.saxutils import escape

import requests
from lxml import etree
from sqlalchemy import select

from miap.server.access import grants
from miap.server.access.policy import SCHOOL_AUTHORITY
from miap.server.matching.engine import ScoringMatcher
from miap.server.namespaces import (
    LEARNERREC,
    PLR_FAULTS,
    PLR_INTERFACE,
    PLR_MODEL,
    SOAP_ENV,
    TEMPURI,
)
from miap.server.register import learners, merging
from miap.server.register.providers import add_provider
from miap.storage.engine import Database
from miap.storage.models import CensusPupil, Learner, Provider
from miap.storage.records import LearningEvent
from miap.storage.ukrlp import ProviderVerification
from tests.conftest import TEST_PASSWORD, TEST_UKPRN
from tests.support import assert_valid, envelope, synthetic_person

PLR_PATH = "/LearnerServiceR9.svc"
M = f"{{{PLR_MODEL}}}"
T = f"{{{TEMPURI}}}"


@dataclass(frozen=True)
class Org:
    ukprn: str
    password: str
    name: str


#: The organisations of the access table (TEST_UKPRN is conftest's provider).
REGISTRAR = Org(TEST_UKPRN, TEST_PASSWORD, "Test College")
STRANGER = Org("10000121", "StrangerPass0001", "Unrelated College")
REPORTER = Org("10000122", "ReporterPass0001", "Reporting College")
AWARDER = Org("10000123", "AwarderPass00001", "Awarding Body")
PORTAL = Org("10000124", "PortalPass000001", "Learner Portal")
ANALYST = Org("10000125", "AnalystPass00001", "Analysis Service")
SCHOOL = Org("10000126", "SchoolPass000001", "Test Academy")
ORGS = (STRANGER, REPORTER, AWARDER, PORTAL, ANALYST, SCHOOL)
#: The school's LAESTAB: its UKRLP entry is verified by DfE with it.
SCHOOL_LAESTAB = "9991234"


def ensure_organisations(db: Database) -> None:
    """Add the test organisations and their grants once per database (idempotent)."""
    with db.transaction() as session:
        for org in ORGS:
            if session.scalar(select(Provider.id).where(Provider.ukprn == org.ukprn)) is None:
                add_provider(session, org.ukprn, org.name, org.password)
        grants.grant(session, AWARDER.ukprn, "AO", "tests")
        grants.grant(session, PORTAL.ukprn, "LNR", "tests")
        known = select(ProviderVerification.id).where(ProviderVerification.ukprn == SCHOOL.ukprn)
        if session.scalar(known) is None:
            session.add(
                ProviderVerification(
                    ukprn=SCHOOL.ukprn,
                    authority=SCHOOL_AUTHORITY,
                    verification_id=SCHOOL_LAESTAB,
                )
            )


def enrol_at_school(db: Database, uln: str) -> None:
    """Link the learner to SCHOOL as the school census does (a UPN of that LAESTAB)."""
    with db.transaction() as session:
        learner_id = session.scalar(select(Learner.id).where(Learner.uln == uln))
        session.add(
            CensusPupil(
                upn=f"A{uln}{next(_serial):02d}"[:13],
                learner_id=learner_id,
                laestab=SCHOOL_LAESTAB,
                academic_year="2025/2026",
                first_run_id=0,
                last_run_id=0,
            )
        )


@dataclass
class Person:
    uln: str
    given: str
    family: str
    dob: str
    gender: str
    postcode: str


def register(db: Database, ukprn: str = TEST_UKPRN, ability_to_share: str = "1") -> Person:
    details = synthetic_person()
    with db.transaction() as session:
        _, uln = learners.register(
            session,
            ScoringMatcher(),
            {
                "given_name": details["GivenName"],
                "family_name": details["FamilyName"],
                "date_of_birth": dt.date.fromisoformat(details["DateOfBirth"]),
                "gender": details["Gender"],
                "postcode": details["LastKnownPostCode"],
                "verification_type": "1",
                "ability_to_share": ability_to_share,
            },
            ukprn,
        )
    assert uln
    return Person(
        uln,
        details["GivenName"],
        details["FamilyName"],
        details["DateOfBirth"],
        details["Gender"],
        details["LastKnownPostCode"],
    )


def merge(db: Database, master: str, duplicate: str) -> None:
    with db.transaction() as session:
        merging.merge(session, master, duplicate, "tests")


_serial = itertools.count(1)


def add_event(
    db: Database,
    uln: str,
    provider: str,
    *,
    source: str = "ILR",
    awarding: str | None = None,
    restriction: str | None = None,
    subject: str = "Mathematics",
    **extra: object,
) -> int:
    """One learning event, inserted through the records helper's model."""
    number = next(_serial)
    key = f"{uln}-{number}-{dt.datetime.now().timestamp()}"
    event = LearningEvent(
        uln=uln,
        source=source,
        provider_ukprn=provider,
        collection="2526",
        source_event_id=key,
        return_key="2526-01",
        digest=hashlib.md5(key.encode()).hexdigest(),  # noqa: S324 - a test key, not security
        awarding_organisation_ukprn=awarding,
        achievement_provider_ukprn=provider,
        restriction=restriction,
        subject=subject,
        subject_code=f"S{number:05d}",
        qualification_type="GCSE",
        level=extra.pop("level", "2"),
        grade="B",
        credits=12,
        collection_type="A",
        participation_start_date=dt.date(2020, 9, 1) + dt.timedelta(days=number % 300),
        participation_end_date=dt.date(2021, 7, 1),
        achievement_award_date=dt.date(2021, 8, 20),
        under_data_challenge="N",
        return_number="01",
        status="Achieved",
        **extra,
    )
    with db.transaction() as session:
        session.add(event)
        session.flush()
        return event.id


# -- PLR messages -----------------------------------------------------------------------------


def plr_url(service_url: str) -> str:
    return service_url.replace("/LearnerService.svc", PLR_PATH)


def plr_body(
    operation: str,
    params: list[tuple[str, str | None]],
    org: Org = REGISTRAR,
    user_type: str = "ORG",
    username: str = "tester",
    vendor: str = "vendorId",
) -> bytes:
    """A PLR request as a .NET client sends it; a None parameter is sent nil."""
    children = "".join(
        f'<t:{name} i:nil="true"/>' if value is None else f"<t:{name}>{escape(value)}</t:{name}>"
        for name, value in params
    )
    payload = (
        f'<t:{operation} xmlns:t="{TEMPURI}" xmlns:a="{PLR_INTERFACE}" '
        f'xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
        f"<t:invokingOrganisation><a:Password>{escape(org.password)}</a:Password>"
        f"<a:Ukprn>{org.ukprn}</a:Ukprn><a:Username>{escape(username)}</a:Username>"
        f"</t:invokingOrganisation><t:userType>{user_type}</t:userType>"
        f"<t:{vendor}>1</t:{vendor}><t:language>ENG</t:language>{children}</t:{operation}>"
    )
    return envelope(payload)


@dataclass
class PlrReply:
    status: int
    root: etree._Element
    request_id: str = ""

    @property
    def result(self) -> etree._Element:
        return self.root.find(f"{{{SOAP_ENV}}}Body")[0][0]

    @property
    def fault_code(self) -> str | None:
        return self.root.findtext(f".//{{{PLR_FAULTS}}}DomainFault/{{{PLR_FAULTS}}}ErrorCode")

    def model(self, name: str) -> str | None:
        return self.result.findtext(M + name)


def plr_post(service_url: str, operation: str, body: bytes) -> PlrReply:
    response = requests.post(
        plr_url(service_url),
        data=body,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"http://tempuri.org/ILearnerServiceR9/{operation}"',
        },
        timeout=30,
    )
    root = etree.fromstring(response.content)
    body_element = root.find(f"{{{SOAP_ENV}}}Body")[0]
    if body_element.tag == f"{{{SOAP_ENV}}}Fault":
        assert response.status_code in (400, 404, 405, 413, 500), response.status_code
        assert_valid(body_element.find("detail")[0])
    else:
        assert response.status_code == 200
        assert_valid(body_element)
    return PlrReply(response.status_code, root, response.headers.get("X-Request-Id", ""))


def learning_events(
    url: str,
    person: Person,
    org: Org = REGISTRAR,
    user_type: str = "ORG",
    username: str = "tester",
    *,
    full_demographics: bool = True,
    get_type: str = "FULL",
    uln: str | None = None,
    given: str | None = None,
) -> PlrReply:
    params = [
        ("uln", uln or person.uln),
        ("givenName", given or person.given),
        ("familyName", person.family),
        ("dateOfBirth", person.dob if full_demographics else ""),
        ("gender", person.gender if full_demographics else ""),
        ("getType", get_type),
    ]
    body = plr_body("GetLearnerLearningEvents", params, org, user_type, username, "vendorID")
    return plr_post(url, "GetLearnerLearningEvents", body)


def events_in(reply: PlrReply) -> list[etree._Element]:
    return reply.result.findall(f"{M}LearnerRecord/{M}LearningEvent")


def learner_record_payload(
    person: Person, org: Org = REGISTRAR, user_type: str = "ORG", username: str = "tester"
) -> str:
    """A getLearnerRecord request body (without the envelope)."""
    return (
        f'<r:GetLearnerRecord xmlns:r="{LEARNERREC}"><UKPRN>{org.ukprn}</UKPRN>'
        f"<OrgPassword>{escape(org.password)}</OrgPassword><UserName>{username}</UserName>"
        f"<UserType>{user_type}</UserType><LNRContactType>WEB</LNRContactType>"
        f"<ULN>{person.uln}</ULN><FamilyName>{person.family}</FamilyName>"
        f"<GivenName>{person.given}</GivenName><DateOfBirth>{person.dob}</DateOfBirth>"
        f"<Gender>{person.gender}</Gender><LastKnownPostCode>{person.postcode}</LastKnownPostCode>"
        f"</r:GetLearnerRecord>"
    )
