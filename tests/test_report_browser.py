"""The report in a real browser: headless Chromium (Debian's package at /usr/bin/chromium, driven by Python
playwright, which must not download a browser) opens report.html; every figure loads, the overview, claims
and matrix tables are there, no network request is made, and a screenshot is saved (also copied to
$ATTNLAB_SCREENSHOT_DIR when set).  Skipped only when Chromium is absent and $CI is not set."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_fixtures.env import fixture_registry  # noqa: E402,F401 - pytest fixture
from report_fixtures.rundirs import make_reproduce_dir  # noqa: E402

from attnlab.report import write_report  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.mark.browser
def test_report_opens_in_chromium(tmp_path, fixture_registry, monkeypatch):
    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is not installed (`make browser` installs it); required when CI is set")
    monkeypatch.setenv("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    out = make_reproduce_dir(tmp_path / "rep", ["rfx-alpha", "rfx-beta"], {"studies": ("rfx-alpha", "rfx-beta")})
    page_path = write_report(out)
    url = page_path.resolve().as_uri()
    requests: list[str] = []
    shot = tmp_path / "report.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.on("request", lambda r: requests.append(r.url))
            page = context.new_page()
            page.goto(url, wait_until="load")
            widths = page.evaluate("Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
            counts = page.evaluate("""() => ({
                overview: document.querySelectorAll('table.overview tbody tr').length,
                claims: document.querySelectorAll('table.claims').length,
                matrix: document.querySelectorAll('table.matrix tbody tr').length,
                scripts: document.scripts.length,
                pass: document.querySelectorAll('.v-pass').length,
                fail: document.querySelectorAll('.v-fail').length})""")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert len(widths) == 3 and all(w > 0 for w in widths), widths      # every figure loads
    assert counts["overview"] >= 5 and counts["claims"] == 2 and counts["matrix"] == 3, counts
    assert counts["scripts"] == 0 and counts["pass"] > 0 and counts["fail"] > 0
    outside = [u for u in requests if not (u.startswith("file://") or u.startswith("data:"))]
    assert outside == [], outside                                          # no network
    assert shot.stat().st_size > 10_000
    if os.environ.get("ATTNLAB_SCREENSHOT_DIR"):
        dest = Path(os.environ["ATTNLAB_SCREENSHOT_DIR"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, dest / "report.png")
