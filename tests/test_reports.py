"""getMergedUnmergedULNsReport and getDeletedULNsReport: raw XML, date ranges, audit and zeep."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import zeep
from lxml import etree
from sqlalchemy import select

from miap.server.namespaces import REPORTMSG
from miap.storage.engine import Database
from miap.storage.models import AuditEntry
from tests.conftest import TEST_PASSWORD, TEST_UKPRN
from tests.support import SoapReply, envelope, post, synthetic_name, synthetic_person
from tests.test_merging import admin, register, twins

DAY = dt.timedelta(days=1)


@dataclass
class Events:
    person: dict
    master: str
    duplicate: str
    withdrawn: str


@pytest.fixture(scope="module")
def events(server) -> Events:
    """One merge, its unmerge and one withdrawal, made just now."""
    person, master, duplicate = twins(server)
    withdrawn = register(server, synthetic_person())
    admin(server, "merge", master, duplicate, "--reason", "same person")
    admin(server, "unmerge", master, duplicate, "--reason", "twins after all")
    admin(server, "delete", withdrawn, "--reason", "issued in error")
    return Events(person, master, duplicate, withdrawn)


def report(
    server, request: str, from_date: object, to_date: object = None, user: str = "mis.user"
) -> SoapReply:
    """``request`` is GetMergedUnmergedULNs or GetDeletedULNs; ToDate left out when None."""
    to_xml = "" if to_date is None else f"<ToDate>{to_date}</ToDate>"
    return post(
        server.url,
        envelope(
            f"""<rep:{request} xmlns:rep="{REPORTMSG}"><OrganisationRef/>
            <UKPRN>{TEST_UKPRN}</UKPRN><OrgPassword>{TEST_PASSWORD}</OrgPassword>
            <UserName>{user}</UserName><FromDate>{from_date}</FromDate>{to_xml}
            </rep:{request}>"""
        ),
    )


#: The element naming the ULN an entry is about, by its report path's last step.
ENTRY_ULN = {
    "MergedLearner": "MergedULN",
    "UnmergedLearner": "UnmergedULN",
    "DeletedLearner": "ULN",
}


def entries(reply: SoapReply, path: str, uln: str) -> list[etree._Element]:
    """The report entries under ``path`` that name ``uln``."""
    name = ENTRY_ULN[path.rpartition("/")[2]]
    return [item for item in reply.payload.findall(path) if item.findtext(name) == uln]


def stamp_date(item: etree._Element, name: str) -> dt.date:
    """A report date: ``YYYY-MM-DD`` exactly, never with a time part."""
    text = item.findtext(name)
    assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text), text
    return dt.date.fromisoformat(text)


MERGED = "ULNReport/MergedLearners/MergedLearner"
UNMERGED = "ULNReport/UnmergedLearners/UnmergedLearner"
DELETED = "ULNReport/DeletedLearners/DeletedLearner"


def test_merged_unmerged_report_lists_both(server, events):
    today = dt.datetime.now(dt.timezone.utc).date()
    reply = report(server, "GetMergedUnmergedULNs", today - DAY, today + DAY)
    assert reply.payload.tag == f"{{{REPORTMSG}}}MergedUnmergedULNsResponse"
    assert [child.tag for child in reply.payload] == [
        "ResponseCode",
        "FromDate",
        "ToDate",
        "ULNReport",
    ]
    assert reply.text("ResponseCode") == "WSRC0004"
    assert reply.text("FromDate") == str(today - DAY)
    [merged] = entries(reply, MERGED, events.duplicate)
    assert [child.tag for child in merged] == [
        "MasterULN",
        "MasterFamilyName",
        "MasterGivenName",
        "MasterDateOfBirth",
        "MergedULN",
        "MergedFamilyName",
        "MergedGivenName",
        "MergedDateOfBirth",
        "MergedDate",
    ]
    person = events.person
    assert merged.findtext("MasterULN") == events.master
    assert merged.findtext("MasterFamilyName") == person["FamilyName"]
    assert merged.findtext("MasterGivenName") == person["GivenName"]
    assert merged.findtext("MasterDateOfBirth") == person["DateOfBirth"]
    assert merged.findtext("MergedFamilyName") == person["FamilyName"]
    assert merged.findtext("MergedGivenName") == person["GivenName"]
    assert merged.findtext("MergedDateOfBirth") == person["DateOfBirth"]
    [unmerged] = entries(reply, UNMERGED, events.duplicate)
    assert [child.tag for child in unmerged] == [
        "MasterULN",
        "MasterFamilyName",
        "MasterGivenName",
        "MasterDateOfBirth",
        "UnmergedULN",
        "UnmergedFamilyName",
        "UnmergedGivenName",
        "UnmergedDateOfBirth",
        "UnmergedDate",
    ]
    assert unmerged.findtext("MasterULN") == events.master
    assert unmerged.findtext("UnmergedDateOfBirth") == person["DateOfBirth"]
    merged_on, unmerged_on = stamp_date(merged, "MergedDate"), stamp_date(unmerged, "UnmergedDate")
    assert today - DAY <= merged_on <= unmerged_on <= today + DAY


def test_merged_report_dates_are_inclusive(server, events):
    today = dt.datetime.now(dt.timezone.utc).date()
    wide = report(server, "GetMergedUnmergedULNs", today - DAY)
    [merged] = entries(wide, MERGED, events.duplicate)
    day = stamp_date(merged, "MergedDate")

    def merges(from_date: dt.date, to_date: dt.date | None = None) -> int:
        reply = report(server, "GetMergedUnmergedULNs", from_date, to_date)
        return len(entries(reply, MERGED, events.duplicate))

    assert merges(day, day) == 1
    assert merges(day) == 1  # no ToDate: up to now
    assert merges(day + DAY) == 0
    assert merges(day - 5 * DAY, day - DAY) == 0


def test_deleted_report(server, events):
    today = dt.datetime.now(dt.timezone.utc).date()
    reply = report(server, "GetDeletedULNs", today - DAY)
    assert reply.payload.tag == f"{{{REPORTMSG}}}DeletedULNsResponse"
    assert [child.tag for child in reply.payload] == ["ResponseCode", "FromDate", "ULNReport"]
    assert reply.text("ResponseCode") == "WSRC0004"
    [deleted] = entries(reply, DELETED, events.withdrawn)
    assert [child.tag for child in deleted] == ["ULN", "DeletedDate"]
    day = stamp_date(deleted, "DeletedDate")
    assert entries(report(server, "GetDeletedULNs", day, day), DELETED, events.withdrawn)
    assert not entries(report(server, "GetDeletedULNs", day + DAY), DELETED, events.withdrawn)
    earlier = report(server, "GetDeletedULNs", day - 3 * DAY, day - DAY)
    assert not entries(earlier, DELETED, events.withdrawn)
    # Merged and unmerged ULNs are not withdrawn ones.
    assert not entries(reply, DELETED, events.duplicate)


@pytest.mark.parametrize("request_name", ["GetMergedUnmergedULNs", "GetDeletedULNs"])
def test_empty_range_answers_wsrc0001_without_a_report(server, request_name):
    reply = report(server, request_name, "1990-01-01", "1990-12-31")
    assert [child.tag for child in reply.payload] == ["ResponseCode", "FromDate", "ToDate"]
    assert reply.text("ResponseCode") == "WSRC0001"
    assert (reply.text("FromDate"), reply.text("ToDate")) == ("1990-01-01", "1990-12-31")


@pytest.mark.parametrize("request_name", ["GetMergedUnmergedULNs", "GetDeletedULNs"])
def test_to_date_before_from_date_is_badly_formed(server, request_name):
    reply = report(server, request_name, "2025-03-02", "2025-03-01")
    assert (reply.status, reply.fault_code) == (500, "WSEC0001")
    assert "ToDate 2025-03-01 is before FromDate 2025-03-02" in reply.further_details


def test_impossible_dates_are_badly_formed(server):
    reply = report(server, "GetDeletedULNs", "2025-02-30")
    assert reply.fault_code == "WSEC0001" and "FromDate" in reply.further_details


def test_empty_to_date_means_up_to_now(server, events):
    today = dt.datetime.now(dt.timezone.utc).date()
    reply = report(server, "GetDeletedULNs", today - DAY, "")
    assert entries(reply, DELETED, events.withdrawn)


@pytest.fixture(scope="module")
def db(server) -> Iterator[Database]:
    database = Database(server.database_url)
    yield database
    database.dispose()


def test_report_requests_are_audited_with_the_ulns_disclosed(server, events, db):
    user = f"report.{synthetic_name().lower()}"
    today = dt.datetime.now(dt.timezone.utc).date()
    report(server, "GetDeletedULNs", today - DAY, user=user)
    report(server, "GetMergedUnmergedULNs", today - DAY, user=user)
    report(server, "GetMergedUnmergedULNs", "1990-01-01", "1990-01-02", user=user)
    with db.transaction() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.user_name == user)).all()
    seen = {(row.operation, row.ukprn, row.uln, row.outcome) for row in rows}
    assert ("getDeletedULNsReport", TEST_UKPRN, events.withdrawn, "WSRC0004") in seen
    for uln in (events.master, events.duplicate):
        assert ("getMergedUnmergedULNsReport", TEST_UKPRN, uln, "WSRC0004") in seen
    assert ("getMergedUnmergedULNsReport", TEST_UKPRN, None, "WSRC0001") in seen


def test_zeep_calls_both_reports(server, events):
    service = zeep.Client(server.wsdl).bind("LearnerService", "LearnerService")
    header = {"UKPRN": TEST_UKPRN, "OrgPassword": TEST_PASSWORD, "UserName": "zeep.tester"}
    today = dt.datetime.now(dt.timezone.utc).date()
    dates = {"FromDate": str(today - DAY), "ToDate": str(today + DAY)}

    merged = service.getMergedUnmergedULNsReport(**header, **dates)
    assert merged.ResponseCode == "WSRC0004"
    [entry] = [
        x for x in merged.ULNReport.MergedLearners.MergedLearner if x.MergedULN == events.duplicate
    ]
    person = events.person
    assert (entry.MasterULN, entry.MergedFamilyName) == (events.master, person["FamilyName"])
    assert entry.MergedDateOfBirth == person["DateOfBirth"]
    assert today - DAY <= dt.date.fromisoformat(entry.MergedDate) <= today + DAY
    unmerged = merged.ULNReport.UnmergedLearners.UnmergedLearner
    [split] = [x for x in unmerged if x.UnmergedULN == events.duplicate]
    assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", split.UnmergedDate)

    deleted = service.getDeletedULNsReport(**header, **dates)
    assert deleted.ResponseCode == "WSRC0004"
    [gone] = [
        x for x in deleted.ULNReport.DeletedLearners.DeletedLearner if x.ULN == events.withdrawn
    ]
    assert today - DAY <= dt.date.fromisoformat(gone.DeletedDate) <= today + DAY

    with pytest.raises(zeep.exceptions.Fault) as caught:
        service.getDeletedULNsReport(**header, FromDate="2025-03-02", ToDate="2025-03-01")
    assert caught.value.detail[0].findtext("ErrorCode") == "WSEC0001"
