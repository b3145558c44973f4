"""Run the WSGI app under gunicorn: threaded workers, one or several processes.

Each worker builds its own app (and database engine) after the fork. Threaded workers only hand
a connection to a thread once it has sent something, so an idle client holds no worker.
"""

from __future__ import annotations

from collections.abc import Callable

from gunicorn.app.base import BaseApplication


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


def serve(
    app_factory: Callable[[], object],
    host: str,
    port: int,
    workers: int = 1,
    threads: int = 8,
) -> None:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "keepalive": 5,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "miap",
        # Several servers may run on one host (tests, blue/green); no shared control socket.
        "control_socket_disable": True,
    }
    _Gunicorn(app_factory, options).run()
