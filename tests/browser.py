"""Headless Debian Chromium for the browser tests, driven by Playwright with the system binary.

Nothing here downloads a browser: `make test` installs Debian's `chromium` package (as root),
and where it is missing the tests that need it skip, saying so. Screenshots go to
`test-artifacts/` at the project root, kept after the run (CI can collect them; the README's
images are copies of them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

#: The system Chromium; LABELLER_TEST_CHROMIUM points elsewhere.
CHROMIUM = Path(os.environ.get("LABELLER_TEST_CHROMIUM", "/usr/bin/chromium"))
#: Where screenshots are kept.
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def chromium_or_skip() -> Path:
    """The browser, or a skip; a failure where it must be there (`.ci/run` sets
    LABELLER_TEST_REQUIRE_BROWSER=1, so CI cannot pass these tests vacuously)."""
    if not CHROMIUM.exists():
        if os.environ.get("LABELLER_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and LABELLER_TEST_REQUIRE_BROWSER=1")
        pytest.skip(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium when run as root "
            "(apt-get install chromium)"
        )
    return CHROMIUM


def artifact(name: str) -> Path:
    """A path under test-artifacts/ for a screenshot or page dump, its folder made."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


@contextmanager
def browser_page(
    *, credentials: tuple[str, str] | None = None, width: int = 1400, height: int = 900
) -> Iterator[Page]:
    """A Playwright page in headless system Chromium.

    `credentials` answers HTTP basic auth (Flower's).
    """
    binary = chromium_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(binary),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height},
                http_credentials=(
                    {"username": credentials[0], "password": credentials[1]}
                    if credentials
                    else None
                ),
            )
            yield context.new_page()
        finally:
            browser.close()
