"""Writing a published result: a CSV table and a chart (PNG, matplotlib's Agg backend).

Both are drawn from the published table only (rounded counts, ``c`` for suppressed ones), so
a chart shows nothing the table does not.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

from miap.server.analysis.published import published_rows  # noqa: E402
from miap.server.analysis.queries import Result  # noqa: E402

#: Most rows a stacked chart draws one by one; the rest are drawn together as "other rows".
CHART_ROWS = 10


def write_csv(result: Result, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(published_rows(result))


def _label(row: tuple) -> str:
    return " / ".join(map(str, row))


def write_chart(result: Result, path: Path) -> None:
    table = result.table
    figure, axes = plt.subplots(figsize=(11, 6))
    try:
        columns = [str(column) for column in table.columns]
        if result.chart == "lines":
            # One line per measure over the rows (months).
            x = [_label(row) for row in table.rows]
            for c, column in enumerate(columns):
                axes.plot(
                    x,
                    [row[c] if row[c] is not None else float("nan") for row in table.cells],
                    marker="o",
                    label=column,
                )
            axes.set_xlabel(", ".join(table.row_dims))
        else:
            # Stacked bars: one bar per column, one layer per row (the largest rows first).
            order = sorted(
                range(len(table.rows)),
                key=lambda r: -sum(value or 0 for value in table.cells[r]),
            )
            shown, rest = order[:CHART_ROWS], order[CHART_ROWS:]
            bottom = [0] * len(columns)
            layers = [(_label(table.rows[r]), list(table.cells[r])) for r in shown]
            if rest:
                layers.append(
                    (
                        f"other rows ({len(rest)})",
                        [sum(table.cells[r][c] or 0 for r in rest) for c in range(len(columns))],
                    )
                )
            colours = plt.get_cmap("tab20").colors
            for n, (label, values) in enumerate(layers):
                heights = [value or 0 for value in values]
                axes.bar(columns, heights, bottom=bottom, label=label, color=colours[n % 20])
                bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
            axes.set_xlabel(table.column_dim)
        plt.setp(axes.get_xticklabels(), rotation=45, ha="right")
        axes.set_ylabel("count (rounded to 5; suppressed counts drawn as 0)")
        axes.set_title(table.title)
        if table.rows:
            axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        figure.tight_layout()
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)
