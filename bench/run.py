"""`make bench`: run every bench/bench_*.py and print one figure per line as `name: value unit`.

Each module exposes `figures()` yielding (name, value, unit). Figures are measurements, not pass/fail tests;
the goals named in the issues are printed beside them in README's benchmark table.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def _format(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"


def main(argv: list[str]) -> int:
    only = set(argv)
    bench_dir = Path(__file__).parent
    failed = False
    for module in sorted(
        m.name for m in pkgutil.iter_modules([str(bench_dir)]) if m.name.startswith("bench_")
    ):
        if only and module not in only:
            continue
        try:
            for name, value, unit in importlib.import_module(f"bench.{module}").figures():
                print(f"{name}: {_format(value)} {unit}", flush=True)
        except Exception as error:  # a broken bench must not hide the others' figures
            failed = True
            print(f"# {module} failed: {error!r}", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
