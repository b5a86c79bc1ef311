"""The connect flow driven in real headless Chromium (Debian's), with a screenshot of each page
saved to test-artifacts/screenshots/."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from local.stack import ROOT
from tests.e2e.conftest import Browser
from tests.helpers import payload, wait_for

SHOTS = ROOT / "test-artifacts" / "screenshots"


def chromium(lang: str, width: int = 1024, height: int = 768) -> webdriver.Chrome:
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "Debian's chromium and chromium-driver are needed (scripts/check-tools.sh)"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}",
                 f"--window-size={width},{height}", f"--lang={lang}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


@pytest.fixture
def shots():
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


def accessible(driver: webdriver.Chrome) -> None:
    """Every form control has a label, the page says its language, nothing scrolls sideways."""
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") in ("pt-BR", "en")
    unlabeled = driver.execute_script(
        "return [...document.querySelectorAll('input:not([type=hidden]),select,textarea')]"
        ".filter(e => !(e.labels && e.labels.length)).length")
    assert unlabeled == 0
    assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    violations = [e for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
    assert not violations, violations


@pytest.mark.parametrize("lang,width,height", [("pt-BR", 1024, 768), ("en-US", 390, 844)])
def test_a_person_connects_picks_a_calendar_and_sees_events_land(stack, platform, google_user, shots, lang,
                                                                 width, height):
    user = google_user
    tag = f"{lang}-{width}"
    link = Browser(stack).link_token(user["account_id"], user["user_id"])
    driver = chromium(lang, width, height)
    try:
        driver.get(f"{stack.url('integrations')}connect?token={link}")
        wait_for(lambda: "approve" in driver.page_source, what="the consent screen")
        driver.save_screenshot(str(shots / f"1-consent-{tag}.png"))
        driver.find_element(By.CSS_SELECTOR, f'input[name=login][value="{user["email"]}"]').click()
        driver.find_element(By.ID, "allow").click()

        wait_for(lambda: driver.find_elements(By.NAME, "calendar_id"), what="the calendar page")
        accessible(driver)
        heading = driver.find_element(By.TAG_NAME, "h1").text
        assert heading == ("Escolha a agenda" if lang == "pt-BR" else "Choose a calendar")
        values = [e.get_attribute("value") for e in driver.find_elements(By.NAME, "calendar_id")]
        assert values == [user["email"], user["team"]]  # primary first; the read-only one is not offered
        button = driver.find_element(By.ID, "save")
        assert button.value_of_css_property("background-color") in ("rgb(26, 86, 219)", "rgba(26, 86, 219, 1)")
        driver.save_screenshot(str(shots / f"2-calendars-{tag}.png"))
        driver.find_element(By.CSS_SELECTOR, f'input[value="{user["team"]}"]').click()
        button.click()

        wait_for(lambda: "/done" in driver.current_url, what="the done page")
        accessible(driver)
        assert driver.find_element(By.TAG_NAME, "h1").text == ("Tudo pronto" if lang == "pt-BR" else "All set")
        driver.save_screenshot(str(shots / f"3-done-{tag}.png"))

        driver.get(f"{stack.url('integrations')}connect?token=expired.or.forged")
        accessible(driver)
        driver.save_screenshot(str(shots / f"4-error-{tag}.png"))
    finally:
        driver.quit()
    platform.accepted(payload(account_id=user["account_id"], user_id=user["user_id"], title="Pelo navegador"))
    from sync.kernel.model import google_event_id

    gid = google_event_id(user["account_id"], user["user_id"], "ev-1001")
    event = wait_for(lambda: platform.events(user["team"]).get(gid), what="the webhook in the chosen calendar")
    assert event["summary"] == "Pelo navegador"
