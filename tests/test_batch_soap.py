"""SOAP batches end to end over HTTP: the four operations with zeep (bound by the national
names) and as raw XML, every message held to the published schemas in and out (xmlschema, a
second validator; the server runs with --validate-responses), and each refusal."""

from __future__ import annotations

import time

import pytest
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin

from miap.server.namespaces import BATCHMSG, VLDMSG
from tests.conftest import TEST_PASSWORD, TEST_UKPRN
from tests.support import assert_valid, envelope, post, run_miap, synthetic_person

HEADER = {"UKPRN": TEST_UKPRN, "OrgPassword": TEST_PASSWORD, "UserName": "batch.tester"}
RAW_HEADER = f"""<OrganisationRef xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>
<UKPRN>{TEST_UKPRN}</UKPRN><OrgPassword>{TEST_PASSWORD}</OrgPassword><UserName>mis.batch</UserName>"""
OTHER_UKPRN, OTHER_PASSWORD = "10000077", "OtherCollege0001"
#: A ULN whose check digit is wrong (valid shape, so the schema lets it through).
BAD_CHECK_DIGIT = "1000000063"


class Checked(HistoryPlugin):
    """Holds every message zeep sends and receives to the schemas (xmlschema)."""

    def egress(self, envelope, http_headers, operation, binding_options):  # noqa: ANN001
        assert_valid(_payload(envelope))
        return envelope, http_headers

    def ingress(self, envelope, http_headers, operation):  # noqa: ANN001
        body = _payload(envelope)
        fault = body.find("detail")
        assert_valid(fault[0] if fault is not None else body)
        return envelope, http_headers


def _payload(envelope: etree._Element) -> etree._Element:
    body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    return body[0]


@pytest.fixture(scope="module")
def service(server):
    client = zeep.Client(server.wsdl, plugins=[Checked()])
    return client.bind("LearnerService", "LearnerService")


@pytest.fixture(scope="module")
def other_provider(database_url):
    run_miap(
        "provider", "add", "--db", database_url, "--ukprn", OTHER_UKPRN,
        "--name", "Other College", "--org-password", OTHER_PASSWORD,
    )  # fmt: skip
    return {"UKPRN": OTHER_UKPRN, "OrgPassword": OTHER_PASSWORD, "UserName": "other"}


def batch_learner(person: dict, mis: str, **extra: str) -> dict:
    return {"MISIdentifier": mis, **person, **extra}


def wait_for(service, operation: str, job_id: int, header: dict = HEADER):  # noqa: ANN001
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        reply = getattr(service, operation)(**header, JobID=job_id)
        if reply.ResponseCode == "WSRC0032":
            return reply
        assert reply.ResponseCode == "WSRC0031"
        assert reply.JobStatus in ("QUEUED", "RUNNING")
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def register(service, person: dict, **extra) -> str:  # noqa: ANN001
    learner = {**person, "VerificationType": "1", "AbilityToShare": "1", **extra}
    reply = service.registerSingleLearner(**HEADER, Learner=learner)
    assert reply.ResponseCode == "WSRC0005"
    return reply.ULN


# -- submitBatchRegistration / getBatchRegistrationOutput with zeep -------------------------


