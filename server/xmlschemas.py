"""Compiled XML schemas: one per thread and schema, compiled one at a time.

An lxml ``XMLSchema`` is not shared between threads (its error log is per object), so each
thread compiles its own. Compiling is not safe in several threads at once: libxml2 sets up its
built-in types on first use, and a server's first concurrent requests, each compiling its own
copy, failed with ``XMLSchemaParseError`` or got a schema that refused valid messages. So every
compilation in the process holds one lock; validating with a compiled schema does not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from lxml import etree

_compiling = threading.Lock()
_local = threading.local()


def per_thread(name: str, compile_schema: Callable[[], etree.XMLSchema]) -> etree.XMLSchema:
    """This thread's copy of the schema ``name``, compiled by ``compile_schema`` when first
    asked for (under the process's one compilation lock)."""
    schemas: dict[str, etree.XMLSchema] = _local.__dict__.setdefault("schemas", {})
    schema = schemas.get(name)
    if schema is None:
        with _compiling:
            schema = schemas[name] = compile_schema()
    return schema
