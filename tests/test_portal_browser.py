"""The portal in a real browser: headless Chromium driven by Selenium, against a real
``miap serve``. Journeys a provider and a learner take, keyboard-only sign-in and find, and
axe-core (from the ``axe-selenium-python`` package) on every page visited: no serious or
critical violation. Screenshots go to ``$MIAP_ARTEFACTS/portal`` (or the test's tmp dir)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_UKPRN
from tests.support import synthetic_person
from tests.support_portal import PASSWORD, activation_link, make_user, portal_url

pytestmark = pytest.mark.browser

webdriver = pytest.importorskip("selenium.webdriver")
from axe_selenium_python import Axe  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = os.environ.get("MIAP_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MIAP_CHROMEDRIVER", "/usr/bin/chromedriver")
#: axe-core's script: npm's ``axe-core`` (4.x) when CI installed it (``MIAP_AXE_JS``), else
#: the copy the ``axe-selenium-python`` package bundles.
AXE_JS = os.environ.get("MIAP_AXE_JS")
#: The bundled copy is axe-core 3.1, older than two things the pages rightly use: HTML 5.2's
#: ``<div>`` groups inside ``<dl>`` (GOV.UK's summary list; ``dlitem``, fixed in axe-core 3.3)
#: and the ``one-time-code`` autocomplete token (``autocomplete-valid``). CI uses axe-core 4.
BUNDLED_AXE_OPTIONS = json.dumps(
    {"rules": {"dlitem": {"enabled": False}, "autocomplete-valid": {"enabled": False}}}
)


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    root = os.environ.get("MIAP_ARTEFACTS")
    folder = Path(root) / "portal" if root else tmp_path_factory.mktemp("portal-screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture
def browser(downloads):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed for the browser tests")
        pytest.skip("Chromium or chromedriver is not installed")
    if os.environ.get("CI") and not AXE_JS:
        pytest.fail("CI runs axe-core 4 (npm axe-core): set MIAP_AXE_JS to its axe.min.js")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.implicitly_wait(2)
    try:
        yield driver
    finally:
        driver.quit()


class Pages:
    """One browser on the portal: open pages, fill fields by their labels, check each page
    with axe, keep screenshots."""

    def __init__(self, driver, base: str, artefacts: Path) -> None:  # noqa: ANN001
        self.driver = driver
        self.base = base
        self.artefacts = artefacts
        self.checked: set[str] = set()

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)
        self.check()

    def field(self, label: str):  # noqa: ANN201
        """The form control whose visible label is ``label`` (tests find fields as users do)."""
        labels = self.driver.find_elements(By.XPATH, f"//label[normalize-space()='{label}']")
        assert labels, f"no field labelled {label!r} on {self.driver.current_url}"
        return self.driver.find_element(By.ID, labels[0].get_attribute("for"))

    def fill(self, values: dict[str, str]) -> None:
        for label, value in values.items():
            control = self.field(label)
            if control.tag_name == "select":
                control.find_element(By.XPATH, f".//option[@value='{value}']").click()
            else:
                control.clear()
                control.send_keys(value)

    def press(self, text: str) -> None:
        """Press a button and wait for the page it leads to."""
        button = self.driver.find_element(By.XPATH, f"//main//button[normalize-space()='{text}']")
        self.wait_for_next_page(button.click)
        self.check()

    def wait_for_next_page(self, action) -> None:  # noqa: ANN001
        """Do ``action`` and wait until a new document has loaded (the old one is marked)."""
        self.driver.execute_script("window.miapOldPage = true;")
        action()
        WebDriverWait(self.driver, 30).until(
            lambda d: d.execute_script(
                "return window.miapOldPage === undefined && document.readyState === 'complete';"
            )
        )

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "main").text

    def check(self) -> None:
        """axe-core on the page: no serious or critical violation (once per page kind)."""
        path = self.driver.current_url.removeprefix(self.base).split("?")[0]
        kind = "/".join("N" if part.isdigit() else part for part in path.split("/"))
        kind += "#error" if "Error:" in self.driver.title else ""
        if kind in self.checked:
            return
        self.checked.add(kind)
        axe = Axe(self.driver, AXE_JS) if AXE_JS else Axe(self.driver)
        axe.inject()
        results = axe.run(options=None if AXE_JS else BUNDLED_AXE_OPTIONS)
        bad = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, [(v["id"], v["help"], [n["html"] for n in v["nodes"]][:3]) for v in bad]

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(self.artefacts / f"{name}.png"))

    def sign_in(self, email: str) -> None:
        self.open("/sign-in")
        self.fill({"Email address": email, "Password": PASSWORD})
        self.press("Sign in")
        assert "Sign out" in self.driver.page_source


def code_on_page(pages: Pages) -> str:
    return pages.driver.find_element(By.CSS_SELECTOR, "[data-code]").get_attribute("data-code")


@pytest.fixture(scope="module")
def registrar(server):
    return make_user(server, "registrar", TEST_UKPRN)


@pytest.fixture
def pages(browser, server, artefacts) -> Pages:
    return Pages(browser, portal_url(server), artefacts)


def _tab_to(pages: Pages, element_id: str, limit: int = 30) -> None:
    """Press Tab until the element with ``element_id`` has the focus."""
    body = pages.driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    for _ in range(limit):
        if pages.driver.switch_to.active_element.get_attribute("id") == element_id:
            return
        pages.driver.switch_to.active_element.send_keys(Keys.TAB)
    raise AssertionError(f"Tab never reached #{element_id}")


def test_keyboard_only_sign_in_and_find(pages, registrar):
    pages.open("/sign-in")
    pages.shot("sign-in")
    _tab_to(pages, "email")
    active = pages.driver.switch_to.active_element
    active.send_keys(registrar.email, Keys.TAB)
    pages.driver.switch_to.active_element.send_keys(PASSWORD, Keys.ENTER)
    WebDriverWait(pages.driver, 10).until(lambda d: "Sign out" in d.page_source)
    pages.check()
    pages.shot("home")
    pages.open("/find")
    _tab_to(pages, "GivenName", limit=40)
    person = synthetic_person()
    keys = [
        person["GivenName"],
        Keys.TAB,
        person["FamilyName"],
        Keys.TAB,
        person["DateOfBirth"],
        Keys.TAB,
    ]
    for key in keys:
        pages.driver.switch_to.active_element.send_keys(key)
    gender = pages.driver.switch_to.active_element
    assert gender.get_attribute("id") == "Gender"
    gender.send_keys("Male" if person["Gender"] == "1" else "Female", Keys.TAB)
    pages.driver.switch_to.active_element.send_keys(person["LastKnownPostCode"], Keys.ENTER)
    WebDriverWait(pages.driver, 10).until(lambda d: "Result" in d.page_source)
    assert code_on_page(pages) == "NO_MATCH"


def test_find_exact_possible_none_and_register_duplicate(pages, registrar):
    pages.sign_in(registrar.email)
    person = synthetic_person()
    labelled = {
        "Given name": person["GivenName"],
        "Family name": person["FamilyName"],
        "Date of birth": person["DateOfBirth"],
        "Gender": person["Gender"],
        "Postcode": person["LastKnownPostCode"],
    }
    pages.open("/find")
    pages.fill(labelled)
    pages.press("Find")
    assert code_on_page(pages) == "NO_MATCH"
    pages.open("/register")
    pages.press("Register")
    assert "There is a problem" in pages.driver.page_source
    pages.shot("register-errors")
    pages.fill(labelled)
    pages.fill({"Verification type": "0", "Ability to share": "1"})
    pages.press("Register")
    assert "The learner is registered with ULN" in pages.text()
    uln = pages.driver.find_element(By.ID, "uln").text
    pages.shot("learner")
    pages.open("/find")
    pages.fill(labelled)
    pages.press("Find")
    assert code_on_page(pages) == "EXACT" and uln in pages.text()
    pages.shot("find-exact")
    near = {**labelled, "Given name": person["GivenName"][:-2] + "xq"}
    pages.open("/find")
    pages.fill(near)
    pages.press("Find")
    assert code_on_page(pages) in ("POSSIBLE", "EXACT")
    pages.open("/register")
    pages.fill(labelled)
    pages.fill({"Verification type": "0", "Ability to share": "1"})
    pages.press("Register")
    assert "already registered" in pages.text()
    pages.shot("register-duplicate")
    pages.open(f"/learners/{uln}/edit")
    pages.fill({"Town (optional)": "Exeter"})
    pages.press("Save changes")
    assert "The changes are saved" in pages.text()
    pages.open("/verify")
    pages.fill({"ULN": uln, "Given name": person["GivenName"], "Family name": person["FamilyName"]})
    pages.press("Verify")
    assert code_on_page(pages) == "VERIFIED"


def _batch_file(folder: Path, rows: int) -> Path:
    stamp = dt.datetime.now().strftime("%d%m%Y%H%M")
    path = folder / f"LRB_{TEST_UKPRN}_{stamp}.CSV"
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ["GivenName", "FamilyName", "DateOfBirth", "Gender", "LastKnownPostCode"]
    writer.writerow(columns)
    for _ in range(rows):
        person = synthetic_person()
        writer.writerow([person[name] for name in columns])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


@pytest.mark.slow
def test_upload_a_batch_watch_it_and_download_the_output(pages, registrar, downloads, tmp_path):
    pages.sign_in(registrar.email)
    upload = _batch_file(tmp_path, 200)
    pages.open("/batches")
    pages.field("Batch file").send_keys(str(upload))
    pages.press("Upload")
    assert "Batch job" in pages.text()
    pages.shot("batch-progress")
    try:
        WebDriverWait(pages.driver, 240, poll_frequency=1).until(
            lambda d: d.find_element(By.ID, "state").get_attribute("data-state") == "finished"
        )
    except TimeoutException:
        pytest.fail(f"the job did not finish: {pages.text()}")
    pages.check()
    pages.shot("batch-finished")
    pages.driver.find_element(By.ID, "download").click()
    expected = downloads / upload.name.replace(".CSV", ".out.csv")
    deadline = time.monotonic() + 30
    while not expected.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert expected.exists(), list(downloads.iterdir())
    rows = list(csv.DictReader(expected.read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 200
    assert all(row["ReturnCode"].startswith("WS") for row in rows)
    assert sum(1 for row in rows if row["ULN"]) >= 190
    shutil.copy(expected, pages.artefacts / expected.name)
    pages.open("/batches")
    assert upload.name in pages.text()


def test_learner_sees_events_and_audit_and_opts_out(pages, server, db, registrar):
    support_plr = pytest.importorskip("tests.support_plr")
    pages.sign_in(registrar.email)
    person = synthetic_person()
    pages.open("/register")
    pages.fill(
        {
            "Given name": person["GivenName"],
            "Family name": person["FamilyName"],
            "Date of birth": person["DateOfBirth"],
            "Gender": person["Gender"],
            "Postcode": person["LastKnownPostCode"],
            "Verification type": "1",
            "Ability to share": "1",
        }
    )
    pages.press("Register")
    uln = pages.driver.find_element(By.ID, "uln").text
    support_plr.add_event(db, uln, TEST_UKPRN, subject="Portal Mathematics")
    plr_person = support_plr.Person(
        uln,
        person["GivenName"],
        person["FamilyName"],
        person["DateOfBirth"],
        person["Gender"],
        person["LastKnownPostCode"],
    )
    first = support_plr.learning_events(server.url, plr_person)
    assert first.model("ResponseCode") == "WSRC0004"
    pages.press("Give the learner access to the learner portal")
    link = activation_link(pages.driver.page_source)
    sign_out = pages.driver.find_element(By.XPATH, "//button[normalize-space()='Sign out']")
    pages.wait_for_next_page(sign_out.click)
    pages.driver.get(link)
    pages.check()
    pages.fill({"New password": PASSWORD, "Confirm the password": PASSWORD})
    pages.press("Set password")
    pages.open("/learner/sign-in")
    pages.fill(
        {
            "Unique learner number (ULN)": uln,
            "Date of birth": person["DateOfBirth"],
            "Password": PASSWORD,
        }
    )
    pages.press("Sign in")
    assert "Portal Mathematics" in pages.text()
    pages.shot("learner-record")
    pages.open("/me/audit")
    assert "Test College" in pages.text()
    pages.shot("learner-audit")
    pages.open("/me")
    pages.driver.find_element(By.XPATH, "//label[normalize-space()='No, they may not']").click()
    pages.press("Save my choice")
    assert "Your choice is saved" in pages.text()
    refused = support_plr.learning_events(server.url, plr_person)
    assert refused.model("ResponseCode") == "WSEC0206"


def test_the_other_pages_pass_axe(pages, server):
    """Pages the journeys do not reach: users, two-step sign-in, find by ULN, the refusal and
    not-found pages, and the administrator's page."""
    admin = make_user(server, "admin", TEST_UKPRN)
    pages.sign_in(admin.email)
    for path in ("/users", "/account/two-factor", "/find-uln", "/admin", "/no-such-page"):
        pages.open(path)
    pages.shot("not-found")
    pages.open("/users")
    pages.fill({"Email address": "axe.added@example.org"})
    pages.press("Add user")
    assert "activation link" in pages.text()
    pages.shot("users")
    service = make_user(server, "service-admin", None)
    pages.wait_for_next_page(
        pages.driver.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click
    )
    pages.sign_in(service.email)
    pages.open("/admin")
    assert "Providers" in pages.text()
    pages.shot("admin")
    pages.open("/admin/analysis")
    assert "Table" in pages.text()
    pages.shot("analysis")
