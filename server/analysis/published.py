"""A published result as text: what the CSV holds and the portal shows (no chart library)."""

from __future__ import annotations

from miap.server.analysis.disclosure import published_text
from miap.server.analysis.queries import Result

TOTAL = "Total"


def published_rows(result: Result) -> list[list[str]]:
    """The published table as text rows: the header, one row per table row, then the totals
    (what the CSV holds and the portal shows)."""
    table = result.table
    header = [*table.row_dims, *map(str, table.columns)]
    if table.row_totals is not None:
        header.append(TOTAL)
    header += [name for name, _ in result.derived]
    rows = [header]
    for r, row in enumerate(table.rows):
        line = [*map(str, row), *map(published_text, table.cells[r])]
        if table.row_totals is not None:
            line.append(published_text(table.row_totals[r]))
        line += [values[r] for _, values in result.derived]
        rows.append(line)
    totals = [TOTAL, *[""] * (len(table.row_dims) - 1)]
    totals += map(published_text, table.column_totals)
    if table.row_totals is not None:
        totals.append(published_text(table.grand_total))
    rows.append(totals + [""] * len(result.derived))
    return rows
