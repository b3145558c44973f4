"""Reading an ILR return in parts on worker processes (``miap.server.records.ilr_parts``).

What the parts give must be what a whole reading gives, byte for byte; a file whose parts
could say anything else is read whole (``ReadWhole``). Files are synthetic returns cut into
parts of a few KiB, so each has many parts.
"""

from __future__ import annotations

import csv
import io
import logging
import multiprocessing
import os
import re
import signal
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from miap.server.progress import ProgressFactory, silent
from miap.server.records import ilr_parts, loader, synthetic
from miap.server.records.errors import ReadWhole, RecordsError
from miap.server.records.ilr import IlrReturn
from miap.server.register.identifiers import random_uln
from miap.storage.engine import Database
from tests.support_records import fresh_ukprn, ilr_file, register

PART = 4096
_Change = Callable[[bytes], bytes]


def _destination(xml: bytes) -> bytes:
    record = (
        b"<LearnerDestinationandProgression><LearnRefNumber>D1</LearnRefNumber>"
        b"<ULN>9999999999</ULN></LearnerDestinationandProgression>\n"
    )
    return xml.replace(b"</Message>", record + b"</Message>")


def _every(step: int, pattern: bytes, new: bytes) -> _Change:
    """Replace every ``step``-th match of ``pattern``."""

    def change(xml: bytes) -> bytes:
        seen = 0

        def one(match: re.Match) -> bytes:
            nonlocal seen
            seen += 1
            return new if seen % step == 0 else match.group(0)

        return re.sub(pattern, one, xml)

    return change


#: Files a whole reading and a reading in parts must read alike.
ALIKE: dict[str, _Change] = {
    "as-written": lambda xml: xml,
    "indented": lambda xml: xml.replace(b"><", b">\n  <"),
    "crlf": lambda xml: xml.replace(b"\n", b"\r\n").replace(b"><", b">\r\n<"),
    "comments-between": lambda xml: xml.replace(b"</Learner>", b"</Learner><!-- ok -->"),
    "destinations": _destination,
    "rejected-rows": _every(7, rb"</LearnStartDate>", b"Z</LearnStartDate>"),
    "work-placements": _every(
        5, rb"<LearnAimRef>[^<]*</LearnAimRef>", b"<LearnAimRef>Z0007834</LearnAimRef>"
    ),
    "entities": lambda xml: xml.replace(b"<OutGrade>", b"<OutGrade>&#x41;"),
}

