"""The contract as served: ?wsdl and every ?xsd=NAME resolve, and the address is this server's."""

from __future__ import annotations

import subprocess
import sys

import requests
from lxml import etree

from miap.server.namespaces import SCHEMA_FILES


def test_served_wsdl_points_at_served_schemas(server):
    wsdl = etree.fromstring(requests.get(server.wsdl, timeout=10).content)
    locations = {el.get("schemaLocation") for el in wsdl.iter() if el.get("schemaLocation")}
    assert locations and all(loc.startswith(server.url + "?xsd=") for loc in locations)
    address = wsdl.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == server.url
    # The national names a generated client binds by: service and port both LearnerService.
    port = address.getparent()
    assert (port.get("name"), port.getparent().get("name")) == ("LearnerService", "LearnerService")


def test_every_schema_is_served_and_imports_resolve(server):
    for name in SCHEMA_FILES.values():
        response = requests.get(f"{server.url}?xsd={name}", timeout=10)
        assert response.status_code == 200
        schema = etree.fromstring(response.content)
        for element in schema.iter("{http://www.w3.org/2001/XMLSchema}import"):
            assert requests.get(element.get("schemaLocation"), timeout=10).status_code == 200


def test_python_m_zeep_inspects_the_served_wsdl(server):
    result = subprocess.run(
        [sys.executable, "-m", "zeep", server.wsdl], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "learnerByDemographics" in result.stdout and "LearnerBinding" in result.stdout


def test_public_url_rewrites_the_address(database_url, tmp_path):
    from tests.support import start_server

    public = "https://lrs.example.org/LearnerService.svc"
    with start_server(database_url, tmp_path, "--public-url", public) as proxied:
        wsdl = requests.get(proxied.wsdl, timeout=10).text
    assert f'location="{public}"' in wsdl and f"{public}?xsd=learner" in wsdl
