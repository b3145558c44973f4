"""Fixtures: a real database (SQLite file and PostgreSQL) and a real server on 127.0.0.1.

PostgreSQL tests run against ``MIAP_TEST_POSTGRES_URL`` (default: the local server's ``test``
database), each session in a fresh database of its own. They are skipped when PostgreSQL is not
reachable, unless ``MIAP_REQUIRE_POSTGRES=1`` (CI), which turns that into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from miap.storage.engine import Database
from tests.support import Server, postgres_database, run_miap, start_server

POSTGRES_ADMIN_URL = os.environ.get(
    "MIAP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
TEST_UKPRN = "10000002"
TEST_PASSWORD = "TestPassword0001"
INACTIVE_UKPRN = "10000003"
INACTIVE_PASSWORD = "ClosedCollege001"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def _postgres_database() -> Iterator[str]:
    psycopg2 = pytest.importorskip("psycopg2")
    with ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_database(POSTGRES_ADMIN_URL))
        except psycopg2.OperationalError as exc:
            if os.environ.get("MIAP_REQUIRE_POSTGRES") == "1":
                pytest.fail(f"PostgreSQL is required but not reachable: {exc}")
            pytest.skip(f"PostgreSQL not reachable: {exc}")
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
    """An empty, migrated database with the test providers registered."""
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path_factory.mktemp('db') / 'miap.db'}"])
    else:
        urls = _postgres_database()
    url = next(urls)
    run_miap("db", "upgrade", "--db", url)
    run_miap(
        "provider",
        "add",
        "--db",
        url,
        "--ukprn",
        TEST_UKPRN,
        "--name",
        "Test College",
        "--org-password",
        TEST_PASSWORD,
    )
    run_miap(
        "provider",
        "add",
        "--db",
        url,
        "--ukprn",
        INACTIVE_UKPRN,
        "--name",
        "Closed College",
        "--org-password",
        INACTIVE_PASSWORD,
        "--status",
        "PD2",
    )
    yield url
    for _ in urls:  # runs the generator's clean-up
        pass


@pytest.fixture(scope="module")
def db(database_url) -> Iterator[Database]:
    """A connection pool on ``database_url`` for tests that work below the SOAP layer."""
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def server(database_url, tmp_path_factory) -> Iterator[Server]:
    with start_server(database_url, tmp_path_factory.mktemp("server")) as running:
        yield running
