"""Server-rendered charts: the geometry is computed here, a template draws it as inline SVG.

No JavaScript and no chart library: the page works with scripts off, prints, and passes the
Content-Security-Policy (SVG presentation attributes only, no inline styles).

Downloads (issue 17): standalone() lays the same chart out as a file of its own, with a heading
above and the chart's data as text below, so the picture carries its numbers wherever it is
pasted; png() draws that SVG as a PNG on the server with rsvg-convert (librsvg). Server-side,
because the page works without JavaScript, a canvas export would need a script the CSP does
not allow, and every browser would draw it differently; rsvg-convert, not CairoSVG, because it
lays text out with Pango as a browser does (kerning, font fallback for any name) and runs as a
separate process that a timeout and memory limit can stop, with no Python dependency added.
"""

from __future__ import annotations

import subprocess
import textwrap
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


# --------------------------------------------------------------------------- standalone file

#: Height of a line of the heading and of the data text below the chart.
LINE = 20
#: White space around the standalone drawing (its viewBox starts this far left of 0).
MARGIN = 24
#: Characters per line: of the 18 px title, and of a 12 px note (in the 800 wide drawing).
TITLE_CHARS, NOTE_CHARS = 70, 115
#: Where each value of a data row starts (a second value at the middle of the drawing).
VALUE_X = (16, 400)


@dataclass(frozen=True)
class Line:
    """One line of text in the standalone drawing."""

    y: float
    text: str
    x: float = 0
    size: int = 13
    bold: bool = False
    muted: bool = False


@dataclass(frozen=True)
class Standalone:
    """A chart as a file of its own: heading, the drawing moved down, its data as text below."""

    x: int  #: left edge of the viewBox (negative: a margin)
    width: int  #: of the viewBox, margins included
    height: int
    heading: list[Line]
    chart_y: int  #: the chart's drawing starts this far down
    chart: PairedBars
    data: list[Line]


def standalone(
    chart: PairedBars,
    heading: Sequence[str],
    data: Sequence[tuple[str, Sequence[str]]],
    notes: Sequence[str],
) -> Standalone:
    """Lay out *chart* with *heading* lines above (the first as the title) and, below, each
    (label, values) of *data* and the *notes*; long titles and notes are wrapped."""
    top: list[Line] = []
    y = MARGIN + 14
    for i, text in enumerate(heading):
        title = i == 0
        for part in textwrap.wrap(text, TITLE_CHARS if title else NOTE_CHARS, max_lines=3) or [""]:
            top.append(Line(y, part, size=18 if title else 13, bold=title))
            y += LINE + (4 if title else 0)
    chart_y = y + 8
    y = chart_y + chart.height + LINE
    below: list[Line] = []
    for label, values in data:
        below.append(Line(y, label, bold=True))
        for x, value in zip(VALUE_X, values, strict=False):
            below.append(Line(y + LINE, value, x=x))
        y += 2 * LINE + 6
    y += 4
    for note in notes:
        for part in textwrap.wrap(note, NOTE_CHARS) or [""]:
            below.append(Line(y, part, size=12, muted=True))
            y += LINE - 4
        y += 4  # a little space between notes, so each reads as its own paragraph
    return Standalone(
        -MARGIN, chart.width + 2 * MARGIN, int(y + MARGIN), top, chart_y, chart, below
    )


# --------------------------------------------------------------------------- PNG

#: The PNG's width in pixels: twice the drawing's width, sharp on a high-density screen or print.
PNG_WIDTH = 1600
#: Larger input is not a chart of ours; rsvg-convert is not asked to draw it.
MAX_SVG_BYTES = 1_000_000
#: Limits for one rsvg-convert run: seconds of wall time, seconds of CPU, bytes of memory.
PNG_TIMEOUT, PNG_CPU, PNG_MEMORY = 20.0, 10, 1 << 30
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class RenderError(RuntimeError):
    """rsvg-convert is missing, failed, was too slow or made no PNG."""


def png(svg: bytes, width: int = PNG_WIDTH) -> bytes:
    """Draw *svg* as a PNG *width* pixels wide (height from its aspect ratio), within limits.

    The SVG comes on stdin, so it has no base location and cannot load other files; prlimit
    caps the process's memory and CPU time, and a timeout its wall time.
    """
    if len(svg) > MAX_SVG_BYTES:
        raise RenderError(f"SVG of {len(svg)} bytes is larger than {MAX_SVG_BYTES}")
    if not 16 <= width <= 4000:
        raise ValueError(f"width {width} out of range")
    command = [
        "prlimit",
        f"--as={PNG_MEMORY}",
        f"--cpu={PNG_CPU}",
        "--",
        "rsvg-convert",
        "--format=png",
        f"--width={width}",
        "--keep-aspect-ratio",
    ]
    try:
        done = subprocess.run(
            command, input=svg, capture_output=True, timeout=PNG_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"rsvg-convert did not finish: {exc}") from exc
    if done.returncode != 0 or not done.stdout.startswith(PNG_SIGNATURE):
        message = done.stderr.decode("utf-8", "replace")[:500]
        raise RenderError(f"rsvg-convert failed ({done.returncode}): {message}")
    return done.stdout
