"""The SIF zone end to end over HTTP against a real ``miap serve``: agents register, subscribe,
publish LearnerPersonal events and get the ULN back (pull and push), request learners in
packets, route events and requests between each other, and meet every refusal the zone
answers with a SIF_Error. Every message both ways is held to ``xsd/sif/``."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from lxml import etree
from sqlalchemy import select

from miap.client.sif_agent import guid, uln_events
from miap.server.register.identifiers import is_valid_uln
from miap.storage.models import AuditEntry
from miap.storage.sif import SifAgent as SifAgentRow
from miap.storage.sif import SifProvision, SifSubscription
from tests.support import run_miap
from tests.support_sif import (
    CheckedListener,
    assert_sif_valid,
    error_of,
    laestab,
    lp,
    new_zone,
    pupil,
    text,
)

NS = "{http://www.sifinfo.org/uk/infrastructure/2.x}"


@pytest.fixture
def zone(server, db):
    return new_zone(server.url, db)


def registered(zone, school=None, subscribe=True, version="2.4"):
    school = school or laestab()
    agent = zone.agent(None, school, version=version)
    assert error_of(agent.register("Pull", versions=(version,))) is None
    if subscribe:
        assert error_of(agent.objects("SIF_Subscribe", "LearnerPersonal")) is None
    return agent


def pull_ulns(agent, count=1, timeout=30.0):
    messages = agent.pull_until(lambda got: len(list(uln_events(got))) >= count, timeout)
    return list(uln_events(messages))


def responses(agent, request_msg_id, timeout=30.0):
    """Every SIF_Response packet to ``request_msg_id``, pulled until the last one."""

    def last(got):
        return any(
            text(m, "SIF_Response/SIF_RequestMsgId") == request_msg_id
            and text(m, "SIF_Response/SIF_MorePackets") == "No"
            for m in got
        )

    got = agent.pull_until(last, timeout)
    return [m for m in got if text(m, "SIF_Response/SIF_RequestMsgId") == request_msg_id]


def learners_in(packets):
    return [lr for p in packets for lr in p.iter(f"{NS}LearnerPersonal")]


# -- the LearnerPersonal event and its ULN ---------------------------------------------------


def test_a_school_event_comes_back_with_a_uln_in_pull_mode(zone):
    agent = registered(zone)
    child = pupil(agent.laestab)
    reply = agent.event([lp(child)])
    assert reply.status == 0 and reply.error is None
    [(ref_id, upn, uln)] = pull_ulns(agent)
    assert ref_id == child.ref_id and upn == child.upn and is_valid_uln(uln)
    # A Change of the same pupil (same UPN) answers with the same ULN; so does another school's
    # event about them: the register matched them, it did not register them twice.
    agent.event([lp(child)], action="Change")
    assert pull_ulns(agent) == [(ref_id, upn, uln)]
    other = registered(zone)
    moved = pupil(
        other.laestab,
        family_name=child.family_name,
        given_name=child.given_name,
        birth_date=child.birth_date,
        gender=child.gender,
        postcode=child.postcode,
    )
    other.event([lp(moved)])
    assert pull_ulns(other)[0][2] == uln


def test_gender_is_carried_both_ways(zone):
    agent = registered(zone)
    for gender in "MFUW":
        child = pupil(agent.laestab, gender=gender)
        agent.event([lp(child)])
        [(_, _, uln)] = pull_ulns(agent)
        reply = agent.request("LearnerPersonal", [("ULN", uln)])
        assert reply.error is None
        [packet] = responses(
            agent, text(agent_last_sent(agent), "SIF_Request/SIF_Header/SIF_MsgId")
        )
        [found] = learners_in([packet])
        assert text(found, "PersonalInformation/Demographics/Gender") == gender


def agent_last_sent(agent):
    return etree.fromstring(agent.sent[-1])


def test_a_push_agent_gets_the_uln_posted_to_it(zone):
    agent = zone.agent(None, school := laestab())
    with CheckedListener(agent) as listener:
        assert error_of(agent.register("Push", listener.url)) is None
        assert error_of(agent.objects("SIF_Subscribe", "LearnerPersonal")) is None
        children = [pupil(school) for _ in range(3)]
        for child in children:
            assert agent.event([lp(child)]).status == 0
        messages = listener.take(3)
    answers = {ref: (upn, uln) for ref, upn, uln in uln_events(messages)}
    assert set(answers) == {child.ref_id for child in children}
    assert all(is_valid_uln(uln) for _, uln in answers.values())
    # Delivered in order, one at a time, each released by the listener's ack.
    assert [r for r, _, _ in uln_events(messages)] == [c.ref_id for c in children]


def test_a_push_in_flight_holds_no_database_lock(zone):
    """On SQLite every writing transaction holds the database's one write lock. The POST to a
    push agent is made before its delivery's transaction opens, so an agent slow to answer
    does not stop every other write (a registration, an audit entry) while it takes its time."""
    if zone.db.dialect != "sqlite":
        pytest.skip("PostgreSQL locks rows, not the database")
    arrived, answer = threading.Event(), threading.Event()

    class SlowListener(CheckedListener):
        def receive(self, body: bytes) -> bytes:
            arrived.set()
            answer.wait(60)
            return super().receive(body)

    agent = zone.agent(None, school := laestab())
    with SlowListener(agent) as listener:
        assert error_of(agent.register("Push", listener.url)) is None
        assert error_of(agent.objects("SIF_Subscribe", "LearnerPersonal")) is None
        assert agent.event([lp(pupil(school))]).status == 0
        assert arrived.wait(60)
        # The zone is waiting for the agent's answer: a writer of our own gets the lock.
        writer = sqlite3.connect(zone.db.url.removeprefix("sqlite:///"), timeout=2)
        try:
            writer.execute("BEGIN IMMEDIATE")  # "database is locked" while a writer holds it
            writer.rollback()
        finally:
            writer.close()
            answer.set()
        [(_, _, uln)] = uln_events(listener.take(1))
    assert is_valid_uln(uln)


def test_every_supported_version_is_answered_in_its_own_version(zone):
    for version in ("2.0r1", "2.1", "2.3", "2.4"):
        agent = registered(zone, version=version)
        reply = agent.event([lp(pupil(agent.laestab))])
        assert reply.root.get("Version") == version
        message = agent.pull_until(bool)[0]
        assert message.get("Version") == version
    wildcard = zone.agent(None, laestab())
    assert wildcard.register("Pull", versions=("2.*",)).root.get("Version") == "2.4"


# -- visibility --------------------------------------------------------------------------------


def test_a_school_never_sees_another_schools_pupils(zone):
    first, second = registered(zone), registered(zone)
    child = pupil(first.laestab)
    first.event([lp(child)])
    [(_, _, uln)] = pull_ulns(first)
    for conditions in (
        [("UPN", child.upn)],
        [("ULN", uln)],
        [("PersonalInformation/Name/FamilyName", child.family_name)],
        [],
    ):
        reply = second.request("LearnerPersonal", conditions)
        assert reply.error is None
        msg_id = text(agent_last_sent(second), "SIF_Request/SIF_Header/SIF_MsgId")
        found = learners_in(responses(second, msg_id))
        assert uln not in [text(lr, "ULN") for lr in found], conditions
    # The second school heard nothing of the first school's pupil.
    assert list(uln_events(second.pull_until(lambda got: True))) == []
    # The first school sees its own pupil by UPN.
    first.request("LearnerPersonal", [("UPN", child.upn)])
    msg_id = text(agent_last_sent(first), "SIF_Request/SIF_Header/SIF_MsgId")
    [found] = learners_in(responses(first, msg_id))
    assert text(found, "ULN") == uln and text(found, "UPN") == child.upn


def test_full_demographics_find_a_learner_as_the_learner_service_does(zone):
    first, second = registered(zone), registered(zone)
    child = pupil(first.laestab)
    first.event([lp(child)])
    [(_, _, uln)] = pull_ulns(first)
    second.request(
        "LearnerPersonal",
        [
            ("PersonalInformation/Name/FamilyName", child.family_name),
            ("PersonalInformation/Name/GivenName", child.given_name),
            ("PersonalInformation/Demographics/BirthDate", child.birth_date),
            ("PersonalInformation/Demographics/Gender", child.gender),
            ("PersonalInformation/Address/PostCode", child.postcode),
        ],
    )
    msg_id = text(agent_last_sent(second), "SIF_Request/SIF_Header/SIF_MsgId")
    found = learners_in(responses(second, msg_id))
    assert [text(lr, "ULN") for lr in found] == [uln]
    assert text(found[0], "UPN") is None  # the other school's UPN is not disclosed


# -- request and response packets --------------------------------------------------------------


def test_a_large_answer_comes_in_packets_that_fit_the_buffer(zone):
    agent = registered(zone)
    children = [pupil(agent.laestab) for _ in range(14)]
    for child in children:
        agent.event([lp(child)])
    pull_ulns(agent, count=14)
    request_id = guid()
    assert agent.request("LearnerPersonal", max_buffer=4096, msg_id=request_id).error is None
    packets = responses(agent, request_id)
    assert len(packets) >= 2
    assert [int(text(p, "SIF_Response/SIF_PacketNumber")) for p in packets] == list(
        range(1, len(packets) + 1)
    )
    assert [text(p, "SIF_Response/SIF_MorePackets") for p in packets] == ["Yes"] * (
        len(packets) - 1
    ) + ["No"]
    assert all(len(etree.tostring(p)) <= 4096 for p in packets)
    assert {text(lr, "UPN") for lr in learners_in(packets)} == {c.upn for c in children}


# -- routing between agents --------------------------------------------------------------------


def test_events_requests_and_responses_are_routed_between_agents(zone):
    provider, consumer = registered(zone, subscribe=False), registered(zone, subscribe=False)
    zone.permit(provider, "TeachingGroup", "provide", "respond", "add")
    zone.permit(consumer, "TeachingGroup", "subscribe", "request")
    assert error_of(provider.objects("SIF_Provide", "TeachingGroup")) is None
    assert error_of(consumer.objects("SIF_Subscribe", "TeachingGroup")) is None
    group = etree.Element(f"{NS}TeachingGroup", RefId=guid())
    etree.SubElement(group, f"{NS}ShortName").text = "7X"
    event_id = guid()
    assert provider.event([group], object_name="TeachingGroup", msg_id=event_id).status == 0
    [event] = consumer.pull_until(bool)
    assert text(event, "SIF_Event/SIF_Header/SIF_MsgId") == event_id
    assert text(event, "SIF_Event/SIF_Header/SIF_SourceId") == provider.source_id
    # The request goes to the provider; its packets come back to the requester, split again
    # where one is larger than the requester's SIF_MaxBufferSize.
    request_id = guid()
    assert consumer.request("TeachingGroup", max_buffer=4096, msg_id=request_id).error is None
    [request] = provider.pull_until(bool)
    assert text(request, "SIF_Request/SIF_Header/SIF_MsgId") == request_id
    assert text(request, "SIF_Request/SIF_MaxBufferSize") == "4096"
    assert provider.respond(request_id, 1, True, [group]).error is None
    assert error_of(provider.respond(request_id, 3, False, [group])) == (8, 12)
    many = []
    for n in range(60):
        other = etree.Element(f"{NS}TeachingGroup", RefId=guid())
        etree.SubElement(other, f"{NS}ShortName").text = f"group {n}"
        many.append(other)
    assert provider.respond(request_id, 2, False, many).error is None
    packets = responses(consumer, request_id)
    assert len(packets) >= 3
    assert [text(p, "SIF_Response/SIF_PacketNumber") for p in packets] == [
        str(n) for n in range(1, len(packets) + 1)
    ]
    assert [text(p, "SIF_Response/SIF_MorePackets") for p in packets][-2:] == ["Yes", "No"]
    assert all(len(etree.tostring(p)) <= 4096 for p in packets)
    assert len([g for p in packets for g in p.iter(f"{NS}TeachingGroup")]) == 61
    # The request is answered: a further packet is refused.
    assert error_of(provider.respond(request_id, 3, False, [group])) == (8, 10)


# -- exactly once ------------------------------------------------------------------------------


def test_a_repeated_msg_id_is_answered_7_and_not_processed_again(zone):
    agent = registered(zone)
    message = agent.event_message([lp(pupil(agent.laestab))])
    assert agent.send(message).status == 0
    assert agent.send(message).status == 7
    pull_ulns(agent)
    assert agent.pull() is None  # one ULN event, not two
    # The same message sent four times at once is still processed once.
    message = agent.event_message([lp(pupil(agent.laestab))])
    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(lambda _: agent.send(message).status, range(4)))
    assert statuses == [0, 7, 7, 7]
    pull_ulns(agent)
    assert agent.pull() is None


# -- sleep, wake-up, ping and zone status ------------------------------------------------------


def test_sleep_and_wakeup(zone):
    provider, consumer = registered(zone, subscribe=False), registered(zone, subscribe=False)
    zone.permit(provider, "TimeTable", "provide", "respond")
    zone.permit(consumer, "TimeTable", "request")
    provider.objects("SIF_Provide", "TimeTable")
    assert provider.control("SIF_Ping").status == 0
    assert provider.control("SIF_Sleep").status == 0
    assert provider.control("SIF_Ping").status == 8
    assert consumer.request("TimeTable").status == 8
    assert provider.pull() is None
    assert provider.control("SIF_Wakeup").status == 0
    assert consumer.request("TimeTable").status == 0
    assert provider.pull() is not None
    status = consumer.control("SIF_GetZoneStatus")
    [zone_status] = status.data
    nodes = {text(n, "SIF_SourceId") for n in zone_status.iter(f"{NS}SIF_SIFNode")}
    assert {provider.source_id, consumer.source_id} <= nodes
    [acl] = provider.control("SIF_GetAgentACL").data
    provided = acl.find(f"{NS}SIF_ProvideAccess")
    assert [o.get("ObjectName") for o in provided] == ["TimeTable"]
    assert [o.get("ObjectName") for o in acl.find(f"{NS}SIF_PublishAddAccess")] == [
        "LearnerPersonal"
    ]


# -- refusals ----------------------------------------------------------------------------------


def test_http_authentication(zone):
    agent = registered(zone)
    body = etree.tostring(agent.message("SIF_SystemControl")[0])
    url = agent.url
    assert requests.post(url, data=body, timeout=10).status_code == 401
    wrong = requests.post(url, data=body, auth=(agent.source_id, "not-the-secret"), timeout=10)
    assert wrong.status_code == 401 and "Basic" in wrong.headers["WWW-Authenticate"]
    nowhere = url.rsplit("/", 1)[0] + "/NoSuchZone"
    assert requests.post(nowhere, data=body, auth=agent.http.auth, timeout=10).status_code == 401
    assert requests.get(url, auth=agent.http.auth, timeout=10).status_code == 405


def test_each_refusal_has_its_category_and_code(zone):
    agent = zone.agent(None, laestab())
    # 4/9: not registered yet.
    assert error_of(agent.objects("SIF_Subscribe", "LearnerPersonal")) == (4, 9)
    # 5/4: no version we speak; 5/6: a buffer too small.
    assert error_of(agent.register("Pull", versions=("1.5r1",))) == (5, 4)
    assert error_of(agent.register("Pull", max_buffer=1024)) == (5, 6)
    assert error_of(agent.register("Push")) == (5, 1)  # push without a URL
    assert agent.register("Pull").error is None
    # 1/2 not well-formed; 1/x schema; 3/1 another agent's SourceId in the header.
    assert error_of(agent.send_raw(b"<SIF_Message")) == (1, 2)
    root, body = agent.message("SIF_Subscribe")
    assert error_of(agent.send_raw(etree.tostring(root)))[0] == 1  # SIF_Object missing
    root, body = agent.message("SIF_SystemControl")
    body.find(f"{NS}SIF_Header/{NS}SIF_SourceId").text = "somebody-else"
    etree.SubElement(etree.SubElement(body, f"{NS}SIF_SystemControlData"), f"{NS}SIF_Ping")
    assert error_of(agent.send(root)) == (3, 1)
    # 5/4: a message in a version we do not speak.
    root, body = agent.message("SIF_SystemControl")
    root.set("Version", "3.0")
    etree.SubElement(etree.SubElement(body, f"{NS}SIF_SystemControlData"), f"{NS}SIF_Ping")
    assert error_of(agent.send(root)) == (5, 4)
    # 4/x: rights.
    assert error_of(agent.objects("SIF_Subscribe", "TeachingGroup")) == (4, 4)
    assert error_of(agent.objects("SIF_Provide", "TeachingGroup")) == (4, 3)
    assert error_of(agent.request("TeachingGroup")) == (4, 5)
    assert error_of(agent.event([lp(pupil(agent.laestab))], action="Delete")) == (4, 12)
    zone.deny(agent, "LearnerPersonal", "add")
    assert error_of(agent.event([lp(pupil(agent.laestab))])) == (4, 10)
    zone.permit(agent, "LearnerPersonal", "add", "provide")
    # 6/2: the zone provides LearnerPersonal itself; another agent's object.
    assert error_of(agent.objects("SIF_Provide", "LearnerPersonal")) == (6, 2)
    other = registered(zone, subscribe=False)
    zone.permit(other, "Timetable", "provide")
    zone.permit(agent, "Timetable", "provide", "request")
    assert other.objects("SIF_Provide", "Timetable").error is None
    assert error_of(agent.objects("SIF_Provide", "Timetable")) == (6, 2)
    assert error_of(agent.objects("SIF_Unprovide", "Timetable")) == (6, 3)
    # 8/4: nobody provides it.
    zone.permit(agent, "SchoolInfo", "request")
    assert error_of(agent.request("SchoolInfo")) == (8, 4)
    # 8/10: a response to a request nobody made.
    zone.permit(agent, "Timetable", "respond")
    assert error_of(agent.respond(guid(), 1, False, [])) == (8, 10)
    # 1/6 and 1/4: a pupil without a birth date; a UPN failing its check letter.
    child = lp(pupil(agent.laestab))
    birth = child.find(f"{NS}PersonalInformation/{NS}Demographics/{NS}BirthDate")
    birth.getparent().remove(birth)
    assert error_of(agent.event([child])) == (1, 6)
    bad = pupil(agent.laestab)
    bad.upn = ("B" if bad.upn[0] != "B" else "C") + bad.upn[1:]
    assert error_of(agent.event([lp(bad)])) == (1, 4)
    # Category 1: LearnerPersonal's elements out of the schema's order (ULN before UPN).
    misordered = lp(pupil(agent.laestab))
    etree.SubElement(misordered, f"{NS}ULN").text = "1234567890"
    misordered.append(misordered.find(f"{NS}UPN"))
    assert error_of(agent.send_raw(etree.tostring(agent.event_message([misordered]))))[0] == 1
    # 12/1: an ack of nothing waiting.
    assert error_of(agent.ack(agent.message("SIF_Event")[0])) == (12, 1)
    # 8/9: an unsupported query is answered in a SIF_Response carrying SIF_Error.
    request_id = guid()
    agent.request("LearnerPersonal", [("PersonalInformation/Email", "x")], msg_id=request_id)
    [packet] = responses(agent, request_id)
    assert text(packet, "SIF_Response/SIF_Error/SIF_Category") == "8"
    assert text(packet, "SIF_Response/SIF_Error/SIF_Code") == "9"


def test_a_provision_sets_what_the_agent_provides_and_subscribes_to(zone, db):
    agent = registered(zone, subscribe=False)
    other = registered(zone, subscribe=False)
    zone.permit(agent, "TeachingGroup", "provide", "respond")
    zone.permit(agent, "Timetable", "provide", "subscribe")
    zone.permit(other, "Timetable", "provide")
    assert other.objects("SIF_Provide", "Timetable").error is None

    def held() -> tuple[list[str], list[str]]:
        """What the agent provides and what it subscribes to, as stored."""
        with db.reading() as session:
            agent_id = session.scalar(
                select(SifAgentRow.id).where(SifAgentRow.source_id == agent.source_id)
            )
            return tuple(
                sorted(session.scalars(select(model.object_name).where(model.agent_id == agent_id)))
                for model in (SifProvision, SifSubscription)
            )

    # each list's right, and a provided object nobody else provides; or nothing changes
    refused = [
        ({"Provide": ["TeachingGroup"], "Subscribe": ["SchoolInfo"]}, (4, 4)),
        ({"Provide": ["SchoolInfo"]}, (4, 3)),
        ({"PublishAdd": ["TeachingGroup"]}, (4, 10)),
        ({"PublishChange": ["TeachingGroup"]}, (4, 11)),
        ({"PublishDelete": ["LearnerPersonal"]}, (4, 12)),
        ({"Request": ["Timetable"]}, (4, 5)),
        ({"Respond": ["Timetable"]}, (4, 6)),
        ({"Provide": ["TeachingGroup", "Timetable"]}, (6, 2)),
    ]
    for lists, wanted in refused:
        assert error_of(agent.provision(**lists)) == wanted, lists
    assert held() == ([], [])
    reply = agent.provision(
        Provide=["TeachingGroup"], Subscribe=["LearnerPersonal", "Timetable"],
        PublishAdd=["LearnerPersonal"], Request=["LearnerPersonal"], Respond=["TeachingGroup"],
    )  # fmt: skip
    assert reply.error is None and reply.status == 0
    assert held() == (["TeachingGroup"], ["LearnerPersonal", "Timetable"])
    # the next provision replaces it whole: left out is unprovided and unsubscribed
    assert agent.provision(Subscribe=["LearnerPersonal"]).error is None
    assert held() == ([], ["LearnerPersonal"])
    # and a provided object is one the zone routes requests for
    assert agent.provision(Provide=["TeachingGroup"]).error is None
    consumer = registered(zone, subscribe=False)
    zone.permit(consumer, "TeachingGroup", "request")
    request_id = guid()
    assert consumer.request("TeachingGroup", msg_id=request_id).error is None
    [request] = agent.pull_until(bool)
    assert text(request, "SIF_Request/SIF_Header/SIF_MsgId") == request_id


def test_unregister_ends_registration(zone):
    agent = registered(zone)
    assert agent.unregister().error is None
    assert error_of(agent.control("SIF_Ping")) == (4, 9)


# -- the reference agent's command -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["pull", "push"])
def test_the_reference_agent_command(zone, tmp_path, mode):
    agent = zone.agent(None, school := laestab())
    children = [pupil(school) for _ in range(2)]
    csv = tmp_path / "pupils.csv"
    csv.write_text(
        "UPN,Surname,Forename,DOB,Gender,Postcode\n"
        + "".join(
            f"{c.upn},{c.family_name},{c.given_name},{c.birth_date},{c.gender},{c.postcode}\n"
            for c in children
        )
    )
    secret = agent.http.auth[1]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "miap.client",
            "sif-agent",
            "--url",
            zone.url,
            "--source-id",
            agent.source_id,
            "--secret",
            secret,
            "--csv",
            str(csv),
            "--mode",
            mode,
            "--wait",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [line[1] for line in lines] == [c.upn for c in children]
    assert all(is_valid_uln(line[2]) for line in lines)


def test_messages_are_held_to_the_schema_by_the_helpers(zone):
    # The helpers themselves refuse an invalid message: the checks above cannot pass vacuously.
    agent = zone.agent(None, laestab())
    root, _ = agent.message("SIF_Subscribe")
    with pytest.raises(Exception):  # noqa: B017,PT011 - xmlschema's validation error
        assert_sif_valid(root)


# -- the census and the audit ------------------------------------------------------------------


def test_a_schools_census_pupils_are_its_own_and_reads_are_audited(zone, db, tmp_path):
    agent = registered(zone)
    child = pupil(agent.laestab)
    extract = tmp_path / "census.csv"
    extract.write_text(
        "UPN,Surname,Forename,MiddleNames,PreferredSurname,PreferredForename,DOB,Gender,"
        "Postcode,LAESTAB,NCYearActual\n"
        f"{child.upn},{child.family_name},{child.given_name},,,,{child.birth_date},"
        f"{child.gender},{child.postcode},{agent.laestab},7\n"
    )
    run_miap("census", "load", str(extract), "--db", zone.db.url, "--no-progress")
    request_id = guid()
    agent.request("LearnerPersonal", [("UPN", child.upn)], msg_id=request_id)
    [found] = learners_in(responses(agent, request_id))
    uln = text(found, "ULN")
    assert is_valid_uln(uln)
    # The school's own event about the census pupil answers with the census ULN.
    agent.event([lp(child)])
    assert pull_ulns(agent)[0][2] == uln
    other = registered(zone)
    request_id = guid()
    other.request("LearnerPersonal", [("UPN", child.upn)], msg_id=request_id)
    assert learners_in(responses(other, request_id)) == []
    with db.reading() as session:
        rows = session.execute(
            select(AuditEntry.operation, AuditEntry.user_name).where(
                AuditEntry.uln == uln, AuditEntry.route == "SIF"
            )
        ).all()
    assert ("SIF_Request LearnerPersonal", agent.source_id) in rows
    assert ("SIF_Event LearnerPersonal Add", agent.source_id) in rows


def test_a_deactivated_providers_agent_is_refused_at_once(zone):
    agent = zone.agent(None, laestab())
    assert error_of(agent.register("Pull", versions=("2.4",))) is None
    with zone.db.transaction() as session:
        ukprn = session.scalar(
            select(SifAgentRow.ukprn).where(SifAgentRow.source_id == agent.source_id)
        )
    run_miap("provider", "set-status", "--db", zone.db.url, "--ukprn", ukprn, "--status", "PD1")
    assert error_of(agent.objects("SIF_Subscribe", "LearnerPersonal")) == (4, 1)
    run_miap("provider", "set-status", "--db", zone.db.url, "--ukprn", ukprn, "--status", "A")
    assert error_of(agent.objects("SIF_Subscribe", "LearnerPersonal")) is None
