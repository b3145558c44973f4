"""Run the WSGI app under gunicorn: threaded workers, one or several processes.

Each worker builds its own app (and database engine) after the fork. Threaded workers only hand
a connection to a thread once it has sent something, so an idle client holds no worker.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from gunicorn.app.base import BaseApplication

#: The GIL switch interval in the workers, in seconds (Python's default is 0.005). A request
#: hands its audit entries to the writer thread and waits for the commit: with a CPU-bound
#: request running in another thread of the process, each of those hand-offs could wait up to
#: a whole interval for the GIL, which shows in the tail latency.
SWITCH_INTERVAL = 0.001


class _Gunicorn(BaseApplication):
    def __init__(self, app_factory: Callable[[], object], options: dict) -> None:
        self._factory = app_factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):  # noqa: ANN201 - gunicorn's hook
        return self._factory()


def _post_fork(_server, _worker) -> None:  # noqa: ANN001 - gunicorn's hook
    sys.setswitchinterval(SWITCH_INTERVAL)


def serve(
    app_factory: Callable[[], object],
    host: str,
    port: int,
    workers: int = 1,
    threads: int = 8,
    worker_class: str = "gthread",
) -> None:
    """Serve the app; ``worker_class="sync"`` (gunicorn's default: one request at a time per
    process, no keep-alive) is what the benchmark's bare echo baseline runs under."""
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": worker_class,
        "threads": threads,
        "keepalive": 5,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "miap",
        "post_fork": _post_fork,
        # Several servers may run on one host (tests, blue/green); no shared control socket.
        "control_socket_disable": True,
    }
    _Gunicorn(app_factory, options).run()
