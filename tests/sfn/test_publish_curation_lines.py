"""The curation lists' lines (evaluation/sql/curation_lists.sql's UNLOAD) as read-model items."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.publishing import Load, PartKind, items_of
from serving import read_model as rm

LOAD = Load("KR", date(2026, 11, 16), ttl_days=30)


def test_a_curation_line_becomes_the_users_curation_item_of_the_run_date():
    (item,) = items_of(PartKind.CURATION, LOAD, '{"user_id":"u1","item_ids":["i3","i1"]}', None)
    assert item[rm.PK] == {"S": "USER#KR#u1"} and item[rm.SK] == {"S": "CURATION#2026-11-16"}
    assert item["items"] == {"L": [{"S": "i3"}, {"S": "i1"}]}
    assert item[rm.EXPIRES_AT] == {"N": str(rm.expires_at(LOAD.run_date, 30))}


@pytest.mark.parametrize("line", ['{"itemId":"i0"}', "not json", '{"user_id":"u1","item_ids":3}'])
def test_a_line_of_another_shape_stops_the_load_with_a_one_line_error(line):
    with pytest.raises(ValueError, match=r"^curation line is not \{user_id, item_ids\}") as error:
        items_of(PartKind.CURATION, LOAD, line, None)
    assert "\n" not in str(error.value)
