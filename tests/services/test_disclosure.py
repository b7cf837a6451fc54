"""Disclosure control: no hidden value can be worked out from the tables published together.

The brute force here knows nothing of the linear programme: it tries every table of whole
numbers of at least zero that gives what is published (cells adding up to district totals,
districts to the city row, both to the grand total; linked tables sharing district totals) and
looks at what each hidden value, and the complement of each attribute cell, could have been.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence

import pytest

from formsvc.services.disclosure import (
    ATTRIBUTE,
    COMPLEMENTARY,
    SMALL,
    TOTAL,
    Grid,
    ProtectedGrid,
    protect_grid,
    protect_linked,
    protect_row,
)

Key = tuple  # ("cell", g, row, column) | ("row", row) | ("col", g, column) | ("total",)


def grid(table: Mapping[str, Sequence[int]], columns: Sequence[str]) -> Grid:
    """A Grid from {row: [count per column]}."""
    return Grid(
        list(table),
        list(columns),
        {(r, c): table[r][k] for r in table for k, c in enumerate(columns)},
    )


# --------------------------------------------------------------------------- brute force


def _truth(grids: Sequence[Grid]) -> dict[Key, int]:
    """Every value of the true tables, keyed like the brute force's solutions."""
    out: dict[Key, int] = {}
    for g, gr in enumerate(grids):
        for r in gr.rows:
            for c in gr.columns:
                out["cell", g, r, c] = gr.counts[r, c]
            out["row", r] = sum(gr.counts[r, c] for c in gr.columns)
        for c in gr.columns:
            out["col", g, c] = sum(gr.counts[r, c] for r in gr.rows)
    out["total",] = sum(out["row", r] for r in grids[0].rows)
    return out


def _published(outs: Sequence[ProtectedGrid]) -> dict[Key, int | None]:
    shown: dict[Key, int | None] = {}
    for g, out in enumerate(outs):
        for (r, c), v in out.cells.items():
            shown["cell", g, r, c] = v
        for c, v in out.column_totals.items():
            shown["col", g, c] = v
        # what one table shows and another hides is known all the same
        for r, v in out.row_totals.items():
            if shown.get(("row", r)) is None:
                shown["row", r] = v
        if shown.get(("total",)) is None:
            shown["total",] = out.total
    return shown


def _fillings(
    gr: Grid, g: int, shown: Mapping[Key, int | None], totals: Mapping[str, int], cap: int
) -> dict[Key, set[int]] | None:
    """What each value of table *g* could be, given its district totals; None if nothing fits.

    Every filling of the hidden cells (each at most *cap*) is tried, cell by cell; fillings
    that leave the same sums still to make are merged, which keeps this fast and exhaustive.
    """
    rows, cols = gr.rows, gr.columns
    free = [
        (i, j)
        for i, r in enumerate(rows)
        for j, c in enumerate(cols)
        if shown["cell", g, r, c] is None
    ]
    published = [shown["col", g, c] is not None for c in cols]
    row_left = [totals[r] for r in rows]
    col = [shown["col", g, c] or 0 for c in cols]  # left to fill if published, else sum so far
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            v = shown["cell", g, r, c]
            if v is not None:
                row_left[i] -= v
                col[j] += -v if published[j] else v
    last_in_row = {i: k for k, (i, _) in enumerate(free)}
    last_in_col = {j: k for k, (_, j) in enumerate(free)}
    if any(left != 0 for i, left in enumerate(row_left) if i not in last_in_row):
        return None

    def moves(k: int, state: tuple) -> list[tuple[int, tuple]]:
        rl, cl = state
        i, j = free[k]
        high = min(cap, rl[i], cl[j] if published[j] else cap)
        choices = range(high + 1)
        if last_in_row[i] == k:
            choices = range(rl[i], rl[i] + 1) if rl[i] <= high else range(0)
        if published[j] and last_in_col[j] == k:
            choices = range(cl[j], cl[j] + 1) if cl[j] in choices else range(0)
        out = []
        for v in choices:
            nr, nc = list(rl), list(cl)
            nr[i] -= v
            nc[j] += -v if published[j] else v
            out.append((v, (tuple(nr), tuple(nc))))
        return out

    layers = [{(tuple(row_left), tuple(col))}]
    for k in range(len(free)):
        layers.append({after for state in layers[-1] for _, after in moves(k, state)})
    good = {
        state
        for state in layers[-1]
        if all(c == 0 for c, p in zip(state[1], published, strict=True) if p)
        and all(left == 0 for left in state[0])
    }
    if not good:
        return None
    values: dict[Key, set[int]] = defaultdict(set)
    for j, c in enumerate(cols):
        if not published[j]:
            values["col", g, c] = {state[1][j] for state in good}
    for k in range(len(free) - 1, -1, -1):
        i, j = free[k]
        before = set()
        for state in layers[k]:
            for v, after in moves(k, state):
                if after in good:
                    values["cell", g, rows[i], cols[j]].add(v)
                    before.add(state)
        good = before
    return values


