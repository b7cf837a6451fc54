"""Disclosure control of a city-sized table (30 districts x 9 categories) vs row by row.

Run: `.venv/bin/python bench/disclosure.py [--grids 5] [--runs 3]`.
Both sides protect the same seeded counts in the same run: protect_grid() the whole table with
its margins (LP audit and secondary suppression), protect_row() each of its 30 rows on its
own (the same rules one row at a time, no audit across rows, as the old per-row rule did). Also
three linked tables (by gender, by target group, by reason) of the same people, as the report
publishes them. The figures are medians per table; the ratio is what to compare across
machines.
"""

from __future__ import annotations

import argparse
import random
import statistics as stats
import time
from collections.abc import Callable

from formsvc.services.disclosure import Grid, protect_grid, protect_linked, protect_row

ROWS = [f"district {i:02d}" for i in range(30)]


def city_grid(rng: random.Random, columns: int) -> Grid:
    """Counts shaped like the follow-ups: many small and empty cells, some large ones."""
    names = [f"category {j}" for j in range(columns)]
    weights = [rng.random() ** 2 for _ in names]
    counts = {}
    for r in ROWS:
        size = rng.choice([0, 2, 4, 7, 12, 25, 40])
        split = dict.fromkeys(names, 0)
        for _ in range(size):
            split[rng.choices(names, weights)[0]] += 1
        counts.update({(r, c): split[c] for c in names})
    return Grid(ROWS, names, counts)


def linked(rng: random.Random) -> dict[str, Grid]:
    """Three tables of the same people: 4 genders, 2 target groups, 9 reasons."""
    sizes = {r: rng.choice([0, 2, 4, 7, 12, 25, 40]) for r in ROWS}
    out = {}
    for name, width in (("gender", 4), ("target_group", 2), ("reason", 9)):
        names = [f"{name} {j}" for j in range(width)]
        weights = [rng.random() ** 2 + 0.05 for _ in names]
        counts = {}
        for r in ROWS:
            split = dict.fromkeys(names, 0)
            for _ in range(sizes[r]):
                split[rng.choices(names, weights)[0]] += 1
            counts.update({(r, c): split[c] for c in names})
        out[name] = Grid(ROWS, names, counts)
    return out


def median_ms(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of *fn* in milliseconds over *runs* calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return stats.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grids", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--minimum", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(2020)
    m = args.minimum

    grid_ms, row_ms, linked_ms, hidden = [], [], [], []
    for _ in range(args.grids):
        grid = city_grid(rng, 9)
        rows = [{c: grid.counts[r, c] for c in grid.columns} for r in grid.rows]
        grid_ms.append(median_ms(lambda g=grid: protect_grid(g, m), args.runs))
        row_ms.append(median_ms(lambda rs=rows: [protect_row(row, m) for row in rs], args.runs))
        out = protect_grid(grid, m)
        hidden.append(sum(v is None for v in out.cells.values()) / len(out.cells))
        tables = linked(rng)
        linked_ms.append(median_ms(lambda t=tables: protect_linked(t, m), args.runs))

    new, old = stats.median(grid_ms), stats.median(row_ms)
    print(f"30 x 9 table, minimum {m}, {args.grids} tables x {args.runs} runs (medians)")
    print(f"  protect_grid (whole table, LP audit):  {new:9.1f} ms per table")
    print(f"  protect_row (30 rows alone):           {old:9.3f} ms per table")
    print(f"  ratio:                                 {new / old:9.0f} x")
    print(f"  cells hidden:                          {100 * stats.median(hidden):9.0f} %")
    print(
        f"  protect_linked (gender, group, reason, 30 districts): {stats.median(linked_ms):.1f} ms"
    )


if __name__ == "__main__":
    main()
