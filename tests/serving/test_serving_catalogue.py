"""Item metadata decoration reads at most 100 keys per BatchGetItem call and keeps the list's order."""

from __future__ import annotations

from serving import catalogue
from testkit.serving_harness import TABLE


def test_more_than_100_items_are_decorated_in_chunks_in_list_order(api):
    ids = [f"i{n}" for n in range(150, 0, -1)]  # i1..i40 have metadata (the fixture), the rest none

    items = catalogue.decorate(api.api.clients.dynamodb, TABLE, ids)

    assert [item["itemId"] for item in items] == ids
    assert items[-1] == {"itemId": "i1", "title": "Title i1", "genres": ["Action"], "created": 1_700_000_000}
    assert items[0] == {"itemId": "i150"}  # unknown to the catalogue: served with its id only
