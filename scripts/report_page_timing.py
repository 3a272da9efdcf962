"""Open a run's report.html in headless Chromium: load time, filter and open times, screenshots.

    python scripts/report_page_timing.py RUN_DIR [--shots DIR] [--repeat 3]

Prints the page size, the median time from navigation to the load event and to the
viewer being ready (index parsed, filters and list built), how long filtering to one
persona and opening one conversation take, and writes screenshots of the overview, the
coverage and distribution tabs and the browser with one conversation open. Uses the
system `chromium` over DevTools, the same driver as the tests (tests/browser_support.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser_support import open_browser

TIMING = """(() => { const n = performance.getEntriesByType('navigation')[0];
  return {load: n.loadEventEnd, dom: n.domContentLoadedEventEnd, ready: window.agReadyAt}; })()"""


def main() -> int:
    """Measure and screenshot one report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("--shots", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--prefix", default="report")
    args = parser.parse_args()
    page_file = args.run / "report.html"
    report = json.loads((args.run / "report.json").read_text())
    browser = open_browser()
    if browser is None:
        print("chromium is not installed")
        return 2
    loads, readies = [], []
    try:
        for _ in range(args.repeat):
            page = browser.page()
            page.goto(page_file)
            page.wait_for("document.documentElement.dataset.ready === '1'", timeout=60)
            timing = page.eval(TIMING)
            loads.append(timing["load"])
            readies.append(timing["ready"])
            errors = page.errors()
            last = page
            if _ < args.repeat - 1:
                page.close()
        page = last
        count = page.eval("agViewer.count")
        persona = page.eval(
            "(() => { const c = document.querySelector('select[data-facet=persona]');"
            " return c && c.options.length > 1"
            " ? c.options[1].textContent.split(' (')[0] : null; })()"
        )
        started = time.perf_counter()
        listed = page.eval(f"agViewer.setFacet('persona', {persona!r})") if persona else None
        filter_ms = (time.perf_counter() - started) * 1000
        page.eval("agViewer.clear()")
        page.eval("agViewer.showTab('conversations')")
        started = time.perf_counter()
        page.eval(
            "(() => { const q = document.getElementById('f-q'); q.value = 'refund';"
            " q.dispatchEvent(new Event('input', {bubbles: true})); })()"
        )
        page.eval("agViewer.searchReady()")
        search_ms = (time.perf_counter() - started) * 1000
        found = len(page.eval("agViewer.filtered()"))
        page.eval("agViewer.clear()")
        ids = page.eval("agViewer.filtered()")
        noisy = page.eval(
            "(async () => { for (const id of agViewer.filtered().slice(0, 400)) {"
            " await agViewer.open(id); if (document.querySelector('#reader .noise')) return id; }"
            " return null; })()"
        )
        target = noisy or ids[len(ids) // 2]
        started = time.perf_counter()
        page.eval(f"agViewer.open({ids[-1]!r})")  # a chunk not opened yet
        open_ms = (time.perf_counter() - started) * 1000
        page.eval(f"agViewer.open({target!r})")
        if args.shots:
            page.screenshot(args.shots / f"{args.prefix}-conversation.png")
            page.eval("agViewer.showTab('overview')")
            page.screenshot(args.shots / f"{args.prefix}-overview.png", full_page=True)
            for tab in ("coverage", "distributions"):
                page.eval(f"agViewer.showTab('{tab}')")
                page.screenshot(args.shots / f"{args.prefix}-{tab}.png", full_page=True)
        errors += page.errors()
    finally:
        browser.close()
    result = {
        "records": report["records"],
        "entries": count,
        "page_mb": round(page_file.stat().st_size / 1e6, 2),
        "load_event_ms_median": round(statistics.median(loads)),
        "viewer_ready_ms_median": round(statistics.median(readies)),
        "loads_ms": [round(x) for x in loads],
        "filter_one_persona_ms": round(filter_ms, 1),
        "filter_one_persona_listed": listed,
        "open_conversation_cold_chunk_ms": round(open_ms, 1),
        "full_text_search_ms": round(search_ms),
        "full_text_search_found": found,
        "console_errors": errors,
    }
    print(json.dumps(result, indent=2))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
