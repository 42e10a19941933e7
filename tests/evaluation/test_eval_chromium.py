"""Open report.html in headless Chromium: screenshot it and check the rendered DOM.

The project's set-up installs Debian's `chromium` package (/usr/bin/chromium); a missing browser is a
set-up fault, so this test fails with the install command rather than skipping.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from eval_fixtures import RUN_DATE

from evaluation.report import ReportOptions
from evaluation.run import report_from_prepared

TOP_USERS = 5


def _chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            "headless Chromium not found: install it with `apt-get update && apt-get install -y chromium` "
            "(the project's set-up does this), or set CHROMIUM=/path/to/chromium"
        )
    return path


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        browser,
        "--headless",
        "--no-sandbox",  # tests run as root in containers, where Chromium's sandbox cannot start
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def page(prepared_dir, batch_files, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("chromium")
    report_from_prepared(prepared_dir, "FR", RUN_DATE, out, batch_files, ReportOptions(top_users=TOP_USERS))
    return out / "report.html"


def test_report_renders_in_headless_chromium(page, tmp_path):
    browser = _chromium()
    url = page.resolve().as_uri()
    shot = tmp_path / "report.png"
    result = _run(browser, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1400,1600", url)
    assert shot.exists(), f"no screenshot; chromium said: {result.stderr[-2000:]}"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 1600)
    # A blank page compresses to a few KB; tables and lists of text are far bigger.
    assert len(data) > 50_000

    dom = _run(browser, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = _Dom()
    parser.feed(dom.stdout)
    elements = parser.elements
    assert any(t == "table" and a.get("id") == "metrics" for t, a in elements)
    metric_rows = [a for t, a in elements if t == "tr" and a.get("data-recommender")]
    assert {a["data-recommender"] for a in metric_rows} == {"curation", "personalize", "popularity"}
    heavy = [a for t, a in elements if t == "tr" and "heavy-user" in (a.get("class") or "").split()]
    assert len(heavy) == TOP_USERS
    assert all(a.get("data-user-id") for a in heavy)
    lists = [a for t, a in elements if t == "td" and a.get("class") == "list"]
    assert len(lists) == 3 * TOP_USERS
    # Chromium ran no script (there is none): the DOM it built has no script element.
    assert not any(t == "script" for t, _ in elements)
