"""Charts that do not exaggerate: whiskers for the 95 % intervals, a value axis from 0 with labelled ticks, no bars
where there is no information. Read back by parsing the SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from eval_fixtures import RUN_DATE

from evaluation import charts
from evaluation.intervals import CHARTED, bootstrap_means, fresh_share_intervals, metric_intervals
from evaluation.page import render as render_page

SVG = "{http://www.w3.org/2000/svg}"
LABELS = {"curation": "Current curation", "popularity": "Popularity"}
LEFT, SPAN = 150, 760 - 150 - 70  # bar_chart's label column and bar span at its default width


def _svg(text: str) -> ET.Element:
    return ET.fromstring(text.replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def _all(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}{tag}") if e.get("class") == cls]


def test_small_values_sit_on_an_axis_from_zero_whose_end_is_labelled():
    root = _svg(charts.bar_chart("c", "P@10", [("P@10", {"curation": 0.002, "popularity": 0.004})], LABELS))
    ticks = [float(t.get("data-value")) for t in _all(root, "g", "tick")]
    assert ticks[0] == 0 and ticks[-1] == float(root.get("data-axis-max")) == 0.005
    labels = ["".join(t.itertext()) for t in _all(root, "g", "tick")]
    assert labels[0] == "0" and labels[-1] == "0.005"  # the scale is on the chart, not only implied
    assert "axis from 0 to 0.005" in root.find(f"{SVG}title").text
    widths = {b.get("data-recommender"): float(b.get("width")) for b in _all(root, "rect", "bar")}
    assert widths["popularity"] == pytest.approx(SPAN * 0.004 / 0.005, abs=0.1)  # bars start at 0 of that axis
    assert widths["curation"] == pytest.approx(SPAN * 0.002 / 0.005, abs=0.1)


def test_whiskers_are_drawn_at_each_interval_and_widen_the_axis():
    groups = [("P@10", {"curation": 0.002, "popularity": 0.004})]
    whiskers = {"P@10": {"curation": (0.0, 0.005), "popularity": (0.001, 0.009)}}
    root = _svg(charts.bar_chart("c", "P@10", groups, LABELS, intervals=whiskers))
    assert float(root.get("data-axis-max")) == 0.01  # the widest whisker fits
    drawn = {p.get("data-recommender"): p for p in _all(root, "path", "interval")}
    assert set(drawn) == {"curation", "popularity"}
    low, high = float(drawn["popularity"].get("data-low")), float(drawn["popularity"].get("data-high"))
    assert (low, high) == (0.001, 0.009)
    start = drawn["popularity"].get("d").split("H")[0]  # "M<x1>,<y>"
    assert float(start[1:].split(",")[0]) == pytest.approx(LEFT + SPAN * 0.001 / 0.01, abs=0.1)
    assert "(0.001–0.009)" in "".join(root.itertext())  # the interval is written beside the value


def test_a_group_with_no_hits_on_any_side_gets_no_bars():
    groups = [("P@10, new", {"curation": 0.0, "popularity": 0.0}), ("P@10, all", {"curation": 0.0, "popularity": 0.1})]
    root = _svg(charts.bar_chart("c", "P@10", groups, LABELS))
    bars = _all(root, "rect", "bar")
    assert {b.get("data-group") for b in bars} == {"P@10, all"}  # a zero beside a hit is information
    (note,) = _all(root, "text", "no-information")
    assert note.get("data-group") == "P@10, new" and "no information" in note.text


def test_a_missing_value_has_no_bar():
    root = _svg(charts.bar_chart("c", "Fresh", [("New", {"curation": None, "popularity": 0.3})], LABELS, pct=True))
    assert [b.get("data-recommender") for b in _all(root, "rect", "bar")] == ["popularity"]


def test_nice_top_rounds_up_to_a_readable_axis_end():
    assert [charts.nice_top(v) for v in (0.0021, 0.004, 0.3, 1.0, 7, 0)] == [0.0025, 0.005, 0.5, 1.0, 10, 1.0]


def test_bootstrap_interval_holds_the_mean_and_is_the_same_every_time():
    values = np.zeros((200, 2))
    values[:8, 0] = 1.0  # 8 hits in 200 users; the second column has none
    low, high = bootstrap_means(values)
    assert low[0] < 8 / 200 < high[0] and (low[1], high[1]) == (0, 0)
    again = bootstrap_means(values)
    assert (again[0] == low).all() and (again[1] == high).all()


def test_metric_intervals_cover_every_charted_metric():
    lists = {"u1": ["a", "b"], "u2": ["c"]}
    got = metric_intervals([("curation", "Current curation", lists)], {"u1": {"a"}, "u2": {"x"}}, ["u1", "u2"])
    assert set(got["curation"]) == set(CHARTED)
    precision = got["curation"]["precision_at_10"]
    assert precision.low <= 0.05 <= precision.high  # mean of 1/10 and 0


@pytest.fixture(scope="module")
def sql_report(prepared_dir, batch_files, tmp_path_factory):
    from evaluation.run import report_from_prepared_sql

    return report_from_prepared_sql(prepared_dir, "FR", RUN_DATE, tmp_path_factory.mktemp("sql-report"), batch_files)


def _chart(report, chart_id: str) -> ET.Element:
    page = render_page(report)
    svg = page[page.index(f'<svg id="{chart_id}"') :]
    return _svg(svg[: svg.index("</svg>") + 6])


def test_the_fresh_share_interval_is_a_seeded_bootstrap_of_the_share_of_slots():
    lists = {f"u{n}": ["new", "old"] if n < 10 else ["old", "old", "old"] for n in range(40)}  # 10 of 110 slots
    got = fresh_share_intervals([("curation", "Current curation", lists)], {"new"}, sorted(lists))
    interval = got["curation"]
    assert interval.low < 10 / 110 < interval.high  # a share of slots (not a mean of per-user shares: 0.125)
    assert interval.high < 0.25 and interval.low > 0
    assert fresh_share_intervals([("curation", "Current curation", lists)], {"new"}, sorted(lists)) == got
    assert fresh_share_intervals([("curation", "Current curation", {})], {"new"}, ["u1"]) == {}  # no slots


def test_the_page_draws_the_fresh_share_intervals(sql_report):
    assert set(sql_report.fresh_share_intervals) == {r.name for r in sql_report.recommenders}
    drawn = {p.get("data-recommender"): p for p in _all(_chart(sql_report, "chart-freshness"), "path", "interval")}
    assert set(drawn) == set(sql_report.fresh_share_intervals)
    for name, interval in sql_report.fresh_share_intervals.items():
        whisker = drawn[name]
        assert (float(whisker.get("data-low")), float(whisker.get("data-high"))) == (interval.low, interval.high)
        share = next(r.fresh_share for r in sql_report.recommenders if r.name == name)
        assert interval.low <= share <= interval.high


def test_the_page_draws_the_reports_intervals(sql_report):
    report = sql_report
    root = _chart(report, "chart-metrics")
    drawn = _all(root, "path", "interval")
    assert drawn, "no whiskers on the metrics chart"
    p10 = report.metric_intervals["all"]["curation"]["precision_at_10"]
    mine = [p for p in drawn if p.get("data-recommender") == "curation" and p.get("data-group") == "Precision@10, all"]
    assert [(float(p.get("data-low")), float(p.get("data-high"))) for p in mine] == [(p10.low, p10.high)]
    for group in {b.get("data-group") for b in _all(root, "rect", "bar")}:
        assert any(float(b.get("data-value")) > 0 for b in _all(root, "rect", "bar") if b.get("data-group") == group)
