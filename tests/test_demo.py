"""`miap demo`, the README's first command: it seeds, serves, and its printed example works."""

from __future__ import annotations

import shlex
import subprocess
import sys

from miap.server.admin import demo
from miap.storage.engine import Database
from miap.storage.migrations import upgrade
from tests.support import free_port, spawn


def test_seeding_twice_adds_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    db = Database(url)
    try:
        assert demo.seed(db, count=25) == {"learners_added": 25}
        assert demo.seed(db, count=25) == {"learners_added": 0}
    finally:
        db.dispose()


def test_demo_serves_and_its_example_command_works(tmp_path):
    port = free_port()
    log = tmp_path / "demo.log"
    command = [sys.executable, "-m", "miap.server.admin.cli", "demo", "--learners", "20"]
    command += ["--port", str(port), "--db", f"sqlite:///{tmp_path / 'demo.db'}"]
    with spawn(command, f"http://127.0.0.1:{port}/LearnerService.svc?wsdl", log):
        printed = log.read_text()
        assert f"UKPRN:        {demo.DEMO_UKPRN}" in printed
        example = next(line for line in printed.splitlines() if "miap-client" in line)
        args = shlex.split(example)[1:]  # drop the program name
        result = subprocess.run(
            [sys.executable, "-m", "miap.client.cli", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    assert "WSRC0004" in result.stdout
