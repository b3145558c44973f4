"""Disclosure control, rule by rule, on crafted tables (no database)."""

from __future__ import annotations

import random

import pytest

from miap.server.analysis.disclosure import BASE, THRESHOLD, Table, control, round_to_base

COLUMNS = ("x", "y", "z")


def table(matrix: list[list[int]], row_totals: bool = True) -> Table:
    rows = [(f"r{n}",) for n in range(len(matrix))]
    counts = {
        (row, column): value
        for row, values in zip(rows, matrix, strict=True)
        for column, value in zip(COLUMNS[: len(values)], values, strict=True)
    }
    return control("t", counts, ("row",), "column", rows, COLUMNS[: len(matrix[0])], row_totals)


def relations(published: Table) -> list[list[int | None]]:
    """Every published additive relation's terms (cells, then the total)."""
    cells = [list(row) for row in published.cells]
    found = [[row[c] for row in cells] + [published.column_totals[c]] for c in range(len(cells[0]))]
    if published.row_totals is not None:
        found += [cells[r] + [published.row_totals[r]] for r in range(len(cells))]
        found.append([*published.row_totals, published.grand_total])
        found.append([*published.column_totals, published.grand_total])
    return found


def test_counts_under_five_are_suppressed_zero_included():
    published = table([[0, 4, 5], [1, 3, 50]])
    assert published.cells[0][:2] == (None, None)
    assert published.cells[1][:2] == (None, None)
    assert published.cells[0][2] == 5 and published.cells[1][2] == 50


@pytest.mark.parametrize(
    ("count", "rounded"), [(5, 5), (6, 5), (7, 5), (8, 10), (12, 10), (13, 15), (1000, 1000)]
)
def test_published_counts_are_rounded_to_the_nearest_five(count, rounded):
    assert round_to_base(count) == rounded
    assert table([[count, count], [count, count]]).cells[0][0] == rounded


def test_totals_come_from_true_counts_then_are_rounded():
    published = table([[6, 6, 6], [6, 6, 6]])
    assert published.cells[0] == (5, 5, 5)
    assert published.row_totals == (20, 20)  # 18 rounded, not 5 + 5 + 5
    assert published.column_totals == (10, 10, 10)  # 12
    assert published.grand_total == 35  # 36


def test_a_lone_suppressed_cell_cannot_be_recovered_from_its_row_or_column_total():
    # Without secondary suppression, r0/x = row total 113 - 50 - 60 = 3.
    published = table([[3, 50, 60], [40, 45, 70], [30, 35, 20]])
    hidden = {
        (r, c) for r, row in enumerate(published.cells) for c, v in enumerate(row) if v is None
    }
    assert (0, 0) in hidden
    # The smallest other cell of its row and of its column went too, and then the cells
    # that those left alone in their own column and row.
    assert hidden == {(0, 0), (0, 1), (2, 0), (2, 1)}
    for terms in relations(published):
        assert sum(term is None for term in terms) != 1


def test_a_small_total_takes_another_total_with_it():
    # Column z totals 4: suppressed as a total. The column totals add up to the grand total,
    # so another column total must go too, or z's would be grand total minus the others.
    published = table([[20, 30, 2], [25, 35, 2]])
    assert published.column_totals[2] is None
    assert sum(total is None for total in published.column_totals) >= 2
    for terms in relations(published):
        assert sum(term is None for term in terms) != 1


def test_without_row_totals_only_columns_are_protected():
    published = table([[3, 100], [50, 100], [60, 100]], row_totals=False)
    assert published.row_totals is None and published.grand_total is None
    assert published.cells[0][0] is None and published.cells[1][0] is None  # 50 < 60
    assert published.cells[0][1] == 100  # its row publishes no total to subtract from


def test_an_empty_table_is_all_suppressed_totals():
    published = control("empty", {}, ("row",), "column", [], [])
    assert published.cells == () and published.grand_total is None


@pytest.mark.parametrize("seed", range(25))
def test_every_rule_holds_on_random_tables(seed):
    rng = random.Random(seed)
    n_rows, n_columns = rng.randint(1, 8), rng.randint(1, 3)
    matrix = [
        [rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 12, 40, 300]) for _ in range(n_columns)]
        for _ in range(n_rows)
    ]
    published = table(matrix)
    for r, row in enumerate(matrix):
        for c, value in enumerate(row):
            shown = published.cells[r][c]
            if value < THRESHOLD:
                assert shown is None
            if shown is not None:
                assert shown % BASE == 0 and abs(shown - value) <= BASE // 2
    for terms in relations(published):
        assert sum(term is None for term in terms) != 1
