"""The comparison report from the report SQL's outputs (evaluation.queries): what the report step's Lambda runs.

The heavy parts (neighbours, every user's curation list, popularity, the evaluated-user sample, counts) ran on
Athena (or DuckDB locally); this module reads only their small outputs, JSON lines:

- report_users: one row per sampled evaluated user and per heavy user: truth, curation and Personalize lists,
  and for heavy users the newest history items (`history_items`, `history_ts`);
- report_summary: one row of integer counts (ratios are taken here, so figures equal the in-memory reference's);
- report_popularity: the popularity list (deeper than a list: the open baseline's fill needs more); report_items:
  the catalogue with titles, genres and release times;
- report_history: the open baseline's bounded training history, one row per training user (`train_open_baseline`).

Recommenders are columns of report_users named in RECOMMENDER_COLUMNS (popularity is one list for everyone):
another per-user recommender is one more column and one more entry.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from evaluation import metrics as m
from evaluation.data import DAY, InputError, ItemInfo, window_end
from evaluation.open_baseline import NAME as OPEN_BASELINE
from evaluation.open_baseline import OpenBaseline, from_history
from evaluation.queries import ReportOutput
from evaluation.report import _iso, add_decision, add_list_figures, add_user_counts, sample_note
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
from evaluation.ties import tie_share

# report_users column -> recommender name (report.json's `recommenders[].name`), in page order before popularity.
RECOMMENDER_COLUMNS = {"curation": "curation", "personalize": "personalize"}


@dataclass
class ReportInputs:
    """The parsed outputs of one run's report queries."""

    summary: dict[str, Any]
    users: list[dict[str, Any]]
    popularity: list[str]
    items: dict[str, ItemInfo | None]  # catalogue; None = an interacted item missing from the items dataset
    # report_history rows: user_id, shown, distinct_items (the whole history's), items (newest first, capped)
    history: list[dict[str, Any]] = field(default_factory=list)
    # report_popularity's (users, last_ts) per item of `popularity`, in rank order: the tie share's input
    popularity_keys: list[tuple[int, int]] = field(default_factory=list)
    input_bytes: int = 0
    query_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def parse_json_lines(chunks: Iterable[bytes | str], what: str) -> list[dict[str, Any]]:
    rows = []
    for chunk in chunks:
        text = chunk.decode("utf-8") if isinstance(chunk, bytes) else chunk
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError as error:
                raise InputError(f"{what}: line {number} is not JSON ({error})") from None
    return rows


def _item_info(row: Mapping[str, Any]) -> ItemInfo | None:
    if row.get("title") is None and row.get("genres") is None and row.get("created") is None:
        return None
    created = row.get("created")
    genres = tuple(g for g in (row.get("genres") or "").split("|") if g and g != "none")
    return ItemInfo(
        title=row.get("title") or row["item_id"], genres=genres, created=None if created is None else int(created)
    )


def inputs_from_rows(rows: Mapping[ReportOutput, list[dict[str, Any]]], input_bytes: int = 0) -> ReportInputs:
    summaries = rows[ReportOutput.SUMMARY]
    if len(summaries) != 1:
        raise InputError(f"{ReportOutput.SUMMARY.value}: expected one row, got {len(summaries)}")
    popularity = sorted(rows[ReportOutput.POPULARITY], key=lambda r: int(r["popularity_rank"]))
    return ReportInputs(
        summary=summaries[0],
        users=rows[ReportOutput.USERS],
        popularity=[str(r["item_id"]) for r in popularity],
        popularity_keys=[(int(r.get("users") or 0), int(r.get("last_ts") or 0)) for r in popularity],
        items={str(r["item_id"]): _item_info(r) for r in rows[ReportOutput.ITEMS]},
        history=rows.get(ReportOutput.HISTORY, []),
        input_bytes=input_bytes,
    )


# What makes training fail on the data rather than on the code or the image (numpy/scipy/implicit raise these
# on inconsistent indices or shapes); anything else (an ImportError of implicit) fails the step.
_DATA_ERRORS = (ValueError, IndexError, KeyError, TypeError, InputError)