def test_full_batch_registers_finds_and_rejects(service):
    known = synthetic_person()
    known_uln = register(service, known)
    fresh = [synthetic_person() for _ in range(3)]
    sent = [
        *(batch_learner(person, f"NEW-{n}") for n, person in enumerate(fresh)),
        # Already registered: found, and the email the register lacks is filled in.
        batch_learner(known, "KNOWN", EmailAddress="known@example.org"),
        # Registered, found by ULN (the demographics are not needed then).
        {"ULN": known_uln, "MISIdentifier": "BY-ULN", "GivenName": known["GivenName"],
         "FamilyName": known["FamilyName"]},
        batch_learner(synthetic_person(DateOfBirth="2009-02-30"), "BAD-DATE"),
        batch_learner(synthetic_person(), "BAD-ULN", ULN=BAD_CHECK_DIGIT),
        {"MISIdentifier": "NO-DOB", "GivenName": "Ann", "FamilyName": "Testwood"},
    ]  # fmt: skip
    reply = service.submitBatchRegistration(
        **HEADER, JobType="FUL", LearnerRecordCount=len(sent), Learner=sent
    )
    assert reply.ResponseCode == "WSRC0030" and reply.JobID > 0
    out = wait_for(service, "getBatchRegistrationOutput", reply.JobID)
    assert out.JobStatus == "FINISHED"
    assert out.JobStartedDateTime <= out.JobFinishedDateTime
    counts = (
        out.NewLearnersCount,
        out.ExistsUpdatedLearnersCount,
        out.PossibleMatchLearnersCount,
        out.LearnersNotFoundCount,
        out.RejectedLearnersCount,
    )
    assert counts == (3, 2, 0, 0, 3) and sum(counts) == len(sent)
    answers = {learner.MISIdentifier: learner for learner in out.Learner}
    assert [learner.MISIdentifier for learner in out.Learner] == [s["MISIdentifier"] for s in sent]
    for n, person in enumerate(fresh):
        answer = answers[f"NEW-{n}"]
        assert answer.ReturnCode == "WSRC0005" and answer.ULN
        assert (answer.GivenName, answer.DateOfBirth) == (
            person["GivenName"],
            person["DateOfBirth"],
        )
    assert (answers["KNOWN"].ReturnCode, answers["KNOWN"].ULN) == ("WSRC0004", known_uln)
    assert answers["KNOWN"].EmailAddress == "known@example.org"
    assert (answers["BY-ULN"].ReturnCode, answers["BY-ULN"].ULN) == ("WSRC0004", known_uln)
    assert answers["BAD-DATE"].ReturnCode == "WSEC0001"
    assert answers["BAD-ULN"].ReturnCode == "WSEC0136"
    assert answers["NO-DOB"].ReturnCode == "WSEC0001"
    found = service.learnerByULN(
        FindType="FUL", **HEADER, ULN=known_uln,
        FamilyName=known["FamilyName"], GivenName=known["GivenName"],
    )  # fmt: skip
    assert found.Learner[0].EmailAddress == "known@example.org"
    assert found.Learner[0].VersionNumber == 2


def test_check_batch_only_looks_up(service):
    known = synthetic_person()
    known_uln = register(service, known)
    stranger = synthetic_person()
    sent = [batch_learner(known, "A"), batch_learner(stranger, "B")]
    reply = service.submitBatchRegistration(
        **HEADER, JobType="CHK", LearnerRecordCount=2, Learner=sent
    )
    out = wait_for(service, "getBatchRegistrationOutput", reply.JobID)
    assert [(learner.ReturnCode, learner.ULN) for learner in out.Learner] == [
        ("WSRC0004", known_uln),
        ("WSRC0001", None),
    ]
    assert (out.NewLearnersCount, out.LearnersNotFoundCount) == (0, 1)
    again = service.learnerByDemographics(
        FindType="FUL", **HEADER, FamilyName=stranger["FamilyName"],
        GivenName=stranger["GivenName"], DateOfBirth=stranger["DateOfBirth"],
        Gender=stranger["Gender"], LastKnownPostCode=stranger["LastKnownPostCode"],
    )  # fmt: skip
    assert again.ResponseCode == "WSRC0001"  # CHK registered nobody


def test_possible_matches_are_not_registered(service):
    known = synthetic_person()
    register(service, known)
    # One letter off in the given name: a possible match, for the provider to resolve.
    slip = dict(known, GivenName=known["GivenName"][:-2] + known["GivenName"][-1])
    reply = service.submitBatchRegistration(
        **HEADER, JobType="FUL", LearnerRecordCount=1, Learner=[batch_learner(slip, "SLIP")]
    )
    out = wait_for(service, "getBatchRegistrationOutput", reply.JobID)
    assert out.Learner[0].ReturnCode == "WSRC0003" and out.Learner[0].ULN is None
    assert out.PossibleMatchLearnersCount == 1


# -- submitVerifyBatch / getVerifyBatchOutput with zeep -------------------------------------


def test_verify_batch_answers_each_learner_as_verify_learner(service):
    person = synthetic_person()
    uln = register(service, person)
    sent = [
        {"MISIdentifier": "OK", "ULN": uln, "FamilyName": person["FamilyName"],
         "GivenName": person["GivenName"], "DateOfBirth": person["DateOfBirth"],
         "Gender": person["Gender"]},
        {"MISIdentifier": "WRONG", "ULN": uln, "FamilyName": "Zzyzxwv",
         "GivenName": "Qwertyu"},
        {"MISIdentifier": "NONE", "ULN": "1000000043", "FamilyName": "Anybody",
         "GivenName": "Someone"},
        {"MISIdentifier": "BAD", "ULN": BAD_CHECK_DIGIT, "FamilyName": "Anybody",
         "GivenName": "Someone"},
    ]  # fmt: skip
    reply = service.submitVerifyBatch(**HEADER, LearnerRecordCount=4, Learner=sent)
    assert reply.ResponseCode == "WSRC0030"
    out = wait_for(service, "getVerifyBatchOutput", reply.JobID)
    assert out.JobStatus == "FINISHED" and len(out.VerifiedLearner) == 4
    ok, wrong, none, bad = out.VerifiedLearner
    assert (ok.MISIdentifier, ok.ResponseCode, ok.ULN) == ("OK", "WSVRC001", uln)
    assert ok.DateOfBirth == person["DateOfBirth"] and not ok.FailureFlag
    single = service.verifyLearner(
        **HEADER, LearnerToVerify={k: v for k, v in sent[1].items() if k != "MISIdentifier"}
    )
    assert wrong.ResponseCode == single.ResponseCode == "WSVRC005"
    assert list(wrong.FailureFlag) == list(single.FailureFlag) and wrong.ULN is None
    assert none.ResponseCode == "WSVRC006" and none.SearchedULN == "1000000043"
    assert bad.ResponseCode == "WSEC0136"


