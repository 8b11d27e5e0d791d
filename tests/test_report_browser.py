"""index.html in a real browser (headless Chromium through chromedriver): every section renders, every
image decodes, nothing scrolls sideways at 1280 px, and a screenshot of the report's top is kept as test
output (test-output/report-top.png, or $VCBENCH_TEST_OUTPUT/report-top.png) for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import REPO
from test_report import build_report, build_results_tree

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
WIDTH = 1280

pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                reason="Chromium and chromedriver are absent: `apt-get install -y chromium chromium-driver`")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    root = tmp_path_factory.mktemp("repo")
    build_results_tree(root)
    report = build_report(root)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
                 f"--window-size={WIDTH},900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.get((report / "index.html").as_uri())
        driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")  # collapsed parts too
        yield driver
    finally:
        driver.quit()


def test_every_section_renders(page):
    sections = page.execute_script("""
        return [...document.querySelectorAll('h2')].map(h => {
            const box = h.getBoundingClientRect();
            let next = h.nextElementSibling, body = 0;
            while (next && next.tagName !== 'H2') { body += next.getBoundingClientRect().height; next = next.nextElementSibling; }
            return [h.textContent, box.height, body];
        });""")
    assert len(sections) >= 5, sections
    empty = [title for title, height, body in sections if height <= 0 or body <= 0]
    assert not empty, f"sections drawn without content: {empty}"


def test_every_image_loads(page):
    images = page.execute_script("return [...document.images].map(i => [i.alt, i.complete && i.naturalWidth > 0])")
    assert len(images) >= 6
    assert all(loaded for _, loaded in images), [alt for alt, loaded in images if not loaded]


def test_nothing_scrolls_sideways_at_1280_px(page):
    scroll, client = page.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client, f"the page is {scroll} px wide in a {client} px window"


def test_a_screenshot_of_the_top_is_kept(page):
    out = Path(os.environ.get("VCBENCH_TEST_OUTPUT", REPO / "test-output"))
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "report-top.png"
    page.execute_script("window.scrollTo(0, 0)")
    assert page.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
