"""Inline SVG charts for report.html: no scripts, fonts or external assets; every label is escaped.

bar_chart: horizontal grouped bars (one group per metric, one bar per recommender) with interval whiskers, a value
axis from 0 with labelled ticks, and no bars for a group with nothing but zeros;
line_chart: one line per recommender over run dates (the trend).
Each <svg> carries role="img", an id, and a <title> so a screen reader (and a test) can name it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

# One colour per recommender, stable across charts (colour-blind-safe Okabe-Ito palette).
COLOURS = {
    "curation": "#E69F00",
    "personalize": "#0072B2",
    "open_baseline": "#009E73",
    "popularity": "#999999",
}
_FALLBACK = ("#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


def colour(name: str, index: int = 0) -> str:
    return COLOURS.get(name, _FALLBACK[index % len(_FALLBACK)])


def _fmt(value: float, pct: bool) -> str:
    if not pct and value >= 1 and float(value).is_integer():  # counts (distinct lists)
        return f"{value:,.0f}"
    return f"{value * 100:.1f}%" if pct else (f"{value:.3f}" if value < 10 else f"{value:,.0f}")


def _tick(value: float, pct: bool) -> str:
    """An axis label precise enough to tell 0.002 from 0.004 (four significant digits at most)."""
    return f"{value * 100:.4g}%" if pct else f"{value:,.4g}"


def nice_top(value: float) -> float:
    """The axis end: the smallest 1, 2, 2.5 or 5 x 10^n at or above `value` (1 for nothing to show)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-12):
            return step * power
    return 10 * power


# Interval = (low, high) of a value; the page's are 95 % bootstrap intervals (evaluation.intervals).
Intervals = Mapping[str, Mapping[str, tuple[float, float]]]


def bar_chart(
    chart_id: str,
    title: str,
    groups: Sequence[tuple[str, Mapping[str, float | None]]],
    labels: Mapping[str, str],
    pct: bool = False,
    width: int = 760,
    intervals: Intervals | None = None,
) -> str:
    """groups: (group label, {recommender name: value}); intervals: group label -> name -> (low, high), drawn as
    whiskers. Honest by construction: the axis starts at 0 and ends at a round value at or above the largest
    value or whisker, with labelled ticks (so 0.002 against 0.004 reads as what it is); a group where every value
    is 0 or missing (no hits on any side: no information) gets no bars, only a line saying so."""
    names = list(labels)
    whiskers = intervals or {}
    bar, gap, label_w, value_w = 14, 10, 150, 70
    values = [v for _, vals in groups for v in vals.values() if v is not None]
    values += [hi for per_name in whiskers.values() for _, hi in per_name.values()]
    top = nice_top(max(values, default=0.0))
    height = 28 + len(groups) * (len(names) * bar + gap) + 22 + 18
    span = width - label_w - value_w
    scale = f"axis from 0 to {_tick(top, pct)}"
    out = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" data-axis-max="{top}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="system-ui,sans-serif" '
        f'font-size="11"><title>{escape(title)} ({scale})</title>',
        f'<text x="0" y="14" font-size="13" font-weight="600">{escape(title)}</text>',
    ]
    y = 28
    for group, vals in groups:
        out.append(f'<text x="0" y="{y + len(names) * bar / 2 + 4:.0f}" fill="#1f2328">{escape(group)}</text>')
        if not any(vals.get(name) for name in names):
            out.append(
                f'<text class="no-information" data-group="{escape(group)}" x="{label_w}" '
                f'y="{y + len(names) * bar / 2 + 4:.0f}" fill="#57606a">no hits for any recommender: '
                "no information, no bars</text>"
            )
            y += len(names) * bar + gap
            continue
        for index, name in enumerate(names):
            value = vals.get(name)
            text = "–" if value is None else _fmt(value, pct)
            end: float = label_w
            if value is not None:
                w = max(span * value / top, 1 if value else 0)
                end = label_w + w
                out.append(
                    f'<rect class="bar" data-recommender="{escape(name)}" data-group="{escape(group)}" '
                    f'data-value="{value}" x="{label_w}" y="{y}" width="{w:.1f}" height="{bar - 2}" '
                    f'fill="{colour(name, index)}"><title>{escape(labels[name])}: {text}</title></rect>'
                )
            if value is not None and (interval := whiskers.get(group, {}).get(name)) is not None:
                low, high = interval
                x1, x2, mid = label_w + span * low / top, label_w + span * high / top, y + (bar - 2) / 2
                end = max(end, x2)
                text += f" ({_fmt(low, pct)}–{_fmt(high, pct)})"
                out.append(
                    f'<path class="interval" data-recommender="{escape(name)}" data-group="{escape(group)}" '
                    f'data-low="{low}" data-high="{high}" d="M{x1:.1f},{mid:.1f}H{x2:.1f}'
                    f'M{x1:.1f},{y + 1}V{y + bar - 3}M{x2:.1f},{y + 1}V{y + bar - 3}" stroke="#1f2328" '
                    'stroke-width="1.2" fill="none"/>'
                )
            out.append(f'<text x="{end + 4:.1f}" y="{y + bar - 4}" fill="#57606a">{text}</text>')
            y += bar
        y += gap
    out += _axis(label_w, span, y, top, pct)
    y += 18
    x = label_w
    for index, name in enumerate(names):  # legend
        out.append(
            f'<rect x="{x}" y="{y + 2}" width="10" height="10" fill="{colour(name, index)}"/>'
            f'<text x="{x + 14}" y="{y + 11}">{escape(labels[name])}</text>'
        )
        x += 24 + 7 * len(labels[name])
    out.append("</svg>")
    return "".join(out)


