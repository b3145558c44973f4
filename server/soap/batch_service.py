"""The LearnerService's batch operations: submitBatchRegistration, getBatchRegistrationOutput,
submitVerifyBatch and getVerifyBatchOutput.

Submitting queues a job (``server/batches/``) and answers its JobID at once; workers do the
learners later; the output operations read where the job is and, once it is finished, every
learner's answer in the order sent. Element names and order come from ``xsd/batchmsg.xsd`` and
``xsd/vldmsg.xsd``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lxml import etree

from miap.server.access.policy import Action
from miap.server.batches import jobs
from miap.server.batches.jobs import JobOutput, LearnerResult
from miap.server.namespaces import BATCHMSG, VLDMSG, XSI, qname
from miap.server.outcomes import Outcome
from miap.server.soap import contract, faults
from miap.server.soap.faults import code_of, fault_for
from miap.server.soap.operations import Call, Operation, Reply
from miap.server.soap.wire import append, fields

#: JobStatus on the wire for each state of a job (ours; docs/batches.md).
JOB_STATUS = {"queued": "QUEUED", "running": "RUNNING", "finished": "FINISHED"}
#: The output's count elements, in the categories ``jobs`` sorts outcomes into.
COUNT_ELEMENTS = {
    jobs.NEW: "NewLearnersCount",
    jobs.EXISTING: "ExistsUpdatedLearnersCount",
    jobs.POSSIBLE: "PossibleMatchLearnersCount",
    jobs.NOT_FOUND: "LearnersNotFoundCount",
    jobs.REJECTED: "RejectedLearnersCount",
}
_NIL = qname(XSI, "nil")


def _texts(element: etree._Element) -> dict[str, str]:
    """Child texts by name, trimmed; empty and nil elements are left out altogether (the
    learners are kept as sent, in the queue)."""
    return {name: text for name, text in fields(element).items() if text is not None}


def _append(parent: etree._Element, name: str, value: Any) -> None:  # noqa: ANN401
    # The batch messages' only stamps are the job's start and finish: date-times.
    append(parent, name, value, "DateTimeType")


def _date_time(parent: etree._Element, name: str, value: dt.datetime | None) -> None:
    """A required, nillable date-time: nil until the job has got that far."""
    if value is None:
        etree.SubElement(parent, name, {_NIL: "true"}, nsmap={"xsi": XSI})
    else:
        _append(parent, name, value)


def return_code(result: LearnerResult) -> str:
    """A learner's ReturnCode: its outcome's code, or the code of the refusal that rejected it."""
    if result.refusal is not None:
        return fault_for(result.refusal).error.code
    return code_of(result.outcome)


# -- submitBatchRegistration / getBatchRegistrationOutput -------------------------------------


def submit_batch(call: Call) -> Reply:
    call.allow(Action.SUBMIT_BATCH)
    header = _texts(call.payload)
    learners = [_texts(element) for element in call.payload.iterfind("Learner")]
    job_id = jobs.submit_registration(
        call.session,
        call.caller.ukprn,
        header.get("UserName"),
        header["JobType"],
        int(header["LearnerRecordCount"]),
        learners,
    )
    return _accepted(qname(BATCHMSG, "SubmitBatchResponse"), {"bat": BATCHMSG}, job_id)


def _accepted(name: str, nsmap: dict[str, str], job_id: int) -> Reply:
    response = etree.Element(name, nsmap=nsmap)
    _append(response, "ResponseCode", Outcome.BATCH_ACCEPTED)
    _append(response, "JobID", job_id)
    return Reply(response, code_of(Outcome.BATCH_ACCEPTED), [])


def _job_id(call: Call) -> int:
    return int(_texts(call.payload)["JobID"])


def batch_output(call: Call) -> Reply:
    call.allow(Action.BATCH_OUTPUT)
    out = jobs.output(call.session, call.caller.ukprn, _job_id(call), jobs.REGISTER)
    response = etree.Element(
        qname(BATCHMSG, "GetSubmitBatchOutputResponse"), nsmap={"bat": BATCHMSG}
    )
    _append(response, "ResponseCode", out.outcome)
    _append(response, "JobStatus", JOB_STATUS[out.state])
    for category, name in COUNT_ELEMENTS.items():
        _append(response, name, out.counts[category])
    _date_time(response, "JobStartedDateTime", out.started_at)
    _date_time(response, "JobFinishedDateTime", out.finished_at)
    disclosed: list[str] = []
    if out.outcome == Outcome.BATCH_FINISHED:
        order = contract.sequence(BATCHMSG, "OutputBatchLearner")
        for fields, result in out.learners:
            values: dict[str, Any] = dict(fields)
            if result.uln:
                values["ULN"] = result.uln
                disclosed.append(result.uln)
            values["ReturnCode"] = return_code(result)
            learner = etree.SubElement(response, "Learner")
            for child in order:
                _append(learner, child.name, values.get(child.name))
    return Reply(response, code_of(out.outcome), list(dict.fromkeys(disclosed)))


# -- submitVerifyBatch / getVerifyBatchOutput -------------------------------------------------


def submit_verify_batch(call: Call) -> Reply:
    call.allow(Action.SUBMIT_BATCH)
    header = _texts(call.payload)
    learners = [_texts(element) for element in call.payload.iterfind("Learner")]
    job_id = jobs.submit_verification(
        call.session,
        call.caller.ukprn,
        header.get("UserName"),
        int(header["LearnerRecordCount"]),
        learners,
        org_email=header.get("OrgEmail"),
    )
    return _accepted(qname(VLDMSG, "SubmitVerifyBatchResponse"), {"vld": VLDMSG}, job_id)


def verify_batch_output(call: Call) -> Reply:
    call.allow(Action.BATCH_OUTPUT)
    out: JobOutput = jobs.output(call.session, call.caller.ukprn, _job_id(call), jobs.VERIFY)
    response = etree.Element(qname(VLDMSG, "GetVerifyBatchOutputResponse"), nsmap={"vld": VLDMSG})
    _append(response, "ResponseCode", out.outcome)
    _append(response, "JobStatus", JOB_STATUS[out.state])
    _append(response, "JobStartedDateTime", out.started_at)
    _append(response, "JobFinishedDateTime", out.finished_at)
    disclosed: list[str] = []
    if out.outcome == Outcome.BATCH_FINISHED:
        order = [child.name for child in contract.sequence(VLDMSG, "VerifiedLearner")]
        for fields, result in out.learners:
            values: dict[str, Any] = {
                "MISIdentifier": fields.get("MISIdentifier"),
                **{f"Searched{name}": fields.get(name) for name in _SEARCHED},
                "ResponseCode": return_code(result),
                **(result.learner or {}),
            }
            disclosed.append(fields["ULN"])
            if result.learner:
                disclosed.append(result.learner["ULN"])
            verified = etree.SubElement(response, "VerifiedLearner")
            for name in order:
                if name == "FailureFlag":
                    for flag in result.flags:
                        _append(verified, name, faults.FAILURE_FLAGS[flag])
                else:
                    _append(verified, name, values.get(name))
    return Reply(response, code_of(out.outcome), list(dict.fromkeys(disclosed)))


_SEARCHED = ("ULN", "FamilyName", "GivenName", "DateOfBirth", "Gender")


BATCH_OPERATIONS: tuple[Operation, ...] = (
    Operation("submitBatchRegistration", qname(BATCHMSG, "SubmitBatch"), submit_batch),
    Operation("getBatchRegistrationOutput", qname(BATCHMSG, "GetSubmitBatchOutput"), batch_output),
    Operation("submitVerifyBatch", qname(VLDMSG, "SubmitVerifyBatch"), submit_verify_batch),
    Operation("getVerifyBatchOutput", qname(VLDMSG, "GetVerifyBatchOutput"), verify_batch_output),
)
