"""Test helpers: run the CLI, start the server, post raw SOAP, check messages against the XSDs."""

from __future__ import annotations

import random
import socket
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
import xmlschema
from lxml import etree

from miap.server.admin.synth import Population
from miap.server.namespaces import SCHEMA_FILES, SOAP_ENV

REPO = Path(__file__).resolve().parent.parent
XSD_DIR = REPO / "xsd"
SERVICE_PATH = "/LearnerService.svc"


def run_miap(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "miap.server.admin.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"miap {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str  # the service endpoint, e.g. http://127.0.0.1:PORT/LearnerService.svc
    database_url: str
    log: Path

    @property
    def wsdl(self) -> str:
        return self.url + "?wsdl"


@contextmanager
def start_server(
    database_url: str, workdir: Path, *extra: str, validate: bool = True
) -> Iterator[Server]:
    """``miap serve`` on a free port; responses are held to the schemas unless ``validate``
    is false (benchmarks)."""
    port = free_port()
    command = [sys.executable, "-m", "miap.server.admin.cli", "serve", "--db", database_url]
    command += ["--port", str(port), *(["--validate-responses"] if validate else []), *extra]
    server = Server(
        f"http://127.0.0.1:{port}{SERVICE_PATH}", database_url, workdir / f"server-{port}.log"
    )
    with spawn(command, server.wsdl, server.log):
        yield server


@contextmanager
def spawn(command: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen]:
    """Run ``command`` until the block ends; ready once ``ready_url`` answers 200."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_serving(ready_url, process, log)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited:\n{log.read_text()}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            # Refused, reset, or not answered within the second (ReadTimeout) while starting.
            pass
        time.sleep(0.1)
    raise AssertionError(f"server did not start:\n{log.read_text()}")


# -- a scratch PostgreSQL database ------------------------------------------------------------


@contextmanager
def postgres_database(
    admin_url: str, prefix: str = "miap_test", keep: bool = False
) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url``, dropped afterwards unless
    ``keep``. Raises ``psycopg2.OperationalError`` when the server cannot be reached."""
    import psycopg2

    admin = psycopg2.connect(admin_url, connect_timeout=5)
    admin.autocommit = True
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        if not keep:
            with admin.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
                cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


# -- raw SOAP ---------------------------------------------------------------------------------


def envelope(payload: str) -> bytes:
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Header/>'
        f"<soapenv:Body>{payload}</soapenv:Body></soapenv:Envelope>"
    ).encode()


@dataclass
class SoapReply:
    status: int
    root: etree._Element
    raw: bytes

    @property
    def payload(self) -> etree._Element:
        body = self.root.find(f"{{{SOAP_ENV}}}Body")
        return body[0]

    @property
    def fault_code(self) -> str | None:
        code = self.root.find(f".//{{{SOAP_ENV}}}Fault/detail/*/ErrorCode")
        return None if code is None else code.text

    @property
    def further_details(self) -> str:
        return self.root.findtext(f".//{{{SOAP_ENV}}}Fault/detail/*/FurtherDetails") or ""

    def text(self, path: str) -> str | None:
        return self.payload.findtext(path)


def post(url: str, body: bytes, **headers: str) -> SoapReply:
    response = requests.post(
        url,
        data=body,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""', **headers},
        timeout=30,
    )
    assert response.headers["Content-Type"].startswith("text/xml"), response.text
    root = etree.fromstring(response.content)
    reply = SoapReply(response.status_code, root, response.content)
    assert_held_to_contract(reply)
    return reply


# -- the contract, checked by a second, independent validator ---------------------------------

_SCHEMAS: dict[str, xmlschema.XMLSchema] = {}


def schema_for(namespace: str) -> xmlschema.XMLSchema:
    if namespace not in _SCHEMAS:
        _SCHEMAS[namespace] = xmlschema.XMLSchema(str(XSD_DIR / f"{SCHEMA_FILES[namespace]}.xsd"))
    return _SCHEMAS[namespace]


def assert_valid(element: etree._Element) -> None:
    """``element`` (a message root or fault detail) obeys the published XSD of its namespace."""
    schema_for(etree.QName(element).namespace).validate(etree.tostring(element))


def assert_held_to_contract(reply: SoapReply) -> None:
    fault = reply.root.find(f".//{{{SOAP_ENV}}}Fault")
    if fault is None:
        assert reply.status == 200
        assert_valid(reply.payload)
    else:
        assert reply.status in (400, 404, 405, 413, 500), reply.status
        assert fault.findtext("faultcode").startswith("soapenv:")
        assert_valid(fault.find("detail")[0])


# -- synthetic people -------------------------------------------------------------------------

_rng = random.Random()
_places = Population(seed=_rng.randrange(1 << 30))


def synthetic_name() -> str:
    """An invented, pronounceable-ish name unique enough to keep tests apart."""
    consonants, vowels = "BDFGKLMNPRSTVZ", "AEIOU"
    letters = [_rng.choice(consonants if i % 2 == 0 else vowels) for i in range(8)]
    return "".join(letters).capitalize() + _rng.choice(string.ascii_lowercase)


def synthetic_postcode() -> str:
    """A real-format postcode drawn from the whole country, so tests rarely share one."""
    return _places.postcode()


def synthetic_person(**overrides: str) -> dict[str, str]:
    year = _rng.randint(2001, 2011)
    person = {
        "GivenName": synthetic_name(),
        "FamilyName": synthetic_name(),
        "DateOfBirth": f"{year}-{_rng.randint(1, 12):02d}-{_rng.randint(1, 28):02d}",
        "Gender": _rng.choice("12"),
        # A fresh real-format postcode each time: people who shared a birth date, gender and
        # postcode would be fair possible matches for each other and tests would meet by chance.
        "LastKnownPostCode": synthetic_postcode(),
    }
    person.update(overrides)
    return person