# -- refusals ---------------------------------------------------------------------------------


def test_count_mismatch_refuses_the_whole_batch(service):
    sent = [batch_learner(synthetic_person(), "X"), batch_learner(synthetic_person(), "Y")]
    with pytest.raises(Fault) as caught:
        service.submitBatchRegistration(**HEADER, JobType="FUL", LearnerRecordCount=3, Learner=sent)
    assert caught.value.detail[0].findtext("ErrorCode") == "WSEC1001"
    verify = [{"ULN": "1000000043", "FamilyName": "A", "GivenName": "B"}]
    with pytest.raises(Fault) as caught:
        service.submitVerifyBatch(**HEADER, LearnerRecordCount=2, Learner=verify)
    assert caught.value.detail[0].findtext("ErrorCode") == "WSEC1001"


def test_another_providers_job_is_not_found(service, other_provider):
    reply = service.submitBatchRegistration(
        **HEADER, JobType="CHK", LearnerRecordCount=1,
        Learner=[batch_learner(synthetic_person(), "MINE")],
    )  # fmt: skip
    verify = service.submitVerifyBatch(
        **HEADER, LearnerRecordCount=1,
        Learner=[{"ULN": "1000000043", "FamilyName": "A", "GivenName": "B"}],
    )  # fmt: skip
    for operation, job_id in (
        ("getBatchRegistrationOutput", reply.JobID),
        ("getVerifyBatchOutput", verify.JobID),
        ("getBatchRegistrationOutput", 987654321),  # no such job: the same answer
        ("getBatchRegistrationOutput", verify.JobID),  # a verify job is not a batch job
    ):
        header = other_provider if job_id in (reply.JobID, verify.JobID) else HEADER
        if operation == "getBatchRegistrationOutput" and job_id == verify.JobID:
            header = HEADER
        with pytest.raises(Fault) as caught:
            getattr(service, operation)(**header, JobID=job_id)
        assert caught.value.detail[0].findtext("ErrorCode") == "WSEC1002"
    # Its owner still reads it.
    assert wait_for(service, "getBatchRegistrationOutput", reply.JobID).Learner


def test_more_than_200_learners_is_badly_formed(service):
    sent = [batch_learner(synthetic_person(), str(n)) for n in range(201)]
    with pytest.raises((Fault, zeep.exceptions.ValidationError)):
        service.submitBatchRegistration(
            **HEADER, JobType="FUL", LearnerRecordCount=201, Learner=sent
        )


# -- raw XML: the exact shapes ---------------------------------------------------------------


def _learner_xml(person: dict, mis: str) -> str:
    return f"""<Learner><ULN/><MISIdentifier>{mis}</MISIdentifier><Title/>
    <GivenName>{person["GivenName"]}</GivenName><PreferredGivenName/><MiddleOtherName/>
    <FamilyName>{person["FamilyName"]}</FamilyName><PreviousFamilyName/><FamilyNameAtAge16/>
    <SchoolAtAge16/><LastKnownAddressLine1/><LastKnownAddressLine2/><LastKnownAddressTown/>
    <LastKnownAddressCountyOrCity/>
    <LastKnownPostCode>{person["LastKnownPostCode"]}  </LastKnownPostCode>
    <DateOfAddressCapture/><DateOfBirth>{person["DateOfBirth"]}</DateOfBirth><PlaceOfBirth/>
    <EmailAddress/><Gender>{person["Gender"]}</Gender><Nationality/><ScottishCandidateNumber/>
    <AbilityToShare/><VerificationType/><OtherVerificationDescription/><Notes/></Learner>"""


