"""The report in a real browser: headless Chromium (Debian's package at /usr/bin/chromium, driven by Python
playwright, which must not download a browser) opens report.html at a desktop width (1280 px) and a phone
width (390 px); at both every figure loads, the at-a-glance, ledger, claims and matrix tables are there,
nothing overflows the page (no horizontal scroll, no element past the right edge outside the matrix's own
scroll box, no badge past its cell), no network request is made, and a full-page screenshot is saved
(also copied to $ATTNLAB_SCREENSHOT_DIR when set).  Skipped only when Chromium is absent and $CI is not set."""
from __future__ import annotations

import json
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


WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}

MEASURE = """() => {
  const W = document.documentElement.clientWidth, bad = [], badges = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('.scroll') || el.closest('details:not([open])')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const spills = el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0 &&
                   getComputedStyle(el).overflowX === 'visible' && !['HTML', 'BODY'].includes(el.tagName);
    if (r.right > W + 1 || r.left < -1 || spills)
      bad.push(`${el.tagName}.${el.className}: ${(el.textContent || '').slice(0, 50)}`);
  }
  for (const b of document.querySelectorAll('td .j, td .v')) {
    const cell = b.closest('td').getBoundingClientRect(), r = b.getBoundingClientRect();
    if (r.right > cell.right + 1) badges.push(b.textContent);
  }
  return {W, scroll: document.documentElement.scrollWidth, bad: bad.slice(0, 10), badges,
          images: Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0),
          glance: document.querySelectorAll('table.glance tbody tr').length,
          ledger: document.querySelectorAll('table.ledger tbody tr').length,
          overview: document.querySelectorAll('table.overview tbody tr').length,
          claims: document.querySelectorAll('table.claims').length,
          matrix: document.querySelectorAll('table.matrix tbody tr').length,
          figindex: document.querySelectorAll('#figures a[href^="#fig-"]').length,
          scripts: document.scripts.length,
          pass: document.querySelectorAll('.v-pass').length, fail: document.querySelectorAll('.v-fail').length,
          stacked: getComputedStyle(document.querySelector('table.ledger tbody tr')).display};
}"""


@pytest.mark.browser
def test_report_opens_in_chromium_at_two_widths(tmp_path, fixture_registry, monkeypatch):
    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is not installed (`make browser` installs it); required when CI is set")
    monkeypatch.setenv("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    out = make_reproduce_dir(tmp_path / "rep", ["rfx-alpha", "rfx-beta"], {"studies": ("rfx-alpha", "rfx-beta")})
    claims = json.loads((out / "rfx-alpha" / "claims.json").read_text())   # long named values and sentences
    claims[0]["value"] = {f"model=SmolLM2-135M, L={L}": 0.8 + L / 1e4 for L in (32, 64, 128, 256, 512, 1024)}
    claims[1]["threshold"] = "critical N grows about in proportion to L: log-log slope in [0.75, 1.25] " * 2
    claims[1]["id"] = "entropy_above_log_n_" + "and_a_very_long_unbreakable_claim_identifier_" * 2   # in the prose too
    figs = json.loads((out / "rfx-alpha" / "figures" / "figures.json").read_text())
    figs[0]["caption"] += " " + "x" * 120                                  # an unbreakable token in a caption
    (out / "rfx-alpha" / "figures" / "figures.json").write_text(json.dumps(figs))
    (out / "rfx-alpha" / "claims.json").write_text(json.dumps(claims))
    url = write_report(out).resolve().as_uri()
    requests: list[str] = []
    seen = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            for name, (w, h) in WIDTHS.items():
                context = browser.new_context(viewport={"width": w, "height": h})
                context.on("request", lambda r: requests.append(r.url))
                page = context.new_page()
                page.goto(url, wait_until="load")
                seen[name] = page.evaluate(MEASURE)
                page.screenshot(path=str(tmp_path / f"report-{name}.png"), full_page=True)
                context.close()
        finally:
            browser.close()
    for name, m in seen.items():
        assert len(m["images"]) == 3 and all(x > 0 for x in m["images"]), (name, m["images"])   # figures load
        assert m["glance"] == 2 and m["ledger"] == 9 and m["overview"] >= 5, (name, m)
        assert m["claims"] == 3 and m["matrix"] == 3 and m["figindex"] == 3, (name, m)
        assert m["scripts"] == 0 and m["pass"] > 0 and m["fail"] > 0
        assert m["scroll"] <= m["W"] and not m["bad"], (name, m["W"], m["scroll"], m["bad"])    # no overflow
        assert not m["badges"], (name, m["badges"])
        shot = tmp_path / f"report-{name}.png"
        assert shot.stat().st_size > 10_000
    assert seen["desktop"]["stacked"] == "table-row" and seen["phone"]["stacked"] == "grid"   # cards on a phone
    outside = [u for u in requests if not (u.startswith("file://") or u.startswith("data:"))]
    assert outside == [], outside                                          # no network
    if os.environ.get("ATTNLAB_SCREENSHOT_DIR"):
        dest = Path(os.environ["ATTNLAB_SCREENSHOT_DIR"])
        dest.mkdir(parents=True, exist_ok=True)
        for name in WIDTHS:
            shutil.copy(tmp_path / f"report-{name}.png", dest / f"report-{name}.png")
