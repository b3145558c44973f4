"""Merged and withdrawn ULNs: the admin CLI, and how every operation answers for them."""

from __future__ import annotations

import datetime as dt
import getpass
import io
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

import pytest
from lxml import etree
from sqlalchemy import select

from miap.server import exceptions
from miap.server.admin import cli
from miap.server.namespaces import FINDMSG, LEARNER, REGMSG, REPORTMSG
from miap.server.outcomes import Outcome as Answer
from miap.server.register import learners, merging
from miap.server.register.identifiers import random_uln
from miap.server.soap import faults as errors
from miap.storage.engine import Database
from miap.storage.models import AuditEntry, Learner, LearnerLink
from tests.support import SoapReply, envelope, post, run_miap, synthetic_name, synthetic_person
from tests.test_raw_xml import HEADER, demographics_xml, register_xml

POSTCODES = ("LS1 4AP", "M1 1AE", "B2 4QA", "CV1 2GT")


# -- helpers (shared with test_reports) -------------------------------------------------------


def register(server, person: dict) -> str:
    reply = post(server.url, register_xml(person))
    assert reply.text("ResponseCode") == "WSRC0005", reply.raw
    return reply.text("ULN")


def twins(server) -> tuple[dict, str, str]:
    """A person registered twice (the second time from another postcode): master, duplicate."""
    person = synthetic_person(LastKnownPostCode=POSTCODES[0])
    master = register(server, person)
    duplicate = register(server, {**person, "LastKnownPostCode": POSTCODES[1]})
    return person, master, duplicate


