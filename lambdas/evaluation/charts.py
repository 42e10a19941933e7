"""Inline SVG charts for report.html: no scripts, fonts or external assets; every label is escaped.

bar_chart: horizontal grouped bars (one group per metric, one bar per recommender);
line_chart: one line per recommender over run dates (the trend).
Each <svg> carries role="img", an id, and a <title> so a screen reader (and a test) can name it.
"""

from __future__ import annotations

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


def bar_chart(
    chart_id: str,
    title: str,
    groups: Sequence[tuple[str, Mapping[str, float | None]]],
    labels: Mapping[str, str],
    pct: bool = False,
    width: int = 760,
) -> str:
    """groups: (group label, {recommender name: value}); bars scaled to the largest value."""
    names = list(labels)
    bar, gap, label_w, value_w = 14, 10, 150, 70
    values = [v for _, vals in groups for v in vals.values() if v is not None]
    top = max(values, default=0.0) or 1.0
    height = 28 + len(groups) * (len(names) * bar + gap) + 22
    span = width - label_w - value_w
    out = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="system-ui,sans-serif" '
        f'font-size="11"><title>{escape(title)}</title>',
        f'<text x="0" y="14" font-size="13" font-weight="600">{escape(title)}</text>',
    ]
    y = 28
    for group, vals in groups:
        out.append(f'<text x="0" y="{y + len(names) * bar / 2 + 4:.0f}" fill="#1f2328">{escape(group)}</text>')
        for index, name in enumerate(names):
            value = vals.get(name)
            w = 0 if value is None else max(span * value / top, 1 if value else 0)
            out.append(
                f'<rect class="bar" data-recommender="{escape(name)}" data-group="{escape(group)}" '
                f'x="{label_w}" y="{y}" width="{w:.1f}" height="{bar - 2}" fill="{colour(name, index)}">'
                f"<title>{escape(labels[name])}: {'–' if value is None else _fmt(value, pct)}</title></rect>"
            )
            text = "–" if value is None else _fmt(value, pct)
            out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 4}" fill="#57606a">{text}</text>')
            y += bar
        y += gap
    x = label_w
    for index, name in enumerate(names):  # legend
        out.append(
            f'<rect x="{x}" y="{y + 2}" width="10" height="10" fill="{colour(name, index)}"/>'
            f'<text x="{x + 14}" y="{y + 11}">{escape(labels[name])}</text>'
        )
        x += 24 + 7 * len(labels[name])
    out.append("</svg>")
    return "".join(out)


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