def train_open_baseline(
    inputs: ReportInputs, options: ReportOptions | None = None
) -> tuple[OpenBaseline | None, list[str]]:
    """The open baseline trained on report_history, with lists for the shown users (report_users), and the notes
    the page needs: why it is missing (no history, a data error), or that its history bounds bound.

    One function for Athena's outputs (pipeline.steps.report) and DuckDB's (`make report`), so both train alike."""
    opts = options or ReportOptions()
    history_users = _int(inputs.summary, "history_users")
    if not inputs.history:
        return None, [
            "No open baseline: the history before the cutoff is empty (report_history returned no rows), so there "
            "is nothing to train on."
        ]
    try:
        baseline = from_history(
            inputs.history,
            inputs.items,
            inputs.popularity,
            opts.list_length,
            (row["user_id"] for row in inputs.users),
        )
    except _DATA_ERRORS as error:
        return None, [f"No open baseline: training on report_history failed ({type(error).__name__}: {error})."]
    notes = []
    if baseline.info.users_trained < history_users:
        notes.append(
            f"The open baseline trained on the history of {baseline.info.users_trained:,} of the "
            f"{history_users:,} users with history (every evaluated user, then others drawn by a hash of the user "
            f"id, up to {opts.baseline_training_pairs:,} (user, item) pairs) to fit the report step's memory."
        )
    notes += _older_titles_notes(inputs.history, opts)
    return baseline, notes


def _older_titles_notes(history: Sequence[Mapping[str, Any]], opts: ReportOptions) -> list[str]:
    """What the open baseline did with titles older than a user's newest baseline_history_items: never trained
    on; kept out of a shown user's list when report_history sent them (`older_items`), else said here."""
    longer = [row for row in history if int(row.get("distinct_items") or 0) > len(row.get("items") or ())]
    if not longer:
        return []
    notes = [
        f"The open baseline trained on the newest {opts.baseline_history_items} distinct titles of {len(longer):,} "
        "user(s) with longer histories; every title a shown user has seen, older ones included, is kept out of "
        "their open-baseline list."
    ]
    if kept_in := sum(bool(row.get("shown")) and not row.get("older_items") for row in longer):
        notes[0] = notes[0].rsplit(";", 1)[0] + "."
        notes.append(
            f"For {kept_in:,} shown user(s) the titles older than their newest {opts.baseline_history_items} were "
            f"not kept out of their open-baseline lists (beyond the {opts.baseline_excluded_pairs:,} older titles the "
            "report reads): such a title can be listed and can never be a hit."
        )
    return notes


def read_output_folder(folder: Path | str) -> ReportInputs:
    """Outputs written by the local runner: <folder>/<output>/*.json (what UNLOAD writes, one folder each)."""
    base = Path(folder)
    rows, size = {}, 0
    for output in ReportOutput:
        files = sorted(p for p in (base / output.value).glob("*") if p.is_file())
        chunks = [p.read_bytes() for p in files]
        size += sum(len(c) for c in chunks)
        rows[output] = parse_json_lines(chunks, output.value)
    return inputs_from_rows(rows, size)


def _int(summary: Mapping[str, Any], name: str) -> int:
    value = summary.get(name)
    return 0 if value is None else int(value)


def _share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _notes(inputs: ReportInputs, opts: ReportOptions, *, with_personalize: bool, evaluated: Sequence[str]) -> list[str]:
    """What the page must say about its inputs, in page order: the Personalize output, popularity, the truth's
    re-watches, the users left out or sampled, and an empty evaluation."""
    s = inputs.summary
    notes = _personalize_notes(s, opts) if with_personalize else [NO_PERSONALIZE_NOTE]
    if not inputs.popularity:
        notes.append(f"No interactions in the last {opts.popularity_days} days of the history: popularity is empty.")
    if pairs := _int(s, "truth_pairs"):
        notes.append(
            f"{_int(s, 'truth_repeats') / pairs:.1%} of the truth (user, item) pairs are items the user had already "
            "interacted with before: the current curation never recommends those, the other lists can."
        )
    evaluable = _int(s, "evaluable_users")
    if with_personalize and (missing := _int(s, "truth_users") - evaluable):
        notes.append(
            f"{missing} user(s) with truth interactions have no Personalize list and are left out of "
            "every recommender's metrics, so all are scored on the same users."
        )
    if evaluable > opts.max_evaluated_users:
        notes.append(sample_note(opts.max_evaluated_users, evaluable))
    if not evaluated:
        notes.append("No user has interactions in the truth period: metrics are empty.")
    return notes


def _personalize_notes(summary: Mapping[str, Any], opts: ReportOptions) -> list[str]:
    """The batch output's problems (missing, error or malformed lines) and the optimism caveat."""
    notes = []
    if _int(summary, "batch_lines") == 0:
        notes.append("Personalize batch output was expected but no output file was found.")
    if errors := _int(summary, "batch_error_lines"):
        notes.append(f"{errors} batch output line(s) carried an error from Personalize")
    if malformed := _int(summary, "batch_malformed_lines"):
        notes.append(f"{malformed} batch output line(s) were not valid JSON lines and were skipped")
    notes.append(
        f"Personalize lists are scored against the last {opts.truth_days} days as given: if the solution "
        "version behind them was trained on interactions from those days, its metrics are optimistic."
    )
    return notes


