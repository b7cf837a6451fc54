"""Server-rendered charts: the geometry is computed here, a template draws it as inline SVG.

No JavaScript and no chart library: the page works with scripts off, prints, and passes the
Content-Security-Policy (SVG presentation attributes only, no inline styles).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: Fill and outline per series: a light and a dark blue, told apart by lightness, not hue alone;
#: the light bar has a dark outline so it stands out from the white page (WCAG 1.4.11).
SERIES_COLOURS = (("#a9c6de", "#3d6e96"), ("#0a5a8c", "#0a5a8c"))
WIDTH = 800  #: viewBox width
BAR_X = 130  #: where bars start (the series names are right-aligned before it)
SCALE = 480  #: the width of a 100 % bar
TOP = 64  #: y of the first group
GROUP = 78  #: height of one group (label and two bars)
BAR_H = 20  #: height of one bar


@dataclass(frozen=True)
class Value:
    """One bar's value."""

    share: float | None  #: 0..1, or None for no bar (hidden or missing)
    text: str  #: printed after the bar (or alone when there is no bar)


@dataclass(frozen=True)
class Row:
    """One category: a label and one value per series."""

    label: str  #: e.g. the indicator's question
    note: str  #: muted text after the label, e.g. "(lägre är bättre)"
    values: Sequence[Value]  #: one per series, in the order of the series


@dataclass(frozen=True)
class Bar:
    """A drawn bar with its texts."""

    series: str  #: series name, printed left of the bar
    x: float
    y: float
    width: float  #: 0 when there is no bar
    height: float
    fill: str
    stroke: str
    text: str  #: value text
    text_x: float
    muted: bool  #: no bar: the text is an explanation, not a value


@dataclass(frozen=True)
class Group:
    """One row of the chart: its label and its bars."""

    label: str
    note: str
    label_y: float
    bars: list[Bar]
    grid_top: float  #: grid lines are drawn behind the bars only, never through the label
    grid_bottom: float


@dataclass(frozen=True)
class Tick:
    """A vertical grid line with its label."""

    x: float
    text: str


@dataclass(frozen=True)
class LegendItem:
    """A swatch and its series name."""

    x: float
    fill: str
    stroke: str
    text: str


@dataclass(frozen=True)
class PairedBars:
    """A horizontal bar chart with one bar per series for each row, 0-100 %."""

    width: int
    height: int
    bar_x: int  #: where bars start; series names end just before
    tick_y: int  #: baseline of the scale's labels
    ticks: list[Tick]
    legend: list[LegendItem]
    groups: list[Group]


def paired_bars(
    rows: Sequence[Row],
    series: Sequence[str],
    tick_text: Callable[[int], str] = lambda pct: f"{pct} %",
) -> PairedBars:
    """Lay out *rows* as horizontal bars, one per series, on a 0-100 % scale."""
    groups = []
    for i, row in enumerate(rows):
        top = TOP + i * GROUP
        bars = []
        for j, (name, value) in enumerate(zip(series, row.values, strict=True)):
            fill, stroke = SERIES_COLOURS[j % len(SERIES_COLOURS)]
            y = top + 10 + j * (BAR_H + 4)
            # a share of 0 still gets a hairline, so "0 %" is seen as a value, not a gap
            width = 0.0 if value.share is None else max(2.0, SCALE * min(value.share, 1.0))
            bars.append(
                Bar(
                    series=name,
                    x=BAR_X,
                    y=y,
                    width=round(width, 1),
                    height=BAR_H,
                    fill=fill,
                    stroke=stroke,
                    text=value.text,
                    text_x=round(BAR_X + width + 8, 1),
                    muted=value.share is None,
                )
            )
        grid = (bars[0].y - 4, bars[-1].y + BAR_H + 4) if bars else (top, top)
        groups.append(Group(row.label, row.note, top, bars, *grid))
    bottom = TOP + len(rows) * GROUP - 12
    return PairedBars(
        width=WIDTH,
        height=bottom + 8,
        bar_x=BAR_X,
        tick_y=TOP - 28,
        ticks=[Tick(BAR_X + SCALE * pct / 100, tick_text(pct)) for pct in (0, 25, 50, 75, 100)],
        legend=[
            LegendItem(BAR_X + j * 200, *SERIES_COLOURS[j % len(SERIES_COLOURS)], name)
            for j, name in enumerate(series)
        ],
        groups=groups,
    )
