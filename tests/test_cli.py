"""The ``miap`` admin CLI: clear messages and a non-zero exit status for every refusal."""

from __future__ import annotations

import pytest

from tests.support import run_miap


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ukprn", "1234", "--name", "X", "--org-password", "SixteenCharsPass"], "UKPRN"),
        (["--ukprn", "10000009", "--name", "X", "--org-password", "short"], "exactly 16"),
        (
            [
                "--ukprn",
                "10000009",
                "--name",
                "X",
                "--org-password",
                "SixteenCharsPass",
                "--status",
                "Z",
            ],
            "status must be one of",
        ),
        (
            [
                "--ukprn",
                "10000009",
                "--name",
                "X",
                "--org-password",
                "SixteenCharsPass",
                "--org-ref",
                "toolongref",
            ],
            "OrganisationRef",
        ),
    ],
)
def test_provider_add_refusals(database_url, args, message):
    result = run_miap("provider", "add", "--db", database_url, *args, check=False)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_duplicate_provider_is_refused(database_url):
    args = ["--ukprn", "10000002", "--name", "Again", "--org-password", "SixteenCharsPass"]
    result = run_miap("provider", "add", "--db", database_url, *args, check=False)
    assert result.returncode == 2 and "already registered" in result.stderr


def test_set_status_of_unknown_provider(database_url):
    result = run_miap(
        "provider",
        "set-status",
        "--db",
        database_url,
        "--ukprn",
        "10999998",
        "--status",
        "A",
        check=False,
    )
    assert result.returncode == 2 and "no provider" in result.stderr


def test_serve_refuses_an_unmigrated_database(tmp_path):
    result = run_miap("serve", "--db", f"sqlite:///{tmp_path / 'empty.db'}", check=False)
    assert result.returncode == 2 and "miap db upgrade" in result.stderr


def test_unreachable_database_is_a_clear_error():
    result = run_miap("db", "upgrade", "--db", "postgresql://nobody@127.0.0.1:1/none", check=False)
    assert result.returncode == 2 and "cannot use the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_is_idempotent(database_url):
    assert "revision" in run_miap("db", "upgrade", "--db", database_url).stdout


def test_database_url_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MIAP_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    run_miap("db", "upgrade")
    assert (tmp_path / "env.db").exists()
