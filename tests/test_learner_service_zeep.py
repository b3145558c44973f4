"""End to end with zeep, the way a Python MIS integration would call the service."""

from __future__ import annotations

import pytest
import zeep
from zeep.exceptions import Fault

from tests.conftest import TEST_PASSWORD, TEST_UKPRN
from tests.support import synthetic_person

HEADER = {"UKPRN": TEST_UKPRN, "OrgPassword": TEST_PASSWORD, "UserName": "zeep.tester"}


@pytest.fixture(scope="module")
def service(server):
    # Bound by the national service and port names, as generated strict clients bind.
    return zeep.Client(server.wsdl).bind("LearnerService", "LearnerService")


def to_register(person: dict, **extra) -> dict:
    return {**person, "VerificationType": "1", "AbilityToShare": "1", **extra}


def register(service, person: dict, **extra) -> str:
    reply = service.registerSingleLearner(**HEADER, Learner=to_register(person, **extra))
    assert reply.ResponseCode == "WSRC0005"
    return reply.ULN


def test_served_wsdl_loads_and_lists_the_operations(server):
    client = zeep.Client(server.wsdl)
    bound = client.bind("LearnerService", "LearnerService")
    operations = bound._binding._operations
    assert set(operations) == {
        "learnerByULN",
        "learnerByDemographics",
        "registerSingleLearner",
        "updateSingleLearner",
        "verifyLearner",
        "retrieveULNs",
        "getMergedUnmergedULNsReport",
        "getDeletedULNsReport",
        "submitBatchRegistration",
        "getBatchRegistrationOutput",
        "submitVerifyBatch",
        "getVerifyBatchOutput",
        "getLearnerRecord",
    }
    assert bound._binding_options["address"] == server.url


def test_register_then_find_by_uln_and_demographics(service):
    person = synthetic_person(Title="Ms", EmailAddress="learner@example.org")
    uln = register(service, person)

    by_uln = service.learnerByULN(
        FindType="FUL",
        **HEADER,
        ULN=uln,
        FamilyName=person["FamilyName"],
        GivenName=person["GivenName"],
    )
    assert by_uln.ResponseCode == "WSRC0004"
    [learner] = by_uln.Learner
    assert (learner.ULN, learner.GivenName, learner.Title) == (uln, person["GivenName"], "Ms")
    assert (learner.VersionNumber, learner.LearnerStatus, learner.AbilityToShare) == (1, "1", "1")
    assert learner.LinkedULNs is None and learner.MasterSubstituted is None

    by_demographics = service.learnerByDemographics(
        FindType="FUL",
        **HEADER,
        **{k: v for k, v in person.items() if k != "Title" and k != "EmailAddress"},
    )
    assert by_demographics.ResponseCode == "WSRC0004"
    assert [x.ULN for x in by_demographics.Learner] == [uln]
    assert by_demographics.FamilyName == person["FamilyName"]


def test_registering_twice_gives_wsrc0021_and_no_uln(service):
    person = synthetic_person()
    register(service, person)
    again = service.registerSingleLearner(**HEADER, Learner=to_register(person))
    assert (again.ResponseCode, again.ULN) == ("WSRC0021", None)


def test_find_by_uln_with_wrong_names_is_no_match(service):
    person = synthetic_person()
    uln = register(service, person)
    reply = service.learnerByULN(
        FindType="CHK", **HEADER, ULN=uln, FamilyName="Wrongname", GivenName=person["GivenName"]
    )
    assert (reply.ResponseCode, reply.Learner) == ("WSRC0001", [])


def test_possible_match_when_the_postcode_moved(service):
    person = synthetic_person(LastKnownPostCode="LS1 4AP")
    uln = register(service, person)
    reply = service.learnerByDemographics(
        FindType="FUL", **HEADER, **{**person, "LastKnownPostCode": "NE1 7RU"}
    )
    assert reply.ResponseCode == "WSRC0003"
    assert [x.ULN for x in reply.Learner] == [uln]


def test_update_with_current_and_stale_version(service):
    person = synthetic_person()
    uln = register(service, person)
    update = to_register(person, ULN=uln, VersionNumber=1, Notes="Moved to sixth form")
    # zeep unwraps a response with a single child to that child's value.
    assert service.updateSingleLearner(**HEADER, Learner=update) == "WSRC0006"
    with pytest.raises(Fault) as caught:
        service.updateSingleLearner(**HEADER, Learner={**update, "Notes": "stale"})
    assert caught.value.detail[0].findtext("ErrorCode") == "WSEC0702"
    found = service.learnerByULN(
        FindType="FUL",
        **HEADER,
        ULN=uln,
        FamilyName=person["FamilyName"],
        GivenName=person["GivenName"],
    )
    assert (found.Learner[0].VersionNumber, found.Learner[0].Notes) == (2, "Moved to sixth form")


def test_verify_codes_and_flags(service):
    person = synthetic_person()
    uln = register(service, person)

    def verify(**fields):
        return service.verifyLearner(**HEADER, LearnerToVerify={"ULN": uln, **fields})

    full = verify(
        FamilyName=person["FamilyName"],
        GivenName=person["GivenName"],
        DateOfBirth=person["DateOfBirth"],
        Gender=person["Gender"],
    )
    assert (full.ResponseCode, full.ULN, full.FailureFlag) == ("WSVRC001", uln, [])
    swapped = verify(FamilyName=person["GivenName"], GivenName=person["FamilyName"])
    assert swapped.ResponseCode == "WSVRC003"
    assert swapped.FailureFlag == ["VRF1", "VRF5"]
    wrong = verify(FamilyName="Otherperson", GivenName="Someone")
    assert wrong.ResponseCode == "WSVRC005"
    assert wrong.FamilyName is None and wrong.DateOfBirth is None  # nothing disclosed
    missing = service.verifyLearner(
        **HEADER, LearnerToVerify={"ULN": "1000000043", "FamilyName": "A", "GivenName": "B"}
    )
    assert missing.ResponseCode == "WSVRC006"


def test_retrieve_ulns_answers_each_in_order(service):
    person = synthetic_person()
    uln = register(service, person)
    reply = service.retrieveULNs(
        **HEADER, ULNsToRetrieve={"ULN": [uln, "1000000043", "1000000063"]}
    )
    items = reply  # zeep unwraps the single child RetrievedULNs down to its VerifiedULN list
    codes = [(item.ULN, item.ResponseCode) for item in items]
    assert codes == [(uln, "WSRC0004"), ("1000000043", "WSRC0001"), ("1000000063", "WSEC0136")]
    assert items[0].FamilyName == person["FamilyName"]


def test_invalid_check_digit_is_wsec0136(service):
    with pytest.raises(Fault) as caught:
        service.learnerByULN(
            FindType="FUL", **HEADER, ULN="1000000063", FamilyName="A", GivenName="B"
        )
    assert caught.value.detail[0].findtext("ErrorCode") == "WSEC0136"