def _recommender_lists(
    inputs: ReportInputs, names: Sequence[str], popularity: Sequence[str], open_baseline: OpenBaseline | None
) -> dict[str, Mapping[str, Sequence[str]]]:
    """Recommender name -> user -> list, for every name in `names`: the report_users columns (RECOMMENDER_COLUMNS),
    the open baseline's lists and the one popularity list."""
    columns = {name: column for column, name in RECOMMENDER_COLUMNS.items()}
    lists: dict[str, Mapping[str, Sequence[str]]] = {
        name: _column_lists(inputs.users, name, columns[name], popularity)
        for name in names
        if name not in ("popularity", OPEN_BASELINE)
    }
    if open_baseline is not None:
        lists[OPEN_BASELINE] = open_baseline.lists
    lists["popularity"] = {row["user_id"]: popularity for row in inputs.users}
    return lists


def _column_lists(
    users: Iterable[Mapping[str, Any]], name: str, column: str, popularity: Sequence[str]
) -> dict[str, Sequence[str]]:
    """User -> list from one report_users column. The curation has a list for every user, and users without
    history get the popularity list from it; another recommender has lists only where its column is set."""
    lists: dict[str, Sequence[str]] = {
        row["user_id"]: row.get(column) or () for row in users if name == "curation" or row.get(column) is not None
    }
    if name == "curation":
        for row in users:
            if not row.get("history_interactions"):
                lists[row["user_id"]] = popularity
    return lists


def _cold_starts(summary: Mapping[str, Any], cold_users: int, with_open_baseline: bool) -> dict[str, ColdStart]:
    """Recommender name -> its cold-start figures."""
    # Every user without history gets the one popularity list, from the curation as from popularity (and from the
    # open baseline).
    cold_popularity = (
        ColdStart(users=cold_users, distinct_lists=1, most_common_list_share=1.0)
        if cold_users
        else ColdStart(users=0, distinct_lists=0, most_common_list_share=None)
    )
    personalize_cold = _int(summary, "personalize_cold_users")
    cold = {
        "curation": cold_popularity,
        "popularity": cold_popularity,
        "personalize": ColdStart(
            users=personalize_cold,
            distinct_lists=_int(summary, "personalize_cold_lists"),
            most_common_list_share=_share(_int(summary, "personalize_cold_most_common"), personalize_cold),
        ),
    }
    if with_open_baseline:
        cold[OPEN_BASELINE] = cold_popularity
    return cold


def _users_with_lists(summary: Mapping[str, Any], n_users: int, with_open_baseline: bool) -> dict[str, int]:
    """Recommender name -> how many users have a list from it."""
    with_lists = {"curation": n_users, "popularity": n_users, "personalize": _int(summary, "personalize_users")}
    if with_open_baseline:
        # Like the curation's, every user has a list (only the shown users' are computed).
        with_lists[OPEN_BASELINE] = n_users
    return with_lists


def _heavy_users(
    inputs: ReportInputs,
    names: Sequence[str],
    lists: Mapping[str, Mapping[str, Sequence[str]]],
    truth: Mapping[str, set[str]],
    new_items: Collection[str],
    shown_items: int,
) -> list[HeavyUser]:
    """The heavy users (report_users rows with a heavy_rank, in rank order): history, truth and every list."""

    def entry(item: str, hits: set[str] | None = None, when: int | None = None) -> ItemEntry:
        info = inputs.items.get(item) or ItemInfo(title=item, genres=(), created=None)
        return ItemEntry(
            item_id=item,
            title=info.title,
            genres=list(info.genres),
            new=item in new_items,
            hit=hits is not None and item in hits,
            when=_iso(when) if when is not None else None,
        )

    heavy = []
    for row in sorted((r for r in inputs.users if r.get("heavy_rank") is not None), key=lambda r: int(r["heavy_rank"])):
        user = row["user_id"]
        hits = truth[user]
        history = zip(row.get("history_items") or (), row.get("history_ts") or (), strict=True)
        heavy.append(
            HeavyUser(
                user_id=user,
                history_interactions=int(row["history_interactions"]),
                history=[entry(item, when=int(ts)) for item, ts in history][:shown_items],
                truth=[entry(item) for item in sorted(hits)[:shown_items]],
                lists={
                    name: [entry(item, hits) for item in list(lists[name].get(user, ()))[:shown_items]]
                    for name in names
                },
            )
        )
    return heavy


