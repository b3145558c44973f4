"""Broken and hostile requests: each gets a specific SOAP Fault, and the server keeps serving."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests

from miap.server.namespaces import FINDMSG, SOAP12_ENV
from tests.conftest import TEST_PASSWORD, TEST_UKPRN
from tests.support import envelope, post, start_server

HEADER = f"""<UKPRN>{TEST_UKPRN}</UKPRN><OrgPassword>{TEST_PASSWORD}</OrgPassword>
<UserName>hostile.tester</UserName>"""


def find_by_uln(uln: str = "1000000043", gender_field: str = "") -> str:
    return f"""<fin:FindLearnerByULN xmlns:fin="{FINDMSG}"><FindType>FUL</FindType>{HEADER}
    <ULN>{uln}</ULN><FamilyName>Testperson</FamilyName><GivenName>Example</GivenName>{gender_field}
    </fin:FindLearnerByULN>"""


def assert_still_serving(server) -> None:
    reply = post(server.url, envelope(find_by_uln()))
    assert (reply.status, reply.text("ResponseCode")) == (200, "WSRC0001")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<x>&lol3;</x></soapenv:Body></soapenv:Envelope>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<x>&xxe;</x></soapenv:Body></soapenv:Envelope>"""

SOAP12_REQUEST = f'<e:Envelope xmlns:e="{SOAP12_ENV}"><e:Body>{find_by_uln()}</e:Body></e:Envelope>'

CASES = {
    "empty body": (b"", 400, "WSEC0901"),
    "whitespace body": (b"   \n", 400, "WSEC0901"),
    "not XML": (b"this is not xml", 400, "WSEC0902"),
    "truncated XML": (envelope(find_by_uln())[:-20], 400, "WSEC0902"),
    "DTD with entity expansion": (BILLION_LAUGHS, 400, "WSEC0903"),
    "external entity": (EXTERNAL_ENTITY, 400, "WSEC0903"),
    "SOAP 1.2 envelope": (
        SOAP12_REQUEST.encode(),
        400,
        "WSEC0905",
    ),
    "not an envelope": (find_by_uln().encode(), 400, "WSEC0906"),
    "envelope without body": (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>',
        400,
        "WSEC0906",
    ),
    "two body elements": (envelope(find_by_uln() + find_by_uln()), 400, "WSEC0906"),
    "unknown operation": (envelope(f'<fin:FindEveryone xmlns:fin="{FINDMSG}"/>'), 500, "WSEC0907"),
    "operation in the wrong namespace": (
        envelope(find_by_uln().replace(FINDMSG, "http://example.org/other")),
        500,
        "WSEC0907",
    ),
    "wrong field type": (envelope(find_by_uln(uln="12345ABCDE")), 500, "WSEC0001"),
    "unexpected element": (
        envelope(find_by_uln(gender_field="<Gender>1</Gender>")),
        500,
        "WSEC0001",
    ),
    "qualified child element": (
        envelope(
            find_by_uln().replace("<FindType>FUL</FindType>", "<fin:FindType>FUL</fin:FindType>")
        ),
        500,
        "WSEC0001",
    ),
    "check digit": (envelope(find_by_uln(uln="1000000063")), 500, "WSEC0136"),
    "mustUnderstand header": (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>'
        b'<w:Security xmlns:w="urn:x" s:mustUnderstand="1"/></s:Header><s:Body>'
        + find_by_uln().encode()
        + b"</s:Body></s:Envelope>",
        500,
        "WSEC0908",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_request_gets_a_specific_fault(server, case):
    body, status, code = CASES[case]
    reply = post(server.url, body)
    assert (reply.status, reply.fault_code) == (status, code), reply.further_details
    assert "Traceback" not in reply.raw.decode()
    assert_still_serving(server)


def test_schema_fault_names_the_rule(server):
    reply = post(server.url, envelope(find_by_uln(uln="12345ABCDE")))
    assert "ULN" in reply.further_details and "pattern" in reply.further_details


def _find_echoing(family: str, doctype: str = "") -> bytes:
    """A find whose FamilyName the answer echoes: an expanded entity would show up there."""
    body = find_by_uln().replace(
        "<FamilyName>Testperson</FamilyName>", f"<FamilyName>{family}</FamilyName>"
    )
    return f'<?xml version="1.0"?>{doctype}'.encode() + envelope(body)


def test_entities_are_never_expanded(server, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("Leakedmarker")
    # The echo channel works: the same marker sent as plain text comes back.
    control = post(server.url, _find_echoing("Leakedmarker"))
    assert control.text("FamilyName") == "Leakedmarker"
    for doctype in (
        '<!DOCTYPE e [<!ENTITY x "Leakedmarker">]>',
        f'<!DOCTYPE e [<!ENTITY x SYSTEM "{secret.as_uri()}">]>',
    ):
        reply = post(server.url, _find_echoing("&x;", doctype))
        assert (reply.status, reply.fault_code) == (400, "WSEC0903")
        assert "Leakedmarker" not in reply.raw.decode()


def test_wrong_method_and_path(server):
    put = requests.put(server.url, data=b"x", timeout=10)
    assert put.status_code == 405 and b"WSEC0909" in put.content
    missing = requests.post(server.url.replace(".svc", ".asmx"), data=b"x", timeout=10)
    assert missing.status_code == 404 and b"WSEC0910" in missing.content
    unknown_schema = requests.get(server.url + "?xsd=../../etc/passwd", timeout=10)
    assert unknown_schema.status_code == 404 and b"WSEC0910" in unknown_schema.content


def test_body_over_the_limit(server):
    payload = envelope(
        find_by_uln().replace(
            "</fin:FindLearnerByULN>",
            "<!--" + "x" * (10 * 1024 * 1024) + "--></fin:FindLearnerByULN>",
        )
    )
    reply = post(server.url, payload)
    assert (reply.status, reply.fault_code) == (413, "WSEC0904")
    assert_still_serving(server)


def test_configured_limit_and_chunked_body(database_url, tmp_path):
    with start_server(database_url, tmp_path, "--max-body-bytes", "2000") as small:
        ok = post(small.url, envelope(find_by_uln()))
        assert ok.status == 200
        big = envelope(find_by_uln() + " " * 3000)
        assert post(small.url, big).fault_code == "WSEC0904"
        chunked = requests.post(small.url, data=iter([big[:1000], big[1000:]]), timeout=10)
        assert chunked.status_code == 413 and b"WSEC0904" in chunked.content


def test_idle_connection_does_not_block_others(server):
    parts = urlsplit(server.url)
    idle = [socket.create_connection((parts.hostname, parts.port)) for _ in range(12)]
    half = socket.create_connection((parts.hostname, parts.port))
    half.sendall(b"POST /LearnerService.svc HTTP/1.1\r\nHost: x\r\n")
    try:
        # Each request has the client's timeout: a server stuck on the idle sockets fails it.
        for _ in range(3):
            assert_still_serving(server)
    finally:
        for sock in [*idle, half]:
            sock.close()
