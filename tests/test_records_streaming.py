"""The loaders stream: memory held does not grow with the file.

The same load (in this process, under ``tracemalloc``, small chunks) of a file and of a file
twice its size peaks at about the same Python memory: rows are held one chunk at a time, the
parsed XML is cleared learner by learner, the reject file is written as the rows are read back.
No timing is asserted.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from miap.server.records import loader, synthetic
from miap.server.records.ilr import IlrReturn
from miap.server.records.results import ResultsFile
from miap.storage.engine import Database
from tests.support_records import fresh_ukprn, ilr_file, register

CHUNK = 250
#: Learners of the smaller file; the larger has twice as many (two events each).
LEARNERS = 600


def _ilr(folder: Path, ulns: list[str]) -> tuple[IlrReturn, object]:
    path = ilr_file(folder, synthetic.learners(ulns), fresh_ukprn())

    def scope(read: IlrReturn) -> loader.Scope:
        header = read.header
        return loader.Scope("ILR", header.ukprn, header.year.code, header.return_key)

    return IlrReturn(path), scope


def _csv(folder: Path, ulns: list[str]) -> tuple[ResultsFile, object]:
    path = folder / "results.csv"
    owner = fresh_ukprn()
    with path.open("w", newline="", encoding="utf-8") as out:
        synthetic.write_results(out, synthetic.result_rows(ulns, owner))
    return ResultsFile(path), lambda read: loader.Scope("AO", owner, "2025", "2025")


def _peak(url: str, folder: Path, make, ulns: list[str]) -> tuple[int, loader.Summary]:  # noqa: ANN001
    folder.mkdir()
    reader, scope = make(folder, ulns)
    db = Database(url)
    try:
        tracemalloc.start()
        summary = loader.RecordsLoad(
            db, reader, scope, rejects=folder / "rejects.csv", chunk=CHUNK
        ).run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        db.dispose()
    return peak, summary


@pytest.mark.parametrize("make", [_ilr, _csv], ids=["ILR", "CSV"])
def test_memory_does_not_grow_with_the_file(database_url, tmp_path, make):
    registered = register(database_url, 3 * LEARNERS)
    # A third of each file's learners are unknown, so the reject file is written too.
    small = registered[:LEARNERS] + [f"1000000{n:03d}" for n in range(LEARNERS // 2)]
    large = registered[LEARNERS:] + [f"2000000{n:03d}" for n in range(LEARNERS)]

    small_peak, small_summary = _peak(database_url, tmp_path / "small", make, small)
    large_peak, large_summary = _peak(database_url, tmp_path / "large", make, large)

    assert large_summary.events == 2 * small_summary.events
    assert large_summary.loaded == 2 * small_summary.loaded > 0
    assert large_summary.rejected == 2 * small_summary.rejected > 0
    # Holding every row would need about twice the memory for twice the rows.
    assert large_peak < small_peak * 1.3, (small_peak, large_peak)
