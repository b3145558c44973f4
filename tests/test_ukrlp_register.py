"""The provider register: CSV import with rejects, idempotent reimport, history, passwords."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import func, select

from miap.server import exceptions
from miap.server.register.auth import Authenticator
from miap.server.ukrlp import register
from miap.server.ukrlp.names import provider_name, provider_names
from miap.storage.ukrlp import ProviderChange
from tests.support import run_miap
from tests.support_ukrlp import token, ukprn_block, write_csv


def history_count(db, ukprns: list[str]) -> int:
    with db.reading() as session:
        return session.scalar(
            select(func.count()).select_from(ProviderChange).where(ProviderChange.ukprn.in_(ukprns))
        )


@pytest.fixture
def rows() -> list[dict[str, str]]:
    # One block, so that no two rows draw the same UKPRN by chance.
    first, second, *others = ukprn_block(8)
    word = token()
    return [
        {
            "UKPRN": first,
            "LegalName": f"{word} Sixth Form College",
            "Status": "A",
            "Aliases": f"{word} SFC|{word} sfc",  # the same alias twice, kept once
            "VerifiedOn": "2021-09-01",
            "Verifications": "Companies House=01234567|Charity Commission=1000001",
            "LegalAddress1": "1 College Road",
            "LegalPostcode": "s1 2hh",
            "PrimaryGivenName": "Pat",
            "PrimaryFamilyName": "Example",
            "PrimaryTelephone": "0114 496 0000",
            "PrimaryEmail": "pat@example.org",
        },
        {"UKPRN": second, "LegalName": f"{word} Training Ltd", "Associations": f"{first}=Partner"},
        {"UKPRN": "20000001", "LegalName": "Not A Register UKPRN"},
        {"UKPRN": first, "LegalName": "The same UKPRN again"},
        {"UKPRN": others[0], "LegalName": "", "Status": "A"},
        {"UKPRN": others[1], "LegalName": "Bad status", "Status": "X"},
        {"UKPRN": others[2], "LegalName": "Bad date", "VerifiedOn": "01/09/2021"},
        {"UKPRN": others[3], "LegalName": "Bad postcode", "LegalPostcode": "NOWHERE"},
        {"UKPRN": others[4], "LegalName": "Bad email", "PrimaryEmail": "nobody"},
        {"UKPRN": others[5], "LegalName": "Bad pair", "Verifications": "Companies House"},
    ]


def test_import_writes_good_rows_and_rejects_the_rest_with_line_and_reason(
    db, database_url, rows, tmp_path
):
    path = write_csv(tmp_path / "providers.csv", rows)
    rejects = tmp_path / "rejects.csv"
    result = run_miap(
        "providers", "import", str(path), "--db", database_url, "--rejects", str(rejects)
    )
    assert "10 rows: 2 new, 0 changed, 0 unchanged, 8 rejected" in result.stdout
    with rejects.open() as handle:
        rejected = list(csv.DictReader(handle))
    assert [(r["line"], r["UKPRN"]) for r in rejected] == [
        (str(n), rows[n - 2]["UKPRN"]) for n in range(4, 12)
    ]
    reasons = [r["reason"] for r in rejected]
    assert "not 8 digits starting with 1" in reasons[0]
    assert "already on line 2" in reasons[1]
    assert "LegalName is missing" in reasons[2]
    assert "Status 'X'" in reasons[3]
    assert "VerifiedOn '01/09/2021' is not a date" in reasons[4]
    assert "LegalPostcode 'NOWHERE'" in reasons[5]
    assert "PrimaryEmail 'nobody'" in reasons[6]
    assert "is not NAME=VALUE" in reasons[7]

    first, second = rows[0]["UKPRN"], rows[1]["UKPRN"]
    with db.reading() as session:
        entries = register.load(session, [first, second])
    entry = entries[first]
    assert entry.legal_name == rows[0]["LegalName"] and entry.status == "A"
    assert [a.name for a in entry.aliases] == [rows[0]["Aliases"].split("|")[0]]
    assert entry.contacts["L"].postcode == "S1 2HH"
    assert entry.contacts["P"].email == "pat@example.org"
    assert [(v.authority, v.primary) for v in entry.verifications] == [
        ("Companies House", True),
        ("Charity Commission", False),
    ]
    assert [(a.ukprn, a.association_type) for a in entries[second].associations] == [
        (first, "Partner")
    ]

    # Importing the same file again changes nothing and writes no history.
    before = history_count(db, [first, second])
    again = run_miap(
        "providers", "import", str(path), "--db", database_url, "--rejects", str(rejects)
    )
    assert "2 unchanged, 8 rejected" in again.stdout and "0 new, 0 changed" in again.stdout
    assert history_count(db, [first, second]) == before


def test_every_change_is_kept_with_who_when_old_and_new(db, database_url, rows, tmp_path):
    rows = rows[:2]
    path = write_csv(tmp_path / "providers.csv", rows)
    run_miap("providers", "import", str(path), "--db", database_url, "--by", "loader")
    first = rows[0]["UKPRN"]
    rows[0] = dict(rows[0], LegalPostcode="S10 2TN", Status="V", Aliases="")
    write_csv(path, rows)
    result = run_miap("providers", "import", str(path), "--db", database_url, "--by", "fixer")
    assert "0 new, 1 changed, 1 unchanged" in result.stdout
    run_miap(
        "provider",
        "set-status",
        "--db",
        database_url,
        "--ukprn",
        first,
        "--status",
        "PD1",
        "--by",
        "closer",
    )
    with db.reading() as session:
        changes = register.history(session, first)
    assert changes[0].field == "created" and changes[0].by == "loader"
    later = [(c.by, c.field, c.old_value, c.new_value) for c in changes if c.by != "loader"]
    assert later == [
        ("fixer", "status", "A", "V"),
        ("fixer", "legal.postcode", "S1 2HH", "S10 2TN"),
        ("fixer", "alias", rows[0]["LegalName"].split()[0] + " SFC", None),
        ("closer", "status", "V", "PD1"),
    ]
    shown = run_miap("provider", "show", "--db", database_url, "--ukprn", first, "--history")
    assert "status         PD1 (deactivation in process)" in shown.stdout
    assert "closer: status V -> PD1" in shown.stdout


def test_an_imported_provider_cannot_call_until_it_has_a_password(db, database_url, tmp_path):
    ukprn = ukprn_block(1)[0]
    path = write_csv(tmp_path / "one.csv", [{"UKPRN": ukprn, "LegalName": "Passwordless College"}])
    run_miap("providers", "import", str(path), "--db", database_url)
    authenticator = Authenticator(db)
    with pytest.raises(exceptions.AuthenticationFailed):
        authenticator.authenticate(ukprn, None, "", "user")
    with pytest.raises(exceptions.AuthenticationFailed):
        authenticator.authenticate(ukprn, None, "AnyPassword00001", "user")
    run_miap(
        "provider",
        "set-password",
        "--db",
        database_url,
        "--ukprn",
        ukprn,
        "--org-password",
        "NowHasPassword01",
    )
    assert authenticator.authenticate(ukprn, None, "NowHasPassword01", "user").ukprn == ukprn
    with db.reading() as session:
        assert register.history(session, ukprn)[-1].field == "password"
        assert "NowHasPassword01" not in repr(register.history(session, ukprn))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("UKPRN,LegalName,Nickname\n", "unknown columns Nickname"),
        ("UKPRN,TradingName\n", "missing columns LegalName"),
    ],
)
def test_a_file_with_a_wrong_header_is_refused_whole(database_url, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = run_miap("providers", "import", str(path), "--db", database_url, check=False)
    assert result.returncode == 2 and message in result.stderr
    missing = run_miap(
        "providers", "import", str(tmp_path / "nope.csv"), "--db", database_url, check=False
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_show_refuses_an_unknown_provider(database_url):
    result = run_miap("provider", "show", "--db", database_url, "--ukprn", "19999997", check=False)
    assert result.returncode == 2 and "no provider with UKPRN 19999997" in result.stderr


def test_provider_names_come_from_the_register(db, database_url, tmp_path):
    first, second = ukprn_block(2)
    rows = [
        {"UKPRN": first, "LegalName": "Name One College"},
        {"UKPRN": second, "LegalName": "Two"},
    ]
    run_miap("providers", "import", str(write_csv(tmp_path / "n.csv", rows)), "--db", database_url)
    with db.reading() as session:
        assert provider_name(session, first) == "Name One College"
        assert provider_name(session, "19999996") is None
        assert provider_names(session, [first, second, None, "19999996"]) == {
            first: "Name One College",
            second: "Two",
        }
    rows[0]["LegalName"] = "Renamed College"
    run_miap("providers", "import", str(write_csv(tmp_path / "n.csv", rows)), "--db", database_url)
    with db.reading() as session:
        assert provider_name(session, first) == "Renamed College"
