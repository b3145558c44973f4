"""Rules of the code's shape that a review would otherwise have to remember."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from miap.server import exceptions
from miap.server.outcomes import Disagreement, Outcome
from miap.server.settings import Settings, env_name
from miap.server.soap import faults
from tests.support import REPO

TRACKED = [
    path
    for path in REPO.rglob("*")
    if path.is_file()
    and not {".git", ".venv", "__pycache__", "miap.egg-info", ".ruff_cache"} & set(path.parts)
]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_nothing_points_outside_the_repository():
    outside = "shared"  # the workplace folder beside the checkout, never shipped with it
    pattern = re.compile(rf"\.\./{outside}|{outside}/(spec|design)")
    offenders = [
        str(path.relative_to(REPO))
        for path in TRACKED
        if path.suffix in {".py", ".md", ".xsd", ".wsdl", ".cfg", ".toml", ""}
        and pattern.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert offenders == []


def test_migrations_never_import_application_code():
    for path in (REPO / "storage" / "migrations" / "versions").glob("*.py"):
        assert not any(name.startswith("miap") for name in _imports(path)), path.name


#: Domain modules that read a file format which is XML (not a transport's envelope): the
#: college ILR return is an XML file, streamed with lxml.
XML_FILE_READERS = {"records/ilr.py"}


@pytest.mark.parametrize(
    "package",
    ["register", "matching", "batches", "census", "work", "access", "records", "ukrlp", "analysis"],
)
def test_the_domain_holds_no_xml_and_no_transport(package):
    for path in (REPO / "server" / package).glob("*.py"):
        imported = _imports(path)
        forbidden = ("miap.server.soap", "miap.client")
        if path.relative_to(REPO / "server").as_posix() not in XML_FILE_READERS:
            forbidden += ("lxml",)
        assert not any(name.startswith(forbidden) for name in imported), path


def test_every_domain_refusal_has_its_own_fault():
    refusals = [
        cls
        for cls in vars(exceptions).values()
        if isinstance(cls, type) and issubclass(cls, exceptions.DomainError)
    ]
    # AdminRefusal is raised by administrators' commands only, never inside a SOAP request.
    unmapped = [cls for cls in refusals if cls not in faults.DOMAIN_FAULTS]
    assert unmapped == [exceptions.AdminRefusal]


def test_every_outcome_has_a_wire_code():
    assert set(faults.OUTCOME_CODES) == set(Outcome)
    assert set(faults.FAILURE_FLAGS) == set(Disagreement)


def test_the_configuration_page_lists_every_setting():
    page = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    for setting in dataclasses.fields(Settings):
        assert f"`{setting.name}`" in page and f"`{env_name(setting.name)}`" in page


def test_settings_come_from_flags_over_environment_over_defaults():
    environ = {"MIAP_PORT": "9001", "MIAP_WORKERS": "3", "MIAP_VALIDATE_RESPONSES": "1"}
    settings = Settings.load(environ, workers=2, host=None)
    assert (settings.port, settings.workers, settings.host) == (9001, 2, Settings.host)
    assert settings.validate_responses is True
    with pytest.raises(ValueError, match="MIAP_PORT"):
        Settings.load({"MIAP_PORT": "eighty"})


#: Reading a variable (handing the environment on to a child process is not reading it).
READS_ENVIRONMENT = re.compile(r"os\.environ(?!\))|os\.getenv")


def test_configuration_is_read_in_one_place():
    """Only the settings module reads ``MIAP_*`` variables (the client has its own)."""
    readers = [
        str(path.relative_to(REPO))
        for path in (REPO / "server").rglob("*.py")
        if READS_ENVIRONMENT.search(path.read_text(encoding="utf-8"))
    ]
    assert readers == ["server/settings.py"]
