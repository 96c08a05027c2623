"""Hourly stacked bar charts drawn on the server: the geometry of an SVG and the same numbers as
a table, for the overview page's template (which escapes every label)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.html import format_html, html_safe
from django.utils.safestring import SafeString

# The SVG's own coordinate system; the page scales it to the width it has.
WIDTH = 960
HEIGHT = 230
LEFT, RIGHT, TOP, BOTTOM = 46, 8, 12, 40
Y_TICKS = 4
MIN_SEGMENT_HEIGHT = 2.0  # a single event among hundreds stays visible (its exact count is in
# its tooltip and in the table)


@dataclass(frozen=True)
class Series:
    """One kind of thing stacked in the bars (a status, a reason)."""

    key: str
    label: str
    css: str


@html_safe
@dataclass(frozen=True)
class Cell:
    """A number, shown in a template as a link to the list of what it counts."""

    count: int
    href: str  # "" when the user may not see that list

    def __str__(self) -> SafeString:
        if not self.href:
            return format_html("{}", self.count)
        return format_html('<a href="{}">{}</a>', self.href, self.count)


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str
    href: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str
    sublabel: str = ""


@dataclass(frozen=True)
class Row:
    label: str
    cells: list[Cell]
    total: int


@dataclass(frozen=True)
class LegendItem:
    series: Series
    total: Cell


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    segments: list[Segment]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    legend: list[LegendItem]
    series: list[Series]
    rows: list[Row]
    total: int


def nice_top(largest: int) -> int:
    """The axis' top: Y_TICKS steps of 1, 2 or 5 times a power of ten, at least `largest`."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude * Y_TICKS >= largest:
                return factor * magnitude * Y_TICKS
        magnitude *= 10


def hour_label(start: datetime, end: datetime) -> str:
    """E.g. "6 Dec 14:00 to 15:00", in the current time zone."""
    start_text = format_date(timezone.localtime(start), "j M H:i")
    return f"{start_text} to {format_date(timezone.localtime(end), 'H:i')}"


def stacked_hourly_chart(
    bounds: Sequence[datetime],
    series: Sequence[Series],
    counts: Mapping[tuple[int, str], int],
    link: Callable[[str, datetime, datetime], str],
) -> Chart:
    """Bars per hour (`bounds` are the hours' starts and the last one's end), stacked by series.

    `counts[(hour index, series key)]`; `link(key, start, end)` is the list each number opens.
    """
    hours = len(bounds) - 1
    totals = [sum(counts.get((i, s.key), 0) for s in series) for i in range(hours)]
    top = nice_top(max(totals, default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / hours
    bar_width = slot * 0.75
    scale = plot_height / top
    baseline = HEIGHT - BOTTOM

    segments: list[Segment] = []
    rows: list[Row] = []
    x_ticks: list[Tick] = []
    for i in range(hours):
        start, end = bounds[i], bounds[i + 1]
        x = LEFT + i * slot + (slot - bar_width) / 2
        y = float(baseline)
        label = hour_label(start, end)
        cells: list[Cell] = []
        for s in series:
            count = counts.get((i, s.key), 0)
            href = link(s.key, start, end)
            cells.append(Cell(count, href))
            if not count:
                continue
            height = max(count * scale, MIN_SEGMENT_HEIGHT)
            y -= height
            title = f"{label}: {count} {s.label.lower()}"
            segments.append(Segment(x, y, bar_width, height, s.css, title, href))
        rows.append(Row(label, cells, totals[i]))
        local = timezone.localtime(start)
        if local.hour % 6 == 0:
            date = format_date(local, "j M") if local.hour == 0 or not x_ticks else ""
            x_ticks.append(Tick(LEFT + i * slot, format_date(local, "H:i"), date))

    legend = [
        LegendItem(
            s, Cell(sum(row.cells[n].count for row in rows), link(s.key, bounds[0], bounds[-1]))
        )
        for n, s in enumerate(series)
    ]
    y_ticks = [
        Tick(baseline - step * plot_height / Y_TICKS, str(top * step // Y_TICKS))
        for step in range(Y_TICKS + 1)
    ]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=baseline,
        segments=segments,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        legend=legend,
        series=list(series),
        rows=rows,
        total=sum(totals),
    )
