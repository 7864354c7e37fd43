"""The built site in a real headless Chromium, served over http by a local `http.server` on
127.0.0.1 (search needs http: its index is fetched by a web worker, which file:// forbids):

- every page renders: it has a non-empty h1 and the browser logs no error;
- the navigation works: every nav entry is a page that renders, and clicking one moves there;
- offline search works: a query typed in the search box lists results, and one leads to its page;
- no link or image is broken: every internal <a href> and <img src> answers 200, every fragment
  names an element of its page, and every image has decoded (natural width > 0).

Chromium and its driver are Debian's (`apt-get install chromium chromium-driver`; .ci/run
installs them). Without them the test fails under CI (CI=true) and is skipped elsewhere.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
from site_build import DOCS, mkdocs_build

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def browser_binaries() -> tuple[str, str]:
    """Debian's chromium and chromedriver (a GitHub runner's Chrome and its driver do too)."""
    names = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
    chromium = next(filter(None, map(shutil.which, names)), None)
    runner_driver = Path(os.environ.get("CHROMEWEBDRIVER", "/nonexistent"), "chromedriver")
    driver = shutil.which("chromedriver") or (
        str(runner_driver) if runner_driver.is_file() else None
    )
    if chromium and driver:
        return chromium, driver
    missing = "chromium" if not chromium else "chromedriver"
    reason = f"{missing} is not installed (apt-get install chromium chromium-driver)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}: CI must run the browser test", pytrace=False)
    pytest.skip(reason)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # the base class's signature
        pass


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    site = tmp_path_factory.mktemp("site")
    built = mkdocs_build(DOCS / "mkdocs.yml", site)
    assert built.returncode == 0, built.stdout + built.stderr
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    chromium, chromedriver = browser_binaries()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def page_urls(site_url: str) -> list[str]:
    """Every page of the built site: the locations in its search index, without fragments."""
    with urllib.request.urlopen(site_url + "search/search_index.json", timeout=10) as answer:
        docs = json.load(answer)["docs"]
    locations = sorted({urldefrag(d["location"])[0] for d in docs})
    return [site_url + location for location in locations]


def errors_logged(driver) -> list[str]:  # type: ignore[no-untyped-def]
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_every_page_renders(browser, site_url: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    urls = page_urls(site_url)
    assert len(urls) >= 20, urls  # every page of the nav, families included
    for url in urls:
        browser.get(url)
        headings = browser.find_elements(By.CSS_SELECTOR, "article h1")
        assert headings and headings[0].text.strip(), f"{url}: no h1"
        errors = errors_logged(browser)  # reading the log empties it
        assert not errors, f"{url}: {errors}"


def test_the_navigation_works(browser, site_url: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(site_url)
    links = browser.find_elements(By.CSS_SELECTOR, "nav.md-nav--primary a.md-nav__link[href]")
    targets = {urldefrag(link.get_attribute("href"))[0] for link in links}
    targets = {t for t in targets if t.startswith(site_url)}
    assert site_url + "concepts/" in targets and site_url + "families/tdmpc2/" in targets
    # Every entry is a page of the site (each of which renders: test_every_page_renders).
    assert targets <= set(page_urls(site_url)), targets - set(page_urls(site_url))
    # A real click on a nav entry moves there.
    browser.get(site_url)
    browser.find_element(
        By.CSS_SELECTOR, 'nav.md-nav--primary a.md-nav__link[href="concepts/"]'
    ).click()
    WebDriverWait(browser, 10).until(ready.url_to_be(site_url + "concepts/"))
    assert browser.find_element(By.CSS_SELECTOR, "article h1").text.strip() == "Concepts"


def test_offline_search_finds_pages(browser, site_url: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(site_url)
    box = browser.find_element(By.CSS_SELECTOR, "input.md-search__input")
    if not box.is_displayed():  # a narrow window hides the box behind the header's button
        browser.find_element(By.CSS_SELECTOR, "label.md-header__button[for='__search']").click()
    WebDriverWait(browser, 10).until(lambda d: box.is_displayed())
    box.click()
    box.send_keys("RESOURCE_EXHAUSTED")
    # Results render while the worker searches: read them in one script, click with retries.
    listed = "return Array.from(document.querySelectorAll(RESULTS), a => a.href)".replace(
        "RESULTS", repr(".md-search-result__item a[href]")
    )
    hrefs = WebDriverWait(browser, 20).until(
        lambda d: [h for h in d.execute_script(listed) if "/services/" in h]
    )
    target = hrefs[0]

    def open_result(d) -> bool:  # type: ignore[no-untyped-def]
        for link in d.find_elements(By.CSS_SELECTOR, ".md-search-result__item a[href]"):
            if link.get_attribute("href") == target:
                link.click()
                return True
        return False

    WebDriverWait(browser, 10, ignored_exceptions=[StaleElementReferenceException]).until(
        open_result
    )
    WebDriverWait(browser, 10).until(lambda d: urldefrag(d.current_url)[0] == urldefrag(target)[0])
    assert browser.find_elements(By.CSS_SELECTOR, "article h1")
    errors = errors_logged(browser)
    assert not errors, errors


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = answer.read()
            kind = answer.headers.get_content_type()
            return answer.status, body.decode("utf-8", "replace") if kind == "text/html" else ""
    except urllib.error.HTTPError as err:
        return err.code, ""


def test_no_broken_links_or_images(browser, site_url: str) -> None:  # type: ignore[no-untyped-def]
    broken: list[str] = []
    pages: dict[str, str] = {}
    checked = 0
    for url in page_urls(site_url):
        browser.get(url)
        hrefs = browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href]'), a => a.href)"
        )
        images = browser.execute_script(
            "return Array.from(document.images, i => [i.src, i.complete && i.naturalWidth > 0])"
        )
        for src, decoded in images:
            if not decoded:
                broken.append(f"{url}: image {src} did not load")
        for link in [*hrefs, *(src for src, _ in images)]:
            if urlsplit(link).netloc != urlsplit(site_url).netloc:
                continue  # the site links out to papers and code; those are not ours to test
            target, fragment = urldefrag(link)
            if target not in pages:
                status, body = fetch(target)
                if status != 200:
                    broken.append(f"{url}: {link} answered {status}")
                    continue
                pages[target] = body
            named = re.search(rf'id="{re.escape(fragment)}"', pages[target])
            if fragment and pages[target] and not named:
                broken.append(f"{url}: {link}: no element with id {fragment!r}")
            checked += 1
    assert checked > 200, checked
    assert not broken, "\n".join(broken)
