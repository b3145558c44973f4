"""The access policy, end to end over HTTP: every (caller type x action x relation to the
learner) on every route, with the answer expected, and every answer audited with its code.

Callers: REGISTRAR registered both learners; SCHOOL returned ``mine`` in the school census (its
UKRLP entry is DfE-verified with the census LAESTAB); REPORTER returned an event of ``mine``;
AWARDER (granted AO) awarded one; STRANGER has no relation; PORTAL is granted LNR (its user name
is the learner's ULN); ANALYST claims SER. ``mine`` has events, ``other`` has none from these.
"""

from __future__ import annotations

from types import SimpleNamespace
from xml.sax.saxutils import escape

import pytest
import requests
from lxml import etree
from sqlalchemy import select

from miap.server.namespaces import BATCHMSG, FINDMSG, LEARNER, REGMSG, REPORTMSG
from miap.server.soap import contract
from miap.storage.models import AuditEntry, Learner
from tests.support import SoapReply, assert_held_to_contract, envelope
from tests.support_plr import (
    ANALYST,
    AWARDER,
    PORTAL,
    REGISTRAR,
    REPORTER,
    SCHOOL,
    STRANGER,
    Org,
    add_event,
    enrol_at_school,
    ensure_organisations,
    learner_record_payload,
    learning_events,
    plr_body,
    plr_post,
    register,
)

ORGS = {
    "registrar": REGISTRAR,
    "reporter": REPORTER,
    "awarder": AWARDER,
    "stranger": STRANGER,
    "portal": PORTAL,
    "analyst": ANALYST,
    "school": SCHOOL,
}


@pytest.fixture(scope="module")
def world(db, server):
    ensure_organisations(db)
    mine, other = register(db), register(db)
    add_event(db, mine.uln, REPORTER.ukprn)
    add_event(db, mine.uln, AWARDER.ukprn, source="AO", awarding=AWARDER.ukprn)
    enrol_at_school(db, mine.uln)
    return SimpleNamespace(db=db, url=server.url, learners={"mine": mine, "other": other})


def _version(db, uln: str) -> str:
    with db.reading() as session:
        return str(session.scalar(select(Learner.version).where(Learner.uln == uln)))


def _username(who: str, world, person) -> str:
    """``own``: the learner's ULN; ``theirs``: the other learner's; else a staff name."""
    if who == "own":
        return person.uln
    if who == "theirs":
        return next(p.uln for p in world.learners.values() if p is not person)
    return "staff"


# -- one function per route and operation: (world, org, user type, user name, person) -> reply


def _plr(world, operation: str, params, org: Org, user_type: str, username: str):
    vendor = "vendorID" if operation == "GetLearnerLearningEvents" else "vendorId"
    body = plr_body(operation, params, org, user_type, username, vendor)
    reply = plr_post(world.url, operation, body)
    code = reply.fault_code or reply.result.findtext(
        "{http://api.lrs.qcf.gov.uk/model}ResponseCode"
    )
    return code or "OK", reply.request_id, "PLR"


def plr_events(world, org, user_type, username, person, full=True):
    reply = learning_events(world.url, person, org, user_type, username, full_demographics=full)
    code = reply.fault_code or reply.model("ResponseCode")
    return code, reply.request_id, "PLR"


def plr_events_names_only(world, org, user_type, username, person):
    return plr_events(world, org, user_type, username, person, full=False)


def plr_learner(world, org, user_type, username, person):
    params = [
        ("uln", person.uln),
        ("givenName", person.given),
        ("familyName", person.family),
        ("findType", "FUL"),
    ]
    return _plr(world, "LearnerByUln", params, org, user_type, username)


def plr_subset(world, org, user_type, username, person):
    params = [
        ("uln", person.uln),
        ("versionNumber", _version(world.db, person.uln)),
        ("emailAddress", "learner@example.org"),
        ("abilityToShare", "1"),
    ]
    return _plr(world, "UpdateLearnerSubsetFields", params, org, user_type, username)


def plr_audit(world, org, user_type, username, person):
    params = [
        ("learnerUln", person.uln),
        ("learnerGivenName", person.given),
        ("learnerFamilyName", person.family),
        ("page", "1"),
    ]
    return _plr(world, "ViewAudit", params, org, user_type, username)


def plr_organisation(world, org, user_type, username, person):
    return _plr(world, "GetOrganisation", [("ukPrn", REPORTER.ukprn)], org, user_type, username)


def _header(org: Org, username: str = "staff") -> str:
    return (
        f"<UKPRN>{org.ukprn}</UKPRN><OrgPassword>{escape(org.password)}</OrgPassword>"
        f"<UserName>{username}</UserName>"
    )


