"""The bundled client: the Python API (miap.client.LrsClient) and the miap-client command line,
against a real server on each backend."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import re
import subprocess
import sys
import threading

import pytest
import requests

from miap.client import (
    LrsClient,
    LrsConnectionError,
    LrsFault,
    LrsProtocolError,
    LrsRequestError,
    describe,
)
from miap.client.cli import main
from miap.client.lrs import MERGED_FIELDS, report_entries
from tests.conftest import TEST_PASSWORD, TEST_UKPRN
from tests.support import REPO, free_port, run_miap, synthetic_person

INVALID_ULN = "1000000063"  # fails the check digit
UNUSED_ULN = "1000000043"  # valid, never issued in tests


@pytest.fixture(scope="module")
def lrs(server):
    with LrsClient(server.url, TEST_UKPRN, TEST_PASSWORD, "client.tester") as client:
        yield client


def to_register(person: dict, **extra) -> dict:
    return {**person, "VerificationType": "1", "AbilityToShare": "1", **extra}


def register(lrs: LrsClient, person: dict, **extra) -> str:
    code, uln = lrs.register(to_register(person, **extra))
    assert code == "WSRC0005"
    assert re.fullmatch(r"[1-9][0-9]{9}", uln)
    return uln


# -- Python API -------------------------------------------------------------------------------


def test_register_find_update_verify_retrieve(lrs):
    person = synthetic_person(Title="Ms", EmailAddress="learner@example.org")
    uln = register(lrs, person)

    found = lrs.find_by_uln(uln, person["GivenName"], person["FamilyName"])
    assert type(found) is dict and found["ResponseCode"] == "WSRC0004"
    [learner] = found["Learner"]
    assert type(learner) is dict
    assert learner["ULN"] == uln
    assert (learner["GivenName"], learner["FamilyName"]) == (
        person["GivenName"],
        person["FamilyName"],
    )
    assert (learner["DateOfBirth"], learner["Gender"]) == (person["DateOfBirth"], person["Gender"])
    assert (learner["Title"], learner["EmailAddress"]) == ("Ms", "learner@example.org")
    assert learner["VersionNumber"] == 1
    assert learner["MiddleOtherName"] is None and learner["LinkedULNs"] is None

    by_demographics = lrs.find_by_demographics(
        person["GivenName"],
        person["FamilyName"],
        person["DateOfBirth"],
        person["Gender"],
        person["LastKnownPostCode"],
    )
    assert by_demographics["ResponseCode"] == "WSRC0004"
    assert [x["ULN"] for x in by_demographics["Learner"]] == [uln]

    # A learner dict from a find can be edited and sent back whole.
    assert lrs.update({**learner, "Notes": "Moved to sixth form"}) == "WSRC0006"
    [updated] = lrs.find_by_uln(uln, person["GivenName"], person["FamilyName"])["Learner"]
    assert (updated["VersionNumber"], updated["Notes"]) == (2, "Moved to sixth form")
    assert updated["Title"] == "Ms"  # kept, because it was sent again

    with pytest.raises(LrsFault) as caught:
        lrs.update({**learner, "Notes": "stale"})  # still VersionNumber 1
    fault = caught.value
    assert fault.code == "WSEC0702"
    assert "VersionNumber" in fault.description
    assert uln in fault.further_details
    assert str(fault).startswith("WSEC0702 ")

    verified = lrs.verify(
        uln,
        person["GivenName"],
        person["FamilyName"],
        date_of_birth=person["DateOfBirth"],
        gender=person["Gender"],
    )
    assert (verified["ResponseCode"], verified["ULN"], verified["FailureFlag"]) == (
        "WSVRC001",
        uln,
        [],
    )
    assert verified["SearchedULN"] == uln
    swapped = lrs.verify(uln, person["FamilyName"], person["GivenName"])
    assert swapped["ResponseCode"] == "WSVRC003"
    assert swapped["FailureFlag"] == ["VRF1", "VRF5"]

    retrieved = lrs.retrieve_ulns([uln, UNUSED_ULN, INVALID_ULN])
    assert [(x["ULN"], x["ResponseCode"]) for x in retrieved] == [
        (uln, "WSRC0004"),
        (UNUSED_ULN, "WSRC0001"),
        (INVALID_ULN, "WSEC0136"),
    ]
    assert (retrieved[0]["FamilyName"], retrieved[0]["DateOfBirth"]) == (
        person["FamilyName"],
        person["DateOfBirth"],
    )
    assert retrieved[1]["FamilyName"] is None


def test_registering_twice_answers_wsrc0021_without_a_uln(lrs):
    person = synthetic_person()
    register(lrs, person)
    assert lrs.register(to_register(person)) == ("WSRC0021", None)


def test_find_no_match_has_an_empty_learner_list(lrs):
    person = synthetic_person()
    uln = register(lrs, person)
    found = lrs.find_by_uln(uln, person["GivenName"], "Wrongname", find_type="CHK")
    assert (found["ResponseCode"], found["Learner"]) == ("WSRC0001", [])
    assert lrs.verify(UNUSED_ULN, "Someone", "Else")["ResponseCode"] == "WSVRC006"


def test_update_clears_optional_fields_left_out(lrs):
    person = synthetic_person(Title="Mr", EmailAddress="someone@example.org")
    uln = register(lrs, person)
    assert lrs.update(to_register(person, Title=None, EmailAddress=None, ULN=uln, VersionNumber=1))
    [learner] = lrs.find_by_uln(uln, person["GivenName"], person["FamilyName"])["Learner"]
    assert (learner["Title"], learner["EmailAddress"], learner["VersionNumber"]) == (None, None, 2)


def test_invalid_uln_is_an_lrs_fault_wsec0136(lrs):
    with pytest.raises(LrsFault) as caught:
        lrs.find_by_uln(INVALID_ULN, "Given", "Family")
    fault = caught.value
    assert fault.code == "WSEC0136"
    assert fault.description == "Supplied ULN is invalid"
    assert INVALID_ULN in fault.further_details
    assert fault.faultcode.startswith("soapenv:")
    assert str(fault) == f"WSEC0136 Supplied ULN is invalid — {fault.further_details}"
    assert fault.as_dict()["ErrorCode"] == "WSEC0136"


def test_a_wrong_password_is_a_fault(server):
    client = LrsClient(server.url, TEST_UKPRN, "WrongPassword999", "client.tester")
    with pytest.raises(LrsFault) as caught:
        client.find_by_uln(UNUSED_ULN, "Given", "Family")
    assert caught.value.code == "WSEC0801"


def test_requests_go_to_url_whatever_address_the_wsdl_names(server):
    # The checked-in WSDL names http://localhost:8000; the client must still post to `url`.
    wsdl = str(REPO / "wsdl" / "LearnerService.wsdl")
    with LrsClient(server.url, TEST_UKPRN, TEST_PASSWORD, "client.tester", wsdl=wsdl) as client:
        assert client.retrieve_ulns([UNUSED_ULN])[0]["ResponseCode"] == "WSRC0001"


def test_a_closed_port_is_a_connection_error():
    client = LrsClient(
        f"http://127.0.0.1:{free_port()}/LearnerService.svc", TEST_UKPRN, TEST_PASSWORD, "x"
    )
    with pytest.raises(LrsConnectionError):
        client.find_by_uln(UNUSED_ULN, "Given", "Family")


def test_bad_requests_are_refused_before_sending():
    # Nothing listens at this address: these must fail before any request is attempted.
    client = LrsClient("http://127.0.0.1:9/LearnerService.svc", TEST_UKPRN, TEST_PASSWORD, "x")
    with pytest.raises(LrsRequestError, match="Nickname"):
        client.register(to_register(synthetic_person(), Nickname="Al"))
    with pytest.raises(LrsRequestError, match="VersionNumber"):
        client.update(to_register(synthetic_person(), ULN=UNUSED_ULN))
    with pytest.raises(LrsRequestError, match="GivenName"):
        client.register(to_register(synthetic_person(), GivenName=None))
    with pytest.raises(LrsRequestError):
        client.retrieve_ulns([UNUSED_ULN] * 201)
    with pytest.raises(LrsRequestError):
        LrsClient("ftp://example.org/LearnerService.svc", TEST_UKPRN, TEST_PASSWORD, "x")


def test_describe_response_codes():
    assert describe("WSRC0004") == "WSRC0004 exact match"
    assert describe("WSEC0706") == "WSEC0706 the learner's details could not be stored"
    assert describe("WSRC9999") == "WSRC9999"


# -- command line -----------------------------------------------------------------------------


def cli_env(server=None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIAP_")}
    if server is not None:
        env.update(MIAP_URL=server.url, MIAP_UKPRN=TEST_UKPRN, MIAP_PASSWORD=TEST_PASSWORD)
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "miap.client.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def learner_args(person: dict) -> list[str]:
    return [
        "--given",
        person["GivenName"],
        "--family",
        person["FamilyName"],
        "--dob",
        person["DateOfBirth"],
        "--gender",
        person["Gender"],
        "--postcode",
        person["LastKnownPostCode"],
    ]


def cli_register(server, person: dict) -> str:
    result = cli("register", *learner_args(person), "--title", "Dr", env=cli_env(server))
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"WSRC0005 learner registered: ULN ([0-9]{10})\n", result.stdout)
    assert match, result.stdout
    return match.group(1)


def test_cli_human_output(server):
    person = synthetic_person()
    uln = cli_register(server, person)
    env = cli_env(server)

    found = cli(
        "find-uln", uln, "--given", person["GivenName"], "--family", person["FamilyName"], env=env
    )
    assert found.returncode == 0, found.stderr
    lines = found.stdout.splitlines()
    assert lines[0] == "WSRC0004 exact match"
    assert lines[1].split()[:3] == ["ULN", "Given", "name"]
    row = lines[2].split()
    gender = {"1": "male", "2": "female"}[person["Gender"]]
    names = [person["GivenName"], person["FamilyName"]]
    assert row[:5] == [uln, *names, person["DateOfBirth"], gender]
    assert " ".join(row[5:-1]) == person["LastKnownPostCode"] and row[-1] == "1"

    by_demographics = cli("find", *learner_args(person), env=env)
    assert by_demographics.returncode == 0, by_demographics.stderr
    assert by_demographics.stdout.startswith("WSRC0004 exact match\n")
    assert uln in by_demographics.stdout

    verified = cli(
        "verify", uln, "--given", person["FamilyName"], "--family", person["GivenName"], env=env
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("WSVRC003 ")
    assert "VRF1" in verified.stdout and "VRF5" in verified.stdout

    retrieved = cli("retrieve", uln, UNUSED_ULN, env=env)
    assert retrieved.returncode == 0, retrieved.stderr
    [_, first, second] = retrieved.stdout.splitlines()
    assert first.startswith(f"{uln}  WSRC0004 exact match") and person["FamilyName"] in first
    assert second.startswith(f"{UNUSED_ULN}  WSRC0001 no match")


def test_cli_json_output(server):
    person = synthetic_person()
    env = cli_env(server)
    registered = cli("--json", "register", *learner_args(person), env=env)
    assert registered.returncode == 0, registered.stderr
    reply = json.loads(registered.stdout)
    assert reply["ResponseCode"] == "WSRC0005"
    uln = reply["ULN"]

    # Global options may also follow the command.
    found = cli(
        "find-uln",
        uln,
        "--given",
        person["GivenName"],
        "--family",
        person["FamilyName"],
        "--json",
        env=env,
    )
    assert found.returncode == 0, found.stderr
    reply = json.loads(found.stdout)
    assert reply["ResponseCode"] == "WSRC0004"
    [learner] = reply["Learner"]
    assert (learner["ULN"], learner["VersionNumber"], learner["Title"]) == (uln, 1, None)

    verified = json.loads(
        cli(
            "--json",
            "verify",
            uln,
            "--given",
            person["GivenName"],
            "--family",
            person["FamilyName"],
            "--dob",
            person["DateOfBirth"],
            env=env,
        ).stdout
    )
    assert (verified["ResponseCode"], verified["FailureFlag"]) == ("WSVRC001", [])

    retrieved = json.loads(cli("--json", "retrieve", uln, INVALID_ULN, env=env).stdout)
    assert [x["ResponseCode"] for x in retrieved] == ["WSRC0004", "WSEC0136"]


def test_cli_update_then_stale_version_exits_3(server):
    person = synthetic_person()
    uln = cli_register(server, person)
    env = cli_env(server)
    update = ["update", uln, "--version", "1", *learner_args(person), "--notes", "Left"]
    first = cli(*update, env=env)
    assert (first.returncode, first.stdout) == (0, f"WSRC0006 learner updated: ULN {uln}\n")
    found = json.loads(
        cli(
            "--json",
            "find-uln",
            uln,
            "--given",
            person["GivenName"],
            "--family",
            person["FamilyName"],
            env=env,
        ).stdout
    )
    [learner] = found["Learner"]
    assert (learner["VersionNumber"], learner["Notes"]) == (2, "Left")
    assert learner["Title"] is None  # cli_register set Dr; update left it out, so it is cleared

    stale = cli(*update, env=env)
    assert stale.returncode == 3
    assert stale.stderr.startswith("miap-client: WSEC0702 ")


def test_cli_fault_exits_3(server):
    result = cli("find-uln", INVALID_ULN, "--given", "A", "--family", "B", env=cli_env(server))
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.startswith("miap-client: WSEC0136 Supplied ULN is invalid — ")
    assert INVALID_ULN in result.stderr

    as_json = cli(
        "--json", "find-uln", INVALID_ULN, "--given", "A", "--family", "B", env=cli_env(server)
    )
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout)["Fault"]["ErrorCode"] == "WSEC0136"


def test_cli_credentials_as_options(server):
    result = cli(
        "--url",
        server.url,
        "--ukprn",
        TEST_UKPRN,
        "--password",
        TEST_PASSWORD,
        "--user",
        "cli.tester",
        "retrieve",
        UNUSED_ULN,
        env=cli_env(),
    )
    assert result.returncode == 0, result.stderr
    assert "WSRC0001 no match" in result.stdout


def test_cli_closed_port_exits_4():
    env = cli_env(
        MIAP_URL=f"http://127.0.0.1:{free_port()}/LearnerService.svc",
        MIAP_UKPRN=TEST_UKPRN,
        MIAP_PASSWORD=TEST_PASSWORD,
    )
    result = cli("retrieve", UNUSED_ULN, env=env)
    assert result.returncode == 4
    assert result.stderr.startswith("miap-client: ")
    assert "127.0.0.1" in result.stderr
    assert result.stdout == ""


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        self.send_error(404)

    do_POST = do_GET

    def log_message(self, *args) -> None:  # noqa: ANN002 - keep the test output quiet
        pass


def test_cli_http_404_exits_5_not_unreachable(server):
    """A web server answered, with HTTP 404 and no SOAP: unusable (5), not unreachable (4)."""
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound) as other:
        threading.Thread(target=other.serve_forever, daemon=True).start()
        env = cli_env(
            MIAP_URL=f"http://127.0.0.1:{other.server_port}/LearnerService.svc",
            MIAP_UKPRN=TEST_UKPRN,
            MIAP_PASSWORD=TEST_PASSWORD,
        )
        for wsdl in ([], ["--wsdl", server.wsdl]):  # the WSDL fetch, then the call itself
            result = cli(*wsdl, "retrieve", UNUSED_ULN, env=env)
            assert result.returncode == 5, result.stderr
            assert "404" in result.stderr and "Traceback" not in result.stderr
        other.shutdown()


def test_cli_malformed_ulns_exit_2_before_anything_is_sent():
    # A closed port: if the client tried to send, it would exit 4, not 2.
    env = cli_env(
        MIAP_URL=f"http://127.0.0.1:{free_port()}/LearnerService.svc",
        MIAP_UKPRN=TEST_UKPRN,
        MIAP_PASSWORD=TEST_PASSWORD,
    )
    for args in (
        ["retrieve", "12"],
        ["retrieve", UNUSED_ULN, "0123456789"],
        ["find-uln", "12345ABCDE", "--given", "A", "--family", "B"],
        ["verify", "123", "--given", "A", "--family", "B"],
    ):
        result = cli(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert "is not a ULN" in result.stderr


def test_cli_missing_credentials_exit_2():
    env = cli_env(MIAP_URL="http://127.0.0.1:9/LearnerService.svc")
    result = cli("retrieve", UNUSED_ULN, env=env)
    assert result.returncode == 2
    assert "MIAP_UKPRN" in result.stderr and "MIAP_PASSWORD" in result.stderr


def test_cli_bad_arguments_exit_2():
    env = cli_env()
    assert cli("find-uln", UNUSED_ULN, "--given", "A", env=env).returncode == 2  # no --family
    assert cli("frobnicate", env=env).returncode == 2
    assert cli("find", "--given", "A", "--family", "B", "--dob", "2001-01-01",
               "--gender", "7", "--postcode", "LS1 4AP", env=env).returncode == 2  # fmt: skip


def test_cli_main_in_process(capsys):
    assert main(["--help"]) == 0
    assert "find-uln" in capsys.readouterr().out
    assert main(["update", "--help"]) == 0
    assert "CLEARED" in capsys.readouterr().out
    assert main([]) == 2


DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def test_reports_through_the_client_and_the_cli(server, lrs):
    people = [synthetic_person() for _ in range(3)]
    master, duplicate, withdrawn = (register(lrs, person) for person in people)
    run_miap("learner", "merge", master, duplicate, "--db", server.database_url, "--by", "t")
    run_miap("learner", "delete", withdrawn, "--reason", "test", "--db", server.database_url)
    # The server stamps merges with the UTC day, which may differ from the local one.
    today = dt.datetime.now(dt.timezone.utc).date()
    week = (today - dt.timedelta(days=7), today + dt.timedelta(days=1))

    merged = lrs.merged_unmerged_report(*week)
    assert merged["ResponseCode"] == "WSRC0004"
    [entry] = [
        e
        for e in merged["ULNReport"]["MergedLearners"]["MergedLearner"]
        if e["MergedULN"] == duplicate
    ]
    assert list(entry) == list(MERGED_FIELDS)
    master_person, duplicate_person = people[0], people[1]
    assert entry == {
        "MasterULN": master,
        "MasterFamilyName": master_person["FamilyName"],
        "MasterGivenName": master_person["GivenName"],
        "MasterDateOfBirth": master_person["DateOfBirth"],
        "MergedULN": duplicate,
        "MergedFamilyName": duplicate_person["FamilyName"],
        "MergedGivenName": duplicate_person["GivenName"],
        "MergedDateOfBirth": duplicate_person["DateOfBirth"],
        "MergedDate": entry["MergedDate"],
    }
    assert DATE.fullmatch(entry["MergedDate"])
    assert week[0] <= dt.date.fromisoformat(entry["MergedDate"]) <= week[1]
    assert {"Action": "merged", **entry} in report_entries(merged)

    # A datetime is sent as its date: every request date is a date.
    deleted = lrs.deleted_report(dt.datetime.combine(week[0], dt.time(23, 59)), week[1])
    [gone] = [e for e in deleted["ULNReport"]["DeletedLearners"]["DeletedLearner"]
              if e["ULN"] == withdrawn]  # fmt: skip
    assert list(gone) == ["ULN", "DeletedDate"] and DATE.fullmatch(gone["DeletedDate"])
    assert deleted["FromDate"] == week[0].isoformat()
    assert lrs.deleted_report("2001-01-01", "2001-12-31") == {
        "ResponseCode": "WSRC0001",
        "FromDate": "2001-01-01",
        "ToDate": "2001-12-31",
        "ULNReport": None,
    }

    env = cli_env(server)
    human = cli("merged-report", "--from", week[0].isoformat(), env=env)
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    assert re.fullmatch(r"WSRC0004 [0-9]+ in the range", lines[0])
    assert lines[1].split() == [
        "Action", "ULN", "Given", "name", "Family", "name", "Date", "of", "birth", "Master",
        "ULN", "Master", "given", "name", "Master", "family", "name", "Master", "date", "of",
        "birth", "Date",
    ]  # fmt: skip
    [row] = [line.split() for line in lines[2:] if duplicate in line]
    assert row == [
        "merged",
        duplicate,
        duplicate_person["GivenName"],
        duplicate_person["FamilyName"],
        duplicate_person["DateOfBirth"],
        master,
        master_person["GivenName"],
        master_person["FamilyName"],
        master_person["DateOfBirth"],
        entry["MergedDate"],
    ]
    as_json = json.loads(
        cli("--json", "merged-report", "--from", week[0].isoformat(), env=env).stdout
    )
    assert entry in as_json["ULNReport"]["MergedLearners"]["MergedLearner"]

    listed = cli("deleted-report", "--from", week[0].isoformat(), env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split() == ["ULN", "Deleted", "date"]
    assert [withdrawn, gone["DeletedDate"]] in [line.split() for line in listed.stdout.splitlines()]
    listed_json = json.loads(
        cli("--json", "deleted-report", "--from", week[0].isoformat(), env=env).stdout
    )
    assert listed_json["ResponseCode"] == "WSRC0004"
    assert gone in listed_json["ULNReport"]["DeletedLearners"]["DeletedLearner"]
    nothing = cli("deleted-report", "--from", "2001-01-01", "--to", "2001-12-31", env=env)
    assert nothing.stdout == "WSRC0001 nothing in the range\n"


def test_client_binds_by_the_national_service_and_port_names(server, tmp_path):
    """A WSDL whose port is not named LearnerService is not the contract: the client says so
    (exit 5 from the command line) rather than binding whatever port comes first."""
    renamed = requests.get(server.wsdl, timeout=10).text.replace(
        '<wsdl:port name="LearnerService"', '<wsdl:port name="LearnerServicePort"'
    )
    assert "LearnerServicePort" in renamed
    wsdl = tmp_path / "renamed.wsdl"
    wsdl.write_text(renamed)
    client = LrsClient(server.url, TEST_UKPRN, TEST_PASSWORD, "client.tester", wsdl=str(wsdl))
    with pytest.raises(LrsProtocolError, match="port named LearnerService"):
        client.retrieve_ulns([UNUSED_ULN])
    result = cli("--wsdl", str(wsdl), "retrieve", UNUSED_ULN, env=cli_env(server))
    assert result.returncode == 5 and "LearnerService" in result.stderr