def possible(
    grids: Sequence[Grid],
    outs: Sequence[ProtectedGrid],
    cap: int,
    exprs: Sequence[Mapping[Key, int]] = (),
    near: Mapping[str, range] | None = None,
) -> tuple[dict[Key, set[int]], list[set[int]]]:
    """What each hidden value and each total-minus-value expression could be, over every table
    that gives what *outs* publish, each value at most *cap* (hidden district totals in *near*,
    when given): the district totals are tried first, then each table on its own."""
    shown = _published(outs)
    rows = grids[0].rows
    hidden_rows = [r for r in rows if shown["row", r] is None]
    known = sum(shown["row", r] or 0 for r in rows)
    grand = shown["total",]
    values: dict[Key, set[int]] = defaultdict(set)
    results: list[set[int]] = [set() for _ in exprs]

    def each_total(k: int, totals: dict[str, int], used: int) -> None:
        if k == len(hidden_rows):
            if grand is not None and known + used != grand:
                return
            every = {r: totals.get(r, shown["row", r]) for r in rows}
            filled = [_fillings(gr, g, shown, every, cap) for g, gr in enumerate(grids)]
            if any(f is None for f in filled):
                return
            base: dict[Key, int] = {("row", r): v for r, v in every.items()}
            base["total",] = known + used
            for key, v in base.items():
                values[key].add(v)
            for f in filled:
                for key, vs in (f or {}).items():
                    values[key] |= vs
            merged = {k: v for f in filled for k, v in (f or {}).items()}
            for slot, expr in zip(results, exprs, strict=True):
                (whole, one), (part, minus) = expr.items()
                assert (one, minus) == (1, -1)
                choices = merged.get(part, {shown[part]})
                slot |= {base[whole] - v for v in choices if v is not None}
            return
        r = hidden_rows[k]
        high = cap if grand is None else min(cap, grand - known - used)
        for v in range(high + 1) if near is None else near[r]:
            totals[r] = v
            each_total(k + 1, totals, used + v)
        totals.pop(r, None)

    each_total(0, {}, 0)
    return values, results


