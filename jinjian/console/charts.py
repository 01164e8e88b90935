"""Bar charts for the dashboard, drawn as inline SVG by the template (no script, no network):
this module only turns aggregate counts into bars with their geometry."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

BAR_AREA = 420  # px of the longest bar
ROW = 24  # px per bar
LABEL_CHARS = 24


@dataclass
class Bar:
    label: str
    count: int
    width: int  # px
    y: int  # px, top of the bar
    link: str = ""  # the hits list filtered to this bar; "" for none


@dataclass
class Chart:
    title: str
    bars: list[Bar] = field(default_factory=list)

    @property
    def height(self) -> int:
        return max(1, len(self.bars)) * ROW + 8


def bar_chart(title: str, rows: Iterable[tuple[str, int, str]]) -> Chart:
    """A chart of (label, count, link) rows, in their order; labels cut to LABEL_CHARS."""
    items = list(rows)
    top = max((n for _, n, _ in items), default=0)
    bars = []
    for i, (label, count, link) in enumerate(items):
        text = label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"
        width = round(BAR_AREA * count / top) if top else 0
        bars.append(Bar(text, int(count), max(width, 1 if count else 0), i * ROW + 4, link))
    return Chart(title, bars)


def weeks(days: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Counts by UTC day (``YYYY-MM-DD``) summed by ISO week (``2026-W48``), in order."""
    totals: dict[str, int] = {}
    for day, count in days:
        try:
            year, week, _ = date.fromisoformat(str(day)[:10]).isocalendar()
        except ValueError:
            continue
        key = f"{year}-W{week:02d}"
        totals[key] = totals.get(key, 0) + int(count)
    return sorted(totals.items())
