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


def yardstick() -> str:
    """How fast one core of this machine runs Python, printed with the figures so that runs
    on different machines can be compared: the seconds ``sum(range(10**8))`` takes (the
    best of three)."""
    best = min(_timed_sum() for _ in range(3))
    return f"yardstick: sum(range(10**8)) in {best:.2f} s on one core"


def _timed_sum() -> float:
    started = time.perf_counter()
    sum(range(10**8))
    return time.perf_counter() - started