def assert_safe(
    grids: Sequence[Grid], outs: Sequence[ProtectedGrid], m: int, binary: Sequence[bool]
) -> None:
    """The rules hold and no hidden value (or attribute complement) moves by less than m."""
    truth = _truth(grids)
    shown = _published(outs)
    for key, value in shown.items():
        assert value in (None, truth[key]), key
        if key[0] == "row" and truth[key] == 0:
            assert value == 0, "a district with no reports shows 0"
        if 0 < truth[key] < m:
            assert value is None, f"a small count shows: {key}"
    # attribute disclosure: (expression as {key: coef}, description), checked below
    complements: list[dict[Key, int]] = []
    for g, gr in enumerate(grids):
        if len(gr.columns) < 2:
            continue
        lines = [(("row", r), [("cell", g, r, c) for c in gr.columns]) for r in gr.rows]
        lines.append((("total",), [("col", g, c) for c in gr.columns]))
        for total_key, keys in lines:
            total = truth[total_key]
            for key in keys:
                if total > 0 and truth[key] > 0 and total - truth[key] < m:
                    assert shown[key] is None, f"an attribute shows: {key}"
                    complements.append({total_key: 1, key: -1})
                if binary[g] and total > 0 and truth[key] == 0:
                    assert shown[key] is None, f"a 0 in a yes/no table shows: {key}"
    hidden = [key for key, value in shown.items() if value is None]
    if not hidden:
        return
    # A hidden grand total leaves the tables unbounded: then try values up to a cap, and hidden
    # district totals within m of the true ones. What is found is some of what is possible, so
    # a range found wide enough is wide enough.
    near = None
    cap = shown["total",]
    if cap is None:
        cap = max(v for k, v in truth.items() if k[0] != "total") + m
        near = {
            r: range(max(0, truth["row", r] - m), truth["row", r] + m + 1) for r in grids[0].rows
        }
    values, results = possible(grids, outs, cap, complements, near)
    assert all(truth[key] in values[key] for key in hidden), "the true tables are not found"
    for key in hidden:
        if key[0] == "cell" and truth[key] == 0 and shown["col", key[1], key[3]] == 0:
            continue  # a category no one in the city has: 0 for every district, hidden or not
        seen = values[key]
        assert len(seen) >= 2 and max(seen) - min(seen) >= m, (key, sorted(seen), outs)
    for expr, seen in zip(complements, results, strict=True):
        assert max(seen) - min(seen) >= m, (expr, sorted(seen), outs)


def random_grid(rng: random.Random, rows: int, columns: int, values: Sequence[int]) -> Grid:
    names = [f"d{i}" for i in range(rows)]
    return grid({r: [rng.choice(values) for _ in range(columns)] for r in names}, "abcd"[:columns])


# --------------------------------------------------------------------------- (a) brute force


@pytest.mark.parametrize("m", [3, 5])
def test_no_hidden_value_of_a_random_table_can_be_worked_out(m: int) -> None:
    rng = random.Random(17 + m)
    values = [0, 0, 1, 2, 3, 4, 5, 7, 9] if m == 5 else [0, 0, 1, 2, 3, 4, 6]
    cases = [random_grid(rng, rng.randint(3, 4), rng.randint(2, 3), values) for _ in range(60)]
    cases += [random_grid(rng, 3, 4, values) for _ in range(10 if m == 3 else 0)]
    cases += [random_grid(rng, 1, rng.randint(2, 4), values) for _ in range(30)]  # one district
    hidden = 0
    for case in cases:
        out = protect_grid(case, m)
        assert_safe([case], [out], m, [False])
        hidden += len(out.reasons)
    assert hidden > 100  # the cases do hide things


@pytest.mark.parametrize("m", [3, 5])
def test_no_hidden_value_of_a_random_yes_no_table_can_be_worked_out(m: int) -> None:
    rng = random.Random(29 + m)
    values = [0, 0, 1, 2, 4, 6, 8] if m == 5 else [0, 0, 1, 2, 3, 5]
    for _ in range(50):
        case = random_grid(rng, rng.randint(1, 4), 2, values)
        assert_safe([case], [protect_grid(case, m, binary=True)], m, [True])


@pytest.mark.parametrize("m", [3, 5])
def test_no_hidden_value_of_random_linked_tables_can_be_worked_out(m: int) -> None:
    """Two tables of the same people (e.g. by gender and by reason) share district totals."""
    rng = random.Random(41 + m)
    for _ in range(40):
        names = [f"d{i}" for i in range(rng.randint(2, 4))]
        totals = [rng.choice([0, 1, 2, m, m + 2, 2 * m + 1]) for _ in names]
        by = []
        for width in (2, rng.randint(2, 3)):
            table = {}
            for r, total in zip(names, totals, strict=True):
                split = [0] * width
                for _ in range(total):
                    split[rng.randrange(width)] += 1
                table[r] = split
            by.append(grid(table, "abc"[:width]))
        out = protect_linked({"gender": by[0], "reason": by[1]}, m)
        assert_safe(by, [out["gender"], out["reason"]], m, [False, False])


