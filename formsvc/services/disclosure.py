"""Statistical disclosure control for the follow-up report's tables (issue 17, ADR 015).

Pure: no database, no Flask. statistics.py builds the frequency tables and calls this module;
what it returns is what may be published.

A table (Grid) is districts x categories, published with its margins: a total per district (row
total), the city row (a total per category) and the grand total. Tables that count the same
people by different categories (the discharged by gender, by target group, by reason) share
their district totals and grand total; they are published together and protected together
(protect_linked), because someone can combine them.

Who we protect against
    Someone who sees every value of every table published together, knows that cells add up to
    the district totals, districts to the city row and both to the grand total, and that counts
    are whole numbers of at least zero. They do not need to know how the suppression works.

Primary suppression (m = the minimum group)
    - small: a cell, district total or city cell from 1 to m-1. A district (or grand) total from
      1 to m-1 hides its whole row, in every linked table: "färre än m". A total of 0 is shown
      as 0 and never hidden ("no reports" differs from "few").
    - attribute: a cell that holds all of its row or all but fewer than m (e.g. housing 7 of 7,
      7 men of 7) says something about every member, so it is hidden, and what must stay
      uncertain is its complement (the row total minus the cell). In a yes/no table (binary) a
      0 is such a cell too (no one answered yes). Tables with one category have no attribute
      to disclose. The city row is checked the same way against the grand total.

Secondary (complementary) suppression, audited by linear programming
    For every hidden value, and for the complement of every attribute cell, the smallest and
    largest value consistent with everything published is found with HiGHS (highspy). Each must
    be able to move by at least m (hi - lo >= m): a small cell cannot be pinned inside 1..m-1,
    a complement cannot be shown to be below m. While one fails, more values are hidden: the
    cheapest alternating rectangle through it (the value and three others sharing its rows and
    columns, margins included, and in the linked tables alike when a shared total moves),
    interior cells before totals, small values before large; if no rectangle helps, its whole
    row, then its column, then everything. Hiding more only widens ranges, each step hides at
    least one more value, and with everything hidden every range is unbounded: it terminates.
    One table with its margins is a network (totally unimodular), so the LP bounds are the
    integer bounds; for linked tables a fractional LP optimum is checked again as an integer
    programme. The same input always gives the same pattern.

    A minimum group of 1 publishes everything (used to check figures against a hand count).

    Hidden cells of a small row in a category whose city value is shown as 0 are known to be
    0 to everyone; they are hidden with their row but not required to move.

How hidden values must read
    The audit assumes the page shows one marker for every hidden value of a table ("döljs"), and
    never why it is hidden (ProtectedGrid.reasons is internal). A row marked "färre än m" while
    its partner row says "döljs" would tell the attacker that one total is from 1 to m-1, which
    the audit does not model: a hidden small cell in the partner row could then be narrowed.

What this does not stop
    Differences between overlapping queries (two periods, a district view beside the city view
    computed separately) can narrow a hidden value; statistics are for two named roles and
    every view and export is audited (ADR 015).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import highspy
import numpy as np

#: Key of the grand total in ProtectedGrid.reasons and hidden(); no row or column may be named so.
TOTAL = "total"
SMALL = "small"  #: reason: a count from 1 to m-1 (or in a row whose total is)
ATTRIBUTE = "attribute"  #: reason: reveals something about every member of a group
COMPLEMENTARY = "complementary"  #: reason: hidden so that another hidden value stays uncertain

_EPS = 1e-6
_LARGEST = 10**9  # counts of people; far below where the LP's floating point loses whole numbers
_DEFINITE = (
    highspy.HighsModelStatus.kOptimal,
    highspy.HighsModelStatus.kUnbounded,
    highspy.HighsModelStatus.kUnboundedOrInfeasible,
)
_TRIALS = 8  # rectangles tried by LP per step, cheapest first


@dataclass(frozen=True)
class Grid:
    """A two-way frequency table published with its margins."""

    rows: list[str]  #: row keys, e.g. district names (without the city total row)
    columns: list[str]  #: column keys, e.g. "female", "male", "other", "unknown"
    counts: dict[tuple[str, str], int]  #: (row, column) -> count, every pair present


@dataclass(frozen=True)
class ProtectedGrid:
    """A Grid after suppression: None is a hidden value."""

    cells: dict[tuple[str, str], int | None]  #: (row, column) -> count or None
    row_totals: dict[str, int | None]  #: district -> total or None
    column_totals: dict[str, int | None]  #: the city row: column -> total or None
    total: int | None  #: the grand total
    #: hidden cell (row, column) / row key / column key / TOTAL -> SMALL, ATTRIBUTE or
    #: COMPLEMENTARY. Internal: publishing why a value is hidden would narrow it.
    reasons: dict[tuple[str, str] | str, str] = field(default_factory=dict)

    def hidden(self, key: tuple[str, str] | str) -> bool:
        """Whether a cell (row, column), row total (row), city cell (column) or TOTAL is hidden."""
        if isinstance(key, tuple):
            return self.cells[key] is None
        if key == TOTAL:
            return self.total is None
        if key in self.row_totals:
            return self.row_totals[key] is None
        if key in self.column_totals:
            return self.column_totals[key] is None
        raise KeyError(key)


@dataclass(frozen=True)
class ProtectedRow:
    """One table row after suppression (the shape of statistics.Counts)."""

    cells: dict[str, int | None]  #: category -> count, None when hidden
    total: int | None  #: None when from 1 to m-1 (then every cell is None)
    reasons: dict[str, str] = field(default_factory=dict)  #: hidden category or TOTAL -> reason


# --------------------------------------------------------------------------- public functions


def protect_grid(grid: Grid, minimum: int, *, binary: bool = False) -> ProtectedGrid:
    """Suppress *grid* (cells, district totals, city row, grand total) published on its own.

    binary=True for yes/no tables (indicators), where a 0 is an attribute disclosure too.
    """
    return protect_linked({"": grid}, minimum, frozenset({""}) if binary else frozenset())[""]


def protect_linked(
    grids: Mapping[str, Grid], minimum: int, binary: frozenset[str] = frozenset()
) -> dict[str, ProtectedGrid]:
    """Suppress tables of the same people published together, sharing district and grand totals.

    A district total hidden in one table is hidden in all; the audit covers all of them at once.
    *binary* names the yes/no tables.
    """
    problem = _Problem(grids, minimum, binary)
    problem.solve()
    return problem.result()


def protect_row(cells: Mapping[str, int], minimum: int, *, binary: bool = False) -> ProtectedRow:
    """One row (a single district, or the city alone) under the same rules as protect_grid."""
    _check_minimum(minimum)
    if not isinstance(cells, Mapping) or not cells:
        raise ValueError("a row needs at least one category")
    columns = list(cells)
    row = "row"
    while row in columns or row == TOTAL:
        row += "_"
    grid = Grid([row], columns, {(row, c): cells[c] for c in columns})
    out = protect_grid(grid, minimum, binary=binary)
    reasons = {c: out.reasons[row, c] for c in columns if (row, c) in out.reasons}
    if row in out.reasons:
        reasons[TOTAL] = out.reasons[row]
    return ProtectedRow({c: out.cells[row, c] for c in columns}, out.row_totals[row], reasons)


# --------------------------------------------------------------------------- validation


def _check_minimum(minimum: int) -> None:
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
        raise ValueError(f"the minimum group must be a whole number of at least 1, not {minimum!r}")


def _keys(what: str, keys: object) -> list[str]:
    if not isinstance(keys, list) or not keys:
        raise ValueError(f"{what} must be a non-empty list")
    for key in keys:
        if not isinstance(key, str) or not key:
            raise ValueError(f"{what}: every key must be a non-empty string, not {key!r}")
        if key == TOTAL:
            raise ValueError(f"{what}: {TOTAL!r} is reserved for the grand total")
    if len(set(keys)) != len(keys):
        raise ValueError(f"{what}: duplicate keys")
    return keys


def _check_grid(name: str, grid: Grid) -> None:
    label = f"table {name!r}" if name else "table"
    if not isinstance(grid, Grid):
        raise ValueError(f"{label} is not a Grid")
    rows = _keys(f"{label} rows", grid.rows)
    columns = _keys(f"{label} columns", grid.columns)
    if both := set(rows) & set(columns):
        raise ValueError(f"{label}: {sorted(both)[0]!r} is both a row and a column")
    if not isinstance(grid.counts, Mapping):
        raise ValueError(f"{label}: counts must be a mapping")
    for r in rows:
        for c in columns:
            if (r, c) not in grid.counts:
                raise ValueError(f"{label}: the count for ({r!r}, {c!r}) is missing")
            value = grid.counts[r, c]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{label}: the count for ({r!r}, {c!r}) is not a whole number")
            if value < 0:
                raise ValueError(f"{label}: the count for ({r!r}, {c!r}) is negative ({value})")
            if value > _LARGEST:
                raise ValueError(f"{label}: the count for ({r!r}, {c!r}) is implausibly large")
    if len(grid.counts) != len(rows) * len(columns):
        pairs = {(r, c) for r in rows for c in columns}
        extra = next(k for k in grid.counts if k not in pairs)
        raise ValueError(f"{label}: the count for {extra!r} is not in a row and column")


# --------------------------------------------------------------------------- the problem


class _Problem:
    """Every published value of the linked tables as numbered variables, and their relations.

    Variables: each table's cells and city row, the shared district totals and grand total. The
    extended table of grid g is ext[g][i][j]: rows i < R are districts and i == R the city row,
    columns j < C_g categories and j == C_g the total column.
    """

    def __init__(self, grids: Mapping[str, Grid], minimum: int, binary: frozenset[str]) -> None:
        _check_minimum(minimum)
        if not isinstance(grids, Mapping) or not grids:
            raise ValueError("at least one table is needed")
        for name, grid in grids.items():
            _check_grid(name, grid)
        unknown = set(binary) - set(grids)
        if unknown:
            raise ValueError(f"binary names a table that is not given: {sorted(unknown)[0]!r}")
        names = list(grids)
        first = grids[names[0]]
        for name in names[1:]:
            if grids[name].rows != first.rows:
                raise ValueError(f"linked tables must have the same rows: {name!r} differs")
        self.m = minimum
        self.names = names
        self.grids = [grids[n] for n in names]
        self.binary = [n in binary for n in names]
        self.rows = list(first.rows)
        R = len(self.rows)

        self.values: list[int] = []
        self.is_total: list[bool] = []
        self.label: list[tuple[int, tuple[str, str] | str]] = []  # (grid or -1, reason key)

        def var(value: int, total: bool, label: tuple[int, tuple[str, str] | str]) -> int:
            self.values.append(value)
            self.is_total.append(total)
            self.label.append(label)
            return len(self.values) - 1

        row_sums = [sum(first.counts[r, c] for c in first.columns) for r in self.rows]
        for name, grid in zip(names[1:], self.grids[1:], strict=True):
            for r, expected in zip(self.rows, row_sums, strict=True):
                got = sum(grid.counts[r, c] for c in grid.columns)
                if got != expected:
                    raise ValueError(
                        f"linked tables must count the same people: row {r!r} sums to {got} "
                        f"in {name!r} but {expected} in {names[0]!r}"
                    )
        row_total = [var(s, True, (-1, r)) for r, s in zip(self.rows, row_sums, strict=True)]
        grand = var(sum(row_sums), True, (-1, TOTAL))
        self.grand = grand
        self.row_total = row_total
        self.ext: list[list[list[int]]] = []
        self.relations: list[list[tuple[int, int]]] = [[*((v, 1) for v in row_total), (grand, -1)]]
        for g, grid in enumerate(self.grids):
            cols = grid.columns
            cells = [[var(grid.counts[r, c], False, (g, (r, c))) for c in cols] for r in self.rows]
            city = [
                var(sum(grid.counts[r, c] for r in self.rows), True, (g, c)) for c in grid.columns
            ]
            ext = [[*cells[i], row_total[i]] for i in range(R)] + [[*city, grand]]
            self.ext.append(ext)
            for i in range(R):
                self.relations.append([*((v, 1) for v in cells[i]), (row_total[i], -1)])
            for j in range(len(cols)):
                self.relations.append([*((cells[i][j], 1) for i in range(R)), (city[j], -1)])
            self.relations.append([*((v, 1) for v in city), (grand, -1)])
        # margins enter their relations with the opposite sign of cells (see _rectangles)
        self.sign = [-1 if total else 1 for total in self.is_total]
        self.sign[grand] = 1
        # a district with no reports: shown as 0, all of its row too, never hidden
        self.pinned: set[int] = set()
        for i in range(R):
            if row_sums[i] == 0:
                self.pinned.add(row_total[i])
                for ext in self.ext:
                    self.pinned.update(ext[i])
        if self.values[grand] == 0:
            self.pinned.update(range(len(self.values)))
        self.hidden: dict[int, str] = {}
        self.attribute: list[tuple[int, int, int, int]] = []  # (total, cell, grid, cell's row)
        self._lp: _Lp | None = None

    # ----------------------------------------------------------------------- primary

    def _hide(self, v: int, reason: str) -> None:
        if v in self.pinned:
            raise AssertionError("a value of a district with no reports is never hidden")
        if v not in self.hidden:
            self.hidden[v] = reason
            self._lp = None

    def primary(self) -> None:
        """Hide small counts, rows with small totals and attribute disclosures."""
        m, R = self.m, len(self.rows)
        for g, ext in enumerate(self.ext):
            for i in range(R + 1):
                total_var = ext[i][-1]
                total = self.values[total_var]
                if total == 0:
                    continue
                if total < m:  # a small district (or city): its whole row in every table
                    for other in self.ext:
                        for v in other[i]:
                            self._hide(v, SMALL)
                cells = ext[i][:-1]
                for v in cells:
                    value = self.values[v]
                    if 0 < value < m:
                        self._hide(v, SMALL)
                    if len(cells) < 2:
                        continue  # one category: "all of them" is no attribute
                    if (value > 0 and total - value < m) or (self.binary[g] and value == 0):
                        if v not in self.hidden:
                            self._hide(v, ATTRIBUTE)
                        if value > 0:
                            self.attribute.append((total_var, v, g, i))

    def _tie(self) -> None:
        """A relation of two values says they are equal: hide both or neither."""
        changed = True
        while changed:
            changed = False
            for relation in self.relations:
                if len(relation) != 2:
                    continue
                (a, _), (b, _) = relation
                for x, y in ((a, b), (b, a)):
                    if x in self.hidden and y not in self.hidden:
                        self._hide(y, self.hidden[x])
                        changed = True

    # ----------------------------------------------------------------------- audit

    def lp(self) -> _Lp:
        if self._lp is None:
            self._lp = _Lp(self, set(self.hidden), integral=len(self.grids) == 1)
        return self._lp

    def _exempt(self, v: int) -> bool:
        """A hidden 0 in a category whose city value is shown as 0: everyone knows it is 0."""
        g, key = self.label[v]
        if g < 0 or not isinstance(key, tuple) or self.values[v] != 0:
            return False
        j = self.grids[g].columns.index(key[1])
        city = self.ext[g][len(self.rows)][j]
        return city not in self.hidden and self.values[city] == 0

    def targets(self) -> list[tuple[dict[int, int], int]]:
        """What must be uncertain: (expression, anchor variable) in a fixed order."""
        out = [({v: 1}, v) for v in sorted(self.hidden) if not self._exempt(v)]
        out += [({t: 1, c: -1}, c) for t, c, _, _ in self.attribute]
        return out

    def width(self, expr: Mapping[int, int], lp: _Lp | None = None) -> float:
        lo, hi = (lp or self.lp()).bounds(expr)
        return hi - lo

    def solve(self) -> None:
        """Primary suppression, then hide more until every target passes the audit."""
        if self.m <= 1:
            return
        self.primary()
        self._tie()
        passed: set[tuple[tuple[int, int], ...]] = set()
        changed = True
        while changed:  # a pass over every target; repeat while anything was hidden
            changed = False
            for expr, anchor in self.targets():
                key = tuple(sorted(expr.items()))
                if key in passed:
                    continue  # hiding more only widens a range: it still passes
                while not self.lp().wide(expr, self.m):
                    self._extend(expr, anchor)
                    self._tie()
                    changed = True
                passed.add(key)

    # ----------------------------------------------------------------------- secondary

    def _positions(self, v: int) -> tuple[int, int, int]:
        """(grid, i, j) of v in the extended tables (the first grid for shared totals)."""
        for g, ext in enumerate(self.ext):
            for i, row in enumerate(ext):
                if v in row:
                    return g, i, row.index(v)
        raise AssertionError(v)

    def _rectangles(self, expr: Mapping[int, int], anchor: int) -> list[tuple[tuple, list[int]]]:
        """Alternating rectangles through *anchor* that move *expr*, with a sort key each.

        Moving a rectangle of the extended table by +d, -d, +d, -d keeps every relation if the
        margins (district totals, city row, not the grand total) move the opposite way. When it
        moves a shared total, each other linked table moves by a rectangle on the same rows.
        """
        g, i, j = self._positions(anchor)
        ext = self.ext[g]
        R = len(self.rows)
        out = []
        for s in range(R + 1):
            if s == i or ext[s][-1] in self.pinned:
                continue
            for col in range(len(ext[0])):
                if col == j:
                    continue
                moves = {
                    ext[i][j]: self.sign[ext[i][j]],
                    ext[i][col]: -self.sign[ext[i][col]],
                    ext[s][col]: self.sign[ext[s][col]],
                    ext[s][j]: -self.sign[ext[s][j]],
                }
                shared = [v for v in moves if v in self.row_total or v == self.grand]
                if shared and not self._link(moves, g, i, s):
                    continue
                if any(v in self.pinned for v in moves):
                    continue
                if sum(coef * moves.get(v, 0) for v, coef in expr.items()) == 0:
                    continue
                new = [v for v in moves if v not in self.hidden]
                if not new:
                    continue
                down = [self.values[v] for v, d in moves.items() if d < 0]
                up = [self.values[v] for v, d in moves.items() if d > 0]
                capacity = min(down, default=math.inf) + min(up, default=math.inf)
                key = (
                    capacity < self.m,
                    sum(self.is_total[v] for v in new),
                    sum(self.values[v] for v in new) + len(new),
                    s,
                    col,
                )
                out.append((key, new))
        out.sort(key=lambda item: item[0])
        return out

    def _link(self, moves: dict[int, int], g: int, i: int, s: int) -> bool:
        """Add to *moves* the cheapest rectangle on rows i, s of every other linked table."""
        top = self.ext[g][i][-1]
        if top not in moves:
            return False  # only the two totals of rows i and s can be shared
        for h, ext in enumerate(self.ext):
            if h == g:
                continue
            best: tuple[tuple[int, int, int], int] | None = None
            for col in range(len(ext[0]) - 1):
                pair = (ext[i][col], ext[s][col])
                if any(v in self.pinned for v in pair):
                    continue
                new = [v for v in pair if v not in self.hidden]
                key = (sum(self.is_total[v] for v in new), sum(self.values[v] for v in new), col)
                if best is None or key < best[0]:
                    best = (key, col)
            if best is None:
                return False
            col = best[1]
            d = moves[top] * self.sign[top]  # the pattern sign of (i, total) in this rectangle
            moves[ext[i][col]] = -d * self.sign[ext[i][col]]
            moves[ext[s][col]] = d * self.sign[ext[s][col]]
        return True

    def _extend(self, expr: Mapping[int, int], anchor: int) -> None:
        """Hide more so that *expr* can move further: a rectangle, else a row, column, all."""
        before = self.width(expr)
        best: tuple[float, list[int]] | None = None
        for _, new in self._rectangles(expr, anchor)[:_TRIALS]:
            trial = _Lp(self, set(self.hidden) | set(new), integral=len(self.grids) == 1)
            width = self.width(expr, trial)
            if width >= self.m - _EPS:
                best = (width, new)
                break
            if width > before + _EPS and (best is None or width > best[0] + _EPS):
                best = (width, new)
        if best is not None:
            for v in best[1]:
                self._hide(v, COMPLEMENTARY)
            return
        g, i, j = self._positions(anchor)
        shared = anchor in self.row_total or anchor == self.grand
        levels: list[Iterable[int]] = [
            self.ext[g][i],
            [v for ext in self.ext for v in ext[i]] if shared else [],
            [row[j] for row in self.ext[g]],
            range(len(self.values)),
        ]
        for level in levels:
            new = [v for v in level if v not in self.hidden and v not in self.pinned]
            if new:
                for v in new:
                    self._hide(v, COMPLEMENTARY)
                return
        raise AssertionError("every value is hidden and a range is still too narrow")

    # ----------------------------------------------------------------------- output

    def result(self) -> dict[str, ProtectedGrid]:
        R = len(self.rows)
        out: dict[str, ProtectedGrid] = {}
        for g, (name, grid) in enumerate(zip(self.names, self.grids, strict=True)):
            ext = self.ext[g]

            def shown(v: int) -> int | None:
                return None if v in self.hidden else self.values[v]

            reasons: dict[tuple[str, str] | str, str] = {}
            for v in (v for row in ext for v in row):
                if v in self.hidden:
                    key = self.label[v][1]
                    reasons[key] = self.hidden[v]
            out[name] = ProtectedGrid(
                cells={
                    (r, c): shown(ext[i][j])
                    for i, r in enumerate(self.rows)
                    for j, c in enumerate(grid.columns)
                },
                row_totals={r: shown(ext[i][-1]) for i, r in enumerate(self.rows)},
                column_totals={c: shown(ext[R][j]) for j, c in enumerate(grid.columns)},
                total=shown(self.grand),
                reasons=reasons,
            )
        return out


class _Lp:
    """The attacker's linear programme: hidden values as variables, published ones as constants."""

    def __init__(self, problem: _Problem, hidden: set[int], *, integral: bool) -> None:
        self.values = problem.values
        self.index = {v: k for k, v in enumerate(sorted(hidden))}
        self.integral = integral  # a lone table is totally unimodular: LP bounds are integral
        n = len(self.index)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        if n:
            h.addVars(n, np.zeros(n), np.full(n, highspy.kHighsInf))
        for relation in problem.relations:
            cols = [(self.index[v], c) for v, c in relation if v in self.index]
            if not cols:
                continue
            rhs = float(-sum(c * self.values[v] for v, c in relation if v not in self.index))
            idx = np.array([k for k, _ in cols], dtype=np.int32)
            h.addRow(rhs, rhs, len(cols), idx, np.array([c for _, c in cols], dtype=np.float64))
        self.h = h
        self.n = n

    def bounds(self, expr: Mapping[int, int]) -> tuple[float, float]:
        """The least and greatest value of sum(coef * value) consistent with what is published."""
        const = sum(c * self.values[v] for v, c in expr.items() if v not in self.index)
        costs = {self.index[v]: c for v, c in expr.items() if v in self.index}
        if not costs:
            return const, const
        self._cost(costs)
        lo = self._optimum(highspy.ObjSense.kMinimize)
        hi = self._optimum(highspy.ObjSense.kMaximize)
        return lo + const, hi + const

    def wide(self, expr: Mapping[int, int], minimum: int) -> bool:
        """Whether the expression can take values at least *minimum* apart (the audit)."""
        truth = sum(c * self.values[v] for v, c in expr.items())
        const = sum(c * self.values[v] for v, c in expr.items() if v not in self.index)
        costs = {self.index[v]: c for v, c in expr.items() if v in self.index}
        if not costs:
            return False
        self._cost(costs)
        hi = self._optimum(highspy.ObjSense.kMaximize) + const
        if hi - truth >= minimum - _EPS:
            return True  # the least value is at most the true one: no need to find it
        lo = self._optimum(highspy.ObjSense.kMinimize) + const
        return hi - lo >= minimum - _EPS

    def _cost(self, costs: Mapping[int, int]) -> None:
        cost = np.zeros(self.n)
        for k, c in costs.items():
            cost[k] = c
        self.h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), cost)

    def _optimum(self, sense: highspy.ObjSense) -> float:
        h = self.h
        h.changeObjectiveSense(sense)
        h.run()
        status = h.getModelStatus()
        if status not in _DEFINITE:
            h.clearSolver()  # a warm start gone wrong (seen after an integer solve): start afresh
            h.run()
            status = h.getModelStatus()
        if status in (
            highspy.HighsModelStatus.kUnbounded,
            highspy.HighsModelStatus.kUnboundedOrInfeasible,  # the true table is feasible
        ):
            return -math.inf if sense == highspy.ObjSense.kMinimize else math.inf
        if status != highspy.HighsModelStatus.kOptimal:
            raise AssertionError(f"the published values admit no table: {status}")
        value = float(h.getInfo().objective_function_value)
        if self.integral:
            return value
        solution = np.asarray(h.getSolution().col_value)
        if np.all(np.abs(solution - np.round(solution)) < _EPS):
            return value  # an integral optimum of the relaxation is the integer optimum
        return self._integer_optimum(sense)

    def _integer_optimum(self, sense: highspy.ObjSense) -> float:
        h = self.h
        idx = np.arange(self.n, dtype=np.int32)
        h.changeColsIntegrality(self.n, idx, np.full(self.n, highspy.HighsVarType.kInteger))
        try:
            h.changeObjectiveSense(sense)
            h.run()
            status = h.getModelStatus()
            if status != highspy.HighsModelStatus.kOptimal:
                raise AssertionError(f"the integer programme failed: {status}")
            return float(round(h.getInfo().objective_function_value))
        finally:
            h.changeColsIntegrality(self.n, idx, np.full(self.n, highspy.HighsVarType.kContinuous))
            h.clearSolver()  # the next relaxation starts afresh, not from the integer search