#: Files that must be read whole, with the reason ``ReadWhole`` gives.
WHOLE: dict[str, tuple[_Change, str]] = {
    "comment-in-head": (lambda xml: xml.replace(b"<Header>", b"<!-- c --><Header>"), "plain"),
    "doctype": (
        lambda xml: xml.replace(b"<Message", b"<!DOCTYPE Message []>\n<Message", 1),
        "plain",
    ),
    "learner-in-a-comment": (
        _every(9, b"</Learner>", b"</Learner><!-- <Learner> -->"),
        "spell",
    ),
    "learner-redeclaring-its-namespace": (
        _every(9, b"<Learner>", b'<Learner xmlns="ESFA/ILR/2019-20">'),
        "spell",
    ),
    "prefixed": (
        lambda xml: re.sub(rb"<(/?)([A-Za-z])", rb"<\1i:\2", xml).replace(
            b'<i:Message xmlns="', b'<i:Message xmlns:i="'
        ),
        "no </Learner>",
    ),
    "invalid-in-a-later-part": (
        lambda xml: (
            xml[: len(xml) // 2]
            + xml[len(xml) // 2 :].replace(b"<CompStatus>", b"<CompStatus>7", 1)
        ),
        "XMLSyntaxError",
    ),
}


def _return(tmp_path: Path, change: _Change, learners: int = 60) -> Path:
    ulns = [random_uln() for _ in range(learners)]
    path = ilr_file(tmp_path, synthetic.learners(ulns, per_learner=3, seed=5), fresh_ukprn())
    path.write_bytes(change(path.read_bytes()))
    return path


def _whole(path: Path) -> tuple[str, IlrReturn]:
    reader = IlrReturn(path, parallel_from=1 << 40)
    out = io.StringIO()
    csv.writer(out).writerows(event.row() for event in reader.events())
    return out.getvalue(), reader


def _facts(reader: IlrReturn) -> tuple:
    return (reader.header, reader.learners, reader.deliveries, reader.skipped, reader.content_hash)


@pytest.mark.parametrize("change", ALIKE.values(), ids=ALIKE.keys())
def test_the_parts_read_what_the_whole_file_reads(tmp_path, change):
    path = _return(tmp_path, change)
    whole, whole_reader = _whole(path)
    reader = IlrReturn(path)
    advanced: list[int] = []

    parts = list(ilr_parts.read_in_parts(reader, advanced.append, part_bytes=PART))

    assert len(parts) > 5
    assert "".join(part.payload for part in parts) == whole
    assert sum(part.rows for part in parts) == whole.count("\n")
    assert sum(part.rejected for part in parts) == sum(
        1 for row in csv.reader(io.StringIO(whole)) if row[-1]
    )
    assert _facts(reader) == _facts(whole_reader)
    assert sum(advanced) == path.stat().st_size


def test_the_files_read_alike_hold_what_they_are_meant_to(tmp_path):
    """The variants above exercise what they name (else the test above proves less)."""
    rows = {}
    for name, change in ALIKE.items():
        (tmp_path / name).mkdir()
        rows[name] = _whole(_return(tmp_path / name, change))
    assert all(reader.learners == 60 for _, reader in rows.values())
    lines = [int(line) for line in re.findall(r"\(line ([0-9]+)\)", rows["indented"][0])]
    assert max(lines) > 1000
    assert "not a YYYY-MM-DD date" in rows["rejected-rows"][0]
    assert rows["work-placements"][1].skipped > 0
    assert ",A" in rows["entities"][0]


@pytest.mark.parametrize(("change", "reason"), WHOLE.values(), ids=WHOLE.keys())
def test_a_file_whose_parts_could_differ_is_read_whole(tmp_path, change, reason):
    path = _return(tmp_path, change)
    reader = IlrReturn(path)

    with pytest.raises(ReadWhole, match=re.escape(reason)):
        list(ilr_parts.read_in_parts(reader, lambda n: None, part_bytes=PART))

    assert _facts(reader) == (None, 0, 0, 0, "")


def _load(
    url: str, path: Path, parts: bool, rejects: Path, progress: ProgressFactory = silent
) -> loader.Summary:
    reader = IlrReturn(path, parallel_from=1 << 40)

    def scope(read: IlrReturn) -> loader.Scope:
        header = read.header
        return loader.Scope("ILR", header.ukprn, header.year.code, header.return_key)

    reading = partial(ilr_parts.read_in_parts, reader, part_bytes=PART) if parts else None
    db = Database(url)
    try:
        return loader.RecordsLoad(
            db, reader, scope, rejects=rejects, progress=progress, parts=reading
        ).run()
    finally:
        db.dispose()


def test_a_load_in_parts_stores_what_a_whole_load_stores(database_url, tmp_path):
    ulns = register(database_url, 40) + [random_uln() for _ in range(5)]
    people = list(synthetic.learners(ulns, per_learner=3, seed=8))
    path = ilr_file(tmp_path, people, fresh_ukprn())
    path.write_bytes(ALIKE["rejected-rows"](path.read_bytes()))

    first = _load(database_url, path, parts=True, rejects=tmp_path / "parts.csv")
    again = _load(database_url, path, parts=False, rejects=tmp_path / "whole.csv")

    assert first.events == 135 and first.rejected > 15  # the bad dates and 5 unknown ULNs
    assert (first.loaded, again.rejected) == (135 - first.rejected, first.rejected)
    assert (again.unchanged, again.loaded, again.updated) == (first.loaded, 0, 0)
    assert (tmp_path / "parts.csv").read_text() == (tmp_path / "whole.csv").read_text()


def test_a_refused_part_is_refused_as_the_whole_file_is(database_url, tmp_path):
    ulns = register(database_url, 40)
    path = ilr_file(tmp_path, synthetic.learners(ulns, per_learner=3), fresh_ukprn())
    path.write_bytes(WHOLE["invalid-in-a-later-part"][0](path.read_bytes()))

    with pytest.raises(RecordsError) as whole:
        _load(database_url, path, parts=False, rejects=None)
    with pytest.raises(RecordsError) as parted:
        _load(database_url, path, parts=True, rejects=None)

    assert str(parted.value) == str(whole.value)
    assert "Element 'CompStatus'" in str(parted.value)


class _KillingAWorker:
    """A progress bar that, told of the first part read, SIGKILLs a worker process (as the
    kernel's out-of-memory killer would) and waits until the pool has reaped it, so the
    pool is broken before the next part is handed to it."""

    def __init__(self) -> None:
        self.killed: list[int] = []

    def __call__(self, description: str, total: int, initial: int) -> _KillingAWorker:
        return self

    def update(self, n: int) -> None:
        if self.killed:
            return
        (worker, *_) = multiprocessing.active_children()
        os.kill(worker.pid, signal.SIGKILL)
        # Not joined: the pool's own thread reaps it (its exit code may never reach us).
        deadline = time.monotonic() + 30
        while Path(f"/proc/{worker.pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.killed.append(worker.pid)

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True
)
def test_a_worker_killed_mid_load_sends_the_file_to_the_whole_reading(
    database_url, tmp_path, caplog
):
    """(Parts are read on PostgreSQL only.)"""
    ulns = register(database_url, 60)
    path = ilr_file(tmp_path, synthetic.learners(ulns, per_learner=3, seed=2), fresh_ukprn())
    killing = _KillingAWorker()

    with caplog.at_level(logging.INFO, logger="miap.records"):
        summary = _load(database_url, path, parts=True, rejects=None, progress=killing)

    assert len(killing.killed) == 1
    # the pool broke, so the file was read whole
    assert "reading " + path.name + " whole (a worker failed: BrokenProcessPool)" in caplog.text
    assert (summary.events, summary.loaded, summary.rejected) == (180, 180, 0)
    again = _load(database_url, path, parts=False, rejects=None)
    assert (again.unchanged, again.loaded, again.updated) == (180, 0, 0)