@pytest.mark.parametrize("m", [3, 5])
def test_no_hidden_value_of_any_small_row_can_be_worked_out(m: int) -> None:
    """Every row of two or three categories up to m + 2, as today's protect() test tries."""
    columns = ["a", "b", "c"]
    for size in (2, 3):
        for values in itertools.product(range(m + 3), repeat=size):
            row = dict(zip(columns, values, strict=False))
            out = protect_row(row, m)
            case = grid({"d": list(values)}, columns[:size])
            as_grid = protect_grid(case, m)
            assert out.cells == {c: as_grid.cells["d", c] for c in row}
            assert out.total == as_grid.row_totals["d"] == as_grid.total
            assert_safe([case], [as_grid], m, [False])


# --------------------------------------------------------------------------- (b) named cases

GENDER = ["female", "male"]
YES_NO = ["yes", "no"]


def test_housing_for_seven_of_seven_in_a_small_district_is_hidden() -> None:
    housing = grid({"Farsta": [7, 0], "Rinkeby": [9, 6], "Skärholmen": [8, 12]}, YES_NO)
    out = protect_grid(housing, 5, binary=True)
    assert out.cells["Farsta", "yes"] is None and out.cells["Farsta", "no"] is None
    assert out.reasons["Farsta", "yes"] == ATTRIBUTE
    assert out.row_totals["Farsta"] == 7  # the group is shown, not what all of it has
    assert_safe([housing], [out], 5, [True])


def test_seven_men_of_seven_is_hidden_though_no_cell_is_small() -> None:
    gender = grid({"Farsta": [0, 7], "Rinkeby": [6, 9], "Skärholmen": [5, 20]}, GENDER)
    out = protect_grid(gender, 5)
    assert out.cells["Farsta", "male"] is None
    assert_safe([gender], [out], 5, [False])


def test_no_reports_shows_zero_and_three_reports_are_hidden() -> None:
    gender = grid({"Farsta": [0, 0], "Spånga": [1, 2], "Rinkeby": [6, 9], "Kista": [5, 8]}, GENDER)
    out = protect_grid(gender, 5)
    assert out.row_totals["Farsta"] == 0
    assert out.cells["Farsta", "female"] == out.cells["Farsta", "male"] == 0
    assert out.row_totals["Spånga"] is None
    assert {out.cells["Spånga", c] for c in GENDER} == {None}
    assert out.reasons["Spånga"] == SMALL
    assert_safe([gender], [out], 5, [False])


def test_the_city_minus_the_other_districts_does_not_reveal_a_hidden_cell() -> None:
    gender = grid({"Farsta": [2, 11], "Rinkeby": [6, 9], "Kista": [7, 13]}, GENDER)
    out = protect_grid(gender, 5)
    assert out.cells["Farsta", "female"] is None
    assert out.column_totals["female"] is not None  # the city's women are still shown...
    values, _ = possible([gender], [out], out.total or 0)
    assert len(values["cell", 0, "Farsta", "female"]) >= 5  # ...but do not pin her
    assert_safe([gender], [out], 5, [False])


def test_linked_tables_cannot_be_combined_to_recover_a_hidden_total() -> None:
    gender = grid({"A": [1, 2], "B": [3, 2], "C": [3, 4]}, GENDER)
    reason = grid({"A": [2, 1], "B": [0, 5], "C": [2, 5]}, ["goal", "moved"])
    alone = [protect_grid(gender, 5), protect_grid(reason, 5)]
    # each table protected on its own shows a different district total: together they give
    # A's total (15 - 5 - 7), so the linked tables must be protected as one
    assert alone[0].row_totals == {"A": None, "B": 5, "C": None}
    assert alone[1].row_totals == {"A": None, "B": None, "C": 7}
    values, _ = possible([gender, reason], alone, 15)
    assert values["row", "A"] == {3}
    together = protect_linked({"gender": gender, "reason": reason}, 5)
    assert together["gender"].row_totals == together["reason"].row_totals
    assert together["gender"].row_totals["A"] is None
    assert_safe([gender, reason], [together["gender"], together["reason"]], 5, [False, False])