def _axis(left: int, span: int, y: int, top: float, pct: bool) -> list[str]:
    """The value axis under the bars: a line from 0 to `top` with five labelled ticks."""
    out = [f'<line class="axis" x1="{left}" y1="{y}" x2="{left + span}" y2="{y}" stroke="#8c959f"/>']
    for n in range(5):
        value, x = top * n / 4, left + span * n / 4
        out.append(
            f'<g class="tick" data-value="{value}"><line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" '
            f'stroke="#8c959f"/><text x="{x:.1f}" y="{y + 14}" text-anchor="middle" fill="#57606a">'
            f"{_tick(value, pct)}</text></g>"
        )
    return out


def line_chart(
    chart_id: str,
    title: str,
    dates: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    labels: Mapping[str, str],
    width: int = 640,
    height: int = 200,
) -> str:
    """One polyline per recommender over `dates` (oldest first); a single run is drawn as dots."""
    left, right, top_pad, bottom = 50, 220, 24, 24
    values = [v for vs in series.values() for v in vs if v is not None]
    high = max(values, default=0.0) or 1.0
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    step = plot_w / max(len(dates) - 1, 1)

    def point(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top_pad + plot_h * (1 - v / high)

    out = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="system-ui,sans-serif" '
        f'font-size="11"><title>{escape(title)}</title>',
        f'<text x="0" y="14" font-size="13" font-weight="600">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" stroke="#d0d7de"/>',
        f'<text x="{left - 4}" y="{top_pad + 4}" text-anchor="end" fill="#57606a">{high:.3f}</text>',
        f'<text x="{left - 4}" y="{top_pad + plot_h}" text-anchor="end" fill="#57606a">0</text>',
    ]
    if dates:
        out.append(f'<text x="{left}" y="{height - 6}" fill="#57606a">{escape(dates[0])}</text>')
        if len(dates) > 1:
            out.append(
                f'<text x="{left + plot_w}" y="{height - 6}" text-anchor="end" fill="#57606a">'
                f"{escape(dates[-1])}</text>"
            )
    for index, (name, vs) in enumerate(series.items()):
        c = colour(name, index)
        points = [point(i, v) for i, v in enumerate(vs) if v is not None]
        if len(points) > 1:
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            out.append(
                f'<polyline class="series" data-recommender="{escape(name)}" points="{coords}" fill="none" '
                f'stroke="{c}" stroke-width="2"/>'
            )
        out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{c}"/>' for x, y in points]
        ly = top_pad + 14 * index
        out.append(
            f'<rect x="{left + plot_w + 12}" y="{ly}" width="10" height="10" fill="{c}"/>'
            f'<text x="{left + plot_w + 26}" y="{ly + 9}">{escape(labels.get(name, name))}</text>'
        )
    out.append("</svg>")
    return "".join(out)
