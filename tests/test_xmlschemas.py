"""``miap.server.xmlschemas``: a fresh server's first concurrent requests each compile their
thread's copy of the schemas, and every copy must compile and hold.

Without the one compilation lock, libxml2's first compilations raced in CI: some threads got
``XMLSchemaParseError`` (an internal error), others a schema that refused valid requests
(WSEC0001). The race is at a process's first compilation, so each round is a fresh process.
"""

from __future__ import annotations

import subprocess
import sys

ROUNDS = 12
THREADS = 16

_ROUND = f"""
import threading
from lxml import etree
from miap.server.portal import forms
from miap.server.sif import schema as sif
from miap.server.soap import contract, provider_query

compilers = [contract.message_schema, sif._schema, provider_query._schema, forms._type_schema]
barrier = threading.Barrier({THREADS})
outcomes = []

def one(index):
    barrier.wait()
    try:
        for compiler in compilers:
            assert isinstance(compiler(), etree.XMLSchema)
        # a valid message stays valid with this thread's copy
        contract.validate(etree.fromstring(VALID))
        outcomes.append("ok")
    except Exception as error:
        outcomes.append(type(error).__name__ + ": " + str(error)[:80])

threads = [threading.Thread(target=one, args=(i,)) for i in range({THREADS})]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(sorted(set(outcomes)))
"""


def _valid_message() -> str:
    from lxml import etree

    from tests.support import synthetic_person
    from tests.test_raw_xml import register_xml

    envelope = etree.fromstring(register_xml(synthetic_person()))
    body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    return etree.tostring(body[0]).decode()


def test_schemas_compiled_at_once_by_many_threads_all_hold():
    program = f"VALID = {_valid_message()!r}\n" + _ROUND
    for _ in range(ROUNDS):
        done = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "['ok']"
