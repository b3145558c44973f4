"""The PLR service (LearnerServiceR9) end to end over HTTP: raw XML as a .NET client sends it,
and zeep from the served WSDL. Every answer is held to the XSDs by xmlschema."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests
import zeep
from lxml import etree

from miap.server.namespaces import PLR_FAULTS, XSI
from tests.support_plr import (
    ANALYST,
    AWARDER,
    PORTAL,
    REGISTRAR,
    REPORTER,
    STRANGER,
    M,
    add_event,
    ensure_organisations,
    events_in,
    learning_events,
    merge,
    plr_body,
    plr_post,
    plr_url,
    register,
)


@pytest.fixture(scope="module")
def world(db, server):
    """A sharing learner with four events (two owners, two restrictions), a learner who has
    not agreed to share, and a merged pair."""
    ensure_organisations(db)
    learner = register(db)
    plain = add_event(db, learner.uln, REPORTER.ukprn, subject="History")
    awarded = add_event(
        db, learner.uln, AWARDER.ukprn, source="AO", awarding=AWARDER.ukprn, level=None
    )
    private = add_event(db, learner.uln, REPORTER.ukprn, restriction="P", subject="Chemistry")
    own = add_event(db, learner.uln, REPORTER.ukprn, restriction="L", subject="Biology")
    silent = register(db, ability_to_share="2")
    add_event(db, silent.uln, REPORTER.ukprn)
    master, duplicate = register(db), register(db)
    add_event(db, master.uln, REPORTER.ukprn, subject="Master's")
    add_event(db, duplicate.uln, REPORTER.ukprn, subject="Duplicate's")
    merge(db, master.uln, duplicate.uln)
    return SimpleNamespace(
        url=server.url,
        learner=learner,
        ids=SimpleNamespace(plain=plain, awarded=awarded, private=private, own=own),
        silent=silent,
        master=master,
        duplicate=duplicate,
    )


def _ids(reply) -> set[int]:
    return {int(event.findtext(M + "ID")) for event in events_in(reply)}


def test_full_record_for_the_registering_provider(world):
    reply = learning_events(world.url, world.learner)
    assert reply.model("ResponseCode") == "WSRC0004"
    assert reply.model("FoundULN") == reply.model("IncomingULN") == world.learner.uln
    # The restricted events (P: owner only, L: the learner only) are not the registrar's.
    assert _ids(reply) == {world.ids.plain, world.ids.awarded}
    by_id = {int(e.findtext(M + "ID")): e for e in events_in(reply)}
    awarded = by_id[world.ids.awarded]
    assert awarded.findtext(M + "Source") == "QCFU"
    # Names absent from the return come from the provider register.
    assert awarded.findtext(M + "AwardingOrganisationName") == AWARDER.name
    assert by_id[world.ids.plain].findtext(M + "AchievementProviderName") == REPORTER.name
    assert awarded.find(M + "Level").get(f"{{{XSI}}}nil") == "true"
    plain = by_id[world.ids.plain]
    assert plain.findtext(M + "DateLoaded")[10] == " "  # YYYY-MM-DD HH:MM:SS
    names = [etree.QName(child).localname for child in plain]
    assert names == sorted(names, key=str.lower)  # data-contract order


def test_brief_carries_the_identifying_fields_only(world):
    reply = learning_events(world.url, world.learner, get_type="BRIEF")
    [event, *_] = events_in(reply)
    names = {etree.QName(child).localname for child in event}
    assert "ID" in names and "Subject" in names
    assert not names & {"ParticipationStartDate", "AchievementProviderName", "DateLoaded"}


def test_owner_sees_its_private_event_and_the_learner_sees_all(world):
    owner = learning_events(world.url, world.learner, REPORTER)
    assert _ids(owner) == {world.ids.plain, world.ids.awarded, world.ids.private}
    learner = learning_events(world.url, world.learner, PORTAL, "LNR", world.learner.uln)
    assert _ids(learner) == set(vars(world.ids).values())


def test_an_awarding_organisation_sees_what_it_awarded(world):
    reply = learning_events(world.url, world.learner, AWARDER, full_demographics=False)
    assert _ids(reply) == {world.ids.awarded}


def test_not_shared_is_wsec0206_with_no_events(world):
    reply = learning_events(world.url, world.silent)
    assert reply.model("ResponseCode") == "WSEC0206"
    assert events_in(reply) == []
    # The learner still sees their own record.
    own = learning_events(world.url, world.silent, PORTAL, "LNR", world.silent.uln)
    assert own.model("ResponseCode") == "WSRC0004" and len(events_in(own)) == 1


def test_details_that_do_not_verify_are_wsec0208(world):
    reply = learning_events(world.url, world.learner, given="Wrongname")
    assert reply.model("ResponseCode") == "WSEC0208"
    assert reply.model("FoundULN") == ""
    assert events_in(reply) == []


def test_a_linked_uln_answers_with_the_masters_record(world):
    # A client holding the old ULN asks with the learner's details (the master's).
    reply = learning_events(
        world.url, world.master, uln=world.duplicate.uln, given=world.master.given
    )
    assert reply.model("ResponseCode") == "WSRC0022"
    assert reply.model("FoundULN") == world.master.uln
    assert reply.model("IncomingULN") == world.duplicate.uln
    subjects = {e.findtext(M + "Subject") for e in events_in(reply)}
    assert subjects == {"Master's", "Duplicate's"}


def test_opt_out_takes_effect_on_the_next_request(world):
    learner = world.learner
    assert learning_events(world.url, learner).model("ResponseCode") == "WSRC0004"
    version = _learner(world.url, learner).findtext(f"{M}Learner/{M}VersionNumber")
    assert _update(world.url, learner, version, "-1").model("ResponseCode") == "WSRC0006"
    assert learning_events(world.url, learner).model("ResponseCode") == "WSEC0206"
    version = _learner(world.url, learner).findtext(f"{M}Learner/{M}VersionNumber")
    assert _update(world.url, learner, version, "1").model("ResponseCode") == "WSRC0006"
    assert learning_events(world.url, learner).model("ResponseCode") == "WSRC0004"


def _learner(url, person, org=REGISTRAR, user_type="ORG", username="tester"):
    params = [
        ("uln", person.uln),
        ("givenName", person.given),
        ("familyName", person.family),
        ("findType", "FUL"),
    ]
    return plr_post(
        url, "LearnerByUln", plr_body("LearnerByUln", params, org, user_type, username)
    ).result


def _update(url, person, version, ability="1", email="me@example.org", org=PORTAL, user_type="LNR"):
    params = [
        ("uln", person.uln),
        ("versionNumber", version),
        ("emailAddress", email),
        ("telephoneNumber", "01632 960000"),
        ("abilityToShare", ability),
        ("schoolAtAge16", None),
        ("preferredGivenName", None),
    ]
    body = plr_body("UpdateLearnerSubsetFields", params, org, user_type, person.uln)
    return plr_post(url, "UpdateLearnerSubsetFields", body)


def test_learner_by_uln_and_the_subset_update(world):
    learner = world.master
    found = _learner(world.url, learner)
    assert found.findtext(M + "ResponseCode") == "WSRC0004"
    assert found.findtext(f"{M}Learner/{M}AbilityToShare") == "1"
    version = found.findtext(f"{M}Learner/{M}VersionNumber")
    updated = _update(world.url, learner, version).result
    assert updated.findtext(M + "VersionNumber") == str(int(version) + 1)
    again = _learner(world.url, learner)
    assert again.findtext(f"{M}Learner/{M}EmailAddress") == "me@example.org"
    assert again.findtext(f"{M}Learner/{M}TelephoneNumber") == "01632 960000"
    # The same version again is stale: nothing changes.
    stale = _update(world.url, learner, version, email="other@example.org")
    assert stale.fault_code == "WSEC0702"


def test_get_organisation(world):
    def ask(params):
        body = plr_body("GetOrganisation", params, ANALYST, "SER")
        return plr_post(world.url, "GetOrganisation", body)

    found = ask([("ukPrn", REPORTER.ukprn), ("orgRef", None)])
    assert found.model("ResponseCode") == "WSRC0004"
    assert found.result.findtext(f"{M}Organisation/{M}Name") == REPORTER.name
    assert found.result.findtext(f"{M}Organisation/{M}Status") == "A"
    assert ask([("ukPrn", "19999999")]).model("ResponseCode") == "WSRC0001"
    assert ask([("ukPrn", None), ("orgRef", None)]).fault_code == "WSEC0001"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda p: [("uln", "1000000044"), *p[1:]], "WSEC0136"),  # fails its check digit
        (lambda p: [*p[:5], ("getType", "ALL")], "WSEC0001"),
        (lambda p: [*p[:3], ("dateOfBirth", "2001-02-30"), *p[4:]], "WSEC0001"),
        (lambda p: p[:4], "WSEC0001"),  # gender and getType missing
    ],
)
def test_bad_input_is_a_domain_fault(world, change, code):
    person = world.learner
    params = [
        ("uln", person.uln),
        ("givenName", person.given),
        ("familyName", person.family),
        ("dateOfBirth", person.dob),
        ("gender", person.gender),
        ("getType", "FULL"),
    ]
    body = plr_body("GetLearnerLearningEvents", change(params), vendor="vendorID")
    reply = plr_post(world.url, "GetLearnerLearningEvents", body)
    assert reply.status == 500 and reply.fault_code == code


def test_wrong_password_and_unknown_operation(world):
    wrong = REGISTRAR.__class__(REGISTRAR.ukprn, "WrongPassword001", "x")
    reply = learning_events(world.url, world.learner, wrong)
    assert reply.fault_code == "WSEC0801"
    unknown = plr_post(world.url, "Nope", plr_body("DeleteEverything", []))
    assert unknown.fault_code == "WSEC0907"


def test_refusals_are_domain_faults(world):
    assert learning_events(world.url, world.learner, ANALYST, "SER").fault_code == "WSEC0813"
    # Names only and no relation: refused, whoever the learner.
    stranger = learning_events(world.url, world.learner, STRANGER, full_demographics=False)
    assert stranger.fault_code == "WSEC0812"
    # Full demographics identify the learner to any provider, as the LRS allows.
    identified = learning_events(world.url, world.learner, STRANGER)
    assert identified.model("ResponseCode") == "WSRC0004"


def test_the_wsdl_is_served_and_zeep_calls_it(world):
    url = plr_url(world.url)
    wsdl = etree.fromstring(requests.get(url + "?wsdl", timeout=10).content)
    address = wsdl.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == url
    for element in wsdl.iter("{http://www.w3.org/2001/XMLSchema}import"):
        assert requests.get(element.get("schemaLocation"), timeout=10).status_code == 200
    client = zeep.Client(url + "?wsdl")
    person = world.learner
    result = client.service.GetLearnerLearningEvents(
        invokingOrganisation={
            "Password": REGISTRAR.password,
            "Ukprn": REGISTRAR.ukprn,
            "Username": "zeep",
        },
        userType="ORG",
        vendorID=7,
        language="ENG",
        uln=person.uln,
        givenName=person.given,
        familyName=person.family,
        dateOfBirth=person.dob,
        gender=person.gender,
        getType="FULL",
    )
    assert result.ResponseCode == "WSRC0004"
    assert {event.ID for event in result.LearnerRecord.LearningEvent} == {
        world.ids.plain,
        world.ids.awarded,
    }
    with pytest.raises(zeep.exceptions.Fault) as raised:
        client.service.GetOrganisation(
            invokingOrganisation={
                "Password": "WrongPassword001",
                "Ukprn": "10000002",
                "Username": "z",
            },
            userType="ORG",
            vendorId=7,
            language="ENG",
        )
    assert raised.value.detail.find(f"{{{PLR_FAULTS}}}DomainFault") is not None


def test_zeep_calls_every_operation(world):
    client = zeep.Client(plr_url(world.url) + "?wsdl")
    person = world.master
    common = {"vendorId": 3, "language": "ENG"}

    def organisation(org, username="zeep"):
        return {"Password": org.password, "Ukprn": org.ukprn, "Username": username}

    found = client.service.LearnerByUln(
        invokingOrganisation=organisation(REGISTRAR),
        userType="ORG",
        uln=person.uln,
        givenName=person.given,
        familyName=person.family,
        findType="FUL",
        **common,
    )
    assert (found.ResponseCode, found.Learner.ULN) == ("WSRC0004", person.uln)
    updated = client.service.UpdateLearnerSubsetFields(
        invokingOrganisation=organisation(PORTAL, person.uln),
        userType="LNR",
        uln=person.uln,
        versionNumber=found.Learner.VersionNumber,
        emailAddress="zeep@example.org",
        abilityToShare=1,
        **common,
    )
    assert updated.VersionNumber == found.Learner.VersionNumber + 1
    audit = client.service.ViewAudit(
        invokingOrganisation=organisation(PORTAL, person.uln),
        userType="LNR",
        learnerUln=person.uln,
        learnerGivenName=person.given,
        learnerFamilyName=person.family,
        page=1,
        **common,
    )
    assert [entry.Action for entry in audit.List.PlrAccessEntry][:2] == [
        "UpdateLearnerSubsetFields",
        "LearnerByUln",
    ]
    register_entry = client.service.GetOrganisation(
        invokingOrganisation=organisation(ANALYST),
        userType="SER",
        ukPrn=AWARDER.ukprn,
        **common,
    )
    assert register_entry.Organisation.Name == AWARDER.name
