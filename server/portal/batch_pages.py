"""Batch files in the portal: upload an LRB file, watch its job, download its output file.

The file is read by the same module as ``miap batch import`` and ``miap-client batch submit``
(``miap.client.batchfile``), queued as the same job (``server/batches/jobs.py``) that the
server's worker processes, and its output written by the same writer, with the codes of the
SOAP batch service's table. A job is its provider's: the domain's owner check refuses any
other provider's JobID.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import select
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from miap.client import batchfile
from miap.server import exceptions
from miap.server.access.policy import Action
from miap.server.batches import jobs
from miap.server.batches.learners import CHECK, FULL
from miap.server.portal import web
from miap.server.portal.app import Context, Page
from miap.server.portal.guard import Refused, check, outcome_code
from miap.server.register import audit
from miap.server.soap.batch_service import return_code
from miap.storage.portal import PortalUpload

#: How often the progress page reloads itself while the job runs (no script needed).
REFRESH_SECONDS = 3


def batches(context: Context) -> Response:
    who = context.who
    with context.services.db.reading() as session:
        check(session, who, Action.BATCH_OUTPUT)
        uploads = list(
            session.scalars(
                select(PortalUpload)
                .where(PortalUpload.ukprn == who.ukprn)
                .order_by(PortalUpload.job_id.desc())
                .limit(100)
            )
        )
        listed = [(u.job_id, u.file_name, u.job_type, u.rows, u.uploaded_at) for u in uploads]
    return context.render("batches.html", uploads=listed, errors={})


def upload(context: Context) -> Response:
    who = context.who
    request = context.request
    with context.services.db.reading() as session:
        check(session, who, Action.SUBMIT_BATCH)
    sent = request.files.get("file")
    job_type = request.form.get("job_type", FULL)
    errors = {}
    if sent is None or not sent.filename:
        errors["file"] = "Choose a batch file"
    elif job_type not in (FULL, CHECK):
        errors["job_type"] = "Choose what to do with the learners"
    batch = None
    content = b""
    if not errors:
        name = Path(sent.filename).name
        content = sent.read()
        try:
            batch = _read(name, content)
            if batch.ukprn != who.ukprn:
                raise batchfile.BatchFileError(
                    f"{name}: the file names UKPRN {batch.ukprn}, not yours ({who.ukprn})"
                )
        except batchfile.BatchFileError as error:
            errors["file"] = str(error)
    if errors:
        return _listing(context, errors, 400)
    assert batch is not None
    learners = [row.learner for row in batch.sendable]
    with context.services.db.transaction() as session:
        check(session, who, Action.SUBMIT_BATCH)
        job_id = jobs.submit_registration(
            session, who.ukprn, who.name, job_type, len(learners), learners, "portalBatchUpload"
        )
        session.add(
            PortalUpload(
                job_id=job_id,
                ukprn=who.ukprn,
                file_name=batch.path.name,
                content=content,
                rows=len(batch.rows),
                rejected=len(batch.rows) - len(learners),
                uploaded_by=who.id,
                job_type=job_type,
            )
        )
        audit.record(session, **context.entry("portalBatchUpload", "OK", []))
    return redirect(f"{web.PREFIX}/batches/{job_id}")


def _listing(context: Context, errors: dict[str, str], status: int) -> Response:
    who = context.who
    with context.services.db.reading() as session:
        uploads = list(
            session.scalars(
                select(PortalUpload)
                .where(PortalUpload.ukprn == who.ukprn)
                .order_by(PortalUpload.job_id.desc())
                .limit(100)
            )
        )
        listed = [(u.job_id, u.file_name, u.job_type, u.rows, u.uploaded_at) for u in uploads]
    return context.render("batches.html", status, uploads=listed, errors=errors)


def _read(name: str, content: bytes) -> batchfile.BatchFile:
    """Read an uploaded file with the batch file reader (which reads from a path)."""
    batchfile.parse_name(Path(name))
    with tempfile.TemporaryDirectory(prefix="miap-portal-") as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        return batchfile.read(path)


def _output(context: Context, job_id: int) -> tuple[jobs.JobOutput, PortalUpload | None]:
    who = context.who
    with context.services.db.reading() as session:
        check(session, who, Action.BATCH_OUTPUT)
        try:
            output = jobs.output(session, who.ukprn, job_id, jobs.REGISTER)
        except exceptions.JobNotFound as error:
            raise Refused(
                "That batch job is not one of your organisation's.", outcome_code(error)
            ) from None
        upload = session.get(PortalUpload, job_id)
        if upload is not None:
            session.expunge(upload)
    return output, upload


def job(context: Context) -> Response:
    job_id = context.args["job_id"]
    output, upload = _output(context, job_id)
    done = sum(1 for _, result in output.learners if result is not None)
    finished = output.state == "finished"
    context.audit("portalBatchProgress", outcome_code(output.outcome), [])
    response = context.render(
        "batch.html",
        job_id=job_id,
        file_name=upload.file_name if upload else None,
        state=output.state,
        finished=finished,
        done=done,
        total=len(output.learners),
        counts=output.counts,
        rejected=upload.rejected if upload else 0,
        refresh=None if finished else REFRESH_SECONDS,
    )
    return response


def download(context: Context) -> Response:
    job_id = context.args["job_id"]
    output, upload = _output(context, job_id)
    if output.state != "finished" or upload is None:
        return context.render(
            "error.html",
            409,
            title="Not finished yet",
            message="The output file is ready once every learner is done.",
        )
    batch = _read(upload.file_name, upload.content)
    sent = [
        batchfile.Answer(
            result.uln,
            return_code(result),
            str(result.refusal) if result.refusal is not None else None,
        )
        for _, result in output.learners
    ]
    with tempfile.TemporaryDirectory(prefix="miap-portal-") as folder:
        out = batchfile.default_output(Path(folder) / upload.file_name)
        batchfile.write_output(batch, batchfile.answers_for(batch, sent), out)
        body = out.read_bytes()
        name = out.name
    ulns = [result.uln for _, result in output.learners if result is not None and result.uln]
    context.audit("portalBatchOutput", outcome_code(output.outcome), ulns)
    kind = "text/csv" if batch.kind == "CSV" else "application/xml"
    response = Response(body, content_type=f"{kind}; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


PAGES = [
    Page("/batches", batches),
    Page("/batches", upload, ("POST",)),
    Page("/batches/<int:job_id>", job),
    Page("/batches/<int:job_id>/output", download),
]
