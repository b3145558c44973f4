"""Helpers for the provider register's tests: the provider query over raw XML, register CSVs."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

import requests
import xmlschema
from lxml import etree

from miap.server.namespaces import SOAP_ENV, UKRLP
from miap.server.soap.provider_query import PROVIDER_QUERY_PATH, WSSE
from miap.server.ukrlp.importer import COLUMNS
from tests.conftest import TEST_PASSWORD, TEST_UKPRN
from tests.support import XSD_DIR, Server

SCHEMA = xmlschema.XMLSchema(str(XSD_DIR / "ukrlp.xsd"))
_rng = random.Random()


def query_url(server: Server) -> str:
    return server.url.rsplit("/", 1)[0] + PROVIDER_QUERY_PATH


def token() -> str:
    """A made-up word no other test uses (upper-case letters only)."""
    return "".join(_rng.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(10))


def ukprn_block(size: int) -> list[str]:
    """``size`` consecutive UKPRNs starting with 1 that no other test is likely to use."""
    start = _rng.randrange(11_000_000, 19_000_000 - size)
    return [str(start + n) for n in range(size)]


def request(
    criteria: str,
    ukprn: str | None = TEST_UKPRN,
    password: str = TEST_PASSWORD,
    query_id: str = "42",
    stakeholder: bool = True,
) -> bytes:
    """A retrieveAllProviders envelope; ``criteria`` is SelectionCriteria's inner XML."""
    security = (
        f'<wsse:Security xmlns:wsse="{WSSE}" soapenv:mustUnderstand="1"><wsse:UsernameToken>'
        f"<wsse:Username>{ukprn}</wsse:Username><wsse:Password>{password}</wsse:Password>"
        "</wsse:UsernameToken></wsse:Security>"
        if ukprn is not None
        else ""
    )
    stakeholder_xml = "<StakeholderId>7</StakeholderId>" if stakeholder else ""
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:ns="{UKRLP}">'
        f"<soapenv:Header>{security}</soapenv:Header><soapenv:Body>"
        f"<ns:ProviderQueryRequest><SelectionCriteria>{criteria}{stakeholder_xml}"
        f"</SelectionCriteria><QueryId>{query_id}</QueryId></ns:ProviderQueryRequest>"
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


@dataclass
class Answer:
    status: int
    root: etree._Element

    @property
    def fault(self) -> tuple[str, str] | None:
        detail = self.root.find(f".//{{{SOAP_ENV}}}Fault/detail/{{{UKRLP}}}faultDetail")
        return None if detail is None else (detail.findtext("major"), detail.findtext("minor"))

    @property
    def ukprns(self) -> list[str]:
        return [
            record.findtext("UnitedKingdomProviderReferenceNumber")
            for record in self.root.iter("MatchingProviderRecords")
        ]

    def record(self, ukprn: str) -> etree._Element:
        for record in self.root.iter("MatchingProviderRecords"):
            if record.findtext("UnitedKingdomProviderReferenceNumber") == ukprn:
                return record
        raise AssertionError(f"{ukprn} not in the answer")


def post(url: str, body: bytes, soap_action: str | None = '"retrieveAllProviders"') -> Answer:
    """POST ``body``; the answer (response or fault detail) is held to the XSD by xmlschema."""
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if soap_action is not None:
        headers["SOAPAction"] = soap_action
    response = requests.post(url, data=body, headers=headers, timeout=60)
    assert response.headers["Content-Type"].startswith("text/xml"), response.text
    root = etree.fromstring(response.content)
    fault = root.find(f".//{{{SOAP_ENV}}}Fault")
    if fault is None:
        assert response.status_code == 200
        SCHEMA.validate(etree.tostring(root.find(f"{{{SOAP_ENV}}}Body")[0]))
    else:
        assert response.status_code in (404, 405, 413, 500)
        assert fault.findtext("faultcode") in ("soapenv:Client", "soapenv:Server")
        SCHEMA.validate(etree.tostring(fault.find("detail")[0]))
    return Answer(response.status_code, root)


def write_csv(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return path