def _curation_info(opts: ReportOptions, query_seconds: float) -> CurationInfo:
    return CurationInfo(
        method="exact",
        reason=(
            f"exact Jaccard top-{opts.neighbours} over each user's {opts.cooccurrence_items} most recent items, "
            "computed by the report SQL (evaluation/sql) on the query engine"
        ),
        neighbours_k=opts.neighbours,
        recent_items=opts.recent_items,
        exact_seconds=round(query_seconds, 4),
        exact_seconds_extrapolated=False,
        minhash_seconds=0.0,
        minhash_top10_recall=1.0,
        sample_items=0,
    )


def build_report_from_outputs(
    inputs: ReportInputs,
    country: str,
    run_date: date,
    *,
    with_personalize: bool,
    options: ReportOptions | None = None,
    now: datetime | None = None,
    open_baseline: OpenBaseline | None = None,
) -> Report:
    """The same Report evaluation.report.build_report gives on the full data (sampled users, exact neighbours)."""
    opts = options or ReportOptions()
    s = inputs.summary
    end = window_end(run_date)
    cutoff = end - opts.truth_days * DAY
    n_users, history_users = _int(s, "users"), _int(s, "history_users")
    cold_users = n_users - history_users
    catalogue = {item for item in inputs.items}
    fresh_from = end - opts.fresh_days * DAY
    new_items = {
        item
        for item, info in inputs.items.items()
        if info is not None and info.created is not None and fresh_from <= info.created <= end
    }
    sampled = sorted((row for row in inputs.users if row.get("sampled")), key=lambda row: row["user_id"])
    evaluated = [row["user_id"] for row in sampled]
    notes = _notes(inputs, opts, with_personalize=with_personalize, evaluated=evaluated)

    truth = {row["user_id"]: set(row.get("truth") or ()) for row in inputs.users}
    names = [
        "curation",
        *(["personalize"] if with_personalize else []),
        *([OPEN_BASELINE] if open_baseline is not None else []),
        "popularity",
    ]
    lists = _recommender_lists(inputs, names, inputs.popularity[: opts.list_length], open_baseline)
    cold = _cold_starts(s, cold_users, with_open_baseline=open_baseline is not None)
    with_lists = _users_with_lists(s, n_users, with_open_baseline=open_baseline is not None)
    results = [
        RecommenderResult(
            name=name,
            label=LABELS[name],
            users_evaluated=len(evaluated),
            users_with_lists=with_lists[name],
            metrics=m.evaluate(lists[name], truth, evaluated, catalogue),
            cold_start=cold[name],
            fresh_share=m.freshness([lists[name].get(user, ()) for user in evaluated], new_items),
        )
        for name in names
    ]

    first_ts = s.get("first_ts")
    report = Report(
        country=country,
        run_date=run_date.isoformat(),
        generated_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        window=Window(
            start=_iso(int(first_ts) if first_ts is not None else cutoff),
            cutoff=_iso(cutoff),
            end=_iso(end),
            truth_days=opts.truth_days,
            popularity_days=opts.popularity_days,
            fresh_days=opts.fresh_days,
        ),
        counts=Counts(
            interactions=_int(s, "interactions"),
            history_interactions=_int(s, "history_interactions"),
            truth_interactions=_int(s, "truth_interactions"),
            users=n_users,
            items=_int(s, "items"),
            evaluated_users=len(evaluated),
            cold_users=cold_users,
            new_items=_int(s, "new_items"),
        ),
        curation=_curation_info(opts, inputs.query_seconds),
        recommenders=results,
        heavy_users=_heavy_users(inputs, names, lists, truth, new_items, opts.shown_items),
        notes=notes + inputs.notes,
        open_baseline=open_baseline.info if open_baseline is not None else None,
    )
    truth_new = {row["user_id"]: set(row.get("truth_new") or ()) for row in inputs.users}
    warm = {row["user_id"] for row in sampled if row.get("history_interactions")}
    report = add_decision(report, lists, truth, truth_new, evaluated, catalogue, warm)
    window_users = None if s.get("window_users") is None else _int(s, "window_users")
    with_truth, evaluable = _int(s, "truth_users"), _int(s, "evaluable_users")
    report = add_user_counts(report, window_users, with_truth, evaluable, len(warm), opts.max_evaluated_users)
    own = {"curation": {row["user_id"]: int(row.get("curation_picked") or 0) for row in inputs.users}}
    keys = inputs.popularity_keys
    ties = tie_share([c for c, _ in keys], [t for _, t in keys], opts.list_length)
    popular = inputs.popularity[: opts.list_length]
    return add_list_figures(report, lists, own, popular, ties, (truth, truth_new), evaluated, warm, new_items)
