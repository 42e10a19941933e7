"""Build the comparison report (report.json's data) from a dataset and, optionally, Personalize batch output.

Protocol (docs/evaluation.md explains it for readers of the page):
1. Time split: the last `truth_days` days of the window [.., run_date) are the truth; everything before is
   the history the curation and popularity lists are built from.
2. Curation neighbours by `similarity.choose_neighbours` (exact unless MinHash is both >= 0.9 top-10 recall
   and faster); popularity over the last `popularity_days` days of the history.
3. Metrics over the evaluated users: users with >= 1 truth interaction (and, when Personalize output is
   given, present in it, so every recommender is scored on the same users).
4. Cold-start figures over users with no history; freshness = share of the evaluated users' recommended
   slots holding items released in the `fresh_days` days before run_date; heavy users = most history
   interactions. At most `max_evaluated_users` are evaluated, drawn by the md5 of the user id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime

import numpy as np

from evaluation import decision, trend
from evaluation import metrics as m
from evaluation.composition import composition
from evaluation.data import DAY, BatchOutput, Dataset, time_split, window_end
from evaluation.intervals import chart_intervals, fresh_share_intervals
from evaluation.open_baseline import NAME as OPEN_BASELINE
from evaluation.open_baseline import train_and_recommend
from evaluation.recommenders import curation_with_fill, popularity_counts, popularity_ranking, recent_items_matrix
from evaluation.report_model import (
    LABELS,
    NO_PERSONALIZE_NOTE,
    ColdStart,
    Counts,
    CurationInfo,
    HeavyUser,
    ItemEntry,
    RecommenderResult,
    Report,
    ReportOptions,
    Window,
)
from evaluation.similarity import binary_matrix, choose_neighbours, user_hashes
from evaluation.ties import TieShare, tie_order, tie_share
from evaluation.user_counts import Populations, user_counts


def add_decision(
    report: Report,
    lists: Mapping[str, Mapping[str, Sequence[str]]],
    truth: Mapping[str, Collection[str]],
    truth_new: Mapping[str, Collection[str]],
    evaluated: Sequence[str],
    catalogue: Collection[str],
    warm: Collection[str],
) -> Report:
    """The verdict (both evaluations), the new-to-user section, the decision (on the `warm` users: history before
    the cut-off), the metric explanations and the trend's point, in place."""
    named = [(r.name, r.label, lists[r.name]) for r in report.recommenders]
    report.decision = decision.decide(named, truth, truth_new, evaluated, warm)
    report.verdict = decision.verdicts("all", named, truth, evaluated)
    report.new_to_user, new_lines = decision.new_to_user(named, truth_new, evaluated, catalogue)
    report.verdict += new_lines
    report.explanations = decision.explanations()
    report.trend = [trend.current_point(report.run_date, report.decision)] if report.decision else []
    return report


def add_list_figures(
    report: Report,
    lists: Mapping[str, Mapping[str, Sequence[str]]],
    own_items: Mapping[str, Mapping[str, int]],
    popularity: Sequence[str],
    ties: TieShare,
    truths: tuple[Mapping[str, Collection[str]], Mapping[str, Collection[str]]],
    evaluated: Sequence[str],
    warm: Collection[str],
    new_items: Collection[str],
) -> Report:
    """What each list is made of and the charted figures' intervals, in place. own_items: recommender -> user ->
    how many leading items its own logic chose; truths: (all next interactions, new to the user); warm: the
    evaluated users with history; new_items: the titles the freshness share counts."""
    named = [(r.name, r.label, lists[r.name]) for r in report.recommenders]
    report.composition = composition(named, own_items, popularity, sorted(warm), ties)
    report.metric_intervals = chart_intervals(named, truths[0], truths[1], evaluated)
    report.fresh_share_intervals = fresh_share_intervals(named, new_items, evaluated)
    return report


def add_user_counts(
    report: Report,
    users_in_window: int | None,
    with_truth: int,
    with_personalize_list: int,
    warm: int,
    max_evaluated: int,
) -> Report:
    """report.user_counts from the report's own figures and the counts only its builder knows, in place:
    users_in_window (None when unknown), users with truth, those of them with a Personalize list (all of them
    without Personalize output), warm evaluated users and the sample's limit. Call after add_decision."""
    personalize = next((r for r in report.recommenders if r.name == "personalize"), None)
    c = report.counts
    report.user_counts = user_counts(
        Populations(
            users=c.users,
            users_in_window=users_in_window,
            with_history=c.users - c.cold_users,
            open_baseline_trained=report.open_baseline.users_trained if report.open_baseline else None,
            personalize_cold=personalize.cold_start.users if personalize else None,
            with_truth=with_truth,
            with_personalize_list=with_personalize_list if personalize else None,
            evaluated=c.evaluated_users,
            max_evaluated=max_evaluated,
            warm=warm,
            new_to_user=report.new_to_user.users_evaluated if report.new_to_user else None,
            decision=report.decision.users if report.decision else None,
            heavy=len(report.heavy_users),
        ),
        report.window.start,
        report.window.cutoff,
        report.window.end,
        report.window.truth_days,
    )
    return report