def _soap(world, payload: str):
    """Post to the LearnerService (the reply held to the XSDs); its code and request id."""
    response = requests.post(
        world.url,
        data=envelope(payload),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        timeout=30,
    )
    reply = SoapReply(response.status_code, etree.fromstring(response.content), response.content)
    assert_held_to_contract(reply)
    code = reply.fault_code or reply.text("ResponseCode")
    return code, response.headers["X-Request-Id"], "LearnerService"


def ls_find(world, org, user_type, username, person):
    return _soap(
        world,
        f'<f:FindLearnerByULN xmlns:f="{FINDMSG}"><FindType>FUL</FindType>{_header(org)}'
        f"<ULN>{person.uln}</ULN><FamilyName>{person.family}</FamilyName>"
        f"<GivenName>{person.given}</GivenName></f:FindLearnerByULN>",
    )


def ls_update(world, org, user_type, username, person):
    values = {
        "GivenName": person.given,
        "FamilyName": person.family,
        "LastKnownPostCode": person.postcode,
        "DateOfBirth": person.dob,
        "Gender": person.gender,
        "VerificationType": "1",
        "AbilityToShare": "1",
        "ULN": person.uln,
        "VersionNumber": _version(world.db, person.uln),
    }
    learner = "".join(
        f"<{c.name}>{escape(values[c.name])}</{c.name}>"
        for c in contract.sequence(LEARNER, "LearnerToUpdate")
        if c.name in values
    )
    return _soap(
        world,
        f'<r:UpdateLearner xmlns:r="{REGMSG}">{_header(org)}<Learner>{learner}</Learner>'
        f"</r:UpdateLearner>",
    )


def ls_record(world, org, user_type, username, person):
    return _soap(world, learner_record_payload(person, org, user_type, username))


def ls_report(world, org, user_type, username, person):
    return _soap(
        world,
        f'<r:GetDeletedULNs xmlns:r="{REPORTMSG}">{_header(org)}<FromDate>2099-01-01</FromDate>'
        f"</r:GetDeletedULNs>",
    )


def ls_batch(world, org, user_type, username, person):
    learner = (
        f"<Learner><GivenName>{person.given}</GivenName><FamilyName>{person.family}</FamilyName>"
        f"<LastKnownPostCode>{person.postcode}</LastKnownPostCode>"
        f"<DateOfBirth>{person.dob}</DateOfBirth><Gender>{person.gender}</Gender></Learner>"
    )
    return _soap(
        world,
        f'<b:SubmitBatch xmlns:b="{BATCHMSG}">{_header(org)}<JobType>CHK</JobType>'
        f"<LearnerRecordCount>1</LearnerRecordCount>{learner}</b:SubmitBatch>",
    )


def ls_batch_output(world, org, user_type, username, person):
    return _soap(
        world,
        f'<b:GetSubmitBatchOutput xmlns:b="{BATCHMSG}">{_header(org)}<JobID>987654321</JobID>'
        f"</b:GetSubmitBatchOutput>",
    )


