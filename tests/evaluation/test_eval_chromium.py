"""Open report.html in headless Chromium: screenshot it and check the rendered DOM.

Pages with and without Personalize output; screenshots are written under each test's tmp dir
(report-personalize.png, report-no-personalize.png) for a reader to look at.

The project's set-up installs Debian's `chromium` package (/usr/bin/chromium); a missing browser is a
set-up fault, so this test fails with the install command rather than skipping.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from html import escape, unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from eval_fixtures import RUN_DATE

from common.experiments import Arm, Experiment
from evaluation import decision, online, trend
from evaluation.page import render
from evaluation.report_model import Report, ReportOptions
from evaluation.run import report_from_prepared, write_report

TOP_USERS = 5


def _chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            "headless Chromium not found: install it with `apt-get update && apt-get install -y chromium` "
            "(the project's set-up does this), or set CHROMIUM=/path/to/chromium"
        )
    return path


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        browser,
        "--headless",
        "--no-sandbox",  # tests run as root in containers, where Chromium's sandbox cannot start
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


@pytest.fixture(scope="module", params=["personalize", "no-personalize"])
def page(request, prepared_dir, batch_files, tmp_path_factory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp(f"chromium-{request.param}")
    batch = batch_files if request.param == "personalize" else None
    report = report_from_prepared(prepared_dir, "FR", RUN_DATE, out, batch, ReportOptions(top_users=TOP_USERS))
    # Two earlier runs for the trend chart, as the report step finds them under results/FR/<run_date>/.
    earlier = [
        trend.TrendPoint(run_date=f"2026-10-{day:02d}", metric=decision.DECISION_METRIC, values={"curation": v})
        for day, v in ((18, 0.1), (25, 0.2))
    ]
    report.trend = earlier + report.trend
    write_report(report, out)
    return request.param, out / "report.html"


def test_report_renders_in_headless_chromium(page, tmp_path):
    variant, html = page
    browser = _chromium()
    url = html.resolve().as_uri()
    shot = tmp_path / f"report-{variant}.png"
    result = _run(browser, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1400,1600", url)
    assert shot.exists(), f"no screenshot; chromium said: {result.stderr[-2000:]}"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 1600)
    # A blank page compresses to a few KB; tables and lists of text are far bigger.
    assert len(data) > 50_000

    dom = _run(browser, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = _Dom()
    parser.feed(dom.stdout)
    elements = parser.elements
    assert any(t == "table" and a.get("id") == "metrics" for t, a in elements)
    metric_rows = [a for t, a in elements if t == "tr" and a.get("data-recommender")]
    names = {"curation", "open_baseline", "popularity"} | ({"personalize"} if variant == "personalize" else set())
    assert {a["data-recommender"] for a in metric_rows} == names
    heavy = [a for t, a in elements if t == "tr" and "heavy-user" in (a.get("class") or "").split()]
    assert len(heavy) == TOP_USERS
    assert all(a.get("data-user-id") for a in heavy)
    lists = [a for t, a in elements if t == "td" and a.get("class") == "list"]
    assert len(lists) == len(names) * TOP_USERS
    # Chromium ran no script (there is none): the DOM it built has no script element.
    assert not any(t == "script" for t, _ in elements)


def test_verdict_charts_and_both_evaluations_in_chromium(page, tmp_path):
    variant, html = page
    dom = _run(_chromium(), tmp_path / "profile", "--dump-dom", html.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = _Dom()
    parser.feed(dom.stdout)
    elements = parser.elements
    others = {"open_baseline", "popularity"} | ({"personalize"} if variant == "personalize" else set())
    # The verdict comes first, before any table: one line per recommender but the curation, per evaluation.
    first_table = next(n for n, (t, _) in enumerate(elements) if t == "table")
    verdict_at = next(n for n, (t, a) in enumerate(elements) if a.get("id") == "verdict")
    assert verdict_at < first_table
    lines = [a for t, a in elements if t == "li" and "verdict" in (a.get("class") or "").split()]
    assert {(a["data-evaluation"], a["data-recommender"]) for a in lines} == {
        (e, n) for e in ("all", "new_to_user") for n in others
    }
    assert all(a["data-outcome"] in ("better", "worse", "no clear difference") for a in lines)
    # With Personalize output the page also says whether Personalize beats the open baseline.
    pairs = {(a["data-evaluation"], a["data-recommender"], a["data-against"]) for a in lines}
    versus_open = {(e, "personalize", "open_baseline") for e in ("all", "new_to_user")}
    assert (versus_open <= pairs) == (variant == "personalize")
    assert "than the open baseline" in dom.stdout or variant != "personalize"
    assert "95 % CI" in dom.stdout and "x more of what users watch next" in dom.stdout
    # Both evaluations, with every recommender.
    for table in ("metrics", "new-to-user"):
        at = next(n for n, (t, a) in enumerate(elements) if t == "table" and a.get("id") == table)
        rows = []
        for t, a in elements[at + 1 :]:
            if t == "table":
                break
            if t == "tr" and a.get("data-recommender"):
                rows.append(a["data-recommender"])
        assert set(rows) == others | {"curation"}, table
    assert any(t == "ul" and a.get("id") == "explanations" for t, a in elements)
    # Inline SVG charts: bars for every recommender, the trend's line over three runs.
    svgs = {a.get("id") for t, a in elements if t == "svg"}
    assert svgs == {"chart-metrics", "chart-cold-start", "chart-freshness", "chart-trend"}
    bars = {a["data-recommender"] for t, a in elements if t == "rect" and a.get("data-recommender")}
    assert bars == others | {"curation"}
    trend = [a for t, a in elements if t == "polyline" and a.get("data-recommender") == "curation"]
    assert len(trend) == 1 and len(trend[0]["points"].split()) == 3
    assert any(t == "section" and a.get("id") == "open-baseline" for t, a in elements)


def _text_of(dom: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', dom, re.S)
    assert found, f"#{element_id} not on the rendered page"
    return found.group(1).strip()


def test_decision_shares_fill_shares_and_user_counts_are_visible_in_chromium(page, tmp_path):
    variant, html = page
    data = json.loads((html.parent / "report.json").read_text(encoding="utf-8"))
    made = data["decision"]
    dom = _run(_chromium(), tmp_path / "profile", "--dump-dom", html.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = _Dom()
    parser.feed(dom.stdout)
    elements = parser.elements
    # The decision opens the verdict section: its outcome, candidate, rule, metric and population.
    (box,) = [a for t, a in elements if a.get("id") == "decision"]
    assert box["data-outcome"] == made["outcome"] in {o.value for o in decision.Outcome}
    assert box["data-candidate"] == ("personalize" if variant == "personalize" else "open_baseline")
    verdict_at = next(n for n, (_, a) in enumerate(elements) if a.get("id") == "verdict")
    decision_at = next(n for n, (_, a) in enumerate(elements) if a.get("id") == "decision")
    first_line = next(n for n, (t, a) in enumerate(elements) if "verdict" in (a.get("class") or "").split())
    assert verdict_at < decision_at < first_line
    assert escape(made["text"]) in dom.stdout or made["text"] in dom.stdout
    for part in ("decision-rule", "decision-metric", "decision-population"):
        assert _text_of(dom.stdout, part)
    assert (
        f"at least {decision.MIN_HITS}" in _text_of(dom.stdout, "decision-rule") or str(decision.MIN_HITS) in dom.stdout
    )
    # The header splits the evaluated users into warm and cold, with shares that add up to all of them.
    sample = made["sample"]
    assert sample["warm_users"] + sample["cold_users"] == data["counts"]["evaluated_users"]
    assert sample["warm_users"] > 0 and sample["cold_users"] > 0
    header = next(n for n, (_, a) in enumerate(elements) if a.get("id") == "populations")
    assert header < verdict_at
    assert _text_of(dom.stdout, "warm-share") == f"{sample['warm_share']:.1%}"
    assert _text_of(dom.stdout, "cold-share") == f"{sample['cold_share']:.1%}"
    # Cold evaluated users are judged in the cold-start section, by what each recommender finds for them.
    cold = [a for t, a in elements if t == "li" and a.get("data-cold-recommender")]
    assert {a["data-cold-recommender"] for a in cold} == set(sample["cold_hits_per_100_users"])
    # What each list is made of: one row per recommender with its popularity fallback share, and the tie rule.
    fill = [a["data-recommender"] for t, a in elements if t == "tr" and "composition" in (a.get("class") or "")]
    assert fill == [r["name"] for r in data["composition"]["recommenders"]]
    assert any(t == "section" and a.get("id") == "composition" for t, a in elements)
    for r in data["composition"]["recommenders"]:
        row = re.search(rf'<tr class="composition" data-recommender="{r["name"]}">(.*?)</tr>', dom.stdout, re.S)
        assert row and f"{r['overlap_share']:.1%}" in row.group(1), r["name"]
        assert (f"{r['fallback_share']:.1%}" if r["fallback_share"] is not None else "not known") in row.group(1)
    assert _text_of(dom.stdout, "ties").startswith("Ties:")
    # One table of user counts right after the verdict, before the metrics: report.json's user_counts, row for row.
    table = next(n for n, (t, a) in enumerate(elements) if t == "table" and a.get("id") == "user-counts")
    metrics = next(n for n, (t, a) in enumerate(elements) if t == "table" and a.get("id") == "metrics")
    assert header < verdict_at < table < metrics
    rows = [
        (a["data-count"], a["data-of"]) for t, a in elements if t == "tr" and "user-count" in (a.get("class") or "")
    ]
    assert rows == [(c["name"], c["of"] or "") for c in data["user_counts"]]
    for c in data["user_counts"]:
        row = re.search(rf'<tr class="user-count" data-count="{c["name"]}"[^>]*>(.*?)</tr>', dom.stdout, re.S)
        assert row and f">{c['count']:,}<" in row.group(1) and c["filter"] in unescape(row.group(1)), c["name"]


def test_the_online_decision_opens_the_verdict_beside_the_offline_one_in_chromium(page, tmp_path):
    _, html = page
    report = Report.model_validate_json((html.parent / "report.json").read_text(encoding="utf-8"))
    experiment = Experiment(
        name="pz-vs-curation", arms={Arm.PERSONALIZE: 0.5, Arm.CURATION: 0.5}, start="2026-10-01", end="2026-12-01"
    )
    rows = [
        online.UserOutcome(arm=arm, user_id=f"{arm.value}-{n}", exposures=2, hits=(n % 3 == 0) + (n % 7 == 0))
        for arm in (Arm.PERSONALIZE, Arm.CURATION)
        for n in range(300)
    ]
    report.online = online.decide(experiment, rows)
    report.trend[-1].online = online.trend_values(report.online)
    report.trend[0].online = {"personalize": 0.2, "curation": 0.25}  # an earlier run of the experiment
    page_with_online = tmp_path / "report-online.html"
    page_with_online.write_text(render(report), encoding="utf-8")
    dom = _run(_chromium(), tmp_path / "profile", "--dump-dom", page_with_online.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = _Dom()
    parser.feed(dom.stdout)
    elements = parser.elements
    at = {a.get("id"): n for n, (_, a) in enumerate(elements) if a.get("id")}
    assert at["verdict"] < at["online"] < at["decision"]
    (box,) = [a for _, a in elements if a.get("id") == "online"]
    assert box["data-verdict"] == online.Verdict.WAITING.value and box["data-experiment"] == experiment.name
    arms = [a["data-arm"] for t, a in elements if t == "tr" and a.get("data-arm")]
    assert arms == ["personalize", "curation"]
    assert "300" in _text_of(dom.stdout, "online-arms") or "300" in dom.stdout
    needed = report.online.users_needed_per_arm
    assert needed is not None and f"{needed:,} exposed users per arm" in _text_of(dom.stdout, "online-horizon")
    assert "passed" in _text_of(dom.stdout, "online-sample-ratio")
    assert escape(report.online.text) in dom.stdout
    # The trend shows the online outcome beside the offline one: one line per arm.
    svgs = [a.get("id") for t, a in elements if t == "svg"]
    assert svgs.index("chart-trend") < svgs.index("chart-trend-online")
    lines = {a["data-recommender"] for t, a in elements if t == "polyline" and a.get("data-recommender") in arms}
    assert lines == set(arms)
