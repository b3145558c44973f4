"""Every answered request's audit entry survives ``kill -9`` of the whole server.

A real ``miap serve --workers 2`` in its own process group answers a stream of finds (and
refusals) from several keep-alive clients; the group is SIGKILLed mid-stream. Every request
whose answer reached a client must have its audit entry in the database afterwards: the
answer is only sent once the writer has committed its batch.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import requests
from sqlalchemy import select

from miap.server.namespaces import FINDMSG
from miap.storage.engine import Database
from miap.storage.models import AuditEntry
from tests.support import (
    SERVICE_PATH,
    _wait_until_serving,
    envelope,
    free_port,
    post,
    synthetic_person,
)
from tests.test_raw_xml import HEADER, demographics_xml, register_xml

CLIENTS = 6
HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}


def find_xml(uln: str, person: dict, user: str, password_ok: bool = True) -> bytes:
    header = HEADER.replace("<UserName>mis.user</UserName>", f"<UserName>{user}</UserName>")
    if not password_ok:
        header = header.split("<OrgPassword>")[0] + (
            f"<OrgPassword>WrongPassword001</OrgPassword><UserName>{user}</UserName>"
        )
    return envelope(
        f'<fin:FindLearnerByULN xmlns:fin="{FINDMSG}"><FindType>FUL</FindType>{header}'
        f"<ULN>{uln}</ULN><FamilyName>{person['FamilyName']}</FamilyName>"
        f"<GivenName>{person['GivenName']}</GivenName></fin:FindLearnerByULN>"
    )


def test_sigkill_loses_no_answered_requests_audit_entry(database_url, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}{SERVICE_PATH}"
    command = [sys.executable, "-m", "miap.server.admin.cli", "serve", "--db", database_url]
    command += ["--port", str(port), "--workers", "2"]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        # Its own process group, so that one signal kills the master and both workers at once.
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    answered: list[str] = []
    try:
        _wait_until_serving(url + "?wsdl", process, log)
        person = synthetic_person()
        uln = post(url, register_xml(person)).text("ULN")
        # Mostly cheap finds; a few refusals (each runs Argon2) and demographic searches.
        bodies = [find_xml(uln, person, "crash.found")] * 12 + [
            find_xml(uln, person, "crash.refused", password_ok=False),
            demographics_xml(person),
            demographics_xml(person),
        ]
        stop = threading.Event()

        def client(number: int) -> None:
            with requests.Session() as session:
                sent = 0
                while not stop.is_set():
                    body = bodies[(number + sent) % len(bodies)]
                    sent += 1
                    try:
                        response = session.post(url, data=body, headers=HEADERS, timeout=10)
                    except requests.RequestException:
                        return  # the server is gone
                    answered.append(response.headers["X-Request-Id"])

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(2.0)
        os.killpg(process.pid, signal.SIGKILL)  # mid-stream: requests are in flight
        stop.set()
        for thread in threads:
            thread.join(15)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    assert len(answered) > 20, log.read_text()
    db = Database(database_url)
    try:
        stored: set[str] = set()
        with db.transaction() as session:
            for start in range(0, len(answered), 500):
                chunk = answered[start : start + 500]
                stored |= set(
                    session.scalars(
                        select(AuditEntry.request_id).where(AuditEntry.request_id.in_(chunk))
                    )
                )
    finally:
        db.dispose()
    missing = [request_id for request_id in answered if request_id not in stored]
    assert missing == [], f"{len(missing)} of {len(answered)} answered requests not audited"