def sample_users(evaluated: Sequence[str], limit: int, notes: list[str]) -> list[str]:
    """At most `limit` users, by the md5 of the id (the SQL's sample: same users on every engine), sorted."""
    if len(evaluated) <= limit:
        return sorted(evaluated)
    drawn = sorted(evaluated, key=lambda user: (hashlib.md5(user.encode()).hexdigest(), user))[:limit]
    notes.append(sample_note(limit, len(evaluated)))
    return sorted(drawn)


def sample_note(sampled: int, evaluable: int) -> str:
    return (
        f"Metrics are computed on {sampled:,} of the {evaluable:,} users with truth interactions, drawn by a "
        "hash of the user id (the same users in every run)."
    )


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


def build_report(
    dataset: Dataset,
    country: str,
    run_date: date,
    personalize: BatchOutput | None = None,
    options: ReportOptions | None = None,
    now: datetime | None = None,
) -> Report:
    opts = options or ReportOptions()
    end = window_end(run_date)
    split = time_split(dataset, end, opts.truth_days)
    train = split.train
    u, i, t = dataset.users[train], dataset.items[train], dataset.timestamps[train]
    n_users, n_items = dataset.n_users, dataset.n_items
    notes: list[str] = []

    history = np.bincount(u, minlength=n_users)
    seen = binary_matrix(u, i, n_users, n_items)
    # Neighbours count each user's `cooccurrence_items` most recent items only (a heavy user adds at most
    # cap^2 pairs: what keeps the SQL's self-join linear); the curation still drops everything seen.
    capped = recent_items_matrix(u, i, t, n_users, n_items, opts.cooccurrence_items)
    ids = dataset.item_ids
    item_last = np.zeros(n_items, dtype=np.int64)  # each item's latest history interaction: the first tie key
    np.maximum.at(item_last, i, t.astype(np.int64))
    tie_rank = tie_order(ids, item_last)
    choice = choose_neighbours(
        capped, user_hashes(dataset.user_ids), k=opts.neighbours, recall_goal=opts.recall_goal, tie_rank=tie_rank
    )
    popular = popularity_ranking(
        u, i, t, n_items, until=split.cutoff, days=opts.popularity_days, item_ids=dataset.item_ids
    )
    recent = recent_items_matrix(u, i, t, n_users, n_items, opts.recent_items)
    all_users = np.arange(n_users)
    curation_rows, curation_own = curation_with_fill(
        seen, recent, choice.neighbours, popular, opts.list_length, all_users, tie_rank=tie_rank
    )
    curation = {
        dataset.user_ids[x]: [ids[j] for j in row.tolist()]
        for x, row in zip(all_users.tolist(), curation_rows, strict=True)
    }
    popularity_list = [ids[j] for j in popular[: opts.list_length].tolist()]
    popularity = dict.fromkeys(dataset.user_ids, popularity_list)

    recommenders: dict[str, Mapping[str, Sequence[str]]] = {"curation": curation}
    if personalize is not None:
        recommenders["personalize"] = personalize.lists
        notes.extend(personalize.problems)
        notes.append(
            f"Personalize lists are scored against the last {opts.truth_days} days as given: if the solution "
            "version behind them was trained on interactions from those days, its metrics are optimistic."
        )
    else:
        notes.append(NO_PERSONALIZE_NOTE)
    baseline = train_and_recommend(u, i, dataset.user_ids, ids, popular.tolist(), opts.list_length)
    recommenders[OPEN_BASELINE] = baseline.lists
    recommenders["popularity"] = popularity
    if not popular.size:
        notes.append(
            f"No interactions in the last {opts.popularity_days} days of the history: popularity is empty."
        )

    truth_codes = np.array(
        [
            dataset.user_index[x] * n_items + dataset.item_index[item]
            for x, items in split.truth.items()
            for item in items
        ],
        dtype=np.int64,
    )
    if truth_codes.size:
        repeats = np.isin(truth_codes, u.astype(np.int64) * n_items + i).mean()
        notes.append(
            f"{repeats:.1%} of the truth (user, item) pairs are items the user had already interacted with "
            "before: the current curation never recommends those, the other lists can."
        )

    evaluated = sorted(split.truth)
    with_truth = len(evaluated)
    if personalize is not None:
        evaluated = [x for x in evaluated if x in personalize.lists]
        missing = len(split.truth) - len(evaluated)
        if missing:
            notes.append(
                f"{missing} user(s) with truth interactions have no Personalize list and are left out of "
                "every recommender's metrics, so all are scored on the same users."
            )
    evaluable = len(evaluated)
    evaluated = sample_users(evaluated, opts.max_evaluated_users, notes)
    if not evaluated:
        notes.append("No user has interactions in the truth period: metrics are empty.")

    history_of = {dataset.user_ids[x]: int(history[x]) for x in range(n_users)}
    catalogue = dataset.item_ids
    fresh_from = end - opts.fresh_days * DAY
    new_items = {
        item for item in catalogue if (c := dataset.info(item).created) is not None and fresh_from <= c <= end
    }
    results = []
    for name, lists in recommenders.items():
        cold = [x for x in lists if history_of.get(x, 0) == 0]
        results.append(
            RecommenderResult(
                name=name,
                label=LABELS[name],
                users_evaluated=len(evaluated),
                users_with_lists=len(lists),
                metrics=m.evaluate(lists, split.truth, evaluated, catalogue),
                cold_start=ColdStart(**m.cold_start_figures(lists, cold)),
                # Over the evaluated users' lists, like coverage: every recommender on the same users.
                fresh_share=m.freshness([lists.get(x, []) for x in evaluated], new_items),
            )
        )

    def entry(item: str, truth: set[str] | None = None, when: int | None = None) -> ItemEntry:
        info = dataset.info(item)
        return ItemEntry(
            item_id=item,
            title=info.title,
            genres=list(info.genres),
            new=item in new_items,
            hit=truth is not None and item in truth,
            when=_iso(when) if when is not None else None,
        )

    candidates = [x for x in range(n_users) if history[x] > 0]
    if personalize is not None:
        candidates = [x for x in candidates if dataset.user_ids[x] in personalize.lists]
    heavy_idx = sorted(candidates, key=lambda x: (-history[x], dataset.user_ids[x]))[: opts.top_users]
    heavy = []
    order = np.lexsort((i, -t, u))
    starts = np.searchsorted(u[order], np.arange(n_users + 1))
    for x in heavy_idx:
        user = dataset.user_ids[x]
        truth = split.truth.get(user, set())
        rows = order[starts[x] : starts[x + 1]]  # newest first
        shown: list[ItemEntry] = []
        seen_items: set[int] = set()
        for r in rows.tolist():
            if i[r] in seen_items:
                continue
            seen_items.add(int(i[r]))
            shown.append(entry(ids[i[r]], when=int(t[r])))
            if len(shown) == opts.shown_items:
                break
        heavy.append(
            HeavyUser(
                user_id=user,
                history_interactions=int(history[x]),
                history=shown,
                truth=[entry(item) for item in sorted(truth)[: opts.shown_items]],
                lists={
                    name: [entry(item, truth) for item in list(lists.get(user, []))[: opts.shown_items]]
                    for name, lists in recommenders.items()
                },
            )
        )

    report = Report(
        country=country,
        run_date=run_date.isoformat(),
        generated_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        window=Window(
            start=_iso(split.start),
            cutoff=_iso(split.cutoff),
            end=_iso(end),
            truth_days=opts.truth_days,
            popularity_days=opts.popularity_days,
            fresh_days=opts.fresh_days,
        ),
        counts=Counts(
            interactions=len(dataset.timestamps),
            history_interactions=int(train.sum()),
            truth_interactions=int(((dataset.timestamps >= split.cutoff) & (dataset.timestamps < end)).sum()),
            users=n_users,
            items=n_items,
            evaluated_users=len(evaluated),
            cold_users=int((history == 0).sum()),
            new_items=len(new_items),
        ),
        curation=CurationInfo(
            method=choice.method,
            reason=choice.reason,
            neighbours_k=opts.neighbours,
            recent_items=opts.recent_items,
            exact_seconds=round(choice.exact_seconds, 4),
            exact_seconds_extrapolated=choice.exact_seconds_extrapolated,
            minhash_seconds=round(choice.minhash_seconds, 4),
            minhash_top10_recall=round(choice.minhash_top10_recall, 4),
            sample_items=choice.sample_items,
        ),
        recommenders=results,
        heavy_users=heavy,
        notes=notes,
        open_baseline=baseline.info,
    )
    seen_by = {
        user: {ids[j] for j in seen.indices[seen.indptr[x] : seen.indptr[x + 1]].tolist()}
        for user in evaluated
        for x in [dataset.user_index[user]]
    }
    warm = {user for user in evaluated if history_of[user] > 0}
    truth_new = decision.new_truth(split.truth, seen_by)
    report = add_decision(report, recommenders, split.truth, truth_new, evaluated, catalogue, warm)
    in_window = int(np.unique(dataset.users[dataset.timestamps < end]).size)
    report = add_user_counts(report, in_window, with_truth, evaluable, len(warm), opts.max_evaluated_users)
    counts, last = popularity_counts(u, i, t, n_items, until=split.cutoff, days=opts.popularity_days)
    own = {"curation": {dataset.user_ids[x]: int(c) for x, c in enumerate(curation_own.tolist())}}
    ties = tie_share(counts[popular].tolist(), last[popular].tolist(), opts.list_length)
    return add_list_figures(
        report, recommenders, own, popularity_list, ties, (split.truth, truth_new), evaluated, warm, new_items
    )
