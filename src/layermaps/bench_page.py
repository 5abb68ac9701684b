"""`python -m layermaps.bench_page PAGE.html [--loads 3] [--screenshot shot.png]`: how big a
compare page is and how soon it is interactive in headless chromium.

Opens the page from disk (Debian's chromium and chromedriver, as the browser tests drive them)
and prints, per load, the time from navigation start until both maps hold their points, with
DOMContentLoaded and load; then any request that left the file and any console error. A
timing, so never part of the tests.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

READY = """
if (!(window.layermaps && window.layermaps.xy && window.Bokeh && Bokeh.documents.length)) return null;
const m = (n) => Bokeh.documents[0].get_model_by_name(n);
const l = m('points_left'), r = m('points_right');
if (!l || !r || !l.data.x || !r.data.x || !l.data.x.length) return null;
const nav = performance.getEntriesByType('navigation')[0];
return [performance.now(), nav.domContentLoadedEventEnd, l.data.x.length, r.data.x.length];
"""


def browser_paths() -> tuple[str | None, str | None]:
    """Debian's chromium and chromedriver on PATH (None where missing)."""
    return shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")


def headless_chromium(page_load_timeout: float = 60.0):
    """A Selenium driver of headless chromium, as the page timings and the browser tests
    (tests/test_browser.py) both use it: a fixed window, the console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = browser_paths()
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.binary_location = chromium
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_page_load_timeout(page_load_timeout)
    return driver


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "page", type=Path, help="a compare page, e.g. results/studies/hidden_layers/compare.html"
    )
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one load")
    parser.add_argument("--screenshot", type=Path, help="save the last load's screenshot here")
    args = parser.parse_args(argv)
    if not all(browser_paths()):
        sys.exit(
            "bench_page needs chromium and chromedriver on PATH "
            "(Debian: apt-get install chromium chromium-driver)"
        )
    if not args.page.is_file():
        sys.exit(f"{args.page}: no such page (make it with `snakemake --cores 2 {args.page}`)")
    print(f"{args.page}: {args.page.stat().st_size / 1e6:.1f} MB")
    driver = headless_chromium(args.timeout)
    try:
        for i in range(args.loads):
            driver.get("about:blank")
            driver.get(args.page.resolve().as_uri())
            deadline = time.monotonic() + args.timeout
            while not (got := driver.execute_script(READY)):
                if time.monotonic() > deadline:
                    sys.exit(f"load {i + 1}: the maps did not fill within {args.timeout:.0f} s")
                time.sleep(0.02)
            ready, dom, left, right = got
            print(
                f"load {i + 1}: interactive {ready / 1000:.2f} s after navigation start "
                f"(DOMContentLoaded {dom / 1000:.2f} s), {left} and {right} points"
            )
        fetched = driver.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
        outside = [u for u in fetched if not u.startswith(("data:", "blob:", "file:"))]
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        print(f"requests outside the file: {outside or 'none'}; console errors: {errors or 'none'}")
        if args.screenshot:
            driver.save_screenshot(str(args.screenshot))
            print(f"screenshot: {args.screenshot}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