def _raw_wait(url: str, request: bytes):  # noqa: ANN202
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        reply = post(url, request)
        if reply.text("ResponseCode") == "WSRC0032":
            return reply
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def test_raw_batch_registration_round_trip(server):
    people = [synthetic_person() for _ in range(2)]
    learners = "".join(_learner_xml(person, f"R{n}") for n, person in enumerate(people))
    reply = post(
        server.url,
        envelope(
            f"""<bat:SubmitBatch xmlns:bat="{BATCHMSG}">{RAW_HEADER}<JobType>FUL</JobType>
            <LearnerRecordCount>2</LearnerRecordCount>{learners}</bat:SubmitBatch>"""
        ),
    )
    assert reply.payload.tag == f"{{{BATCHMSG}}}SubmitBatchResponse"
    assert [child.tag for child in reply.payload] == ["ResponseCode", "JobID"]
    job_id = reply.text("JobID")
    out = _raw_wait(
        server.url,
        envelope(
            f"""<bat:GetSubmitBatchOutput xmlns:bat="{BATCHMSG}">{RAW_HEADER}
            <JobID>{job_id}</JobID></bat:GetSubmitBatchOutput>"""
        ),
    )
    assert out.payload.tag == f"{{{BATCHMSG}}}GetSubmitBatchOutputResponse"
    assert [child.tag for child in out.payload] == [
        "ResponseCode", "JobStatus", "NewLearnersCount", "ExistsUpdatedLearnersCount",
        "PossibleMatchLearnersCount", "LearnersNotFoundCount", "RejectedLearnersCount",
        "JobStartedDateTime", "JobFinishedDateTime", "Learner", "Learner",
    ]  # fmt: skip
    started = out.text("JobStartedDateTime")
    assert len(started) == 19 and started[10] == " "  # YYYY-MM-DD HH:MM:SS
    first = out.payload.find("Learner")
    assert [child.tag for child in first] == [
        "ULN", "MISIdentifier", "GivenName", "FamilyName", "LastKnownPostCode", "DateOfBirth",
        "Gender", "ReturnCode",
    ]  # fmt: skip
    assert first.findtext("ReturnCode") == "WSRC0005"
    assert first.findtext("LastKnownPostCode") == people[0]["LastKnownPostCode"]


def test_raw_verify_batch_round_trip(server):
    reply = post(
        server.url,
        envelope(
            f"""<vld:SubmitVerifyBatch xmlns:vld="{VLDMSG}"
            xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{RAW_HEADER}
            <LearnerRecordCount>1</LearnerRecordCount><OrgEmail xsi:nil="true"/>
            <Learner><MISIdentifier>V1</MISIdentifier><ULN>1000000043</ULN>
            <FamilyName>Anybody</FamilyName><GivenName>Someone</GivenName>
            <DateOfBirth xsi:nil="true"/><Gender xsi:nil="true"/></Learner>
            </vld:SubmitVerifyBatch>"""
        ),
    )
    assert reply.payload.tag == f"{{{VLDMSG}}}SubmitVerifyBatchResponse"
    out = _raw_wait(
        server.url,
        envelope(
            f"""<vld:GetVerifyBatchOutput xmlns:vld="{VLDMSG}">{RAW_HEADER}
            <JobID>{reply.text("JobID")}</JobID></vld:GetVerifyBatchOutput>"""
        ),
    )
    assert [child.tag for child in out.payload] == [
        "ResponseCode", "JobStatus", "JobStartedDateTime", "JobFinishedDateTime",
        "VerifiedLearner",
    ]  # fmt: skip
    verified = out.payload.find("VerifiedLearner")
    assert [child.tag for child in verified] == [
        "MISIdentifier", "SearchedULN", "SearchedFamilyName", "SearchedGivenName", "ResponseCode",
    ]  # fmt: skip
    assert verified.findtext("ResponseCode") == "WSVRC006"


def test_raw_count_mismatch_and_foreign_job_faults(server, other_provider):
    person = synthetic_person()
    mismatch = post(
        server.url,
        envelope(
            f"""<bat:SubmitBatch xmlns:bat="{BATCHMSG}">{RAW_HEADER}<JobType>FUL</JobType>
            <LearnerRecordCount>5</LearnerRecordCount>{_learner_xml(person, "M")}
            </bat:SubmitBatch>"""
        ),
    )
    assert (mismatch.status, mismatch.fault_code) == (500, "WSEC1001")
    foreign = post(
        server.url,
        envelope(
            f"""<bat:GetSubmitBatchOutput xmlns:bat="{BATCHMSG}"><UKPRN>{OTHER_UKPRN}</UKPRN>
            <OrgPassword>{OTHER_PASSWORD}</OrgPassword><UserName>x</UserName>
            <JobID>1</JobID></bat:GetSubmitBatchOutput>"""
        ),
    )
    assert foreign.fault_code == "WSEC1002"
