"""All configuration in one object: command-line flags over ``MIAP_*`` environment over defaults.

Every field is one setting; its environment variable is ``MIAP_`` + the field name in capitals
(``max_body_bytes`` → ``MIAP_MAX_BODY_BYTES``). ``docs/configuration.md`` lists them; a test
holds that page to this class.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "MIAP_"


def _setting(default: Any, help_text: str) -> Any:  # noqa: ANN401 - any field type
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class Settings:
    database_url: str = _setting(
        "sqlite:///miap.db", "database URL: sqlite:///FILE or postgresql://USER@HOST/DB"
    )
    host: str = _setting("127.0.0.1", "address to listen on")
    port: int = _setting(8000, "TCP port to listen on")
    workers: int = _setting(1, "server processes (gunicorn workers)")
    threads: int = _setting(8, "threads per worker process")
    max_body_bytes: int = _setting(10 * 1024 * 1024, "largest request body accepted")
    validate_responses: bool = _setting(
        False, "also hold every response to the published schemas (tests, staging)"
    )
    auth_cache_seconds: float = _setting(
        60.0, "how long a verified OrgPassword is remembered in a process"
    )
    public_url: str | None = _setting(
        None, "the service URL as clients see it (behind a TLS-terminating proxy)"
    )
    match_weights: Path | None = _setting(
        None, "matching weights file (default: the fitted file shipped with miap)"
    )
    name_variants: Path | None = _setting(
        None, "given-name variants file (default: the table shipped with miap)"
    )
    serve_worker: bool = _setting(
        True, "miap serve also runs a work-queue worker (batches) beside the server"
    )
    work_threads: int = _setting(
        2, "threads per work-queue worker (PostgreSQL; a SQLite worker runs one)"
    )
    work_batch_size: int = _setting(50, "queue items a worker claims and does per transaction")
    work_lease_seconds: float = _setting(
        60.0, "how long a worker's claim holds items before another worker may take them"
    )
    work_poll_seconds: float = _setting(0.2, "how often an idle worker looks for new work")
    ukrlp_max_records: int = _setting(
        2000, "most provider records one retrieveAllProviders answer carries (more is a fault)"
    )
    portal_secure_cookies: bool = _setting(
        True,
        "portal session cookies are sent over HTTPS only (browsers also send them to "
        "http://127.0.0.1 and localhost); set 0 only for plain HTTP on another host",
    )
    portal_idle_minutes: int = _setting(30, "a portal session ends after this long without use")
    portal_session_hours: int = _setting(12, "a portal session ends this long after sign-in")
    sif_push_timeout: float = _setting(10.0, "seconds to wait for a SIF push agent's answer")
    sif_backoff_first: float = _setting(
        1.0, "seconds before the first retry of a failed SIF push (doubling per failure)"
    )
    sif_backoff_max: float = _setting(300.0, "longest wait between retries of a SIF push")
    sif_max_failures: int = _setting(
        12, "failed SIF pushes in a row after which delivery waits for the agent to come back"
    )
    work_retention_days: float = _setting(
        30.0,
        "days a finished job (a batch's output, a delivery) is kept before a worker deletes it; "
        "0 keeps them for ever",
    )

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:  # noqa: ANN401
        """Defaults, then ``MIAP_*`` variables from ``environ``, then ``overrides`` that are
        not None (command-line flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in dataclasses.fields(cls):
            raw = environ.get(env_name(setting.name))
            if raw is not None and raw != "":
                values[setting.name] = parse(setting, raw)
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def parse(setting: dataclasses.Field, raw: str) -> Any:  # noqa: ANN401
    """One setting's value from its environment text; ``ValueError`` names the variable."""
    kind = str(setting.type)
    try:
        if kind == "bool":
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes")
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind.startswith("Path"):
            return Path(raw)
        return raw
    except ValueError:
        raise ValueError(f"{env_name(setting.name)}={raw!r} is not a valid {kind}") from None


def describe() -> list[tuple[str, str, str, str]]:
    """(setting, environment variable, default, help) for every setting, for docs and --help."""
    return [
        (f.name, env_name(f.name), repr(f.default), f.metadata["help"])
        for f in dataclasses.fields(Settings)
    ]
