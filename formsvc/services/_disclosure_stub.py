"""TEMPORARY stand-in for formsvc.services.disclosure (helper "disclosure", issue 17).

Same interface as STATS.md gives (Grid, ProtectedGrid, protect_grid, protect_linked) so that
statistics.py can be written and merged before disclosure.py is in main; statistics imports the
real module when it exists. The rule here is deliberately blunt (it over-hides): small cells
and small totals, 0 % / 100 % in yes/no tables, then a second hidden cell in every row and
column that would otherwise have exactly one. Delete this file once disclosure.py is merged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

Key = tuple[str, str]


@dataclass(frozen=True)
class Grid:
    """A two-way frequency table published with its margins."""

    rows: list[str]
    columns: list[str]
    counts: dict[Key, int]


@dataclass(frozen=True)
class ProtectedGrid:
    """The grid after suppression: None = hidden."""

    cells: dict[Key, int | None]
    row_totals: dict[str, int | None]
    column_totals: dict[str, int | None]
    total: int | None
    reasons: dict[Key | str, str]

    def hidden(self, key: Key | str) -> bool:
        if isinstance(key, tuple):
            return self.cells[key] is None
        return self.row_totals.get(key) is None


def _small(value: int, minimum: int) -> bool:
    return 0 < value < minimum


def _second(values: dict[str, int], hidden: set[str]) -> str | None:
    """The smallest shown non-zero entry of a line: the complement of its one hidden entry."""
    shown = [k for k, v in values.items() if k not in hidden and v > 0]
    return min(shown, key=lambda k: values[k]) if shown else None


def _protect(grid: Grid, minimum: int, binary: bool, hidden_rows: set[str]) -> ProtectedGrid:
    counts = grid.counts
    row_total = {r: sum(counts[r, c] for c in grid.columns) for r in grid.rows}
    col_total = {c: sum(counts[r, c] for r in grid.rows) for c in grid.columns}
    total = sum(row_total.values())
    reasons: dict[Key | str, str] = {}
    rows_h = set(hidden_rows) | {r for r in grid.rows if _small(row_total[r], minimum)}
    cols_h = {c for c in grid.columns if _small(col_total[c], minimum)}
    cells_h: set[Key] = set()
    for r in grid.rows:
        line = {c: counts[r, c] for c in grid.columns}
        if binary and minimum > 1 and row_total[r] > 0 and any(v < minimum for v in line.values()):
            cells_h |= {(r, c) for c in grid.columns}
        cells_h |= {(r, c) for c, v in line.items() if _small(v, minimum)}
    if binary and minimum > 1 and total > 0 and any(v < minimum for v in col_total.values()):
        cols_h |= set(grid.columns)
    changed = True
    while changed:
        changed = False
        if len(rows_h) == 1 and total >= minimum:
            extra = _second(row_total, rows_h)
            if extra is not None:
                rows_h.add(extra)
                changed = True
        if len(cols_h) == 1 and total >= minimum:
            extra = _second(col_total, cols_h)
            if extra is not None:
                cols_h.add(extra)
                changed = True
        for r in rows_h:
            new = {(r, c) for c in grid.columns} - cells_h
            if new:
                cells_h |= new
                changed = True
        for r in grid.rows:  # a row with one hidden cell: hide a second
            line = {c: counts[r, c] for c in grid.columns}
            hid = {c for c in grid.columns if (r, c) in cells_h}
            if len(hid) == 1 and r not in rows_h:
                extra = _second(line, hid)
                if extra is None:
                    rows_h.add(r)
                else:
                    cells_h.add((r, extra))
                changed = True
        for c in grid.columns:  # a column with one hidden cell: hide a second
            line = {r: counts[r, c] for r in grid.rows}
            hid = {r for r in grid.rows if (r, c) in cells_h}
            if len(hid) == 1 and c not in cols_h:
                extra = _second(line, hid)
                if extra is None:
                    cols_h.add(c)
                else:
                    cells_h.add((extra, c))
                changed = True
        if cols_h and any((r, c) not in cells_h for r in grid.rows for c in cols_h):
            # a hidden column total: its cells go too
            cells_h |= {(r, c) for r in grid.rows for c in cols_h}
            changed = True
    for key in cells_h:
        reasons[key] = "small" if _small(counts[key], minimum) else "complementary"
    return ProtectedGrid(
        cells={k: None if k in cells_h else v for k, v in counts.items()},
        row_totals={r: None if r in rows_h else v for r, v in row_total.items()},
        column_totals={c: None if c in cols_h else v for c, v in col_total.items()},
        total=None if _small(total, minimum) else total,
        reasons=reasons,
    )


def protect_grid(grid: Grid, minimum: int, *, binary: bool = False) -> ProtectedGrid:
    """Hide small cells and totals and enough others that none can be worked out."""
    return _protect(grid, minimum, binary, set())


def protect_linked(
    grids: Mapping[str, Grid], minimum: int, binary: frozenset[str] = frozenset()
) -> dict[str, ProtectedGrid]:
    """Grids over the same rows with the same row totals: a row total hidden in one is in all."""
    hidden: set[str] = set()
    while True:
        out = {k: _protect(g, minimum, k in binary, hidden) for k, g in grids.items()}
        now = {r for p in out.values() for r, v in p.row_totals.items() if v is None}
        if now <= hidden:
            return out
        hidden |= now
