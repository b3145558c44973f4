"""Batch files (LRB_<UKPRN>_<DDMMYYYYHHMM>.CSV / .XML): reading and checking them, the server's
``miap batch import`` (and its idempotency: the same file twice registers nobody twice), and
``miap-client batch submit`` end to end."""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from miap.client import batchfile
from miap.client.batchfile import LRB_NS, BatchFileError
from miap.server.admin.synth import Population
from miap.storage.engine import Database
from miap.storage.models import Learner
from tests.conftest import TEST_PASSWORD, TEST_UKPRN
from tests.support import REPO, run_miap, start_server

NAME = f"LRB_{TEST_UKPRN}_010920260930"
COLUMNS = ["MISIdentifier", "FamilyName", "GivenName", "DateOfBirth", "Gender", "LastKnownPostCode"]


def people(count: int) -> list[dict[str, str]]:
    population = Population(seed=random.randrange(1 << 30))
    return [
        {
            "MISIdentifier": f"MIS{n:05d}",
            "GivenName": person.given_name,
            "FamilyName": person.family_name,
            "DateOfBirth": person.date_of_birth.isoformat(),
            "Gender": person.gender,
            "LastKnownPostCode": person.postcode,
        }
        for n, person in enumerate(population.people(count))
    ]


def write_csv(folder: Path, rows: list[dict[str, str]], columns=COLUMNS, bom=True) -> Path:  # noqa: ANN001
    path = folder / f"{NAME}.CSV"
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(name, "") for name in columns])
    return path


def write_xml(folder: Path, rows: list[dict[str, str]]) -> Path:
    root = etree.Element(f"{{{LRB_NS}}}LearnerBatch", nsmap={"lrb": LRB_NS})
    for row in rows:
        learner = etree.SubElement(root, "Learner")
        for name in batchfile.batch_fields():
            if row.get(name):
                etree.SubElement(learner, name).text = row[name]
    path = folder / f"{NAME}.XML"
    etree.ElementTree(root).write(
        str(path), xml_declaration=True, encoding="utf-8", pretty_print=True
    )
    return path


