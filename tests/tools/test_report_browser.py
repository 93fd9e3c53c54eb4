"""``qrt report``'s page in a real headless browser: Debian's chromium, driven by selenium
through the system chromedriver (nothing downloaded). Skipped, saying why, where either is
absent (CI has no browser): ``apt-get install chromium chromium-driver``, ``pip install
selenium``. ``QRT_REPORT_SHOTS=DIR`` keeps a screenshot of each page there.

Checked: the page loads with no console message; the tree, expanded, lists every module of
the model; clicking a tensor in the tree (and finding it by a glob) shows the text ``qrt
explain`` prints for it; diff mode lists exactly the sites ``qrt diff`` reports."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_qrt
from tests.tools.report_support import WEIGHT, write_inputs

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium): "
                                "the browser test drives the system chromium with it")
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip(f"no system chromium and chromedriver ({CHROMIUM}, {CHROMEDRIVER}): "
                "apt-get install chromium chromium-driver", allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1500,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str, str]:
    folder = tmp_path_factory.mktemp("browser")
    return (folder, *write_inputs(folder))


def open_page(browser: Any, page: Path) -> list[dict[str, Any]]:
    """Load ``page``; the console messages it logged."""
    browser.get(page.as_uri())
    assert browser.execute_script("return document.body.dataset.ready") == "1"
    return browser.get_log("browser")  # type: ignore[no-any-return]


def shot(browser: Any, name: str) -> None:
    folder = os.environ.get("QRT_REPORT_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(folder) / name))


def test_plan_page_tree_and_cascade(browser: Any, inputs: tuple[Path, str, str, str]) -> None:
    folder, inv, rules, _ = inputs
    page = folder / "plan.html"
    assert run_qrt("report", rules, "--model", inv, "-o", str(page)).returncode == 0
    assert open_page(browser, page) == []
    # the whole tree: every module of the inventory, once
    browser.find_element(By.ID, "expand-all").click()
    names = browser.execute_script("return [...document.querySelectorAll('#tree .node')].map((n) => n.dataset.name)")
    modules = [m["name"] for m in json.loads(Path(inv).read_text())["modules"]]
    assert sorted(names) == sorted(modules)
    # a tensor clicked in the tree shows qrt explain's text for it
    want = run_qrt("explain", rules, "--model", inv, WEIGHT, "--color", "never").stdout
    browser.find_element(By.CSS_SELECTOR, f'#tree .site[data-path="{WEIGHT}"]').click()
    assert browser.find_element(By.ID, "explain").text == want.rstrip("\n")
    shot(browser, "plan-cascade.png")
    # found by a glob, with the tree collapsed: the same text
    browser.find_element(By.ID, "collapse-all").click()
    lm = "lm_head.weight_quantizer"
    search = browser.find_element(By.ID, "search")
    search.send_keys("*lm_head.weight_q*")
    hit = WebDriverWait(browser, 5).until(  # the search runs once typing pauses
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, '#results .hit[data-kind="s"]')))
    assert hit.text == lm and browser.find_element(By.ID, "hit-count").text == "1 match(es)"
    hit.click()
    want = run_qrt("explain", rules, "--model", inv, lm, "--color", "never").stdout
    assert browser.find_element(By.ID, "explain").text == want.rstrip("\n")
    assert browser.find_element(By.CSS_SELECTOR, "#tree .site.selected").get_attribute("data-path") == lm
    assert browser.get_log("browser") == []


def test_diff_page_lists_qrt_diffs_sites(browser: Any, inputs: tuple[Path, str, str, str]) -> None:
    folder, inv, rules, other = inputs
    page = folder / "diff.html"
    assert run_qrt("report", "--diff", other, rules, "--model", inv, "-o", str(page)).returncode == 0
    assert open_page(browser, page) == []
    expected = json.loads(run_qrt("diff", other, rules, "--model", inv, "--format", "json").stdout)
    text = run_qrt("diff", other, rules, "--model", inv).stdout
    assert browser.find_element(By.ID, "diff-headline").text == text.splitlines()[0]
    groups = browser.find_elements(By.CSS_SELECTOR, "#changes .group")
    assert len(groups) == len(expected["groups"])
    shown: list[str] = []
    for group, want in zip(groups, expected["groups"]):
        group.find_element(By.CSS_SELECTOR, ".more").click()
        paths = browser.execute_script("return [...arguments[0].querySelectorAll('.site')].map((s) => s.dataset.path)", group)
        assert paths == want["sites"]
        shown += paths
    assert sorted(shown) == sorted(p for g in expected["groups"] for p in g["sites"])
    # a changed tensor shows both sides
    group = groups[0]
    group.find_element(By.CSS_SELECTOR, ".site").click()
    detail = browser.find_element(By.ID, "explain").text
    first = expected["groups"][0]
    assert f"a ({other}): {first['a']}" in detail and f"b ({rules}): {first['b']}" in detail
    shot(browser, "diff.png")
    assert browser.get_log("browser") == []
