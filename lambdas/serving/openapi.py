"""The serving API's OpenAPI document, generated from the handler's routes (checked in as docs/serving-openapi.json).

`python -m serving.openapi --write` (`make openapi`) rewrites it; tests/serving/test_openapi.py fails when the
checked-in copy differs from what the handler generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from serving.handler import app

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "serving-openapi.json"
TITLE = "Personalize serving API"
VERSION = "1"


def document() -> str:
    schema = app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description=(
            "Recommendations per country with a fallback chain (campaign -> batch -> segment -> country). Every "
            "route requires IAM authorization: callers sign requests with SigV4 (docs/serving.md)."
        ),
    )
    loaded = json.loads(schema)
    # Powertools lists a 422 on every route when validation is on; this handler answers bad parameters with 400
    # (handler.bad_parameters), so the 422 and its schemas would describe answers the API never gives.
    for path in loaded["paths"].values():
        for operation in path.values():
            operation["responses"].pop("422", None)
    loaded.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    return json.dumps(loaded, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        DOCUMENT.write_text(document())
        print(f"wrote {DOCUMENT}")
        return 0
    print(document(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
