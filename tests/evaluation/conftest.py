"""Fixtures for the evaluation tests (helpers live in eval_fixtures.py)."""

from __future__ import annotations

import pytest
from eval_fixtures import COLD_USERS, RUN_DATE, write_batch_output, write_prepared

from evaluation.data import window_end
from evaluation.synthetic import generate, to_dataset


@pytest.fixture(scope="session")
def small_dataset():
    data = generate(1500, 300, 40_000, end=window_end(RUN_DATE), seed=11)
    dataset = to_dataset(data, extra_users=COLD_USERS)
    # A title that must be escaped everywhere it is shown.
    first = dataset.item_ids[0]
    info = dataset.item_info[first]
    dataset.item_info[first] = type(info)(
        title='<script>alert("x")</script> & Co', genres=info.genres, created=info.created
    )
    return dataset


@pytest.fixture(scope="session")
def prepared_dir(small_dataset, tmp_path_factory):
    return write_prepared(small_dataset, tmp_path_factory.mktemp("prepared"))


@pytest.fixture(scope="session")
def batch_files(small_dataset, tmp_path_factory):
    return write_batch_output(small_dataset, tmp_path_factory.mktemp("results"), small_dataset.user_ids)
