"""One set of user counts: report.json's `user_counts` adds up, and every user count the page shows is in the
page's user-count table (table#user-counts), each with the filter that explains it.

Reports come from the report SQL on DuckDB (what `make report` and the report step run), with and without
Personalize output, and with a sample smaller than the users with truth.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from eval_fixtures import RUN_DATE

from evaluation.report import ReportOptions
from evaluation.run import report_from_prepared_sql
from evaluation.user_counts import UserCountName as N

SAMPLE = 40


@pytest.fixture(scope="module", params=["personalize", "no-personalize", "sampled"])
def report(request, prepared_dir, batch_files, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"user-counts-{request.param}")
    batch = batch_files if request.param == "personalize" else None
    options = ReportOptions(top_users=4, max_evaluated_users=SAMPLE if request.param == "sampled" else 100_000)
    made = report_from_prepared_sql(prepared_dir, "FR", RUN_DATE, out, batch, options, threads=1)
    return request.param, made, (out / "report.html").read_text(encoding="utf-8")


def test_user_counts_add_up(report):
    variant, made, _ = report
    counts = {c.name: c.count for c in made.user_counts}
    assert len(counts) == len(made.user_counts), "a count appears twice"
    seen: set[N] = set()
    for c in made.user_counts:
        assert c.filter.strip(), c.name
        if c.of is None:
            assert c.name == N.USERS and not seen
        else:
            assert c.of in seen, f"{c.name} is drawn from {c.of}, which is not listed before it"
            assert 0 <= c.count <= counts[c.of], c.name
        seen.add(c.name)
    assert counts[N.USERS] == made.counts.users
    assert counts[N.WITH_HISTORY] + counts[N.WITHOUT_HISTORY] == counts[N.USERS]
    assert counts[N.WITHOUT_HISTORY] == made.counts.cold_users
    assert counts[N.WARM] + counts[N.COLD] == counts[N.EVALUATED] == made.counts.evaluated_users
    assert counts[N.WARM] == made.decision.sample.warm_users and counts[N.DECISION] == made.decision.users
    assert counts[N.NEW_TO_USER] == made.new_to_user.users_evaluated
    assert counts[N.OPEN_BASELINE_TRAINED] == made.open_baseline.users_trained
    assert counts[N.HEAVY] == len(made.heavy_users)
    assert counts[N.WITH_HISTORY] <= counts[N.IN_WINDOW] < counts[N.USERS]  # the fixture has users with no interaction
    assert (N.WITH_PERSONALIZE_LIST in counts) == (N.PERSONALIZE_COLD in counts) == (variant == "personalize")
    evaluated = next(c for c in made.user_counts if c.name == N.EVALUATED)
    if variant == "sampled":
        assert counts[N.EVALUATED] == SAMPLE < counts[evaluated.of]
        assert "hash of the user id" in evaluated.filter
    else:
        assert counts[N.EVALUATED] == counts[evaluated.of] and "all of them" in evaluated.filter


def _table(html: str) -> dict[str, tuple[int, str]]:
    found = re.search(r'<table id="user-counts">(.*?)</table>', html, re.S)
    assert found, "no table#user-counts on the page"
    rows = re.findall(
        r'<tr class="user-count" data-count="([^"]+)"[^>]*>.*?<td class="num">([\d,]+)</td>(.*?)</tr>',
        found.group(1),
        re.S,
    )
    return {name: (int(count.replace(",", "")), unescape(re.sub(r"<[^>]+>", " ", rest))) for name, count, rest in rows}


def test_every_user_count_on_the_page_is_in_the_user_count_table(report):
    _, made, html = report
    table = _table(html)
    assert {name: count for name, (count, _) in table.items()} == {c.name.value: c.count for c in made.user_counts}
    for c in made.user_counts:
        assert c.filter in table[c.name.value][1], c.name
    shown = {count for count, _ in table.values()}
    # Outside the table, every "<number> [up to three words] users" on the page is one of the table's counts.
    text = unescape(re.sub(r"<[^>]+>", " ", html.split('<table id="user-counts">')[0] + html.split("</table>", 1)[1]))
    text = re.sub(r"per [\d,]+ users", "", re.sub(r"\s+", " ", text))  # "hits per 100 users" is a rate
    phrases = re.findall(r"\b(\d[\d,]*) (?:[a-z-]+ ){0,3}users\b", text)
    assert phrases, "the page names no user count"
    assert {int(p.replace(",", "")) for p in phrases} <= shown
    # And the counts in table cells and section texts that the phrase search cannot see.
    assert {r.users_evaluated for r in made.recommenders} <= shown  # table#metrics' Users column
    assert {r.cold_start.users for r in made.recommenders} <= shown  # table#cold-start's users with no history
    assert {made.new_to_user.users_evaluated, made.composition.users, made.decision.users} <= shown
