"""The connect flow driven in real headless Chromium (Debian's), with a screenshot of each page
saved to test-artifacts/screenshots/."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

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


def full_page_screenshot(driver: webdriver.Chrome, path: Path) -> None:
    """The whole page, not only the viewport: the policy is long."""
    width, height = driver.get_window_size()["width"], driver.get_window_size()["height"]
    full = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(full) + 200, 16000))
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(width, height)


def policy_page(driver: webdriver.Chrome, lang: str) -> None:
    """The data-use policy as a person reads it, in their language."""
    wait_for(lambda: driver.find_elements(By.ID, "limited-use-statement"), what="the data-use policy")
    accessible(driver)
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
    assert driver.find_element(By.TAG_NAME, "h1").text == ("Política de uso de dados" if lang == "pt-BR"
                                                           else "Data use policy")
    from sync.adapters.calendar_api import SCOPES
    from sync.web.privacy import LIMITED_USE

    page = driver.find_element(By.TAG_NAME, "main").text
    assert all(scope in page for scope in SCOPES)
    assert driver.find_element(By.ID, "limited-use-statement").text == LIMITED_USE
    # What is stored: every section, its retention visible; the technical details open on a click.
    sections = driver.find_elements(By.CSS_SELECTOR, "section[id^=stored-]")
    assert len(sections) >= 10
    detail = driver.find_element(By.CSS_SELECTOR, "#stored-oauth_state details")
    assert "oauth_states" not in detail.text
    detail.find_element(By.TAG_NAME, "summary").click()
    assert "oauth_states" in detail.text and "expires_at" in detail.text


@pytest.mark.parametrize("lang,width,height", [("pt-BR", 1024, 768), ("en-US", 390, 844)])
def test_the_data_use_policy_is_linked_before_consent_and_from_the_done_page(stack, google_user, shots, lang,
                                                                             width, height):
    user, tag, page_lang = google_user, f"{lang}-{width}", "pt-BR" if lang == "pt-BR" else "en"
    link = Browser(stack).link_token(user["account_id"], user["user_id"])
    policy_url = stack.url("integrations") + "privacy"
    driver = chromium(lang, width, height)
    try:
        # Before consent: the consent screen shows the app's privacy policy link, as Google's does
        # from the OAuth client's branding (README: Going to production).
        driver.get(f"{stack.url('integrations')}connect?token={link}")
        wait_for(lambda: driver.find_elements(By.ID, "app-privacy-policy"), what="the consent screen's policy link")
        anchor = driver.find_element(By.ID, "app-privacy-policy")
        assert anchor.get_attribute("href") == policy_url
        driver.save_screenshot(str(shots / f"5-consent-policy-link-{tag}.png"))
        anchor.click()
        policy_page(driver, page_lang)
        full_page_screenshot(driver, shots / f"6-privacy-{tag}.png")
        # The other language is one click away.
        driver.find_element(By.ID, "other-language").click()
        other = "en" if page_lang == "pt-BR" else "pt-BR"
        wait_for(lambda: driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == other,
                 what="the policy in the other language")
        policy_page(driver, other)
        full_page_screenshot(driver, shots / f"7-privacy-{other}-from-{tag}.png")

        # Back to the consent screen, through the flow, and to the policy again from the done page.
        driver.back()
        driver.back()
        wait_for(lambda: driver.find_elements(By.ID, "allow"), what="the consent screen again")
        driver.find_element(By.CSS_SELECTOR, f'input[name=login][value="{user["email"]}"]').click()
        driver.find_element(By.ID, "allow").click()
        wait_for(lambda: driver.find_elements(By.NAME, "calendar_id"), what="the calendar page")
        assert driver.find_element(By.ID, "policy-link").get_attribute("href") == policy_url
        driver.find_element(By.ID, "save").click()
        wait_for(lambda: "/done" in driver.current_url, what="the done page")
        accessible(driver)
        done_link = driver.find_element(By.ID, "done-policy-link")
        assert done_link.get_attribute("href") == policy_url and done_link.is_displayed()
        driver.save_screenshot(str(shots / f"8-done-policy-link-{tag}.png"))
        done_link.click()
        policy_page(driver, page_lang)
    finally:
        driver.quit()