def read_output(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


# -- reading ----------------------------------------------------------------------------------


def test_csv_columns_in_any_order_bom_and_a_malformed_row(tmp_path):
    rows = people(60)
    rows[6]["DateOfBirth"] = "2009-02-30"  # not on the calendar
    rows[7]["Gender"] = "7"  # breaks its type
    rows[8]["FamilyName"] = "Mu\x01ller"  # no XML message can carry it
    shuffled = [
        "Gender",
        "LastKnownPostCode",
        "GivenName",
        "DateOfBirth",
        "FamilyName",
        "MISIdentifier",
    ]
    batch = batchfile.read(write_csv(tmp_path, rows, shuffled))
    assert batch.columns == shuffled and len(batch.rows) == 60
    assert [row.line for row in batch.rows if row.error] == [8, 9, 10]  # line 1: the header
    assert "not a calendar date" in batch.rows[6].error and "Gender" in batch.rows[7].error
    assert "control character" in batch.rows[8].error
    assert len(batch.sendable) == 57


def test_a_file_is_refused_whole_for_its_name_header_or_size(tmp_path):
    with pytest.raises(BatchFileError, match="unknown column"):
        batchfile.read(write_csv(tmp_path, people(50), [*COLUMNS, "ShoeSize"]))
    with pytest.raises(BatchFileError, match="50 to 5,000"):
        batchfile.read(write_csv(tmp_path, people(49)))
    wrong = tmp_path / "learners.csv"
    wrong.write_text("GivenName,FamilyName\n")
    with pytest.raises(BatchFileError, match="LRB_"):
        batchfile.read(wrong)
    bad_time = tmp_path / f"LRB_{TEST_UKPRN}_321320261200.CSV"
    bad_time.write_text("GivenName,FamilyName\n")
    with pytest.raises(BatchFileError, match="DDMMYYYYHHMM"):
        batchfile.read(bad_time)


def test_xml_file_rows_and_their_lines(tmp_path):
    rows = people(55)
    rows[3]["DateOfBirth"] = "2009-13-01"
    path = write_xml(tmp_path, rows)
    batch = batchfile.read(path)
    [bad] = [row for row in batch.rows if row.error]
    assert bad.values["MISIdentifier"] == "MIS00003" and bad.line > 3
    assert "DateOfBirth" in bad.error


# -- miap batch import: server side, and idempotent -------------------------------------------


def learner_count(url: str) -> int:
    db = Database(url)
    try:
        with db.transaction() as session:
            return session.scalar(select(func.count()).select_from(Learner))
    finally:
        db.dispose()


def test_the_same_file_twice_registers_nobody_twice(database_url, tmp_path):
    rows = people(60)
    rows[10]["DateOfBirth"] = "2009-02-30"
    path = write_csv(tmp_path, rows)
    first_out, second_out = tmp_path / "first.csv", tmp_path / "second.csv"
    before = learner_count(database_url)
    result = run_miap("batch", "import", str(path), "--db", database_url, "--out", str(first_out))
    # The reason quotes the date of birth: it goes to the output file, never to stderr.
    assert "rows on lines 12 rejected" in result.stderr and "2009-02-30" not in result.stderr
    after_first = learner_count(database_url)
    run_miap("batch", "import", str(path), "--db", database_url, "--out", str(second_out))
    first, second = read_output(first_out), read_output(second_out)
    assert [row["MISIdentifier"] for row in first] == [row["MISIdentifier"] for row in rows]
    registered = [row for row in first if row["ReturnCode"] == "WSRC0005"]
    assert len(registered) == after_first - before > 50
    assert first[10]["ReturnCode"] == "WSEC0001" and "calendar" in first[10]["ReturnReason"]
    # The second run finds everybody the first registered, with the same ULNs.
    assert learner_count(database_url) == after_first
    for one, two in zip(first, second, strict=True):
        if one["ReturnCode"] == "WSRC0005":
            assert (two["ReturnCode"], two["ULN"]) == ("WSRC0004", one["ULN"])
    assert list(first[0]) == [*COLUMNS, "ULN", "ReturnCode", "ReturnReason"]


def test_import_of_an_xml_file_writes_xml(database_url, tmp_path):
    rows = people(50)
    path = write_xml(tmp_path, rows)
    before = learner_count(database_url)
    run_miap("batch", "import", str(path), "--db", database_url, "--job-type", "CHK")
    out = batchfile.default_output(path)
    assert out.name == f"{NAME}.out.xml"
    root = etree.parse(str(out)).getroot()
    codes = [learner.findtext("ReturnCode") for learner in root]
    # CHK registers nobody: strangers are not found, or (a synthetic look-alike of someone
    # another test registered in the shared register) possible; never found or registered.
    assert len(codes) == 50 and set(codes) <= {"WSRC0001", "WSRC0003"}
    assert codes.count("WSRC0001") >= 45 and learner_count(database_url) == before
    import xmlschema

    xmlschema.XMLSchema(str(REPO / "xsd" / "lrb.xsd")).validate(str(out))
    xmlschema.XMLSchema(str(REPO / "xsd" / "lrb.xsd")).validate(str(path))


def test_import_refuses_a_bad_file_with_status_2(database_url, tmp_path):
    result = run_miap(
        "batch", "import", str(write_csv(tmp_path, people(50), [*COLUMNS, "Shoe"])),
        "--db", database_url, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "unknown column" in result.stderr


# -- miap-client batch submit ------------------------------------------------------------------


def client(server, *args: str) -> subprocess.CompletedProcess:  # noqa: ANN001
    environ = {
        **os.environ,
        "MIAP_URL": server.url,
        "MIAP_UKPRN": TEST_UKPRN,
        "MIAP_PASSWORD": TEST_PASSWORD,
    }
    return subprocess.run(
        [sys.executable, "-m", "miap.client", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=environ,
    )


def test_client_batch_submit_sends_chunks_and_writes_the_output(server, tmp_path):
    rows = people(450)  # three SOAP batches: 200, 200 and the rest
    rows[100]["LastKnownPostCode"] = "NOT A POSTCODE"
    path = write_csv(tmp_path, rows, bom=False)
    result = client(server, "batch", "submit", str(path))
    assert result.returncode == 0, result.stderr
    out = read_output(batchfile.default_output(path))
    assert [row["MISIdentifier"] for row in out] == [row["MISIdentifier"] for row in rows]
    assert out[100]["ReturnCode"] == "WSEC0001" and out[100]["ReturnReason"]
    assert "line 102: rejected WSEC0001" in result.stdout
    answered = [row for n, row in enumerate(out) if n != 100]
    # Synthetic people may resemble one another: a few possible matches are fair answers.
    assert all(row["ReturnCode"] in ("WSRC0005", "WSRC0004", "WSRC0003") for row in answered)
    assert sum(row["ReturnCode"] == "WSRC0005" for row in answered) > 400
    assert all(row["ULN"] for row in answered if row["ReturnCode"] != "WSRC0003")
    # CHK of the same file: everybody now exists.
    check = client(server, "--json", "batch", "submit", str(path), "--job-type", "CHK",
                   "--out", str(tmp_path / "check.csv"))  # fmt: skip
    assert check.returncode == 0, check.stderr
    again = read_output(tmp_path / "check.csv")
    for before, now in zip(out, again, strict=True):
        if before["ReturnCode"] == "WSRC0005":
            assert (now["ReturnCode"], now["ULN"]) == ("WSRC0004", before["ULN"])


def test_client_refuses_another_providers_file(server, tmp_path):
    path = write_csv(tmp_path, people(50))
    other = path.with_name(path.name.replace(TEST_UKPRN, "10000077"))
    path.rename(other)
    result = client(server, "batch", "submit", str(other))
    assert result.returncode == 2 and "UKPRN 10000077" in result.stderr


def test_client_gives_up_when_no_worker_takes_the_jobs(tmp_path):
    # A database of its own: no other test's server (and worker) shares it.
    url = f"sqlite:///{tmp_path / 'lonely.db'}"
    run_miap("db", "upgrade", "--db", url)
    provider = ["--ukprn", TEST_UKPRN, "--name", "Test College", "--org-password", TEST_PASSWORD]
    run_miap("provider", "add", "--db", url, *provider)
    path = write_csv(tmp_path, people(60))
    with start_server(url, tmp_path, "--no-worker") as lonely:
        args = ("--wait", "1", "--no-progress")
        result = client(lonely, "batch", "submit", str(path), *args)
    assert result.returncode == 1, result.stderr
    assert "is a worker running?" in result.stderr and "Traceback" not in result.stderr
    assert not batchfile.default_output(path).exists()
