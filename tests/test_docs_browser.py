"""The documentation site, read as a reader reads it: in a real browser.

Debian's headless Chromium, driven through Debian's chromedriver by selenium (nothing is
downloaded: the browser and the driver are named by path, and the site is served from a local
``http.server`` thread), loads every page of the site as built, at 1280 px:

- no page writes an error to the browser's console (a script that fails, a missing asset), or
  shows one to the reader (a docutils system message, furo's box over a table of contents);
- the search page, which runs in the page's JavaScript over its own index, finds "copy" and
  "verify", and the pages it lists are the pages that explain them;
- no code block overflows its column (``scrollWidth`` against ``clientWidth``, measured by the
  page's own layout engine): a reader never scrolls sideways to read a command, and Python
  fits as written, without wrapping;
- every link to a page of the site, and every anchor such a link names, exists;
- the reader can switch to a dark theme with the page's own button, code blocks included.

A machine without Chromium fails here, loudly: ``apt-get install chromium chromium-driver``.
"""

from __future__ import annotations

import functools
import http.server
import re
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).parent.parent / "docs"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS),
         str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def base(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(
            f"the browser test needs {' and '.join(missing)}: "
            "apt-get install chromium chromium-driver"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _pages(site: Path) -> list[str]:
    return sorted(str(path.relative_to(site)) for path in site.rglob("*.html"))


# What a page shows in place of its content when something went wrong in the build: docutils'
# system messages and unresolved markup, and furo's red box over a ``.. contents::``.
_BROKEN = (
    ".system-message, .problematic, "
    ".contents:not(.this-will-duplicate-information-and-it-is-still-useful-here)"
)


def _open(browser: Any, url: str) -> list[dict[str, Any]]:
    """Load ``url`` (get() waits for the load event), and give the errors it shows: what it
    wrote to the console, and what it shows the reader as broken."""
    browser.get(url)
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    shown = browser.execute_script(
        f"return Array.from(document.querySelectorAll({_BROKEN!r}))"
        ".map(e => e.textContent.slice(0, 120))"
    )
    return errors + [{"level": "SHOWN", "message": text} for text in shown]


def test_every_page_loads_without_an_error(site: Path, base: str, browser: Any) -> None:
    pages = _pages(site)
    assert {"index.html", "search.html", "howto/mirror.html", "coming-from.html"} <= set(pages)
    errors = {page: _open(browser, base + page) for page in pages}
    assert {page: found for page, found in errors.items() if found} == {}
    # and the pages are the site's, styled by its theme (a page without its stylesheet would
    # load without an error too)
    theme = browser.execute_script(
        "return getComputedStyle(document.body).getPropertyValue('--color-background-primary')"
    )
    assert theme.strip(), "furo's stylesheet did not apply"


@pytest.mark.parametrize(
    ("word", "page"), [("copy", "howto/mirror.html"), ("verify", "howto/trust.html")]
)
def test_the_search_page_finds(word: str, page: str, base: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert _open(browser, f"{base}search.html?q={word}") == []

    def finished(driver: Any) -> str:
        summary = driver.find_elements(By.CSS_SELECTOR, "#search-results p.search-summary")
        return summary[0].text if summary and "Search finished" in summary[0].text else ""

    assert "found" in WebDriverWait(browser, 30).until(finished)
    links = browser.find_elements(By.CSS_SELECTOR, "#search-results li a")
    found = [urllib.parse.urlsplit(link.get_attribute("href")).path for link in links]
    assert f"/{page}" in found, found


_OVERFLOWS = """
return Array.from(document.querySelectorAll('article pre, article .highlight, article table'))
  .filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => [e.tagName, e.scrollWidth, e.clientWidth, e.textContent.slice(0, 80)]);
"""
# A terminal's long line may wrap (the stylesheet wraps console blocks as a terminal would), but
# Python that wraps no longer reads as Python: its blocks must fit their column as written.
_PYTHON_WRAPPED = """
return Array.from(document.querySelectorAll('article .highlight-python pre'))
  .filter(pre => {
    pre.style.whiteSpace = 'pre';
    const over = pre.scrollWidth > pre.clientWidth + 1;
    pre.style.whiteSpace = '';
    return over;
  })
  .map(pre => pre.textContent.split('\\n').filter(line => line.length > 80));
"""


def test_no_code_block_overflows_at_1280px(site: Path, base: str, browser: Any) -> None:
    assert browser.execute_script("return window.innerWidth") == 1280
    measured = 0
    overflowing: dict[str, Any] = {}
    for page in _pages(site):
        if not (page.startswith("howto/") or page in {"quickstart.html", "coming-from.html"}):
            continue
        _open(browser, base + page)
        measured += browser.execute_script("return document.querySelectorAll('pre').length")
        found = browser.execute_script(_OVERFLOWS) + browser.execute_script(_PYTHON_WRAPPED)
        if found:
            overflowing[page] = found
    assert measured > 50, "the how-tos have lost their code blocks"
    assert overflowing == {}


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


@functools.cache
def _ids(path: Path) -> frozenset[str]:
    parser = _Anchors()
    parser.feed(path.read_text(encoding="utf-8"))
    return frozenset(parser.ids)


def test_every_internal_link_resolves(site: Path, base: str, browser: Any) -> None:
    broken: list[str] = []
    checked = 0
    for page in _pages(site):
        _open(browser, base + page)
        hrefs = browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
        )
        for href in hrefs:
            if not href.startswith(base):
                continue  # another site (no network here), or mailto:
            url = urllib.parse.urlsplit(href)
            target = site / urllib.parse.unquote(url.path.lstrip("/"))
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            if not target.is_file():
                broken.append(f"{page}: {href} (no such file)")
            elif url.fragment and urllib.parse.unquote(url.fragment) not in _ids(target):
                broken.append(f"{page}: {href} (no such anchor)")
    assert checked > 100
    assert broken == []


def test_the_concepts_pictures_show_at_their_own_size(site: Path, base: str, browser: Any) -> None:
    # sphinx.ext.graphviz draws each picture at its size in points; a column narrower than that
    # scales it down, its 9pt words with it, until they are hard to read.
    _open(browser, base + "concepts.html")
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('object.graphviz'))"
        ".map(e => [e.getAttribute('data'), e.getBoundingClientRect().width])"
    )
    assert len(shown) == 2, shown
    for data, width in shown:
        drawn = re.search(r'<svg width="(\d+)pt"', (site / data).read_text())
        assert drawn is not None, data
        assert width >= int(drawn.group(1)) * 4 / 3 - 1, (data, width, drawn.group(1))


def test_the_reader_can_switch_to_a_dark_theme(base: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    def background() -> tuple[int, ...]:
        colour = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        return tuple(int(part) for part in re.findall(r"\d+", colour)[:3])

    _open(browser, base + "howto/mirror.html")
    browser.execute_script("localStorage.setItem('theme', 'light')")
    browser.refresh()
    assert sum(background()) > 600, background()  # light: near white
    for _ in range(3):  # the toggle cycles: auto, dark, light (the order depends on the system)
        if browser.execute_script("return document.body.dataset.theme") == "dark":
            break
        toggles = browser.find_elements(By.CSS_SELECTOR, "button.theme-toggle")
        next(toggle for toggle in toggles if toggle.is_displayed()).click()
    assert browser.execute_script("return document.body.dataset.theme") == "dark"
    assert sum(background()) < 150, background()  # dark: near black
    code = browser.execute_script(
        "return getComputedStyle(document.querySelector('.highlight')).backgroundColor"
    )
    assert sum(int(part) for part in re.findall(r"\d+", code)[:3]) < 200, code
    browser.execute_script("localStorage.removeItem('theme')")
