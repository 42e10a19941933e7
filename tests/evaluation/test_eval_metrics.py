"""Every metric against cases computed by hand (arithmetic in the comments)."""

from __future__ import annotations

import pytest

from evaluation import metrics as m

RECS = ["a", "b", "c", "d", "e"]
TRUTH = {"b", "e", "z"}  # 'z' was watched but never recommended


def test_precision_divides_by_k_not_by_list_length():
    # top 5 = a b c d e, relevant b and e: 2 / 5 = 0.4
    assert m.precision_at_k(RECS, TRUTH, 5) == pytest.approx(0.4)
    # only 5 items for K = 10: still divided by K, 2 / 10 = 0.2
    assert m.precision_at_k(RECS, TRUTH, 10) == pytest.approx(0.2)
    # top 1 = a: 0 / 1
    assert m.precision_at_k(RECS, TRUTH, 1) == 0.0


def test_ndcg_matches_personalizes_worked_example():
    # Personalize's documented example: relevant at positions 2 and 5, K = 5:
    # (1/log(1+2) + 1/log(1+5)) / (1/log(1+1) + 1/log(1+2))
    # in log2: (0.63093 + 0.38685) / (1 + 0.63093) = 1.01778 / 1.63093 = 0.62405 ("0.6241" in the guide)
    assert m.ndcg_at_k(RECS, TRUTH, 5) == pytest.approx(0.6241, abs=1e-4)


def test_ndcg_edge_cases():
    # one relevant item at the top: 1/log(2) / 1/log(2) = 1
    assert m.ndcg_at_k(["b", "x"], {"b"}, 5) == pytest.approx(1.0)
    # relevant only at position 3, K = 2: nothing relevant in the top 2 -> 0
    assert m.ndcg_at_k(["x", "y", "b"], {"b"}, 2) == 0.0
    # relevant at position 3, K = 3: (1/log2(4)) / (1/log2(2)) = 0.5 / 1 = 0.5
    assert m.ndcg_at_k(["x", "y", "b"], {"b"}, 3) == pytest.approx(0.5)
    assert m.ndcg_at_k([], {"b"}, 5) == 0.0


def test_reciprocal_rank_uses_the_first_relevant_within_25():
    # first relevant at position 2: 1/2
    assert m.reciprocal_rank(RECS, TRUTH) == pytest.approx(0.5)
    # relevant at position 25: 1/25 = 0.04; at position 26: outside the top 25 -> 0
    filler = [f"x{n}" for n in range(30)]
    assert m.reciprocal_rank(filler[:24] + ["b"], {"b"}) == pytest.approx(0.04)
    assert m.reciprocal_rank(filler[:25] + ["b"], {"b"}) == 0.0


def test_coverage_counts_unique_catalogue_items_over_all_queries():
    catalogue = ["a", "b", "c", "d", "e"]
    # recommended {a, b, c} (b twice) out of 5 catalogue items: 3 / 5 = 0.6; 'x' is not in the catalogue
    assert m.coverage([["a", "b"], ["b", "c", "x"]], catalogue) == pytest.approx(0.6)
    assert m.coverage([], catalogue) == 0.0


def test_evaluate_averages_over_users_and_counts_missing_lists_as_empty():
    lists = {"u1": RECS, "u2": ["x", "y", "z"]}
    truth = {"u1": TRUTH, "u2": {"y"}, "u3": {"a"}}
    result = m.evaluate(lists, truth, ["u1", "u2", "u3"], ["a", "b", "c", "d", "e", "x", "y", "z"])
    # precision@5: u1 2/5 = 0.4, u2 1/5 = 0.2, u3 (no list) 0 -> (0.4 + 0.2 + 0) / 3 = 0.2
    assert result["precision_at_5"] == pytest.approx(0.2)
    # MRR@25: u1 1/2, u2 1/2 (y at position 2), u3 0 -> 1/3
    assert result["mean_reciprocal_rank_at_25"] == pytest.approx(1 / 3)
    # NDCG@5: u1 0.62405, u2 y at 2 only: (1/log2 3)/(1/log2 2) = 0.63093, u3 0 -> 1.25498 / 3 = 0.41833
    assert result["normalized_discounted_cumulative_gain_at_5"] == pytest.approx(0.41833, abs=1e-4)
    # coverage: {a, b, c, d, e, x, y, z} all recommended: 8 / 8
    assert result["coverage"] == pytest.approx(1.0)
    assert set(result) == {
        "precision_at_5",
        "precision_at_10",
        "precision_at_25",
        "normalized_discounted_cumulative_gain_at_5",
        "normalized_discounted_cumulative_gain_at_10",
        "normalized_discounted_cumulative_gain_at_25",
        "mean_reciprocal_rank_at_25",
        "coverage",
    }


def test_cold_start_figures():
    lists = {"c1": ["a", "b"], "c2": ["a", "b"], "c3": ["c", "a"], "warm": ["z"]}
    # cold users with a list: c1 c2 c3 (c4 has none); lists (a,b) x2 and (c,a) x1:
    # 2 distinct lists, the most common one shown to 2 of 3 users = 0.6667
    figures = m.cold_start_figures(lists, ["c1", "c2", "c3", "c4"])
    assert figures == {"users": 3, "distinct_lists": 2, "most_common_list_share": pytest.approx(2 / 3)}
    # everyone the same list: 1 distinct, share 1.0
    same = m.cold_start_figures({"c1": ["a"], "c2": ["a"]}, ["c1", "c2"])
    assert same == {"users": 2, "distinct_lists": 1, "most_common_list_share": 1.0}
    assert m.cold_start_figures(lists, []) == {
        "users": 0,
        "distinct_lists": 0,
        "most_common_list_share": None,
    }


def test_freshness_is_a_share_of_recommended_slots():
    # slots a b | a c: 'a' is new and appears twice: 2 / 4 = 0.5
    assert m.freshness([["a", "b"], ["a", "c"]], {"a"}) == pytest.approx(0.5)
    assert m.freshness([], {"a"}) is None
