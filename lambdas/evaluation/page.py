"""Render a `Report` as a self-contained report.html: inline CSS, no scripts, fonts or images.

Every piece of data goes through `html.escape` (titles and ids come from customer exports). Elements carry
stable ids/classes for tests and for anyone scraping the page:
table#metrics (tr.recommender[data-recommender]), table#cold-start (tr.recommender[data-recommender]),
section#curation-method, table#heavy-users (tr.heavy-user[data-user-id], td.history, td.truth,
td.list[data-recommender]), li.item (.new, .hit), span.badge-new, ul#notes; section#verdict
(li.verdict[data-recommender][data-evaluation]), ul#explanations, table#new-to-user, section#open-baseline,
svg#chart-metrics, svg#chart-cold-start, svg#chart-freshness, svg#chart-trend (inline SVG, evaluation.charts);
section#composition (tr.composition[data-recommender], p.mostly-popularity[data-recommender], p#ties);
table#user-counts (tr.user-count[data-count][data-of]) right after the verdict.
"""

from __future__ import annotations

from html import escape

from evaluation import charts
from evaluation.metrics import KS, MRR_AT
from evaluation.page_decision import cold_evaluated, decision_box, online_box, populations
from evaluation.page_trend import trend_section
from evaluation.report_model import ItemEntry, Report

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:24px;
 color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
