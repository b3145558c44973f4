"""Logs carry request ids, codes and ULNs at most: never names, dates of birth or passwords."""

from __future__ import annotations

from tests.conftest import TEST_PASSWORD
from tests.support import post, synthetic_person
from tests.test_raw_xml import demographics_xml, register_xml


def test_server_log_holds_no_personal_data(server):
    person = synthetic_person()
    registered = post(server.url, register_xml(person))
    post(server.url, demographics_xml(person))
    post(server.url, register_xml({**person, "DateOfBirth": "2001-02-30"}))  # a fault, too
    log = server.log.read_text()
    assert registered.text("ULN") in log  # the request was logged ...
    for secret in (person["GivenName"], person["FamilyName"], person["DateOfBirth"], TEST_PASSWORD):
        assert secret not in log  # ... without the person or the password
