"""getLearnerRecord on the LearnerService (the thirteenth national operation): the learner's
details and learning events, under the same access policy, consent and restrictions as the PLR
service. Raw XML and zeep, every message held to the XSDs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import zeep

from tests.support import envelope, post
from tests.support_plr import (
    ANALYST,
    PORTAL,
    REGISTRAR,
    REPORTER,
    add_event,
    ensure_organisations,
    learner_record_payload,
    merge,
    register,
)


@pytest.fixture(scope="module")
def world(db, server):
    ensure_organisations(db)
    learner = register(db)
    shown = add_event(db, learner.uln, REPORTER.ukprn, subject="Geography")
    hidden = add_event(db, learner.uln, REPORTER.ukprn, subject="Secret", restriction="L")
    silent = register(db, ability_to_share="0")
    master, duplicate = register(db), register(db)
    add_event(db, duplicate.uln, REPORTER.ukprn, subject="Moved")
    merge(db, master.uln, duplicate.uln)
    return SimpleNamespace(
        url=server.url,
        learner=learner,
        shown=shown,
        hidden=hidden,
        silent=silent,
        master=master,
        duplicate=duplicate,
    )


def ask(world, person, **caller):
    return post(world.url, envelope(learner_record_payload(person, **caller)))


def test_the_record_with_its_visible_events(world):
    reply = ask(world, world.learner)
    assert reply.text("ResponseCode") == "WSRC0004"
    assert reply.text("IncomingULN") == world.learner.uln
    assert reply.text("IncomingLastKnownPostCode") == world.learner.postcode
    assert reply.text("LearnerRecord/Learner/ULN") == world.learner.uln
    ids = [int(e.findtext("ID")) for e in reply.payload.iterfind(".//LearningEvent")]
    assert ids == [world.shown]
    event = reply.payload.find(".//LearningEvent")
    assert event.findtext("AchievementProviderName") == REPORTER.name
    assert event.findtext("Source") == "ILR"


def test_the_learner_sees_the_restricted_event(world):
    reply = ask(world, world.learner, org=PORTAL, user_type="LNR", username=world.learner.uln)
    ids = {int(e.findtext("ID")) for e in reply.payload.iterfind(".//LearningEvent")}
    assert ids == {world.shown, world.hidden}


def test_not_shared_and_not_verified(world):
    silent = ask(world, world.silent)
    assert silent.text("ResponseCode") == "WSEC0206"
    assert silent.payload.find("LearnerRecord") is None
    wrong = SimpleNamespace(**{**vars(world.learner), "dob": "2000-01-01"})
    unverified = ask(world, wrong)
    assert unverified.text("ResponseCode") == "WSEC0208"
    assert unverified.payload.find("LearnerRecord") is None


def test_a_linked_uln_answers_with_the_master(world):
    asked = SimpleNamespace(**{**vars(world.master), "uln": world.duplicate.uln})
    reply = ask(world, asked)
    assert reply.text("ResponseCode") == "WSRC0022"
    assert reply.text("IncomingULN") == world.duplicate.uln
    assert reply.text("LearnerRecord/Learner/ULN") == world.master.uln
    assert reply.text("LearnerRecord/Learner/MasterSubstituted") == "Y"
    assert [e.findtext("Subject") for e in reply.payload.iterfind(".//LearningEvent")] == ["Moved"]


def test_refusals_and_bad_input(world):
    assert ask(world, world.learner, org=ANALYST, user_type="SER").fault_code == "WSEC0813"
    bad = SimpleNamespace(**{**vars(world.learner), "uln": "1000000044"})
    assert ask(world, bad).fault_code == "WSEC0136"
    invalid = SimpleNamespace(**{**vars(world.learner), "gender": "7"})
    assert ask(world, invalid).fault_code == "WSEC0001"


def test_zeep_calls_get_learner_record(world):
    client = zeep.Client(world.url + "?wsdl").bind("LearnerService", "LearnerService")
    person = world.learner
    result = client.getLearnerRecord(
        UKPRN=REGISTRAR.ukprn,
        OrgPassword=REGISTRAR.password,
        UserName="zeep",
        UserType="ORG",
        LNRContactType="WEB",
        ULN=person.uln,
        FamilyName=person.family,
        GivenName=person.given,
        DateOfBirth=person.dob,
        Gender=person.gender,
        LastKnownPostCode=person.postcode,
    )
    assert result.ResponseCode == "WSRC0004"
    assert result.LearnerRecord.Learner.GivenName == person.given
    assert [e.ID for e in result.LearnerRecord.LearningEvents.LearningEvent] == [world.shown]


def test_the_client_library_reads_a_record(world):
    from miap.client import LrsClient

    person = world.learner
    with LrsClient(world.url, REGISTRAR.ukprn, REGISTRAR.password, "client") as lrs:
        result = lrs.learner_record(
            person.uln, person.given, person.family, person.dob, person.gender, person.postcode
        )
        assert result["ResponseCode"] == "WSRC0004"
        events = result["LearnerRecord"]["LearningEvents"]["LearningEvent"]
        assert [event["ID"] for event in events] == [world.shown]
        silent = world.silent
        hidden = lrs.learner_record(
            silent.uln, silent.given, silent.family, silent.dob, silent.gender
        )
        assert (hidden["ResponseCode"], hidden["LearnerRecord"]) == ("WSEC0206", None)
