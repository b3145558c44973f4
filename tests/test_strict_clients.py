"""What a strict client (.NET, JAXB, zeep with ``bind()``) meets: every response type checked
by a second validator (xmlschema; the server itself validates with lxml under
``--validate-responses``) and read back by plain zeep bound by the national service and port
names from the served ``?wsdl``; dates with no time part; ``xsi:nil`` on the nillable elements;
padded postcodes; UKPRNs with letters. All people are synthetic."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.plugins import Plugin

from miap.server.namespaces import FINDMSG, REGMSG, REPORTMSG, SOAP_ENV
from tests.conftest import TEST_PASSWORD, TEST_UKPRN
from tests.support import (
    assert_valid,
    envelope,
    post,
    synthetic_name,
    synthetic_person,
    synthetic_postcode,
)
from tests.test_merging import admin

HEADER = {"UKPRN": TEST_UKPRN, "OrgPassword": TEST_PASSWORD, "UserName": "strict.client"}
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
#: Every element of a response that holds a date: YYYY-MM-DD, no time part.
DATE_ELEMENTS = frozenset(
    {
        "CreatedDate",
        "LastUpdatedDate",
        "DateOfBirth",
        "DateOfAddressCapture",
        "SearchedDateOfBirth",
        "FromDate",
        "ToDate",
        "MasterDateOfBirth",
        "MergedDateOfBirth",
        "UnmergedDateOfBirth",
        "MergedDate",
        "UnmergedDate",
        "DeletedDate",
    }
)
#: The dates that say when something happened on the register: around today.
EVENT_DATES = frozenset(
    {"CreatedDate", "LastUpdatedDate", "MergedDate", "UnmergedDate", "DeletedDate"}
)
UNUSED_ULN = "1000000043"
INVALID_ULN = "1000000063"
DAY = dt.timedelta(days=1)


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


# -- a strict client that keeps what it received ----------------------------------------------


class Received(Plugin):
    """Keeps every envelope zeep receives, before zeep reads it."""

    def __init__(self) -> None:
        self.envelopes: list[etree._Element] = []

    def ingress(self, envelope, http_headers, operation):  # noqa: ANN001, ANN201
        self.envelopes.append(envelope)
        return envelope, http_headers

    def last_payload(self) -> etree._Element:
        return self.envelopes[-1].find(f"{{{SOAP_ENV}}}Body")[0]


def check_dates(payload: etree._Element) -> list[str]:
    """Every date in ``payload`` is YYYY-MM-DD; the names of the event dates seen."""
    seen = []
    for element in payload.iter():
        if not isinstance(element.tag, str):
            continue
        name = etree.QName(element).localname
        if name in DATE_ELEMENTS and element.text:
            assert DATE.fullmatch(element.text), f"{name} {element.text!r} is not a date"
            if name in EVENT_DATES:
                assert today() - DAY <= dt.date.fromisoformat(element.text) <= today() + DAY
                seen.append(name)
    return seen


class Strict:
    def __init__(self, server) -> None:
        self.received = Received()
        client = zeep.Client(server.wsdl, plugins=[self.received])
        self.service = client.bind("LearnerService", "LearnerService")

    def call(self, operation: str, *, expect: str, **arguments):  # noqa: ANN201
        """Call ``operation``; the raw response must be ``expect`` and obey the schemas."""
        result = getattr(self.service, operation)(**HEADER, **arguments)
        payload = self.received.last_payload()
        assert etree.QName(payload).localname == expect
        assert_valid(payload)
        self.dates = check_dates(payload)
        return result

    def register(self, person: dict) -> str:
        learner = {**person, "VerificationType": "1", "AbilityToShare": "1"}
        reply = self.call(
            "registerSingleLearner", expect="RegisterLearnerResponse", Learner=learner
        )
        assert reply.ResponseCode == "WSRC0005" and re.fullmatch(r"[1-9][0-9]{9}", reply.ULN)
        return reply.ULN

    def find_by_uln(self, uln: str, person: dict):  # noqa: ANN201
        return self.call(
            "learnerByULN",
            expect="FindLearnerResponse",
            FindType="FUL",
            ULN=uln,
            FamilyName=person["FamilyName"],
            GivenName=person["GivenName"],
        )

    def find(self, person: dict):  # noqa: ANN201
        fields = ("FamilyName", "GivenName", "DateOfBirth", "Gender", "LastKnownPostCode")
        return self.call(
            "learnerByDemographics",
            expect="FindLearnerResponse",
            FindType="FUL",
            **{name: person[name] for name in fields},
        )


@pytest.fixture(scope="module")
def strict(server) -> Strict:
    return Strict(server)


def distinct_postcodes(count: int) -> list[str]:
    postcodes: list[str] = []
    while len(postcodes) < count:
        postcode = synthetic_postcode()
        if postcode.replace(" ", "") not in {p.replace(" ", "") for p in postcodes}:
            postcodes.append(postcode)
    return postcodes


# -- every response type ----------------------------------------------------------------------


def test_register_find_exact_and_update(strict):
    person = synthetic_person(Title="Dr", DateOfAddressCapture="2020-09-01")
    uln = strict.register(person)

    found = strict.find_by_uln(uln, person)
    assert found.ResponseCode == "WSRC0004"
    [learner] = found.Learner
    assert sorted(strict.dates) == ["CreatedDate", "LastUpdatedDate"]
    assert DATE.fullmatch(learner.CreatedDate) and DATE.fullmatch(learner.LastUpdatedDate)
    assert (learner.ULN, learner.DateOfBirth, learner.DateOfAddressCapture) == (
        uln,
        person["DateOfBirth"],
        "2020-09-01",
    )

    by_demographics = strict.find(person)
    assert by_demographics.ResponseCode == "WSRC0004"
    assert [x.ULN for x in by_demographics.Learner] == [uln]
    assert by_demographics.DateOfBirth == person["DateOfBirth"]

    update = {**person, "VerificationType": "1", "AbilityToShare": "1", "Notes": "Moved"}
    code = strict.call(
        "updateSingleLearner",
        expect="UpdateLearnerResponse",
        Learner={**update, "ULN": uln, "VersionNumber": 1},
    )
    assert code == "WSRC0006"  # zeep unwraps a one-child response
    [updated] = strict.find_by_uln(uln, person).Learner
    assert (updated.VersionNumber, updated.Notes) == (2, "Moved")
    assert DATE.fullmatch(updated.LastUpdatedDate)


def test_possible_match(strict):
    first, moved = distinct_postcodes(2)
    person = synthetic_person(LastKnownPostCode=first)
    uln = strict.register(person)
    reply = strict.find({**person, "LastKnownPostCode": moved})
    assert reply.ResponseCode == "WSRC0003"
    assert [x.ULN for x in reply.Learner] == [uln]
    assert reply.LastKnownPostCode == moved


def test_no_match(strict):
    reply = strict.find(synthetic_person())
    assert (reply.ResponseCode, reply.Learner) == ("WSRC0001", [])


def test_too_many_matches(strict):
    """Eleven people who share names, birth date and gender, each at another postcode: a
    search from a twelfth postcode finds more than ten possible matches."""
    *homes, elsewhere = distinct_postcodes(12)
    person = synthetic_person()
    for home in homes:
        strict.register({**person, "LastKnownPostCode": home})
    reply = strict.find({**person, "LastKnownPostCode": elsewhere})
    assert (reply.ResponseCode, reply.Learner) == ("WSRC0002", [])
    assert reply.FamilyName == person["FamilyName"]


def test_linked_learner(strict, server):
    first, second = distinct_postcodes(2)
    person = synthetic_person(LastKnownPostCode=first)
    master = strict.register(person)
    duplicate = strict.register({**person, "LastKnownPostCode": second})
    admin(server, "merge", master, duplicate, "--reason", "registered twice")
    reply = strict.find_by_uln(duplicate, person)
    assert (reply.ResponseCode, reply.ULN) == ("WSRC0022", duplicate)
    [learner] = reply.Learner
    assert (learner.ULN, learner.MasterSubstituted) == (master, "Y")
    assert learner.LinkedULNs.ULN == [duplicate]
    assert DATE.fullmatch(learner.CreatedDate)


def test_verify(strict):
    person = synthetic_person()
    uln = strict.register(person)
    full = strict.call(
        "verifyLearner",
        expect="VerifyLearnerResponse",
        LearnerToVerify={
            "ULN": uln,
            "FamilyName": person["FamilyName"],
            "GivenName": person["GivenName"],
            "DateOfBirth": person["DateOfBirth"],
            "Gender": person["Gender"],
        },
    )
    assert (full.ResponseCode, full.ULN, full.FailureFlag) == ("WSVRC001", uln, [])
    assert (full.SearchedDateOfBirth, full.DateOfBirth) == ((person["DateOfBirth"],) * 2)
    swapped = strict.call(
        "verifyLearner",
        expect="VerifyLearnerResponse",
        LearnerToVerify={
            "ULN": uln,
            "FamilyName": person["GivenName"],
            "GivenName": person["FamilyName"],
        },
    )
    assert (swapped.ResponseCode, swapped.FailureFlag) == ("WSVRC003", ["VRF1", "VRF5"])


def test_retrieve_ulns(strict, server):
    first, second = distinct_postcodes(2)
    person = synthetic_person(LastKnownPostCode=first)
    master = strict.register(person)
    duplicate = strict.register({**person, "LastKnownPostCode": second})
    admin(server, "merge", master, duplicate)
    items = strict.call(
        "retrieveULNs",
        expect="RetrieveULNsResponse",
        ULNsToRetrieve={"ULN": [master, duplicate, UNUSED_ULN, INVALID_ULN]},
    )
    assert [(x.ULN, x.MasterULN, x.ResponseCode) for x in items] == [
        (master, None, "WSRC0004"),
        (duplicate, master, "WSRC0022"),
        (UNUSED_ULN, None, "WSRC0001"),
        (INVALID_ULN, None, "WSEC0136"),
    ]
    assert items[1].DateOfBirth == person["DateOfBirth"]


@pytest.fixture(scope="module")
def report_events(strict, server) -> dict[str, str]:
    """Two merges (one undone again) and a withdrawal, just now."""
    postcodes = distinct_postcodes(3)
    person = synthetic_person(LastKnownPostCode=postcodes[0])
    master = strict.register(person)
    kept, split = (strict.register({**person, "LastKnownPostCode": p}) for p in postcodes[1:])
    withdrawn = strict.register(synthetic_person())
    admin(server, "merge", master, kept)
    admin(server, "merge", master, split)
    admin(server, "unmerge", master, split, "--reason", "twins after all")
    admin(server, "delete", withdrawn, "--reason", "issued in error")
    return {"master": master, "kept": kept, "split": split, "withdrawn": withdrawn}


def test_merged_unmerged_report(strict, report_events):
    dates = {"FromDate": str(today() - DAY), "ToDate": str(today() + DAY)}
    reply = strict.call("getMergedUnmergedULNsReport", expect="MergedUnmergedULNsResponse", **dates)
    assert {"MergedDate", "UnmergedDate"} <= set(strict.dates)
    assert (reply.ResponseCode, reply.FromDate, reply.ToDate) == (
        "WSRC0004",
        dates["FromDate"],
        dates["ToDate"],
    )
    merged = {x.MergedULN: x for x in reply.ULNReport.MergedLearners.MergedLearner}
    master = report_events["master"]
    for uln in (report_events["kept"], report_events["split"]):
        assert merged[uln].MasterULN == master
        assert DATE.fullmatch(merged[uln].MergedDate)
    [unmerged] = [
        x
        for x in reply.ULNReport.UnmergedLearners.UnmergedLearner
        if x.UnmergedULN == report_events["split"]
    ]
    assert unmerged.MasterULN == master
    assert unmerged.UnmergedDate >= merged[report_events["split"]].MergedDate
    assert DATE.fullmatch(unmerged.UnmergedDateOfBirth)


def test_deleted_report(strict, report_events):
    reply = strict.call(
        "getDeletedULNsReport", expect="DeletedULNsResponse", FromDate=str(today() - DAY)
    )
    assert "DeletedDate" in strict.dates
    assert (reply.ResponseCode, reply.ToDate) == ("WSRC0004", None)
    deleted = {x.ULN: x.DeletedDate for x in reply.ULNReport.DeletedLearners.DeletedLearner}
    assert DATE.fullmatch(deleted[report_events["withdrawn"]])
    assert report_events["split"] not in deleted


def test_fault(strict):
    with pytest.raises(Fault) as caught:
        strict.service.learnerByULN(
            FindType="FUL", **HEADER, ULN=INVALID_ULN, FamilyName="Abc", GivenName="Def"
        )
    payload = strict.received.last_payload()
    assert payload.tag == f"{{{SOAP_ENV}}}Fault"
    [detail] = payload.find("detail")
    assert_valid(detail)
    assert detail is not None and detail.findtext("ErrorCode") == "WSEC0136"
    assert DATE_TIME.fullmatch(detail.findtext("ErrorTimestamp"))
    [read] = caught.value.detail
    assert read.findtext("ErrorCode") == "WSEC0136"


# -- xsi:nil (raw XML, the way .NET clients send empty nillable fields) ------------------------

XSI = "http://www.w3.org/2001/XMLSchema-instance"
ORG_REF = "<OrganisationRef/>"
UKPRN = f"<UKPRN>{TEST_UKPRN}</UKPRN>"
CREDENTIALS = f"<OrgPassword>{TEST_PASSWORD}</OrgPassword><UserName>nil.client</UserName>"
RAW_HEADER = ORG_REF + UKPRN + CREDENTIALS


def nil(name: str) -> str:
    return f'<{name} xmlns:xsi="{XSI}" xsi:nil="true"/>'


def learner_xml(person: dict, postcode: str | None = None) -> str:
    postcode = person["LastKnownPostCode"] if postcode is None else postcode
    return f"""<Title/><GivenName>{person["GivenName"]}</GivenName><MiddleOtherName/>
        <FamilyName>{person["FamilyName"]}</FamilyName><PreferredGivenName/>
        <PreviousFamilyName/><FamilyNameAtAge16/><SchoolAtAge16/><LastKnownAddressLine1/>
        <LastKnownAddressLine2/><LastKnownAddressTown/><LastKnownAddressCountyOrCity/>
        <LastKnownPostCode>{postcode}</LastKnownPostCode><DateOfAddressCapture/>
        <DateOfBirth>{person["DateOfBirth"]}</DateOfBirth><PlaceOfBirth/>
        <Gender>{person["Gender"]}</Gender><EmailAddress/><Nationality/>
        <ScottishCandidateNumber/><VerificationType>1</VerificationType>
        <OtherVerificationDescription/><AbilityToShare>1</AbilityToShare><Notes/>"""


def register_payload(person: dict, postcode: str | None = None, header: str = RAW_HEADER) -> str:
    return f"""<reg:RegisterLearner xmlns:reg="{REGMSG}">{header}<Learner>
        {learner_xml(person, postcode)}</Learner></reg:RegisterLearner>"""


def demographics_payload(
    person: dict, postcode: str | None = None, header: str = RAW_HEADER, optional: str = ""
) -> str:
    postcode = person["LastKnownPostCode"] if postcode is None else postcode
    optional = optional or "<PreviousFamilyName/><SchoolAtAge16/><PlaceOfBirth/><EmailAddress/>"
    return f"""<fin:FindLearnerByDemographics xmlns:fin="{FINDMSG}"><FindType>FUL</FindType>
        {header}<FamilyName>{person["FamilyName"]}</FamilyName>
        <GivenName>{person["GivenName"]}</GivenName><DateOfBirth>{person["DateOfBirth"]}</DateOfBirth>
        <Gender>{person["Gender"]}</Gender><LastKnownPostCode>{postcode}</LastKnownPostCode>
        {optional}</fin:FindLearnerByDemographics>"""


def by_uln_payload(uln: str, person: dict, header: str = RAW_HEADER) -> str:
    return f"""<fin:FindLearnerByULN xmlns:fin="{FINDMSG}"><FindType>FUL</FindType>{header}
        <ULN>{uln}</ULN><FamilyName>{person["FamilyName"]}</FamilyName>
        <GivenName>{person["GivenName"]}</GivenName></fin:FindLearnerByULN>"""


def verify_payload(uln: str, person: dict, header: str = RAW_HEADER, tail: str = "") -> str:
    return f"""<rep:VerifyLearner xmlns:rep="{REPORTMSG}">{header}<LearnerToVerify>
        <ULN>{uln}</ULN><FamilyName>{person["FamilyName"]}</FamilyName>
        <GivenName>{person["GivenName"]}</GivenName>{tail}</LearnerToVerify></rep:VerifyLearner>"""


def raw_register(server, person: dict, postcode: str | None = None) -> str:
    reply = post(server.url, envelope(register_payload(person, postcode)))
    assert reply.text("ResponseCode") == "WSRC0005", reply.raw
    return reply.text("ULN")


def request_with_header(server, operation: str, header: str) -> str:
    """One request of ``operation`` with ``header`` (a fresh person where one is written)."""
    person = synthetic_person()
    if operation == "RegisterLearner":
        return register_payload(person, header=header)
    uln = raw_register(server, person)
    if operation == "FindLearnerByULN":
        return by_uln_payload(uln, person, header)
    if operation == "FindLearnerByDemographics":
        return demographics_payload(person, header=header)
    if operation == "UpdateLearner":
        return f"""<reg:UpdateLearner xmlns:reg="{REGMSG}">{header}<Learner>
            {learner_xml(person)}<ULN>{uln}</ULN><VersionNumber>1</VersionNumber></Learner>
            </reg:UpdateLearner>"""
    if operation == "VerifyLearner":
        return verify_payload(uln, person, header)
    if operation == "RetrieveULNs":
        return f"""<rep:RetrieveULNs xmlns:rep="{REPORTMSG}">{header}
            <ULNsToRetrieve><ULN>{uln}</ULN></ULNsToRetrieve></rep:RetrieveULNs>"""
    return f"""<rep:{operation} xmlns:rep="{REPORTMSG}">{header}
        <FromDate>1990-01-01</FromDate><ToDate>1990-12-31</ToDate></rep:{operation}>"""


#: Each request type and the code its plain request answers with.
PLAIN_ANSWERS = {
    "FindLearnerByULN": "WSRC0004",
    "FindLearnerByDemographics": "WSRC0004",
    "RegisterLearner": "WSRC0005",
    "UpdateLearner": "WSRC0006",
    "VerifyLearner": "WSVRC001",
    "RetrieveULNs": "WSRC0004",
    "GetMergedUnmergedULNs": "WSRC0001",
    "GetDeletedULNs": "WSRC0001",
}


@pytest.mark.parametrize("operation", list(PLAIN_ANSWERS))
def test_nil_organisation_ref_is_absent(server, operation):
    header = nil("OrganisationRef") + UKPRN + CREDENTIALS
    reply = post(server.url, envelope(request_with_header(server, operation, header)))
    assert reply.fault_code is None, reply.further_details
    assert reply.payload.findtext(".//ResponseCode") == PLAIN_ANSWERS[operation]


@pytest.mark.parametrize("operation", list(PLAIN_ANSWERS))
def test_nil_ukprn_is_absent(server, operation):
    """A nil UKPRN is no UKPRN: the same refusal as leaving it out, not a schema fault."""
    as_nil = post(
        server.url,
        envelope(request_with_header(server, operation, ORG_REF + nil("UKPRN") + CREDENTIALS)),
    )
    left_out = post(
        server.url, envelope(request_with_header(server, operation, ORG_REF + CREDENTIALS))
    )
    assert as_nil.fault_code == left_out.fault_code == "WSEC0803", as_nil.further_details


@pytest.fixture(scope="module")
def on_register(server) -> tuple[dict, str]:
    person = synthetic_person()
    return person, raw_register(server, person)


OPTIONAL_FIND = ("PreviousFamilyName", "SchoolAtAge16", "PlaceOfBirth", "EmailAddress")


@pytest.mark.parametrize("element", [*OPTIONAL_FIND, "all"])
def test_nil_optional_find_fields_are_absent(server, on_register, element):
    person, uln = on_register
    optional = "".join(
        nil(name) if element in (name, "all") else f"<{name}/>" for name in OPTIONAL_FIND
    )
    reply = post(server.url, envelope(demographics_payload(person, optional=optional)))
    assert reply.text("ResponseCode") == "WSRC0004", reply.further_details
    assert [x.findtext("ULN") for x in reply.payload.findall("Learner")] == [uln]
    echoed = [child.tag for child in reply.payload if child.tag != "Learner"]
    assert echoed == ["ResponseCode", "FamilyName", "GivenName", "DateOfBirth", "Gender",
                      "LastKnownPostCode"]  # fmt: skip


@pytest.mark.parametrize(
    "tail",
    [
        nil("DateOfBirth") + nil("Gender"),
        nil("DateOfBirth"),
        "<DateOfBirth/>" + nil("Gender"),
    ],
)
def test_nil_date_of_birth_and_gender_in_verify_are_absent(server, on_register, tail):
    person, uln = on_register
    reply = post(server.url, envelope(verify_payload(uln, person, tail=tail)))
    verified = reply.payload.find("VerifiedLearner")
    assert verified is not None, reply.further_details
    assert verified.findtext("ResponseCode") == "WSVRC001"
    assert verified.find("SearchedDateOfBirth") is None and verified.find("SearchedGender") is None
    assert verified.findtext("DateOfBirth") == person["DateOfBirth"]


def non_nillable_cases(server, person: dict, uln: str) -> dict[str, str]:
    demographics = demographics_payload(person)
    return {
        "FindLearnerByULN GivenName": by_uln_payload(uln, person).replace(
            f"<GivenName>{person['GivenName']}</GivenName>", nil("GivenName")
        ),
        "FindLearnerByDemographics LastKnownPostCode": demographics.replace(
            f"<LastKnownPostCode>{person['LastKnownPostCode']}</LastKnownPostCode>",
            nil("LastKnownPostCode"),
        ),
        "RegisterLearner Title": register_payload(synthetic_person()).replace(
            "<Title/>", nil("Title")
        ),
        "VerifyLearner FamilyName": verify_payload(uln, person).replace(
            f"<FamilyName>{person['FamilyName']}</FamilyName>", nil("FamilyName")
        ),
        "RetrieveULNs UserName": request_with_header(
            server,
            "RetrieveULNs",
            ORG_REF + UKPRN + f"<OrgPassword>{TEST_PASSWORD}</OrgPassword>" + nil("UserName"),
        ),  # fmt: skip
    }


def test_nil_on_an_element_that_is_not_nillable_is_badly_formed(server, on_register):
    person, uln = on_register
    for case, payload in non_nillable_cases(server, person, uln).items():
        assert nil(case.split()[1]) in payload, case
        reply = post(server.url, envelope(payload))
        assert (reply.status, reply.fault_code) == (500, "WSEC0001"), case
        assert case.split()[1] in reply.further_details, (case, reply.further_details)


# -- padded postcodes and UKPRN format --------------------------------------------------------


@pytest.mark.parametrize("spaces", [1, 2, 3, 4])
def test_padded_postcodes_are_accepted_and_stored_trimmed(server, spaces):
    postcode = synthetic_postcode()
    person = synthetic_person(LastKnownPostCode=postcode)
    uln = raw_register(server, person, postcode + " " * spaces)

    by_uln = post(server.url, envelope(by_uln_payload(uln, person)))
    assert by_uln.text("ResponseCode") == "WSRC0004"
    assert by_uln.payload.findtext("Learner/LastKnownPostCode") == postcode

    padded = postcode + " " * (spaces % 4 + 1)  # another padding: compared trimmed
    found = post(server.url, envelope(demographics_payload(person, padded)))
    assert found.text("ResponseCode") == "WSRC0004", found.further_details
    assert found.text("LastKnownPostCode") == postcode  # echoed trimmed
    assert [x.findtext("ULN") for x in found.payload.findall("Learner")] == [uln]
    assert found.payload.findtext("Learner/LastKnownPostCode") == postcode

    again = post(server.url, envelope(register_payload(person, postcode + "    ")))
    assert (again.text("ResponseCode"), again.text("ULN")) == ("WSRC0021", None)


def test_padded_postcodes_through_zeep_and_the_client(server, strict):
    from miap.client import LrsClient

    postcode = synthetic_postcode()
    person = synthetic_person(LastKnownPostCode=postcode + "   ")
    uln = strict.register(person)
    [learner] = strict.find_by_uln(uln, person).Learner
    assert learner.LastKnownPostCode == postcode
    with LrsClient(server.url, TEST_UKPRN, TEST_PASSWORD, "strict.client") as lrs:
        found = lrs.find_by_demographics(
            person["GivenName"],
            person["FamilyName"],
            person["DateOfBirth"],
            person["Gender"],
            postcode + "    ",
        )
    assert (found["ResponseCode"], found["LastKnownPostCode"]) == ("WSRC0004", postcode)
    assert [x["ULN"] for x in found["Learner"]] == [uln]


def test_five_trailing_spaces_are_badly_formed(server):
    postcode = synthetic_postcode() + " " * 5
    person = synthetic_person()
    for payload in (register_payload(person, postcode), demographics_payload(person, postcode)):
        reply = post(server.url, envelope(payload))
        assert (reply.status, reply.fault_code) == (500, "WSEC0001")
        assert "LastKnownPostCode" in reply.further_details


@pytest.mark.parametrize("ukprn", ["1000000A", "abcdefgh", "A0000002"])
def test_ukprn_with_letters_passes_the_schema_but_not_authentication(server, ukprn):
    header = ORG_REF + f"<UKPRN>{ukprn}</UKPRN>" + CREDENTIALS
    for payload in (
        by_uln_payload(UNUSED_ULN, {"FamilyName": "Abc", "GivenName": synthetic_name()}, header),
        register_payload(synthetic_person(), header=header),
    ):
        reply = post(server.url, envelope(payload))
        assert (reply.status, reply.fault_code) == (500, "WSEC0801"), reply.further_details