def test_one_row_follows_the_same_rules() -> None:
    row = protect_row({"female": 2, "male": 30, "other": 0}, 5)
    assert row.total == 32 and row.cells == {"female": None, "male": None, "other": 0}
    assert protect_row({"female": 1, "male": 3}, 5).total is None
    assert protect_row({"female": 0, "male": 0}, 5).cells == {"female": 0, "male": 0}
    assert protect_row({"female": 0, "male": 7, "other": 0}, 5).cells["male"] is None
    assert protect_row({"yes": 9, "no": 0}, 5, binary=True).cells == {"yes": None, "no": None}
    assert protect_row({"yes": 9, "no": 0}, 1, binary=True).cells == {"yes": 9, "no": 0}
    assert protect_row({"female": 5, "male": 9}, 5).cells == {"female": 5, "male": 9}


def test_a_city_sized_table_hides_no_value_alone_in_a_shown_line() -> None:
    rng = random.Random(3)
    rows = [f"district {i}" for i in range(30)]
    columns = [f"reason {j}" for j in range(9)]
    counts = {(r, c): rng.choice([0, 0, 1, 2, 3, 5, 8, 12, 20]) for r in rows for c in columns}
    out = protect_grid(Grid(rows, columns, counts), 5)
    lines = [[(r, c) for c in columns] for r in rows] + [[(r, c) for r in rows] for c in columns]
    for line in lines:
        hidden = [key for key in line if out.cells[key] is None]
        assert len(hidden) != 1, line  # one hidden value in a line with its total shown
    assert all(out.cells[k] is None for k, v in counts.items() if 0 < v < 5)
    assert set(out.reasons.values()) == {SMALL, ATTRIBUTE, COMPLEMENTARY}


# --------------------------------------------------------------------------- (c) determinism


def test_the_same_input_gives_the_same_pattern() -> None:
    rng = random.Random(5)
    case = random_grid(rng, 4, 4, [0, 1, 2, 3, 5, 8, 13])
    shuffled = list(case.counts.items())
    rng.shuffle(shuffled)
    again = Grid(list(case.rows), list(case.columns), dict(shuffled))
    first = protect_grid(case, 5)
    assert protect_grid(case, 5) == first == protect_grid(again, 5)


# --------------------------------------------------------------------------- (d) hostile input


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({("A", "x"): -1, ("A", "y"): 3}, "negative"),
        ({("A", "x"): 1}, "missing"),
        ({("A", "x"): 1, ("A", "y"): 2.5}, "whole number"),
        ({("A", "x"): 1, ("A", "y"): True}, "whole number"),
        ({("A", "x"): 1, ("A", "y"): 10**12}, "implausibly large"),
        ({("A", "x"): 1, ("A", "y"): 2, ("B", "x"): 1}, "not in a row and column"),
    ],
)
def test_bad_counts_are_refused(counts: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        protect_grid(Grid(["A"], ["x", "y"], counts), 5)


def test_bad_tables_are_refused() -> None:
    ok = grid({"A": [1, 2]}, ["x", "y"])
    with pytest.raises(ValueError, match="minimum"):
        protect_grid(ok, 0)
    with pytest.raises(ValueError, match="both a row and a column"):
        protect_grid(grid({"x": [1, 2]}, ["x", "y"]), 5)
    with pytest.raises(ValueError, match="reserved"):
        protect_grid(grid({TOTAL: [1, 2]}, ["x", "y"]), 5)
    with pytest.raises(ValueError, match="duplicate"):
        protect_grid(Grid(["A", "A"], ["x"], {("A", "x"): 1}), 5)
    with pytest.raises(ValueError, match="non-empty"):
        protect_grid(Grid([], ["x"], {}), 5)
    with pytest.raises(ValueError, match="same people"):
        protect_linked({"a": ok, "b": grid({"A": [1, 1]}, ["z", "w"])}, 5)
    with pytest.raises(ValueError, match="same rows"):
        protect_linked({"a": ok, "b": grid({"B": [1, 2]}, ["z", "w"])}, 5)
    with pytest.raises(ValueError, match="not given"):
        protect_linked({"a": ok}, 5, frozenset({"b"}))