def admin_name() -> str:
    return f"admin.{synthetic_name().lower()}"


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def admin(server, action: str, *args: str, by: str = "admin.tester", check: bool = True):
    """``miap learner ACTION ... --by BY`` against the server's database, in this process."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["learner", action, "--db", server.database_url, *args, "--by", by])
    outcome = Outcome(code, out.getvalue(), err.getvalue())
    assert not check or code == 0, outcome.stderr
    return outcome


def find_by_uln(server, uln: str, person: dict) -> SoapReply:
    return post(
        server.url,
        envelope(
            f"""<fin:FindLearnerByULN xmlns:fin="{FINDMSG}"><FindType>FUL</FindType>{HEADER}
            <ULN>{uln}</ULN><FamilyName>{person["FamilyName"]}</FamilyName>
            <GivenName>{person["GivenName"]}</GivenName></fin:FindLearnerByULN>"""
        ),
    )


def verify(server, uln: str, given: str, family: str, dob: str = "", gender: str = ""):
    body = envelope(
        f"""<rep:VerifyLearner xmlns:rep="{REPORTMSG}">{HEADER}<LearnerToVerify>
        <ULN>{uln}</ULN><FamilyName>{family}</FamilyName><GivenName>{given}</GivenName>
        <DateOfBirth>{dob}</DateOfBirth><Gender>{gender}</Gender>
        </LearnerToVerify></rep:VerifyLearner>"""
    )
    return post(server.url, body).payload.find("VerifiedLearner")


def retrieve(server, *ulns: str) -> list[etree._Element]:
    items = "".join(f"<ULN>{uln}</ULN>" for uln in ulns)
    body = envelope(
        f"""<rep:RetrieveULNs xmlns:rep="{REPORTMSG}">{HEADER}
        <ULNsToRetrieve>{items}</ULNsToRetrieve></rep:RetrieveULNs>"""
    )
    return post(server.url, body).payload.findall("RetrievedULNs/VerifiedULN")


def update(server, person: dict, uln: str) -> SoapReply:
    learner_xml = register_xml(person).decode()
    inner = learner_xml[learner_xml.index("<Learner>") + 9 : learner_xml.index("</Learner>")]
    return post(
        server.url,
        envelope(
            f"""<reg:UpdateLearner xmlns:reg="{REGMSG}">{HEADER}<Learner>{inner}
            <ULN>{uln}</ULN><VersionNumber>1</VersionNumber></Learner>
            </reg:UpdateLearner>"""
        ),
    )


def linked(learner: etree._Element) -> list[str] | None:
    """The LinkedULNs of a Learner element (qualified, as the contract says); None if absent."""
    element = learner.find(f"{{{LEARNER}}}LinkedULNs")
    if element is None:
        assert learner.find("LinkedULNs") is None
        return None
    assert all(child.tag == f"{{{LEARNER}}}ULN" for child in element)
    return [child.text for child in element]


def audit_rows(db: Database, by: str) -> list[tuple]:
    with db.transaction() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.user_name == by).order_by(AuditEntry.id)
        )
        return [(row.operation, row.ukprn, row.uln, row.outcome) for row in rows]


# -- merge and unmerge over the wire ----------------------------------------------------------


def test_merge_cycle_over_the_wire(server):
    person, master, duplicate = twins(server)
    admin(server, "merge", master, duplicate, "--reason", "registered twice")

    reply = find_by_uln(server, duplicate, person)
    assert reply.text("ResponseCode") == "WSRC0022"
    assert reply.text("ULN") == duplicate  # the echo of the search
    [learner] = reply.payload.findall("Learner")
    assert learner.findtext("ULN") == master
    assert learner.findtext("MasterSubstituted") == "Y"
    assert linked(learner) == [duplicate]
    tags = [child.tag for child in learner]
    assert tags[2:4] == ["ULN", "MasterSubstituted"]
    assert tags[-3:] == ["LearnerStatus", f"{{{LEARNER}}}LinkedULNs", "VersionNumber"]
    assert b"<l:LinkedULNs" in reply.raw and b"<l:ULN>" in reply.raw

    own = find_by_uln(server, master, person)
    assert own.text("ResponseCode") == "WSRC0004"
    [learner] = own.payload.findall("Learner")
    assert learner.find("MasterSubstituted") is None
    assert linked(learner) == [duplicate]
    # The master's own fields did not change, so a MIS holding its VersionNumber can update.
    assert learner.findtext("VersionNumber") == "1"

    admin(server, "unmerge", master, duplicate)
    for uln in (master, duplicate):
        reply = find_by_uln(server, uln, person)
        assert reply.text("ResponseCode") == "WSRC0004"
        [learner] = reply.payload.findall("Learner")
        assert learner.findtext("ULN") == uln
        assert learner.find("MasterSubstituted") is None and linked(learner) is None
        assert b"LinkedULNs" not in reply.raw


def test_linked_ulns_list_every_duplicate_of_the_master(server):
    person, master, first = twins(server)
    second = register(server, {**person, "LastKnownPostCode": POSTCODES[2]})
    admin(server, "merge", master, first)
    admin(server, "merge", master, second)
    reply = find_by_uln(server, second, person)
    assert reply.text("ResponseCode") == "WSRC0022"
    assert linked(reply.payload.find("Learner")) == sorted([first, second])


def test_find_by_uln_of_a_duplicate_checks_the_masters_names(server):
    person = synthetic_person(LastKnownPostCode=POSTCODES[0])
    master = register(server, person)
    other = synthetic_person(LastKnownPostCode=POSTCODES[1])
    duplicate = register(server, other)
    admin(server, "merge", master, duplicate)
    assert find_by_uln(server, duplicate, other).text("ResponseCode") == "WSRC0001"
    assert find_by_uln(server, duplicate, person).text("ResponseCode") == "WSRC0022"


def test_find_by_demographics_shows_the_masters_linked_ulns(server):
    person, master, duplicate = twins(server)
    admin(server, "merge", master, duplicate)
    reply = post(server.url, demographics_xml(person))
    assert reply.text("ResponseCode") == "WSRC0004"
    [learner] = reply.payload.findall("Learner")
    assert learner.findtext("ULN") == master
    assert learner.find("MasterSubstituted") is None
    assert linked(learner) == [duplicate]


def test_verify_on_a_linked_uln_compares_with_the_master(server):
    person, master, duplicate = twins(server)
    admin(server, "merge", master, duplicate)
    given, family = person["GivenName"], person["FamilyName"]
    full = verify(server, duplicate, given, family, person["DateOfBirth"], person["Gender"])
    assert full.findtext("ResponseCode") == "WSVRC002"
    assert (full.findtext("SearchedULN"), full.findtext("ULN")) == (duplicate, master)
    assert full.find("FailureFlag") is None
    swapped = verify(server, duplicate, family, given)
    assert swapped.findtext("ResponseCode") == "WSVRC004"
    assert swapped.findtext("ULN") == master
    assert [flag.text for flag in swapped.findall("FailureFlag")] == ["VRF1", "VRF5"]
    wrong = verify(server, duplicate, "Someone", "Otherperson")
    assert wrong.findtext("ResponseCode") == "WSVRC005"
    assert wrong.find("ULN") is None  # nothing disclosed
    assert verify(server, master, given, family).findtext("ResponseCode") == "WSVRC001"


def test_retrieve_gives_the_master_of_a_merged_uln(server):
    person, master, duplicate = twins(server)
    withdrawn = register(server, synthetic_person())
    admin(server, "merge", master, duplicate)
    admin(server, "delete", withdrawn, "--reason", "issued in error")
    merged, own, gone = retrieve(server, duplicate, master, withdrawn)
    assert [child.tag for child in merged] == [
        "ULN",
        "MasterULN",
        "ResponseCode",
        "FamilyName",
        "GivenName",
        "DateOfBirth",
        "Gender",
    ]
    assert (merged.findtext("ULN"), merged.findtext("MasterULN")) == (duplicate, master)
    assert merged.findtext("ResponseCode") == "WSRC0022"
    assert merged.findtext("FamilyName") == person["FamilyName"]
    assert (own.findtext("ResponseCode"), own.find("MasterULN")) == ("WSRC0004", None)
    assert [child.tag for child in gone] == ["ULN", "ResponseCode"]
    assert gone.findtext("ResponseCode") == "WSRC0001"


def test_update_refuses_merged_and_withdrawn_ulns(server):
    person, master, duplicate = twins(server)
    admin(server, "merge", master, duplicate)
    moved = {**person, "LastKnownPostCode": POSTCODES[1]}
    refused = update(server, moved, duplicate)
    assert (refused.status, refused.fault_code) == (500, errors.ULN_MERGED.code)
    assert update(server, person, master).text("ResponseCode") == "WSRC0006"

    other = synthetic_person()
    withdrawn = register(server, other)
    admin(server, "delete", withdrawn, "--reason", "issued in error")
    refused = update(server, other, withdrawn)
    assert (refused.status, refused.fault_code) == (500, errors.ULN_WITHDRAWN.code)


def test_withdrawn_uln_is_not_found(server):
    person = synthetic_person()
    uln = register(server, person)
    admin(server, "delete", uln, "--reason", "issued in error")
    reply = find_by_uln(server, uln, person)
    assert reply.text("ResponseCode") == "WSRC0001" and reply.payload.find("Learner") is None
    dob, gender = person["DateOfBirth"], person["Gender"]
    answer = verify(server, uln, person["GivenName"], person["FamilyName"], dob, gender)
    assert answer.findtext("ResponseCode") == "WSVRC006"
    assert answer.find("ULN") is None


# -- the admin CLI ----------------------------------------------------------------------------


def test_admin_actions_are_recorded(server, db):
    by = admin_name()
    person, master, duplicate = twins(server)
    withdrawn = register(server, synthetic_person())
    admin(server, "merge", master, duplicate, "--reason", "same person", by=by)
    admin(server, "unmerge", master, duplicate, "--reason", "twins after all", by=by)
    admin(server, "delete", withdrawn, "--reason", "issued in error", by=by)
    assert audit_rows(db, by) == [
        ("learnerMerge", None, duplicate, "MERGED"),
        ("learnerUnmerge", None, duplicate, "UNMERGED"),
        ("learnerDelete", None, withdrawn, "DELETED"),
    ]
    with db.transaction() as session:
        links = session.scalars(select(LearnerLink).where(LearnerLink.by == by))
        assert [(link.action, link.reason) for link in links] == [
            ("merge", "same person"),
            ("unmerge", "twins after all"),
        ]
        gone = learners.learner_by_uln(session, withdrawn)
        assert gone.deleted_at is not None and gone.deletion_reason == "issued in error"
        assert learners.learner_by_uln(session, duplicate).merged_into_id is None


def test_admin_defaults_to_the_os_user(server, db):
    uln = register(server, synthetic_person())
    result = run_miap(
        "learner", "delete", "--db", server.database_url, uln, "--reason", "issued in error"
    )
    assert f"ULN {uln} withdrawn" in result.stdout
    with db.transaction() as session:
        latest = select(AuditEntry).where(AuditEntry.uln == uln).order_by(AuditEntry.id.desc())
        entry = session.scalars(latest).first()
        assert (entry.operation, entry.user_name) == ("learnerDelete", getpass.getuser())


def refused(server, action: str, *args: str, message: str) -> None:
    result = admin(server, action, *args, check=False)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_cli_refusals(server):
    person, master, duplicate = twins(server)
    third = register(server, {**person, "LastKnownPostCode": POSTCODES[2]})
    withdrawn = register(server, synthetic_person())
    admin(server, "delete", withdrawn, "--reason", "issued in error")
    unknown = next(uln for uln in iter(random_uln, None) if uln not in (master, duplicate))

    refused(server, "merge", master, master, message="into itself")
    as_command = run_miap(
        "learner", "merge", "--db", server.database_url, master, master, check=False
    )
    assert as_command.returncode == 2 and "into itself" in as_command.stderr
    assert "Traceback" not in as_command.stderr
    refused(server, "merge", master, "1000000063", message="not a valid ULN")
    refused(server, "merge", master, unknown, message=f"no learner holds ULN {unknown}")
    refused(server, "merge", withdrawn, duplicate, message="withdrawn")
    refused(server, "merge", master, withdrawn, message="withdrawn")
    refused(server, "unmerge", master, duplicate, message="not merged into")
    refused(server, "delete", withdrawn, "--reason", "again", message="already withdrawn")

    admin(server, "merge", master, duplicate)
    refused(server, "merge", third, duplicate, message="already merged")
    refused(server, "merge", duplicate, third, message="itself merged")  # no chains
    refused(server, "merge", third, master, message=f"master of {duplicate}")
    refused(server, "delete", master, "--reason", "x", message=f"master of {duplicate}")
    refused(server, "delete", duplicate, "--reason", "x", message="merged into another")
    refused(server, "unmerge", third, duplicate, message="not merged into")
    long_name = admin(server, "merge", third, master, by="x" * 36, check=False)
    assert long_name.returncode == 2 and "1 to 35 characters" in long_name.stderr

    # Nothing refused was written: the merge still stands as it was.
    assert find_by_uln(server, duplicate, person).payload.findtext("Learner/ULN") == master
    assert find_by_uln(server, third, person).text("ResponseCode") == "WSRC0004"


def test_delete_needs_a_reason(server):
    uln = register(server, synthetic_person())
    result = run_miap("learner", "delete", "--db", server.database_url, uln, check=False)
    assert result.returncode == 2 and "--reason" in result.stderr
    refused(server, "delete", uln, "--reason", "  ", message="reason is required")


# -- a withdrawn ULN is never issued again ----------------------------------------------------


class NoDuplicates:
    """A matcher that never finds a duplicate, so registration goes straight to the allocator."""

    def duplicate_of(self, session, person, exclude_id=None):  # noqa: ANN001, ANN201
        return None


def details() -> dict:
    person = synthetic_person()
    return {
        "given_name": person["GivenName"],
        "family_name": person["FamilyName"],
        "date_of_birth": dt.date.fromisoformat(person["DateOfBirth"]),
        "gender": person["Gender"],
        "postcode": person["LastKnownPostCode"],
        "verification_type": "1",
        "ability_to_share": "1",
    }


def test_allocator_never_reissues_a_withdrawn_uln(server, db):
    withdrawn = register(server, synthetic_person())
    admin(server, "delete", withdrawn, "--reason", "issued in error")
    fresh = next(uln for uln in iter(random_uln, None) if uln != withdrawn)
    draws = iter([withdrawn, withdrawn, fresh])
    with db.transaction() as session:
        code, uln = learners.register(
            session, NoDuplicates(), details(), "10000002", draws.__next__
        )
    assert (code, uln) == (Answer.REGISTERED, fresh)
    with pytest.raises(exceptions.UlnsExhausted) as caught, db.transaction() as session:
        learners.register(session, NoDuplicates(), details(), "10000002", lambda: withdrawn)
    assert errors.fault_for(caught.value).error is errors.INTERNAL
    with db.transaction() as session:
        row = learners.learner_by_uln(session, withdrawn)
        assert row.deleted_at is not None and row.deletion_reason == "issued in error"
        assert session.scalars(select(Learner).where(Learner.uln == withdrawn)).all() == [row]


def test_the_same_details_as_a_withdrawn_learner_are_not_registered(db):
    person = details()
    with db.transaction() as session:
        _, uln = learners.register(session, NoDuplicates(), person, "10000002")
        merging.withdraw(session, uln, "issued in error", "admin.tester")
    with db.transaction() as session:
        assert learners.register(session, NoDuplicates(), person, "10000002") == (
            Answer.NOT_REGISTERED,
            None,
        )
