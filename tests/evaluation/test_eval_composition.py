"""What each list is made of: the tie rule (the same on numpy and the report SQL), the tie share, the popularity
fallback's share of each list and the overlap with the popularity list, in report.json and on the page."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pytest
from eval_fixtures import RUN_DATE

from dataprep.local import to_duckdb
from evaluation.composition import MOSTLY_POPULARITY_SHARE, composition
from evaluation.local_sql import load_batch_output, load_prepared_tables
from evaluation.page import render as render_page
from evaluation.queries import TIE_SEED, ReportOutput, ReportQueryParams, base_ctes, render
from evaluation.recommenders import curation_with_fill, popularity_ranking
from evaluation.similarity import Neighbours, binary_matrix, exact_jaccard_topk
from evaluation.ties import tie_order, tie_share

DAY = 86_400
END = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
RECENT = END - 7 * DAY - 3 * DAY  # inside the popularity days of the history (the truth is the last 7 days)
PARAMS = ReportQueryParams(country="FR", run_date=date(2026, 11, 1), execution="x", attempt="a1", neighbours=2)


def _hash(item: str) -> str:
    return hashlib.md5(f"{TIE_SEED}#{item}".encode()).hexdigest()


def _connection(rows, tmp_path, params=PARAMS):
    folder = tmp_path / "prepared"
    folder.mkdir()
    lines = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"] + [f"{u},{i},{t},view,1" for u, i, t in rows]
    (folder / "interactions.csv").write_text("\n".join(lines) + "\n")
    (folder / "users.csv").write_text("USER_ID,LOCALE,AGE_GROUP,GENDER,MEMBERSHIP\n")
    (folder / "items.csv").write_text("ITEM_ID,GENRES,CREATION_TIMESTAMP,TITLE\n")
    con = duckdb.connect()
    load_prepared_tables(con, folder, params)
    load_batch_output(con, None, params)
    return con


def _query(con, sql):
    cursor = con.execute(to_duckdb(sql))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# Four items each seen by two users in the popularity days: "z" last touched latest, "a" earliest, "m" and "e" at
# the same moment (so the seeded hash orders them: m before e, against the id order); "q" has three users and leads.
TIED = [("u1", "q", RECENT), ("u2", "q", RECENT), ("u3", "q", RECENT)]
TIED += [("u1", "a", RECENT), ("u2", "a", RECENT + 10)]
TIED += [("u1", "z", RECENT), ("u3", "z", RECENT + 50)]
TIED += [("u2", "m", RECENT), ("u3", "m", RECENT + 30), ("u1", "e", RECENT + 30), ("u2", "e", RECENT)]
EXPECTED = ["q", "z", "m", "e", "a"]


def _python_popularity(rows):
    ids = sorted({i for _, i, _ in rows})
    users = sorted({u for u, _, _ in rows})
    u = np.array([users.index(r[0]) for r in rows])
    i = np.array([ids.index(r[1]) for r in rows])
    t = np.array([r[2] for r in rows])
    ranked = popularity_ranking(u, i, t, len(ids), until=END - 7 * DAY, days=7, item_ids=ids)
    return [ids[x] for x in ranked]


# --- the tie rule ---------------------------------------------------------------------------------------------


def test_popularity_ties_go_to_the_latest_interaction_then_a_seeded_hash_never_the_id():
    assert sorted(["m", "e"], key=_hash) == ["m", "e"]  # the seeded hash's order, not the ids'
    assert _python_popularity(TIED) == EXPECTED


def test_the_report_sql_orders_popularity_ties_exactly_like_python(tmp_path):
    con = _connection(TIED, tmp_path)
    rows = _query(con, render(ReportOutput.POPULARITY, PARAMS) + " ORDER BY popularity_rank")
    assert [r["item_id"] for r in rows] == EXPECTED == _python_popularity(TIED)
    # the counts and latest interactions behind the order come with the list (the tie share is taken from them)
    assert [(r["users"], r["last_ts"]) for r in rows][:2] == [(3, RECENT), (2, RECENT + 50)]


def test_tie_order_is_recency_then_hash_on_many_ids():
    ids = [f"item-{n:03d}" for n in range(200)]
    last = np.array([n % 3 for n in range(200)])  # three recency groups of tied items
    rank = tie_order(ids, last)
    by_rule = sorted(ids, key=lambda item: (-last[ids.index(item)], _hash(item)))
    assert [ids[x] for x in np.argsort(rank)] == by_rule
    assert by_rule[:5] != sorted(by_rule[:5])  # not the id order


def test_the_curation_orders_equal_scores_by_recency_then_hash_on_both_engines(tmp_path):
    # u9 saw only x; x's neighbours p and r have the same Jaccard (1/2 each), r touched later -> r first
    rows = [("u9", "x", END - 20 * DAY), ("u1", "x", END - 20 * DAY), ("u1", "p", END - 19 * DAY)]
    rows += [("u2", "x", END - 20 * DAY), ("u2", "r", END - 18 * DAY)]
    params = PARAMS.model_copy(update={"list_length": 2})
    con = _connection(rows, tmp_path, params)
    sql = f"WITH\n{base_ctes(params)}\nSELECT item_id FROM curation WHERE user_id = 'u9' ORDER BY pos"
    assert [r["item_id"] for r in _query(con, sql)] == ["r", "p"]  # by id it would be p, r

    # numpy: items x=0, p=1, r=2; neighbours of x: p and r with equal scores; r has the later interaction
    neighbours = Neighbours(np.array([[1, 2], [-1, -1], [-1, -1]]), np.array([[0.5, 0.5], [0, 0], [0, 0]]))
    seen = binary_matrix(np.array([0]), np.array([0]), 1, 3)
    lists, picked = curation_with_fill(
        seen, seen, neighbours, np.array([]), 2, np.array([0]), tie_rank=tie_order(["x", "p", "r"], np.array([1, 2, 3]))
    )
    assert lists[0].tolist() == [2, 1] and picked.tolist() == [2]


def test_equal_jaccard_neighbours_go_by_recency_then_hash_on_both_engines(tmp_path):
    # x's users: u1 u2 u3 u4; "a", "b", "c" and "g" each share one of them (Jaccard 1/4 each), 2 neighbours kept.
    # "c" was touched last; "b" and "g" at the same, earlier moment (the hash puts g first); "a" earliest.
    assert sorted(["b", "g"], key=_hash) == ["g", "b"]
    t = END - 20 * DAY
    rows = [(u, "x", t) for u in ("u1", "u2", "u3", "u4")]
    rows += [("u1", "a", t + 1), ("u2", "b", t + 5), ("u3", "c", t + 9), ("u4", "g", t + 5)]
    con = _connection(rows, tmp_path)
    sql = f"WITH\n{base_ctes(PARAMS)}\nSELECT neighbour_id, score FROM neighbours WHERE item_id = 'x'"
    got = {r["neighbour_id"]: r["score"] for r in _query(con, sql)}
    assert got == {"c": 0.25, "g": 0.25}  # by id it would be a and b

    ids = ["a", "b", "c", "g", "x"]
    users = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    items = np.array([4, 4, 4, 4, 0, 1, 2, 3])
    matrix = binary_matrix(users, items, 4, 5)
    last = np.array([t + 1, t + 5, t + 9, t + 5, t])
    neighbours = exact_jaccard_topk(matrix, 2, tie_rank=tie_order(ids, last))
    assert [ids[j] for j in neighbours.indices[4]] == ["c", "g"]
    assert neighbours.scores[4].tolist() == [0.25, 0.25]


def test_tie_share_counts_the_slots_the_rule_decided():
    # counts 9 | 5 5 | 4 | 2 2 (the last pair straddles a 5-slot list's end: the rule decided which got in)
    counts = [9, 5, 5, 4, 2, 2]
    last = [1, 7, 7, 3, 4, 2]
    share = tie_share(counts, last, slots=5)
    assert share.slots == 5
    assert share.tied_share == pytest.approx(3 / 5)  # the two 5s and the first 2
    assert share.hash_share == pytest.approx(2 / 5)  # the two 5s also share their latest interaction
    assert tie_share([3, 2, 1], [1, 1, 1], slots=3).tied_share == 0
    assert tie_share([], [], slots=25).tied_share is None


# --- the fallback and the overlap -----------------------------------------------------------------------------


def test_the_curation_reports_how_many_items_came_from_the_neighbours():
    indices = np.array([[2, 1, 3], [3, 2, -1], [-1, -1, -1], [-1, -1, -1], [-1, -1, -1], [-1, -1, -1]])
    scores = np.array([[0.5, 0.4, 0.1], [0.3, 0.1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
    seen = binary_matrix(np.array([0, 0]), np.array([0, 1]), 2, 6)
    lists, picked = curation_with_fill(
        seen, seen, Neighbours(indices, scores), np.array([1, 4, 0, 5]), 4, np.array([0, 1])
    )
    assert lists[0].tolist() == [2, 3, 4, 5] and picked.tolist() == [2, 0]  # two from neighbours, two filled


POPULAR = [f"p{n}" for n in range(25)]


def _section(lists, picked, warm):
    named = [("curation", "Current curation", lists), ("popularity", "Popularity", dict.fromkeys(lists, POPULAR))]
    return composition(named, {"curation": picked}, POPULAR, warm, tie_share([1] * 26, [0] * 26, 25))


def test_fallback_share_and_overlap_are_taken_over_users_with_history():
    own = [f"c{n}" for n in range(25)]
    lists = {
        "warm-own": own,  # 25 own items: nothing from popularity
        "warm-filled": own[:5] + POPULAR[:20],  # 5 own, 20 filled: shares p0..p4 of the popular top 10
        "cold": POPULAR,  # no history: left out (its list is popularity by construction)
    }
    section = _section(lists, {"warm-own": 25, "warm-filled": 5, "cold": 0}, ["warm-own", "warm-filled"])
    (curation,) = section.recommenders  # popularity is not compared with itself
    assert section.users == 2
    assert curation.fallback_share == pytest.approx(20 / 50)
    assert curation.overlap_share == pytest.approx((0 + 5 / 10) / 2)
    assert curation.users_sharing_half == pytest.approx(1 / 2)  # warm-filled shares 5 of 10
    assert not curation.mostly_popularity and curation.text is None


def test_a_recommender_mostly_made_of_popularity_says_so_with_the_threshold():
    lists = {f"u{n}": [f"c{n}", *POPULAR[:24]] for n in range(4)}
    section = _section(lists, dict.fromkeys(lists, 1), list(lists))
    (curation,) = section.recommenders
    assert curation.fallback_share == pytest.approx(24 / 25) and curation.mostly_popularity
    assert "96.0%" in curation.text and f"more than {MOSTLY_POPULARITY_SHARE:.0%}" in curation.text


def test_a_share_just_over_the_threshold_never_prints_as_the_threshold():
    # 2,001 of 4,000 slots filled: 50.025 %, which one decimal would print as "50.0%" next to "more than 50%"
    lists = {f"u{n}": [f"c{n}-{j}" for j in range(10)] for n in range(400)}
    own = dict.fromkeys(lists, 5)  # 5 of 10 own items each: 2,000 filled slots, exactly 50 %...
    own["u0"] = 4  # ...and one more
    section = _section(lists, own, list(lists))
    (curation,) = section.recommenders
    assert curation.fallback_share == pytest.approx(2001 / 4000) and curation.mostly_popularity
    assert "50.0%" not in curation.text and "just over 50%" in curation.text


def test_popularity_in_disguise_is_caught_by_the_overlap_without_a_fallback_count():
    # a recommender whose own model returns the popular items (no fill count known): the overlap tells
    lists = {f"u{n}": POPULAR[::-1][15:] + POPULAR[:15] for n in range(3)}
    named = [("personalize", "Personalize", lists)]
    section = composition(named, {}, POPULAR, list(lists), tie_share([], [], 25))
    (personalize,) = section.recommenders
    assert personalize.fallback_share is None
    assert personalize.overlap_share == pytest.approx(1.0) and personalize.mostly_popularity
    assert personalize.users_sharing_half == 1.0


# --- report.json and the page ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(prepared_dir, batch_files, tmp_path_factory):
    from evaluation.run import report_from_prepared_sql

    return report_from_prepared_sql(prepared_dir, "FR", RUN_DATE, tmp_path_factory.mktemp("composition"), batch_files)


def test_report_json_holds_each_lists_composition_and_the_tie_share(report):
    section = report.composition
    assert section is not None and section.users > 0
    names = [r.name for r in section.recommenders]
    assert names == [r.name for r in report.recommenders if r.name != "popularity"]
    curation = next(r for r in section.recommenders if r.name == "curation")
    assert 0 <= curation.fallback_share <= 1 and 0 <= curation.overlap_share <= 1
    assert section.popularity_ties.slots == 25 and section.popularity_ties.rule.startswith("equal counts")


def test_the_page_shows_the_composition_and_the_tie_rule(report):
    page = render_page(report)
    assert '<section id="composition">' in page
    for r in report.composition.recommenders:
        assert f'<tr class="composition" data-recommender="{r.name}"' in page.split('id="composition"')[1]
    assert "seeded hash" in page and "popularity_ties" not in page
    curation = next(r for r in report.composition.recommenders if r.name == "curation")
    row = page.split('id="composition"')[1].split('data-recommender="curation"')[1].split("</tr>")[0]
    assert f"{curation.fallback_share * 100:.1f}%" in row
