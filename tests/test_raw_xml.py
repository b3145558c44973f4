"""Raw XML in the exact shape existing MIS clients post, and the exact shape of the answers."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from miap.server.namespaces import FINDMSG, REGMSG, REPORTMSG
from tests.conftest import TEST_PASSWORD, TEST_UKPRN
from tests.support import envelope, post, synthetic_person

HEADER = f"""<OrganisationRef/><UKPRN>{TEST_UKPRN}</UKPRN>
<OrgPassword>{TEST_PASSWORD}</OrgPassword><UserName>mis.user</UserName>"""


def register_xml(person: dict) -> bytes:
    return envelope(
        f"""<reg:RegisterLearner xmlns:reg="{REGMSG}">{HEADER}<Learner>
        <Title/><GivenName>{person["GivenName"]}</GivenName><MiddleOtherName/>
        <FamilyName>{person["FamilyName"]}</FamilyName><PreferredGivenName/>
        <PreviousFamilyName/><FamilyNameAtAge16/><SchoolAtAge16/>
        <LastKnownAddressLine1>1 Example Road</LastKnownAddressLine1><LastKnownAddressLine2/>
        <LastKnownAddressTown>Leeds</LastKnownAddressTown><LastKnownAddressCountyOrCity/>
        <LastKnownPostCode>{person["LastKnownPostCode"]}</LastKnownPostCode>
        <DateOfAddressCapture/><DateOfBirth>{person["DateOfBirth"]}</DateOfBirth>
        <PlaceOfBirth/><Gender>{person["Gender"]}</Gender><EmailAddress/><Nationality/>
        <ScottishCandidateNumber/><VerificationType>1</VerificationType>
        <OtherVerificationDescription/><AbilityToShare>1</AbilityToShare><Notes/>
        </Learner></reg:RegisterLearner>"""
    )


def demographics_xml(person: dict, find_type: str = "FUL") -> bytes:
    return envelope(
        f"""<fin:FindLearnerByDemographics xmlns:fin="{FINDMSG}">
        <FindType>{find_type}</FindType>{HEADER}
        <FamilyName>{person["FamilyName"]}</FamilyName><GivenName>{person["GivenName"]}</GivenName>
        <DateOfBirth>{person["DateOfBirth"]}</DateOfBirth><Gender>{person["Gender"]}</Gender>
        <LastKnownPostCode>{person["LastKnownPostCode"]}</LastKnownPostCode>
        <PreviousFamilyName/><SchoolAtAge16/><PlaceOfBirth/><EmailAddress/>
        </fin:FindLearnerByDemographics>"""
    )


def children(element: etree._Element) -> list[str]:
    """Child element names as ``{ns}local`` (qualified) or ``local`` (unqualified)."""
    return [child.tag for child in element]


@pytest.fixture(scope="module")
def registered(server):
    person = synthetic_person()
    reply = post(server.url, register_xml(person))
    assert children(reply.payload) == ["ResponseCode", "ULN"]
    assert reply.payload.tag == f"{{{REGMSG}}}RegisterLearnerResponse"
    assert reply.text("ResponseCode") == "WSRC0005"
    return person, reply.text("ULN")


def test_find_by_demographics_answers_in_spec_shape(server, registered):
    person, uln = registered
    reply = post(server.url, demographics_xml(person))
    assert reply.payload.tag == f"{{{FINDMSG}}}FindLearnerResponse"
    # ResponseCode, the echo of what was searched (empty optionals are absent), then Learner.
    assert children(reply.payload) == [
        "ResponseCode",
        "FamilyName",
        "GivenName",
        "DateOfBirth",
        "Gender",
        "LastKnownPostCode",
        "Learner",
    ]
    assert reply.text("ResponseCode") == "WSRC0004"
    learner = reply.payload.find("Learner")
    assert children(learner) == [
        "CreatedDate",
        "LastUpdatedDate",
        "ULN",
        "GivenName",
        "FamilyName",
        "LastKnownAddressLine1",
        "LastKnownAddressTown",
        "LastKnownPostCode",
        "DateOfBirth",
        "Gender",
        "VerificationType",
        "TierLevel",
        "AbilityToShare",
        "LearnerStatus",
        "VersionNumber",
    ]
    assert learner.findtext("ULN") == uln
    assert learner.findtext("LastKnownPostCode") == person["LastKnownPostCode"]
    # Dates, never date-times: a strict client typed from the national schemas rejects a time.
    for stamp in ("CreatedDate", "LastUpdatedDate"):
        assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", learner.findtext(stamp))


def test_find_by_uln_raw(server, registered):
    person, uln = registered
    body = envelope(
        f"""<fin:FindLearnerByULN xmlns:fin="{FINDMSG}"><FindType>FUL</FindType>{HEADER}
        <ULN>{uln}</ULN><FamilyName>{person["FamilyName"].upper()}</FamilyName>
        <GivenName>{person["GivenName"]}</GivenName></fin:FindLearnerByULN>"""
    )
    reply = post(server.url, body)
    assert children(reply.payload)[:4] == ["ResponseCode", "ULN", "FamilyName", "GivenName"]
    assert reply.text("ResponseCode") == "WSRC0004"
    assert reply.payload.findtext("Learner/ULN") == uln


def test_no_match_has_no_learner_elements(server):
    reply = post(server.url, demographics_xml(synthetic_person()))
    assert reply.text("ResponseCode") == "WSRC0001"
    assert reply.payload.find("Learner") is None


def test_update_raw_and_version(server, registered):
    person, uln = registered
    learner_xml = register_xml(person).decode()
    start = learner_xml.index("<Learner>")
    end = learner_xml.index("</Learner>")
    inner = learner_xml[start + len("<Learner>") : end].replace(
        "<Notes/>", "<Notes>Updated</Notes>"
    )
    body = envelope(
        f"""<reg:UpdateLearner xmlns:reg="{REGMSG}">{HEADER}<Learner>{inner}
        <ULN>{uln}</ULN><VersionNumber>1</VersionNumber></Learner></reg:UpdateLearner>"""
    )
    reply = post(server.url, body)
    assert reply.payload.tag == f"{{{REGMSG}}}UpdateLearnerResponse"
    assert children(reply.payload) == ["ResponseCode"]
    assert reply.text("ResponseCode") == "WSRC0006"
    stale = post(server.url, body)
    assert (stale.status, stale.fault_code) == (500, "WSEC0702")


def test_verify_raw(server, registered):
    person, uln = registered
    body = envelope(
        f"""<rep:VerifyLearner xmlns:rep="{REPORTMSG}">{HEADER}<LearnerToVerify>
        <ULN>{uln}</ULN><FamilyName>{person["FamilyName"]}</FamilyName>
        <GivenName>{person["GivenName"]}</GivenName><DateOfBirth/><Gender/>
        </LearnerToVerify></rep:VerifyLearner>"""
    )
    reply = post(server.url, body)
    verified = reply.payload.find("VerifiedLearner")
    assert children(verified) == [
        "SearchedULN",
        "SearchedFamilyName",
        "SearchedGivenName",
        "ResponseCode",
        "ULN",
        "FamilyName",
        "GivenName",
        "DateOfBirth",
        "Gender",
    ]
    assert verified.findtext("ResponseCode") == "WSVRC001"


def test_retrieve_raw(server, registered):
    _, uln = registered
    body = envelope(
        f"""<rep:RetrieveULNs xmlns:rep="{REPORTMSG}">{HEADER}<ULNsToRetrieve>
        <ULN>{uln}</ULN><ULN>1000000043</ULN></ULNsToRetrieve></rep:RetrieveULNs>"""
    )
    reply = post(server.url, body)
    items = reply.payload.findall("RetrievedULNs/VerifiedULN")
    assert [children(item) for item in items] == [
        ["ULN", "ResponseCode", "FamilyName", "GivenName", "DateOfBirth", "Gender"],
        ["ULN", "ResponseCode"],
    ]


def test_fault_shape(server):
    body = envelope(
        f"""<fin:FindLearnerByULN xmlns:fin="{FINDMSG}"><FindType>FUL</FindType>{HEADER}
        <ULN>1000000063</ULN><FamilyName>A</FamilyName><GivenName>B</GivenName>
        </fin:FindLearnerByULN>"""
    )
    reply = post(server.url, body)
    assert reply.status == 500
    fault = reply.payload
    assert children(fault) == ["faultcode", "faultstring", "detail"]
    detail = fault.find("detail")[0]
    assert detail.tag == "{http://api.lrs.miap.gov.uk/exceptions}MIAPAPIException"
    assert children(detail) == [
        "ErrorCode",
        "ErrorActor",
        "Description",
        "FurtherDetails",
        "ErrorTimestamp",
    ]
    assert detail.findtext("ErrorCode") == "WSEC0136"
