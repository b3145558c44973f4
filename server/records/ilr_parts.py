"""Reading a large ILR return in parts, each parsed, checked and staged by a worker process.

One process reading a large return is bound by libxml2 and by our reading of each learning
delivery; with more cores the return is cut into parts of about ``PART_BYTES`` just after a
``</Learner>``, and each worker reads one part as a return of its own: the bytes before the
first Learner (the declaration, the root's start tag, the Header and the LearningProvider),
the part, and ``</Message>``. Each such return is parsed with the year's schema, walked by
``IlrReturn`` exactly as a whole file is (its counters and line numbers moved on to where the
part starts), and turned into the staging table's CSV rows, so the loading process only reads
the file, hashes it and passes the rows to ``COPY``.

That the parts say what the whole says rests on three checks, and where one fails the file is
read whole instead (``ReadWhole``), never in a way that could differ:

- the bytes before the first Learner hold no comment, CDATA, DOCTYPE or processing
  instruction but a leading declaration, and no ``Learner`` at all, so they are the
  records the whole file starts with and nothing else;
- every part parses and is valid: a cut made inside a comment, CDATA section, tag or a
  nested element leaves a part that is not well-formed. A valid part other than the last
  ends with a top-level Learner, so it holds no destination record, and the parts in order
  keep the schema's order of records;
- each part holds as many Learners and LearningDeliveries as its bytes spell ``<Learner>``
  and ``<LearningDelivery>``, so the numbers the next parts start from are the whole file's.

A file refused by any part is read whole too, so a refusal's message is the one a whole
reading gives.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from miap.server.records.errors import ReadWhole
from miap.server.records.events import StagedCsv, as_csv
from miap.server.records.ilr import YEARS, Header, IlrReturn, _records, _schema

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

#: Bytes of a part (cut at the next ``</Learner>`` before this).
PART_BYTES = 16 << 20
#: A part may grow to this many times ``PART_BYTES`` while no ``</Learner>`` is found to cut
#: it at (then the file is read whole).
GROWTH = 4
#: Returns at least this big are read in parts (on a machine with more than one core).
PARTS_FROM_BYTES = 64 << 20

_LEARNER_END = b"</Learner>"
_DECLARATION = re.compile(rb"(?:\xef\xbb\xbf)?<\?xml\s[^>]*\?>")
_ENCODING = re.compile(rb"encoding\s*=\s*['\"]([A-Za-z0-9._-]+)['\"]")
#: Encodings in which the bytes ``<``, ``/``, ``>`` and ASCII letters are those characters.
_ASCII_SAFE = frozenset(("utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1"))


@dataclass(frozen=True)
class _Job:
    path: str
    namespace: str
    document: bytes
    learners_before: int
    deliveries_before: int
    line_shift: int
    learners: int
    deliveries: int


@dataclass(frozen=True)
class _Done:
    """What a worker made of one part (``failure`` set when the part must not be trusted)."""

    staged: StagedCsv | None = None
    header: Header | None = None
    skipped: int = 0
    failure: str | None = None


def workers() -> int:
    """Worker processes for one load: one a core."""
    return os.cpu_count() or 1


def in_parts(reader: IlrReturn) -> bool:
    """Whether ``reader``'s return is big enough, and this machine wide enough, to read in
    parts."""
    return workers() > 1 and reader.size >= PARTS_FROM_BYTES


def read_in_parts(
    reader: IlrReturn, advance: Callable[[int], object], part_bytes: int = PART_BYTES
) -> Iterator[StagedCsv]:
    """The return's staged rows, part by part in file order. Raises ``ReadWhole`` (having
    left ``reader`` as it was) if the file must be read whole instead; the caller then
    discards what it took from here. On success ``reader`` holds the header, counts and
    hash a whole reading gives."""
    namespace = reader._namespace()
    if namespace not in YEARS or YEARS[namespace].code != reader.name.year_code:
        raise ReadWhole("not a return of a year we read: the whole reading says why")
    sha256 = hashlib.sha256()
    learners = deliveries = lines = skipped = 0
    header: Header | None = None
    head: bytes | None = None
    count = workers()
    pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"))
    pending: deque[tuple[Future[_Done], int]] = deque()

    def finished() -> StagedCsv:
        nonlocal header, skipped
        future, size = pending.popleft()
        try:
            done = future.result()
        except Exception as error:  # noqa: BLE001 - a worker lost: read the file whole
            raise _lost(error) from None
        if done.failure is not None:
            raise ReadWhole(done.failure)
        header = header or done.header
        skipped += done.skipped
        advance(size)
        return done.staged

    try:
        with reader._raw() as raw:
            for part, last in _cut(raw, sha256, part_bytes):
                if head is None:  # the first part: the file's start is its own
                    head, document, shift = _head(part), part, 0
                    head_lines = head.count(b"\n")
                else:
                    document, shift = head + part, lines - head_lines
                job = _Job(
                    str(reader.path),
                    namespace,
                    document if last else document + b"</Message>",
                    learners,
                    deliveries,
                    shift,
                    part.count(b"<Learner>"),
                    part.count(b"<LearningDelivery>"),
                )
                learners += job.learners
                deliveries += job.deliveries
                lines += part.count(b"\n")
                try:
                    pending.append((pool.submit(_read_part, job), len(part)))
                except BrokenProcessPool as error:  # a worker lost since the last part
                    raise _lost(error) from None
                if len(pending) > count:
                    yield finished()
        while pending:
            yield finished()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    reader.header = header
    reader.learners, reader.deliveries, reader.skipped = learners, deliveries, skipped
    reader.content_hash = sha256.hexdigest()


def _lost(error: BaseException) -> ReadWhole:
    """A worker lost (killed, or its process pool broken): the file is read whole."""
    return ReadWhole(f"a worker failed: {type(error).__name__}")


def _cut(raw: BinaryIO, sha256: Hash, part_bytes: int) -> Iterator[tuple[bytes, bool]]:
    """The file's bytes in parts, each but the last ending just after a ``</Learner>``;
    (part, whether it is the last). The last part holds a Learner's start at least (what
    follows the last cut otherwise joins the part before it)."""
    buffer = b""
    held: bytes | None = None
    while block := raw.read(part_bytes):
        sha256.update(block)
        buffer += block
        cut = buffer.rfind(_LEARNER_END)
        if cut < 0:
            if len(buffer) > GROWTH * part_bytes:
                raise ReadWhole(f"no </Learner> in {len(buffer):,} bytes")
            continue
        cut += len(_LEARNER_END)
        if held is not None:
            yield held, False
        held, buffer = buffer[:cut], buffer[cut:]
    if held is None:
        raise ReadWhole("no </Learner> to cut at")
    if b"<Learner" in buffer:
        yield held, False
        yield buffer, True
    else:
        yield held + buffer, True


def _head(first: bytes) -> bytes:
    """The bytes before the first Learner, which start every part after the first; refused
    (``ReadWhole``) unless they can hold nothing but the records they seem to."""
    start = first.find(b"<Learner")
    head = first[: max(start, 0)]
    declaration = _DECLARATION.match(head)
    body = head[declaration.end() :] if declaration else head
    named = _ENCODING.search(declaration.group(0)) if declaration else None
    encoding = named.group(1).decode().lower() if named else "utf-8"
    if (
        start < 0
        or b"Learner" in head
        or b"<!" in body
        or b"<?" in body
        or encoding not in _ASCII_SAFE
    ):
        raise ReadWhole("the records before the first Learner are not plain")
    return head


def _read_part(job: _Job) -> _Done:
    """One part, read as a return of its own, as staged CSV rows (in a worker process)."""
    try:
        reader = IlrReturn(Path(job.path))
        reader.learners = job.learners_before
        reader.deliveries = job.deliveries_before
        reader.line_shift = job.line_shift
        year = YEARS[job.namespace]
        q = "{" + job.namespace + "}"
        parsed = _records(io.BytesIO(job.document), q, _schema(year))
        staged = as_csv(reader._walk(parsed, q, year))
        learners = reader.learners - job.learners_before
        deliveries = reader.deliveries - job.deliveries_before
        if (learners, deliveries) != (job.learners, job.deliveries):
            return _Done(
                failure=f"{learners} Learners and {deliveries} deliveries read where the bytes "
                f"spell {job.learners} and {job.deliveries}"
            )
        return _Done(staged, reader.header, reader.skipped)
    except Exception as error:  # noqa: BLE001 - the whole reading reports it properly
        # The type only: a schema's complaint may quote the file's values.
        return _Done(
            failure=f"a part starting at Learner {job.learners_before + 1}: {type(error).__name__}"
        )
