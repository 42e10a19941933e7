"""Data loading, recommenders, the report's figures, report.json, report.html structure and the CLI."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest
from eval_fixtures import COLD_USERS, RUN_DATE, write_batch_output

from evaluation import report_local
from evaluation.data import DAY, InputError, load_prepared, read_batch_output, time_split, window_end
from evaluation.recommenders import curation_lists, popularity_ranking, recent_items_matrix
from evaluation.report import build_report
from evaluation.report_model import ReportOptions
from evaluation.run import report_from_prepared
from evaluation.similarity import Neighbours, binary_matrix

END = window_end(RUN_DATE)


# --- recommenders -------------------------------------------------------------------------------------


def test_popularity_counts_distinct_users_over_the_last_days():
    now = 100 * DAY
    users = np.array([0, 0, 1, 2, 1, 3])
    items = np.array([2, 2, 2, 2, 0, 1])
    ts = np.array([now - 1, now - 2, now - DAY, now - 6 * DAY, now - 3, now - 8 * DAY])
    # last 7 days: item 2 by users {0, 1, 2} = 3 (user 0 twice counts once); item 0 by {1} = 1;
    # item 1 only 8 days ago -> not ranked
    assert popularity_ranking(users, items, ts, 3, until=now, days=7).tolist() == [2, 0]


def test_recent_items_are_the_latest_distinct_items():
    # user 0: item 5 at t=1 and t=9, item 3 at t=5, item 4 at t=7 -> newest distinct: 5 (9), 4 (7), 3 (5)
    users = np.array([0, 0, 0, 0, 1])
    items = np.array([5, 3, 5, 4, 3])
    ts = np.array([1, 5, 9, 7, 2])
    recent = recent_items_matrix(users, items, ts, 2, 6, recent=2)
    assert sorted(recent[0].indices.tolist()) == [4, 5]
    assert recent[1].indices.tolist() == [3]


def test_curation_merges_neighbours_drops_seen_items_and_fills_with_popularity():
    # user 0 saw items 0 and 1 (recent = both).
    # Neighbours: 0 -> (2: 0.5, 1: 0.4, 3: 0.1), 1 -> (3: 0.3, 2: 0.1)
    # merged: item 2 = 0.5 + 0.1 = 0.6, item 3 = 0.1 + 0.3 = 0.4, item 1 seen -> dropped
    # list of 4: [2, 3] then popularity [1, 4, 0, 5] minus seen {0, 1} and already picked -> 4, 5
    indices = np.array([[2, 1, 3], [3, 2, -1], [-1, -1, -1], [-1, -1, -1], [-1, -1, -1], [-1, -1, -1]])
    scores = np.array([[0.5, 0.4, 0.1], [0.3, 0.1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
    seen = binary_matrix(np.array([0, 0]), np.array([0, 1]), 2, 6)
    popular = np.array([1, 4, 0, 5])
    lists = curation_lists(seen, seen, Neighbours(indices, scores), popular, 4, np.array([0, 1]))
    assert lists[0].tolist() == [2, 3, 4, 5]
    # user 1 has no history: the popularity list as is
    assert lists[1].tolist() == [1, 4, 0, 5]


# --- inputs -------------------------------------------------------------------------------------------


def test_load_prepared_reads_the_prepared_layout(prepared_dir, small_dataset):
    dataset = load_prepared(prepared_dir)
    assert dataset.n_users == small_dataset.n_users  # users.csv adds the users without interactions
    assert len(dataset.timestamps) == len(small_dataset.timestamps)
    first = dataset.item_ids[0]
    assert dataset.info(first).title.startswith("<script>")
    assert dataset.info(first).genres == small_dataset.item_info[first].genres


def test_load_prepared_rejects_bad_files_clearly(tmp_path):
    with pytest.raises(InputError, match="interactions.csv: file not found"):
        load_prepared(tmp_path)
    (tmp_path / "interactions.csv").write_text("USER_ID,ITEM_ID\nu,i\n")
    with pytest.raises(InputError, match="missing column"):
        load_prepared(tmp_path)
    (tmp_path / "interactions.csv").write_text("USER_ID,ITEM_ID,TIMESTAMP\nu,i,yesterday\n")
    with pytest.raises(InputError, match=r"interactions.csv:2: bad TIMESTAMP 'yesterday'"):
        load_prepared(tmp_path)


def test_batch_output_parsing_counts_what_it_cannot_use(tmp_path, small_dataset):
    paths = write_batch_output(small_dataset, tmp_path, ["a", "b", "c"])
    output = read_batch_output(paths)
    assert set(output.lists) == {"a", "b", "c"}
    assert len(output.lists["a"]) == 25
    assert (output.error_lines, output.malformed_lines, output.lines) == (1, 1, 5)
    assert any("error from Personalize" in p for p in output.problems)


def test_time_split_puts_the_last_days_in_the_truth(small_dataset):
    split = time_split(small_dataset, END, truth_days=7)
    assert split.cutoff == END - 7 * DAY
    truth_rows = (small_dataset.timestamps >= split.cutoff).sum()
    assert sum(len(v) for v in split.truth.values()) <= truth_rows
    assert int(split.train.sum()) == len(small_dataset.timestamps) - truth_rows
    with pytest.raises(InputError):
        time_split(small_dataset, END, truth_days=0)


# --- the report ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(prepared_dir, batch_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    report = report_from_prepared(prepared_dir, "FR", RUN_DATE, out, batch_files, ReportOptions(top_users=6))
    return report, out


def test_report_compares_all_three_recommenders_on_the_same_users(written):
    report, _ = written
    names = [r.name for r in report.recommenders]
    assert names == ["curation", "personalize", "open_baseline", "popularity"]
    assert len({r.users_evaluated for r in report.recommenders}) == 1
    assert report.counts.evaluated_users > 0
    for r in report.recommenders:
        assert 0 <= r.metrics["precision_at_10"] <= 1 and 0 < r.metrics["coverage"] <= 1
    popularity = report.recommenders[3]
    # Popularity gives everyone the same 25 items: coverage = 25 / catalogue size.
    assert popularity.metrics["coverage"] == pytest.approx(25 / report.counts.items)
    assert any("error from Personalize" in n for n in report.notes)
    assert any("optimistic" in n for n in report.notes)


def test_cold_start_figures_in_the_report(written):
    report, _ = written
    by_name = {r.name: r for r in report.recommenders}
    # The cold users: COLD_USERS known users with no history (users.csv only), plus users whose only
    # interactions fall in the truth period.
    assert report.counts.cold_users >= COLD_USERS
    # Curation falls back to popularity for them: one list shown to all of them.
    assert by_name["curation"].cold_start.distinct_lists == 1
    assert by_name["curation"].cold_start.most_common_list_share == 1.0
    assert by_name["popularity"].cold_start.users == report.counts.cold_users
    # The stand-in batch output rotates the catalogue: several lists, none shown to everyone.
    assert by_name["personalize"].cold_start.distinct_lists > 1
    assert by_name["personalize"].cold_start.most_common_list_share < 1.0
    for r in report.recommenders:
        assert r.fresh_share is not None and 0 <= r.fresh_share <= 1


def test_heavy_users_are_the_most_active_with_history_and_lists(written, small_dataset):
    report, _ = written
    assert len(report.heavy_users) == 6
    counts = [h.history_interactions for h in report.heavy_users]
    assert counts == sorted(counts, reverse=True)
    split = time_split(small_dataset, END, 7)
    history = np.bincount(small_dataset.users[split.train], minlength=small_dataset.n_users)
    assert counts[0] == history.max()
    for heavy in report.heavy_users:
        assert set(heavy.lists) == {"curation", "personalize", "open_baseline", "popularity"}
        assert 0 < len(heavy.history) <= 10
        seen = {e.item_id for e in heavy.history}
        for unseen_only in ("curation", "open_baseline"):  # neither repeats history
            assert not seen & {e.item_id for e in heavy.lists[unseen_only]}
        truth = split.truth.get(heavy.user_id, set())
        for entries in heavy.lists.values():
            assert all(e.hit == (e.item_id in truth) for e in entries)


def test_report_json_is_the_report_data(written):
    report, out = written
    data = json.loads((out / "report.json").read_text())
    assert data["schema_version"] == 3
    assert data["country"] == "FR" and data["run_date"] == RUN_DATE.isoformat()
    assert set(data) >= {"window", "counts", "curation", "recommenders", "heavy_users", "notes"}
    assert data["recommenders"][0]["metrics"] == report.recommenders[0].metrics
    assert data["curation"]["method"] in ("exact", "minhash")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_report_html_structure_and_escaping(written):
    report, out = written
    raw = (out / "report.html").read_text()
    page = _Page()
    page.feed(raw)
    tags = page.tags

    def having(tag, **attrs):
        return [a for t, a in tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    assert (
        having("table", id="metrics")
        and having("table", id="cold-start")
        and having("table", id="heavy-users")
    )
    rows = [a for t, a in tags if t == "tr" and "heavy-user" in (a.get("class") or "")]
    assert [r["data-user-id"] for r in rows] == [h.user_id for h in report.heavy_users]
    recommender_rows = [
        a["data-recommender"] for t, a in tags if t == "tr" and a.get("class") == "recommender"
    ]
    # metrics, new-to-user and cold-start tables
    assert recommender_rows == ["curation", "personalize", "open_baseline", "popularity"] * 3
    assert having("span", **{"class": "badge-new"})
    # Self-contained: no scripts, no external resources; the hostile title is shown as text, escaped.
    assert not having("script") and not having("link") and not having("img")
    assert "http://" not in raw and "https://" not in raw and "@import" not in raw
    assert '<script>alert("x")</script>' not in raw


def test_escaping_of_a_hostile_title_on_the_page(small_dataset, tmp_path):
    # Make the hostile-titled item a heavy user's most recent item, so it is certainly on the page.
    dataset = small_dataset
    target = dataset.item_ids[0]
    heavy = int(np.bincount(dataset.users).argmax())
    extra = dataset.__class__(
        dataset.user_ids,
        dataset.item_ids,
        np.append(dataset.users, heavy).astype(np.int32),
        np.append(dataset.items, 0).astype(np.int32),
        np.append(dataset.timestamps, END - 8 * DAY),
        dataset.item_info,
    )
    report = build_report(extra, "FR", RUN_DATE, options=ReportOptions(top_users=3))
    from evaluation.page import render

    raw = render(report)
    assert target in raw
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in raw
    assert "<script>" not in raw


# --- the CLI ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--country", "FRA"], "COUNTRY=FRA (--country): expected an ISO 3166 alpha-2 code"),
        (["--run-date", "2026-13-01"], "RUN_DATE=2026-13-01 (--run-date): month must be in 1..12"),
        (["--raw", "/nonexistent/raw"], "is not a folder"),
        (["--top-users", "0"], "TOP_USERS=0 (--top-users)"),
        (["--results", "/nonexistent/results"], "RESULTS=/nonexistent/results (--results) is not a folder"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(args, message, tmp_path, capsys):
    base = {
        "--raw": str(tmp_path),
        "--country": "FR",
        "--run-date": "2026-11-01",
        "--out": str(tmp_path / "o"),
    }
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [x for pair in base.items() for x in pair]
    with pytest.raises(SystemExit) as exit_info:
        report_local.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_missing_argument_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        report_local.main(["--country", "FR"])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_cli_runs_preparation_and_writes_the_page(tmp_path, small_dataset, capsys):
    sample_data = pytest.importorskip("dataprep.sample_data", reason="data preparation not present")
    raw = tmp_path / "raw"
    sample_data.generate(raw, users=400, items=120, days=40, seed=3, end_date=RUN_DATE)
    results = tmp_path / "results"
    out = tmp_path / "out"
    # First without Personalize output, then with a stand-in batch output for the prepared users.
    assert (
        report_local.main(
            ["--raw", str(raw), "--country", "KR", "--run-date", "2026-11-01", "--out", str(out)]
        )
        == 0
    )
    prepared_users = load_prepared(out / "prepared")
    write_batch_output(prepared_users, results, prepared_users.user_ids, bad_lines=False)
    argv = ["--raw", str(raw), "--country", "KR", "--run-date", "2026-11-01", "--out", str(out)]
    assert report_local.main([*argv, "--results", str(results), "--top-users", "4"]) == 0
    data = json.loads((out / "report.json").read_text())
    assert [r["name"] for r in data["recommenders"]] == ["curation", "personalize", "open_baseline", "popularity"]
    assert len(data["heavy_users"]) == 4
    assert (out / "report.html").read_text().count('class="heavy-user"') == 4
    assert "wrote" in capsys.readouterr().out


def test_an_empty_country_gives_an_empty_report_not_an_error(tmp_path):
    (tmp_path / "interactions.csv").write_text("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n")
    report = report_from_prepared(tmp_path, "FR", RUN_DATE, tmp_path / "out", batch_files=[])
    assert report.counts.interactions == 0 and report.heavy_users == []
    assert all(r.metrics == {} for r in report.recommenders)
    assert report.notes[0] == "Personalize batch output was expected but no output file was found."
    assert (tmp_path / "out" / "report.html").read_text().count('class="heavy-user"') == 0