p.meta{color:#57606a;margin:0 0 12px;font-size:13px}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td.num{font-weight:600}
table#heavy-users{width:100%;table-layout:fixed}
table#heavy-users td{font-size:12px}
ol,ul.items{margin:0;padding-left:18px}
li.item{margin:1px 0}
li.item .genres{color:#57606a;font-size:11px}
li.item .when{color:#57606a;font-size:11px}
li.hit{background:#dafbe1}
span.badge-new{display:inline-block;background:#fff8c5;border:1px solid #d4a72c;border-radius:3px;
 font-size:10px;padding:0 3px;margin-left:3px;color:#7d4e00}
span.badge-hit{display:inline-block;background:#2da44e;color:#fff;border-radius:3px;font-size:10px;
 padding:0 3px;
 margin-left:3px}
.user{font-weight:600;word-break:break-all}
ul#notes li{font-size:13px;color:#57606a}
.legend{font-size:12px;color:#57606a}
section#verdict{border:1px solid #d0d7de;border-left:4px solid #0969da;padding:8px 14px;margin:12px 0;
 background:#f6f8fa}
section#verdict h2{margin:4px 0 6px}
section#verdict li{margin:3px 0;font-size:14px}
li.verdict.better::marker{color:#1a7f37}li.verdict.worse::marker{color:#cf222e}
ul#explanations li{font-size:12px;color:#57606a}
svg.chart{display:block;margin:8px 0 16px}
div#decision{border:1px solid #d0d7de;background:#fff;padding:6px 10px;margin:4px 0 10px;font-size:15px}
div#decision.adopt{border-left:4px solid #1a7f37}div#decision.keep{border-left:4px solid #cf222e}
div#decision p.legend{margin:3px 0}
div#online{border:1px solid #d0d7de;background:#fff;padding:6px 10px;margin:4px 0 10px;font-size:15px}
div#online p.legend{margin:3px 0}
"""

_METRIC_COLUMNS = (
    [(f"precision_at_{k}", f"Precision@{k}") for k in KS]
    + [(f"normalized_discounted_cumulative_gain_at_{k}", f"NDCG@{k}") for k in KS]
    + [(f"mean_reciprocal_rank_at_{MRR_AT}", f"MRR@{MRR_AT}"), ("coverage", "Coverage")]
)


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value * 100:.1f}%" if pct else f"{value:.4f}"


def _item(entry: ItemEntry) -> str:
    classes = ["item"] + (["new"] if entry.new else []) + (["hit"] if entry.hit else [])
    parts = [f'<li class="{" ".join(classes)}" data-item-id="{escape(entry.item_id)}">', escape(entry.title)]
    if entry.new:
        parts.append('<span class="badge-new">NEW</span>')
    if entry.hit:
        parts.append('<span class="badge-hit">watched</span>')
    if entry.genres:
        parts.append(f' <span class="genres">{escape(", ".join(entry.genres))}</span>')
    if entry.when:
        parts.append(f' <span class="when">{escape(entry.when)}</span>')
    parts.append("</li>")
    return "".join(parts)


def _items(entries: list[ItemEntry], ordered: bool) -> str:
    if not entries:
        return '<span class="empty">none</span>'
    tag = "ol" if ordered else "ul"
    return f'<{tag} class="items">' + "".join(_item(e) for e in entries) + f"</{tag}>"


def render(report: Report) -> str:
    names = [r.name for r in report.recommenders]
    best = {
        key: max((r.metrics.get(key, 0.0) for r in report.recommenders), default=0.0)
        for key, _ in _METRIC_COLUMNS
    }
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Recommendations {escape(report.country)} {escape(report.run_date)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<h1 id="title">Recommendations compared: {escape(report.country)}, '
        f"run {escape(report.run_date)}</h1>",
        f'<p class="meta" id="window">History {escape(report.window.start)} to '
        f"{escape(report.window.cutoff)} "
        f"(exclusive); truth = the last {report.window.truth_days} days, {escape(report.window.cutoff)} to "
        f"{escape(report.window.end)} (exclusive). {report.counts.interactions} interactions, "
        f"{report.counts.users} users, {report.counts.items} items; {report.counts.evaluated_users} users "
        f"evaluated. Generated {escape(report.generated_at)}.</p>",
    ]
    out += populations(report)
    out += _verdict(report)
    out += _user_counts(report)
    out.append(
        '<h2>Offline metrics: all next interactions</h2><table id="metrics"><thead><tr><th>Recommender</th>'
        "<th>Users</th>"
    )
    out += [f'<th data-metric="{escape(key)}">{escape(label)}</th>' for key, label in _METRIC_COLUMNS]
    out.append("</tr></thead><tbody>")
    for r in report.recommenders:
        out.append(f'<tr class="recommender" data-recommender="{escape(r.name)}"><th>{escape(r.label)}</th>')
        out.append(f'<td class="num">{r.users_evaluated}</td>')
        for key, _ in _METRIC_COLUMNS:
            value = r.metrics.get(key)
            strong = value is not None and value > 0 and value == best[key] and len(names) > 1
            cell = f"<strong>{_fmt(value)}</strong>" if strong else _fmt(value)
            out.append(f'<td class="num" data-metric="{escape(key)}">{cell}</td>')
        out.append("</tr>")
    out.append(
        '</tbody></table><p class="legend">Definitions as Amazon Personalize documents its solution metrics '
        "(best value in bold).</p>"
    )
    out += _explanations(report)
    out += _new_to_user(report)
    out += _composition(report)
    out += _charts(report)

    out.append(
        '<h2>Cold start and freshness</h2><table id="cold-start"><thead><tr><th>Recommender</th>'
        "<th>Users with no history</th><th>Distinct lists</th><th>Share with the most common list</th>"
        f"<th>Recommended items released in the last {report.window.fresh_days} days</th></tr></thead><tbody>"
    )
    for r in report.recommenders:
        c = r.cold_start
        out.append(
            f'<tr class="recommender" data-recommender="{escape(r.name)}"><th>{escape(r.label)}</th>'
            f'<td class="num">{c.users}</td><td class="num">{c.distinct_lists}</td>'
            f'<td class="num">{_fmt(c.most_common_list_share, pct=True)}</td>'
            f'<td class="num">{_fmt(r.fresh_share, pct=True)}</td></tr>'
        )
    out.append("</tbody></table>")
    out += cold_evaluated(report)
    out += _open_baseline(report)
    out += trend_section(report)

    cur = report.curation
    exact_note = " (extrapolated from a sample)" if cur.exact_seconds_extrapolated else ""
    # sample_items 0: neighbours computed by the report SQL, no MinHash comparison ran (evaluation.sql_report).
    timing = (
        f"Exact: {cur.exact_seconds:.2f} s{exact_note}; MinHash+LSH: {cur.minhash_seconds:.2f} s, top-10 "
        f"recall {cur.minhash_top10_recall:.3f} on {cur.sample_items} sampled items."
        if cur.sample_items
        else f"Query engine time: {cur.exact_seconds:.2f} s."
    )
    out.append(
        f'<section id="curation-method"><h2>Curation method</h2><p class="meta">Used: <strong '
        f'data-method="{escape(cur.method)}">{escape(cur.method)}</strong>. {escape(cur.reason)}. '
        f"{timing} Each user's list merges "
        f"the top {cur.neighbours_k} neighbours of their {cur.recent_items} most recent items, minus what "
        "they already saw.</p></section>"
    )

    out.append(
        f"<h2>Top {len(report.heavy_users)} heavy users</h2>"
        '<p class="legend"><span class="badge-new">NEW</span> released in the last '
        f'{report.window.fresh_days} days; <span class="badge-hit">watched</span> the user interacted '
        "with it "
        "in the truth period.</p>"
        '<table id="heavy-users"><thead><tr><th style="width:9%">User</th><th>Recent history</th>'
        "<th>What they watched next</th>"
    )
    out += [f'<th data-recommender="{escape(r.name)}">{escape(r.label)}</th>' for r in report.recommenders]
    out.append("</tr></thead><tbody>")
    for user in report.heavy_users:
        out.append(
            f'<tr class="heavy-user" data-user-id="{escape(user.user_id)}"><td><span class="user">'
            f"{escape(user.user_id)}</span><br>{user.history_interactions} interactions</td>"
            f'<td class="history">{_items(user.history, ordered=False)}</td>'
            f'<td class="truth">{_items(user.truth, ordered=False)}</td>'
        )
        for name in names:
            out.append(
                f'<td class="list" data-recommender="{escape(name)}">'
                f"{_items(user.lists.get(name, []), ordered=True)}</td>"
            )
        out.append("</tr>")
    out.append("</tbody></table>")

    out.append(
        '<h2>Notes</h2><ul id="notes">' + "".join(f"<li>{escape(n)}</li>" for n in report.notes) + "</ul>"
    )
    out.append("</body></html>")
    return "\n".join(out)


def _user_counts(report: Report) -> list[str]:
    """report.user_counts as one small table: every user count on the page, each drawn from an earlier row."""
    if not report.user_counts:
        return []
    out = [
        '<h2>Users behind each figure</h2><p class="legend">Every user count on this page, each drawn from an '
        "earlier row by the filter it states.</p>",
        '<table id="user-counts"><thead><tr><th>Users</th><th>Count</th><th>Drawn from</th><th>Which</th></tr>'
        "</thead><tbody>",
    ]
    for c in report.user_counts:
        of = c.of.value if c.of else ""
        out.append(
            f'<tr class="user-count" data-count="{escape(c.name.value)}" data-of="{escape(of)}">'
            f'<th>{escape(c.name.value.replace("_", " "))}</th><td class="num">{c.count:,}</td>'
            f"<td>{escape(of.replace('_', ' '))}</td><td>{escape(c.filter)}</td></tr>"
        )
    out.append("</tbody></table>")
    return out


def _verdict(report: Report) -> list[str]:
    # The online decision (users' behaviour, when an experiment runs) opens the verdict, beside the offline one.
    out = ['<section id="verdict"><h2>Verdict</h2>', *online_box(report), *decision_box(report)]
    if not report.verdict:
        out.append('<p class="meta">No verdict: no user could be evaluated.</p></section>')
        return out
    captions = {
        "all": "On everything users watched next (re-watches included):",
        "new_to_user": "On titles new to the user (re-watches excluded, what the curation is built for):",
    }
    for evaluation, caption in captions.items():
        lines = [v for v in report.verdict if v.evaluation == evaluation]
        if not lines:
            continue
        out.append(f'<p class="meta" data-evaluation="{evaluation}">{escape(caption)}</p><ul>')
        out += [
            f'<li class="verdict {escape(v.outcome.replace(" ", "-"))}" data-recommender="{escape(v.name)}" '
            f'data-evaluation="{escape(evaluation)}" data-against="{escape(v.against)}" '
            f'data-outcome="{escape(v.outcome)}">{escape(v.text)} '
            f'<span class="legend">({v.hits_per_100_users:.1f} vs {v.baseline_hits_per_100_users:.1f} titles '
            "found per 100 users in the top 25)</span></li>"
            for v in lines
        ]
        out.append("</ul>")
    out.append(
        '<p class="legend">Ratio of titles found in the top 25 of each list; the 95 % interval comes from '
        "resampling the evaluated users 1,000 times (a seeded bootstrap: the same data gives the same interval). "
        "An interval that contains 1x means the data cannot tell the two apart.</p></section>"
    )
    return out


def _explanations(report: Report) -> list[str]:
    if not report.explanations:
        return []
    shown = [key for key, _ in _METRIC_COLUMNS if key in report.explanations]
    return [
        '<ul id="explanations">'
        + "".join(f'<li data-metric="{escape(k)}">{escape(report.explanations[k])}</li>' for k in shown)
        + "</ul>"
    ]


def _new_to_user(report: Report) -> list[str]:
    section = report.new_to_user
    if section is None:
        return []
    out = [
        "<h2>Offline metrics: new to the user</h2>",
        f'<p class="meta">{escape(section.description)} {section.users_evaluated} users, '
        f"{section.truth_pairs} new (user, title) pairs.</p>",
        '<table id="new-to-user"><thead><tr><th>Recommender</th><th>Users</th>',
    ]
    out += [f'<th data-metric="{escape(key)}">{escape(label)}</th>' for key, label in _METRIC_COLUMNS]
    out.append("</tr></thead><tbody>")
    best = {
        key: max((r.metrics.get(key, 0.0) for r in section.recommenders), default=0.0) for key, _ in _METRIC_COLUMNS
    }
    for r in section.recommenders:
        out.append(f'<tr class="recommender" data-recommender="{escape(r.name)}"><th>{escape(r.label)}</th>')
        out.append(f'<td class="num">{r.users_evaluated}</td>')
        for key, _ in _METRIC_COLUMNS:
            value = r.metrics.get(key)
            strong = value is not None and value > 0 and value == best[key] and len(section.recommenders) > 1
            cell = f"<strong>{_fmt(value)}</strong>" if strong else _fmt(value)
            out.append(f'<td class="num" data-metric="{escape(key)}">{cell}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return out


_CHART_METRICS = (
    (f"normalized_discounted_cumulative_gain_at_{KS[1]}", f"NDCG@{KS[1]}"),
    (f"precision_at_{KS[1]}", f"Precision@{KS[1]}"),
    (f"mean_reciprocal_rank_at_{MRR_AT}", f"MRR@{MRR_AT}"),
)


def _charts(report: Report) -> list[str]:
    labels = {r.name: r.label for r in report.recommenders}
    groups = [
        (f"{label}, all", {r.name: r.metrics.get(key) for r in report.recommenders}) for key, label in _CHART_METRICS
    ]
    if report.new_to_user is not None:
        groups += [
            (f"{label}, new", {r.name: r.metrics.get(key) for r in report.new_to_user.recommenders})
            for key, label in _CHART_METRICS
        ]
    # Whiskers: report.metric_intervals (evaluation.intervals), keyed here by the chart's group labels.
    suffixes = {"all": "all", "new_to_user": "new"}
    whiskers = {
        f"{label}, {suffixes[evaluation]}": {
            name: (by_metric[key].low, by_metric[key].high)
            for name, by_metric in per_name.items()
            if key in by_metric
        }
        for evaluation, per_name in report.metric_intervals.items()
        if evaluation in suffixes
        for key, label in _CHART_METRICS
    }
    return [
        '<h2>Charts</h2><div id="charts">',
        charts.bar_chart(
            "chart-metrics",
            "Main metrics per recommender (higher is better; whiskers: 95 % intervals)",
            groups,
            labels,
            intervals=whiskers,
        ),
        charts.bar_chart(
            "chart-cold-start",
            f"Cold start: distinct lists among {report.counts.cold_users} users with no history",
            [("Distinct lists", {r.name: float(r.cold_start.distinct_lists) for r in report.recommenders})],
            labels,
        ),
        charts.bar_chart(
            "chart-freshness",
            f"Freshness: share of recommended titles released in the last {report.window.fresh_days} days "
            "(whiskers: 95 % intervals)",
            [("New titles", {r.name: r.fresh_share for r in report.recommenders})],
            labels,
            pct=True,
            intervals={"New titles": {n: (i.low, i.high) for n, i in report.fresh_share_intervals.items()}},
        ),
        "</div>",
    ]


def _open_baseline(report: Report) -> list[str]:
    info = report.open_baseline
    if info is None:
        return []
    return [
        f'<section id="open-baseline"><h2>Open baseline</h2><p class="meta">{escape(info.library)}: '
        f"{escape(info.method)}, trained on the same history ({info.users_trained} users) in "
        f'<strong data-training-seconds="{info.training_seconds}">{info.training_seconds:.2f} s</strong>, lists in '
        f"{info.recommend_seconds:.2f} s. Users with no history get the popularity list; short lists are filled "
        "with it, so every evaluated user has a full list.</p></section>"
    ]


def _composition(report: Report) -> list[str]:
    """What each list is made of (evaluation.composition): fallback share, overlap with popularity, tie share."""
    section = report.composition
    if section is None:
        return []
    at, half = section.overlap_at, section.shared_at_least
    out = [
        '<section id="composition"><h2>What each list is made of</h2>',
        f'<p class="meta">Over the {section.users} evaluated users with history (users without history get the '
        "popularity list from the curation and the open baseline). Popularity fallback: the share of list slots "
        f"filled with popular items because the recommender's own logic left the list short. Overlap: the share "
        f"of a list's top {at} that is also in the popularity top {at}.</p>",
        f"<table><thead><tr><th>Recommender</th><th>Slots from the popularity fallback</th><th>Top {at} shared "
        f"with popularity (mean)</th><th>Users sharing at least {half} of {at}</th></tr></thead><tbody>",
    ]
    for r in section.recommenders:
        fallback = _fmt(r.fallback_share, pct=True) if r.fallback_share is not None else "not known"
        out.append(
            f'<tr class="composition" data-recommender="{escape(r.name)}"><th>{escape(r.label)}</th>'
            f'<td class="num">{fallback}</td><td class="num">{_fmt(r.overlap_share, pct=True)}</td>'
            f'<td class="num">{_fmt(r.users_sharing_half, pct=True)}</td></tr>'
        )
    out.append("</tbody></table>")
    out += [
        f'<p class="mostly-popularity" data-recommender="{escape(r.name)}"><strong>{escape(r.text)}</strong></p>'
        for r in section.recommenders
        if r.mostly_popularity and r.text
    ]
    ties = section.popularity_ties
    tied = (
        f"{_fmt(ties.tied_share, pct=True)} of the {ties.slots} popularity slots were ordered by this rule "
        f"({_fmt(ties.hash_share, pct=True)} by the hash)"
        if ties.slots
        else "the popularity list is empty"
    )
    out.append(
        f'<p class="legend">{escape(section.rule)}</p><p class="legend" id="ties">Ties: {escape(ties.rule)}; '
        f"{tied}.</p></section>"
    )
    return out
