"""A real headless Chromium for page tests (Playwright's sync API, Debian's `chromium` package).

Without /usr/bin/chromium the browser tests skip with the reason, except under CI=true, where a
missing browser is a failure: CI must never pass by skipping them. `scripts/test.sh` installs the
package when it can.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE = {"width": 375, "height": 800}


def require_chromium() -> None:
    """Skip (or, with CI=true, fail) when the browser is not installed."""
    if CHROMIUM.exists():
        return
    reason = (
        f"{CHROMIUM} not found: install Debian's `chromium` package "
        "(scripts/test.sh does it when run as root)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true makes the browser tests mandatory", pytrace=False)
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator:
    """Start Chromium; yields a playwright Browser. Use it for a module at most (not a session).

    Playwright's sync API keeps its event loop marked as running in this thread for as long as it
    is started, which makes Django refuse every ORM call as "async unsafe". The calls are plain
    synchronous code all the same, so the check is switched off while the browser lives, and only
    then.
    """
    require_chromium()
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


# What a page must pass in a browser: labelled controls, one h1, a language, no sideways scroll.
_A11Y_SCRIPT = """
() => {
  const controls = [...document.querySelectorAll("input, select, textarea")]
    .filter((el) => el.type !== "hidden");
  const unlabelled = controls
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
      && !el.getAttribute("aria-labelledby"))
    .map((el) => el.outerHTML);
  const nameless = [...document.querySelectorAll("button, a[href]")]
    .filter((el) => !(el.innerText || "").trim() && !el.getAttribute("aria-label"))
    .map((el) => el.outerHTML);
  return {
    unlabelled,
    nameless,
    h1: document.querySelectorAll("h1").length,
    lang: document.documentElement.getAttribute("lang") || "",
    scrollWidth: document.documentElement.scrollWidth,
  };
}
"""


def accessibility_report(page) -> dict:
    return page.evaluate(_A11Y_SCRIPT)


def assert_accessible(page, *, width: int = PHONE["width"]) -> None:
    """The page passes the basic checks at the viewport it is shown in (a phone by default)."""
    report = accessibility_report(page)
    assert report["unlabelled"] == [], "form controls without a label"
    assert report["nameless"] == [], "buttons or links without an accessible name"
    assert report["h1"] == 1
    assert report["lang"] != ""
    assert report["scrollWidth"] <= width, f"scrolls sideways at {width}px"