# (caller, claimed user type, user name, operation, learner, expected answer)
TABLE = [
    # PLR GetLearnerLearningEvents, names only (no identification by demographics)
    ("registrar", "ORG", "staff", plr_events_names_only, "mine", "WSRC0004"),
    ("reporter", "ORG", "staff", plr_events_names_only, "mine", "WSRC0004"),
    ("reporter", "ORG", "staff", plr_events_names_only, "other", "WSEC0812"),
    ("stranger", "ORG", "staff", plr_events_names_only, "mine", "WSEC0812"),
    ("school", "ORG", "staff", plr_events_names_only, "mine", "WSRC0004"),
    ("school", "ORG", "staff", plr_events_names_only, "other", "WSEC0812"),
    ("awarder", "ORG", "staff", plr_events_names_only, "mine", "WSRC0004"),
    ("awarder", "ORG", "staff", plr_events_names_only, "other", "WSEC0812"),
    # ... with full demographics: any provider identifies the learner, an AO still does not
    ("stranger", "ORG", "staff", plr_events, "mine", "WSRC0004"),
    ("awarder", "ORG", "staff", plr_events, "other", "WSEC0812"),
    ("portal", "LNR", "own", plr_events, "mine", "WSRC0004"),
    ("portal", "LNR", "theirs", plr_events, "mine", "WSEC0811"),
    ("registrar", "LNR", "own", plr_events, "mine", "WSEC0814"),
    ("analyst", "SER", "staff", plr_events, "mine", "WSEC0813"),
    ("portal", "SER", "staff", plr_events, "mine", "WSEC0813"),
    # PLR LearnerByUln
    ("registrar", "ORG", "staff", plr_learner, "mine", "WSRC0004"),
    ("reporter", "ORG", "staff", plr_learner, "mine", "WSRC0004"),
    ("stranger", "ORG", "staff", plr_learner, "mine", "WSEC0812"),
    ("school", "ORG", "staff", plr_learner, "mine", "WSRC0004"),
    ("awarder", "ORG", "staff", plr_learner, "mine", "WSEC0815"),
    ("portal", "LNR", "own", plr_learner, "other", "WSRC0004"),
    ("portal", "LNR", "theirs", plr_learner, "other", "WSEC0811"),
    ("analyst", "SER", "staff", plr_learner, "mine", "WSEC0813"),
    # PLR UpdateLearnerSubsetFields
    ("portal", "LNR", "own", plr_subset, "mine", "WSRC0006"),
    ("portal", "LNR", "theirs", plr_subset, "mine", "WSEC0811"),
    ("registrar", "ORG", "staff", plr_subset, "other", "WSRC0006"),
    ("stranger", "ORG", "staff", plr_subset, "mine", "WSEC0812"),
    ("awarder", "ORG", "staff", plr_subset, "mine", "WSEC0815"),
    ("analyst", "SER", "staff", plr_subset, "mine", "WSEC0813"),
    # PLR ViewAudit: the learner's own
    ("portal", "LNR", "own", plr_audit, "mine", "OK"),
    ("portal", "LNR", "theirs", plr_audit, "mine", "WSEC0811"),
    ("registrar", "ORG", "staff", plr_audit, "mine", "WSEC0815"),
    ("analyst", "SER", "staff", plr_audit, "mine", "WSEC0813"),
    # PLR GetOrganisation: no learner data, anyone authenticated
    ("analyst", "SER", "staff", plr_organisation, "mine", "WSRC0004"),
    ("stranger", "ORG", "staff", plr_organisation, "mine", "WSRC0004"),
    ("portal", "LNR", "own", plr_organisation, "mine", "WSRC0004"),
    # LearnerService: what the LRS lets any provider do; an AO only finds
    ("stranger", "ORG", "staff", ls_find, "mine", "WSRC0004"),
    ("awarder", "ORG", "staff", ls_find, "mine", "WSRC0004"),
    ("stranger", "ORG", "staff", ls_update, "other", "WSRC0006"),
    ("awarder", "ORG", "staff", ls_update, "other", "WSEC0815"),
    ("registrar", "ORG", "staff", ls_report, "mine", "WSRC0001"),
    ("awarder", "ORG", "staff", ls_report, "mine", "WSEC0815"),
    ("registrar", "ORG", "staff", ls_batch_output, "mine", "WSEC1002"),
    ("awarder", "ORG", "staff", ls_batch_output, "mine", "WSEC0815"),
    ("awarder", "ORG", "staff", ls_batch, "mine", "WSEC0815"),
    ("registrar", "ORG", "staff", ls_batch, "other", "WSRC0030"),
    # LearnerService getLearnerRecord (always full demographics)
    ("registrar", "ORG", "staff", ls_record, "mine", "WSRC0004"),
    ("stranger", "ORG", "staff", ls_record, "mine", "WSRC0004"),
    ("awarder", "ORG", "staff", ls_record, "mine", "WSRC0004"),
    ("awarder", "ORG", "staff", ls_record, "other", "WSEC0812"),
    ("portal", "LNR", "own", ls_record, "mine", "WSRC0004"),
    ("portal", "LNR", "theirs", ls_record, "mine", "WSEC0811"),
    ("registrar", "LNR", "own", ls_record, "mine", "WSEC0814"),
    ("analyst", "SER", "staff", ls_record, "mine", "WSEC0813"),
]


@pytest.mark.parametrize(
    ("caller", "user_type", "who", "operation", "learner", "expected"),
    TABLE,
    ids=[f"{c}-{t}-{w}-{op.__name__}-{lr}" for c, t, w, op, lr, _ in TABLE],
)
def test_access_table(world, caller, user_type, who, operation, learner, expected):
    person = world.learners[learner]
    org = ORGS[caller]
    answer, request_id, route = operation(
        world, org, user_type, _username(who, world, person), person
    )
    assert answer == expected
    # Every answer, refusals included, is audited with its code, the caller and the route.
    with world.db.reading() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.request_id == request_id)).all()
        shape = {(r.outcome, r.ukprn, r.route) for r in rows}
        ulns = {r.uln for r in rows}
    assert shape == {(answer, org.ukprn, route)}
    if expected.startswith("WSEC081") and operation not in (ls_report, ls_batch, ls_batch_output):
        assert person.uln in ulns
