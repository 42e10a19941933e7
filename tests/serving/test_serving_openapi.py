"""The checked-in OpenAPI document is the one the handler's routes generate (`make openapi` rewrites it)."""

from __future__ import annotations

import json

from serving import openapi


def test_the_checked_in_openapi_document_is_what_the_handler_generates():
    assert openapi.DOCUMENT.exists(), f"{openapi.DOCUMENT} is missing: run `make openapi`"
    assert openapi.DOCUMENT.read_text() == openapi.document(), f"{openapi.DOCUMENT} is stale: run `make openapi`"


def test_the_document_names_every_v1_route_and_its_error_answers():
    paths = json.loads(openapi.DOCUMENT.read_text())["paths"]

    assert sorted(paths) == [
        "/v1/countries/{country}/items/{itemId}/similar",
        "/v1/countries/{country}/report",
        "/v1/countries/{country}/trending",
        "/v1/countries/{country}/users/{userId}/recommendations",
    ]
    for name, path in paths.items():
        ok = path["get"]["responses"]["200"]["content"]
        assert ok == (
            {"text/html": {"schema": {}}}
            if name.endswith("/report")
            else {"application/json": {"schema": {"$ref": "#/components/schemas/ItemList"}}}
        )
        assert {"400", "404", "503"} <= set(path["get"]["responses"])
        assert "422" not in path["get"]["responses"]  # bad parameters are answered 400, never 422
