"""`miap demo`, the README's first command: it seeds, serves, and its printed example works."""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys

from miap.server.admin import demo
from miap.storage.engine import Database
from miap.storage.migrations import upgrade
from tests.support import REPO, free_port, spawn


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
        # Paste what the demo printed into a shell with no virtualenv active: the exports and
        # both example commands must work as printed, with no password on a command line.
        lines = [line.strip() for line in printed.splitlines()]
        exports = next(line for line in lines if line.startswith("export "))
        examples = [line for line in lines if "miap-client" in line]
        assert len(examples) == 2
        assert all(demo.DEMO_PASSWORD not in line for line in examples)
        script = "\n".join(["set -e", exports, *examples])
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        client_dir = shlex.split(examples[0])[0].rpartition("/")[0]
        result = subprocess.run(
            ["/bin/bash", "-c", script], capture_output=True, text=True, timeout=120, env=env
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("WSRC0004") == 2, result.stdout
        # The README's own example find, as written there, against the same demo data.
        readme = (REPO / "README.md").read_text(encoding="utf-8")
        find = next(line for line in readme.splitlines() if line.startswith("miap-client find "))
        script = "\n".join(["set -e", exports, f"{client_dir}/{find}"])
        result = subprocess.run(
            ["/bin/bash", "-c", script], capture_output=True, text=True, timeout=120, env=env
        )
    assert result.returncode == 0, result.stderr
    assert "WSRC0004" in result.stdout, result.stdout


def test_demo_refuses_a_busy_port_before_printing_anything(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "miap.server.admin.cli",
                "demo",
                "--port",
                str(port),
                "--db",
                f"sqlite:///{tmp_path / 'demo.db'}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == "" and not (tmp_path / "demo.db").exists()
