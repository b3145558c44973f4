"""A real ``miap`` process timed from the outside: wall seconds, the peak RSS of the largest
child so far, and what it printed (the benches that load files use it)."""

from __future__ import annotations

import resource
import subprocess
import sys
import time


def timed_miap(*arguments: str) -> tuple[float, float, str]:
    """Seconds, peak RSS in MiB and the standard output of ``miap ARGUMENTS``; a failure
    stops the bench with the process's output."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "miap.server.admin.cli", *arguments],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"miap {arguments[0]} failed:\n{result.stdout}\n{result.stderr}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, rss, result.stdout.strip()
