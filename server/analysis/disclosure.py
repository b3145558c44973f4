"""Statistical disclosure control for every table the analysts' queries publish.

A table is counts laid out in rows and columns, with its row totals, column totals and grand
total (a table whose columns are different measures publishes column totals only). Three
rules, applied in this order:

1. **Primary suppression**: every count under ``THRESHOLD`` (5), cells and totals alike, zero
   included, is suppressed (published as ``c``).
2. **Secondary suppression**: every published relation "these cells add up to that total"
   (each row with its row total, each column with its column total, the row totals and the
   column totals with the grand total) that holds exactly one suppressed term would give that
   term away by subtraction, so one more term of it is suppressed: a cell rather than a
   total, preferring one whose other relations already hide a term (so that no further
   suppression follows), then the smallest. Repeated until no relation has exactly one.
3. **Rounding**: every count still published is rounded to the nearest ``BASE`` (5).

Totals are computed from the true counts before rounding, so published cells need not add up
to published totals (the rounding hides the difference). Rates derived from a table are
computed from its published, rounded counts, never from the true ones.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

#: Counts under this are suppressed.
THRESHOLD = 5
#: Published counts are rounded to the nearest multiple of this.
BASE = 5
#: How a suppressed count is published.
SUPPRESSED = "c"

Cell = tuple[
    str, int, int
]  # ("cell", row, column), ("row", row, -1), ("column", -1, column), ("grand", -1, -1)


@dataclass(frozen=True)
class Table:
    """A published table: counts rounded, suppressed ones None."""

    title: str
    row_dims: tuple[str, ...]
    column_dim: str
    rows: tuple[tuple[Hashable, ...], ...]
    columns: tuple[Hashable, ...]
    cells: tuple[tuple[int | None, ...], ...]
    #: None when the table publishes no row totals (its columns are different measures).
    row_totals: tuple[int | None, ...] | None
    column_totals: tuple[int | None, ...]
    grand_total: int | None

    def value(self, row: tuple[Hashable, ...], column: Hashable) -> int | None:
        return self.cells[self.rows.index(row)][self.columns.index(column)]


def round_to_base(count: int) -> int:
    """The nearest multiple of ``BASE`` (counts are whole, so there is never a tie)."""
    return BASE * ((count + BASE // 2) // BASE)


def control(
    title: str,
    counts: Mapping[tuple[tuple[Hashable, ...], Hashable], int],
    row_dims: tuple[str, ...],
    column_dim: str,
    rows: Sequence[tuple[Hashable, ...]],
    columns: Sequence[Hashable],
    row_totals: bool = True,
) -> Table:
    """The published form of ``counts`` ((row, column) -> true count; missing is 0)."""
    n_rows, n_columns = len(rows), len(columns)
    true = [[counts.get((row, column), 0) for column in columns] for row in rows]
    values: dict[Cell, int] = {}
    for r in range(n_rows):
        for c in range(n_columns):
            values[("cell", r, c)] = true[r][c]
        if row_totals:
            values[("row", r, -1)] = sum(true[r])
    for c in range(n_columns):
        values[("column", -1, c)] = sum(true[r][c] for r in range(n_rows))
    if row_totals:
        values[("grand", -1, -1)] = sum(sum(row) for row in true)
    suppressed = {key for key, value in values.items() if value < THRESHOLD}
    _suppress_secondary(values, suppressed, _relations(n_rows, n_columns, row_totals))

    def published(key: Cell) -> int | None:
        return None if key in suppressed else round_to_base(values[key])

    return Table(
        title=title,
        row_dims=row_dims,
        column_dim=column_dim,
        rows=tuple(rows),
        columns=tuple(columns),
        cells=tuple(
            tuple(published(("cell", r, c)) for c in range(n_columns)) for r in range(n_rows)
        ),
        row_totals=tuple(published(("row", r, -1)) for r in range(n_rows)) if row_totals else None,
        column_totals=tuple(published(("column", -1, c)) for c in range(n_columns)),
        grand_total=published(("grand", -1, -1)) if row_totals else None,
    )


def _relations(n_rows: int, n_columns: int, row_totals: bool) -> list[list[Cell]]:
    """Each published additive relation as its terms, the total last."""
    relations: list[list[Cell]] = []
    if row_totals:
        for r in range(n_rows):
            relations.append([("cell", r, c) for c in range(n_columns)] + [("row", r, -1)])
        relations.append([("row", r, -1) for r in range(n_rows)] + [("grand", -1, -1)])
        relations.append([("column", -1, c) for c in range(n_columns)] + [("grand", -1, -1)])
    for c in range(n_columns):
        relations.append([("cell", r, c) for r in range(n_rows)] + [("column", -1, c)])
    return relations


def _suppress_secondary(
    values: Mapping[Cell, int], suppressed: set[Cell], relations: list[list[Cell]]
) -> None:
    """Suppress more terms until no relation has exactly one suppressed term."""
    hidden = [sum(term in suppressed for term in terms) for terms in relations]
    containing: dict[Cell, list[int]] = {}
    for index, terms in enumerate(relations):
        for term in terms:
            containing.setdefault(term, []).append(index)

    def exposed(term: Cell) -> int:
        """How many relations suppressing ``term`` would leave with exactly one hidden."""
        return sum(1 for index in containing[term] if hidden[index] == 0)

    changed = True
    while changed:
        changed = False
        for index, terms in enumerate(relations):
            if hidden[index] != 1 or len(terms) == 1:
                continue  # safe already, or a total of nothing (an empty table)
            # A cell rather than a total; one whose other relations already hide something
            # (so no further suppression follows); then the smallest count.
            chosen = min(
                (term for term in terms if term not in suppressed),
                key=lambda t: (t[0] != "cell", exposed(t), values[t], t),
            )
            suppressed.add(chosen)
            for other in containing[chosen]:
                hidden[other] += 1
            changed = True


def published_text(value: int | None) -> str:
    return SUPPRESSED if value is None else str(value)
