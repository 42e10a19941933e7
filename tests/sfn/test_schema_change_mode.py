"""A replaced schema makes the next run FULL: its data must be re-imported whole and the models retrained FULL."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline import ledger
from pipeline.model import Mode, RunSettings
from pipeline.steps.begin import choose_mode

WEDNESDAY = date(2026, 12, 2)  # not the full-training weekday (Sunday = 7)


def _settings(users_digest: str) -> RunSettings:
    return RunSettings.model_construct(
        country="KR",
        full_training_weekday=7,
        dataset_arns={t: f"arn:aws:personalize:::dataset/kr/{t}" for t in ("Interactions", "Users", "Items")},
        schema_digests={"Interactions": "i1", "Users": users_digest, "Items": "t1"},
    )


@pytest.fixture
def imported(monkeypatch):
    records = {
        t: {"run_date": "2026-12-01", "mode": "FULL", "schema_digest": d}
        for t, d in {"Interactions": "i1", "Users": "u1", "Items": "t1"}.items()
    }
    monkeypatch.setattr(ledger, "last_import", lambda country, dataset: records.get(dataset))
    # the last FULL training was the Sunday before: only the schema can make this Wednesday FULL
    monkeypatch.setattr(ledger, "last_full_training", lambda country, before, since: date(2026, 11, 29))
    return records


def test_same_schema_keeps_update_mode(imported):
    assert choose_mode(_settings("u1"), WEDNESDAY) is Mode.UPDATE


def test_a_replaced_schema_forces_full(imported):
    assert choose_mode(_settings("u2"), WEDNESDAY) is Mode.FULL


def test_an_import_recorded_before_digests_existed_forces_one_full(imported):
    del imported["Users"]["schema_digest"]
    assert choose_mode(_settings("u1"), WEDNESDAY) is Mode.FULL
