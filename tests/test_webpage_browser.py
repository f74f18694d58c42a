"""The charger's web page in a real browser (issue 17, docs/webpage.md).

Debian's headless Chromium (packages chromium and chromium-driver, which
.ci/run installs), driven by Selenium through Debian's chromedriver: nothing
is downloaded at run time. The page is served by ``evsectl sim`` running the
real firmware under MicroPython, in real time; the simulated vehicle is
driven through /sim/v1 as a test of the WebAPI would.

Every wait is on a condition with a deadline (WebDriverWait), never a sleep.
Screenshots at a phone's width (390 px) and a desktop's (1280 px) are
written to tests/artifacts/webpage/ (ignored by git); the path is printed.
"""

import base64
import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from test_webapi import wait_restart

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "webpage"
WAIT_S = 20  # the page polls every 2 s; a restart of the simulator takes a few

API = "/webapi/v1/"


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    assert not missing, "install Debian's chromium and chromium-driver (.ci/run does): %s missing" % missing
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--disable-sync", "--hide-scrollbars"):
        options.add_argument(arg)
    # Chrome's DevTools network events, to see every request the page makes.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def charger(sim_factory, browser):
    """The real firmware in real time, and the browser on a blank page, its
    logs and storage of any earlier test cleared."""
    sim = sim_factory(virtual_time=False)
    browser.get("about:blank")
    browser.get_log("performance")
    browser.set_window_size(1280, 900)
    return sim.client


def url(client, hash=""):
    return "http://127.0.0.1:%d/%s" % (client.port, hash)


def open_page(browser, client, hash=""):
    """The page, as a new tab would open it: nothing stored for the charger."""
    browser.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": url(client)[:-1], "storageTypes": "all"})
    browser.get(url(client, hash))
    until(browser, lambda d: d.find_element(By.ID, "badge").text not in ("", "…"), "the first Status")


def until(browser, condition, what, timeout=WAIT_S):
    try:
        return WebDriverWait(browser, timeout, poll_frequency=0.1).until(condition)
    except TimeoutException:
        raise AssertionError("page never showed %s" % what) from None


def text_is(element_id, text):
    return lambda d: d.find_element(By.ID, element_id).text == text


def click(browser, element_id):
    until(browser, EC.element_to_be_clickable((By.ID, element_id)), "#%s enabled" % element_id).click()


def accept_confirm(browser):
    until(browser, EC.alert_is_present(), "its question").accept()


def viewport(browser, width, height=900):
    """Lay the page out as a phone (``width`` < 500: a mobile viewport) or a
    desktop of ``width`` CSS pixels shows it."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})


def shot(browser, name):
    """Screenshots of the page as it is, at a phone's width and a desktop's,
    each the whole page's height, so that nothing below the fold is missed."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        for width in (390, 1280):
            viewport(browser, width)
            height = browser.execute_script("return document.documentElement.scrollHeight")
            viewport(browser, width, min(height, 6000))
            path = ARTIFACTS / ("%s-%d.png" % (name, width))
            path.write_bytes(base64.b64decode(browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})["data"]))
            paths.append(path)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    print("screenshots: %s" % ", ".join(str(p) for p in paths))
    return paths


def requests_seen(browser):
    """The URL of every request the browser made since the last call (DevTools)."""
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def responses_seen(browser):
    """(url, status) of every answer the browser got since the last call."""
    seen = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.responseReceived":
            r = message["params"]["response"]
            seen.append((r["url"], r["status"]))
    return seen


# -- Status ---------------------------------------------------------------------------


def test_status_follows_a_vehicle_plugged_in_through_the_simulator(charger, browser):
    open_page(browser, charger)
    until(browser, text_is("state", "Ready, no vehicle"), "the idle state")
    charger.vehicle(State="B", CableA=32)
    until(browser, text_is("state", "Vehicle connected"), "the vehicle connected")
    charger.vehicle(State="C")
    until(browser, text_is("state", "Charging"), "charging")
    until(browser, lambda d: d.find_element(By.ID, "s-offer").text == "16 A × 3 phases", "the offer")
    until(browser, lambda d: d.find_element(By.ID, "s-power").text.startswith("11.04 kW"), "the power")
    assert browser.find_element(By.ID, "badge").text == "Charging"
    assert browser.find_element(By.ID, "s-cable").text == "tethered"  # case C, the simulator's default
    assert browser.find_element(By.ID, "s-source").text == "Settings"
    assert browser.find_element(By.ID, "fault").get_attribute("hidden") is not None
    shot(browser, "status-charging")


def test_a_fault_says_what_happened_and_what_to_do(charger, browser):
    charger.config(Meter1Type=1)
    open_page(browser, charger)
    charger.vehicle(State="C")
    until(browser, text_is("state", "Charging"), "charging")
    until(browser, lambda d: "TotalSystemPower[W]" in d.find_element(By.ID, "meters").text, "meter 1's registers")
    charger.faults(Epo=True)
    until(browser, text_is("state", "Emergency stop"), "the emergency stop")
    fault = browser.find_element(By.ID, "fault")
    assert fault.is_displayed()
    assert "emergency power-off input is active" in browser.find_element(By.ID, "f-todo").text
    shot(browser, "status-fault")


# -- Controls ---------------------------------------------------------------------------


def test_start_boost_and_stop_from_the_page(charger, browser):
    charger.config(ChargeAutoStart=False)
    open_page(browser, charger, "#controls")
    charger.vehicle(State="C")
    until(browser, text_is("c-state", "Vehicle connected"), "the vehicle waiting for Start")
    until(browser, text_is("btn-start", "Start"), "Start")
    click(browser, "btn-start")
    until(browser, text_is("c-state", "Charging"), "charging after Start")
    assert charger.status()["ChargerStarted"] is True
    until(browser, text_is("btn-boost", "Boost"), "Boost offered")
    click(browser, "btn-boost")
    until(browser, text_is("btn-boost", "Boost off"), "Boost on")
    assert charger.status()["ChargeBoosted"] is True
    # The offer rises within the 5 s the duty may change once in, and the page shows it.
    until(browser, lambda d: d.find_element(By.ID, "s-offer").get_attribute("textContent") == "32 A × 3 phases",
          "the boosted offer")
    assert charger.status()["ActualCurrent"] == 32
    shot(browser, "controls-boosted")
    click(browser, "btn-boost")
    until(browser, text_is("btn-boost", "Boost"), "Boost off again")
    assert charger.status()["ChargeBoosted"] is False
    click(browser, "btn-start")
    until(browser, text_is("btn-start", "Start"), "stopped")
    until(browser, text_is("c-state", "Vehicle connected"), "the vehicle no longer charging")
    assert charger.status()["ChargerStarted"] is False


def test_the_charge_current_is_set_from_the_controls(charger, browser):
    open_page(browser, charger, "#controls")
    until(browser, lambda d: d.find_element(By.ID, "cc").get_attribute("value") == "16", "the current setting")
    field = browser.find_element(By.ID, "cc")
    field.clear()
    field.send_keys("10")
    click(browser, "cc-save")
    until(browser, text_is("cc-msg", "Set to 10 A."), "the new current")
    assert charger.get(API + "SystemConfig").json["ChargeCurrent"] == 10
    field.clear()
    field.send_keys("5")
    click(browser, "cc-save")
    until(browser, text_is("cc-err", "must be between 6 and 80"), "the API's message")
    assert charger.get(API + "SystemConfig").json["ChargeCurrent"] == 10


# -- Settings ---------------------------------------------------------------------------


def group_of(browser, key):
    """The index of the settings group (form g-<i>) holding ``key``'s field."""
    form = browser.find_element(By.ID, "f-" + key).find_element(By.XPATH, "./ancestor::form")
    return form.get_attribute("id")[2:]


def test_every_setting_has_a_field(charger, browser):
    open_page(browser, charger, "#settings")
    config = charger.get(API + "SystemConfig").json
    settings = [k for k in config if k not in ("TimeStamp", "SystemVersion") and not k.endswith("Set")]
    settings += [k[:-3] for k in config if k.endswith("Set")]  # the secrets: WiFiPassword...
    assert len(settings) > 40
    missing = [k for k in settings if not browser.find_elements(By.ID, "f-" + k)]
    assert not missing
    until(browser, lambda d: d.find_element(By.ID, "f-MeterBaud").get_attribute("value") == "9600", "the settings")
    shot(browser, "settings")
    browser.get(url(charger, "#integrations"))
    until(browser, lambda d: "OCPP: off" in d.find_element(By.ID, "i-state").text, "the integrations")
    shot(browser, "integrations")


def test_a_setting_persists_across_a_reload_and_a_restart(charger, browser):
    open_page(browser, charger, "#settings")
    until(browser, lambda d: d.find_element(By.ID, "f-DeviceName").get_attribute("value") == "EVSE", "the settings")
    name = browser.find_element(By.ID, "f-DeviceName")
    name.clear()
    name.send_keys("Garage")
    boost = browser.find_element(By.ID, "f-ChargeCurrentBoost")
    boost.clear()
    boost.send_keys("25")
    auto = browser.find_element(By.ID, "f-ChargeAutoStart")
    assert auto.is_selected()
    auto.click()
    click(browser, "save-0")  # the Charging group: boost and auto start
    until(browser, text_is("msg-0", "Saved."), "saved")
    click(browser, "save-%s" % group_of(browser, "DeviceName"))
    until(browser, text_is("msg-%s" % group_of(browser, "DeviceName"), "Saved."), "saved")
    config = charger.get(API + "SystemConfig").json
    assert (config["DeviceName"], config["ChargeCurrentBoost"], config["ChargeAutoStart"]) == ("Garage", 25, False)

    def shows_the_new_settings(d):
        return (d.find_element(By.ID, "f-DeviceName").get_attribute("value") == "Garage"
                and d.find_element(By.ID, "f-ChargeCurrentBoost").get_attribute("value") == "25"
                and not d.find_element(By.ID, "f-ChargeAutoStart").is_selected()
                and d.find_element(By.ID, "name").text == "Garage")

    browser.refresh()
    until(browser, shows_the_new_settings, "the settings after a reload")
    before = charger.status()["TimeStamp"]
    browser.get(url(charger, "#system"))
    click(browser, "btn-reset")
    accept_confirm(browser)
    until(browser, text_is("m-msg", "Reset: Performing"), "the restart under way")
    wait_restart(charger, before)
    browser.get(url(charger, "#settings"))
    until(browser, shows_the_new_settings, "the settings after a restart")


def test_a_bad_value_shows_the_apis_message_beside_its_field(charger, browser):
    open_page(browser, charger, "#settings")
    until(browser, lambda d: d.find_element(By.ID, "f-ChargeCurrent").get_attribute("value") == "16", "the settings")
    field = browser.find_element(By.ID, "f-ChargeCurrent")
    field.clear()
    field.send_keys("99")
    click(browser, "save-0")
    expected = charger.post(API + "SystemConfig", {"ChargeCurrent": 99}).json["Errors"]["ChargeCurrent"]
    until(browser, text_is("e-ChargeCurrent", expected), "the API's message beside ChargeCurrent")
    assert expected == "must be between 6 and 80"
    assert "bad" in browser.find_element(By.ID, "l-ChargeCurrent").get_attribute("class")
    # An IP meter without an address: the API's reason, beside the meter type.
    meters = group_of(browser, "Meter1Type")
    Select(browser.find_element(By.ID, "f-Meter1Type")).select_by_value("4")
    ip = browser.find_element(By.ID, "f-Meter2Ip")
    ip.send_keys("300.1.2.3")
    click(browser, "save-" + meters)
    until(browser, lambda d: d.find_element(By.ID, "e-Meter2Ip").text.startswith("must be an IPv4 address"),
          "the address refused")
    assert browser.find_element(By.ID, "e-Meter1Type").text.startswith("an IP meter type needs a valid Meter1Ip")
    shot(browser, "settings-refused")
    config = charger.get(API + "SystemConfig").json
    assert (config["ChargeCurrent"], config["Meter1Type"], config["Meter2Ip"]) == (16, 0, "")


# -- Authentication and first setup ---------------------------------------------------------


def test_first_setup_in_the_access_point_then_changes_ask_for_the_password(charger, browser):
    charger.ok(charger.post(API + "SystemInfo", {"SCode": "WiFiSetToAP", "SCodeData": ""}))
    open_page(browser, charger)
    until(browser, lambda d: d.current_url.endswith("#setup"), "the setup tab in the access point")
    until(browser, lambda d: "access point (EVSE-000001)" in d.find_element(By.ID, "u-why").text, "why")
    shot(browser, "setup")
    browser.find_element(By.ID, "u-WiFiSSID").send_keys("HomeNet")
    browser.find_element(By.ID, "u-WiFiPassword").send_keys("short")
    browser.find_element(By.ID, "u-AdminPassword").send_keys("s3cret-pw")
    browser.find_element(By.ID, "u-again").send_keys("s3cret-pw")
    click(browser, "u-save")
    until(browser, text_is("ue-WiFiPassword", "must be 8 to 63 characters long"), "the API's message")
    assert charger.get(API + "SystemConfig").json["AdminPasswordSet"] is False  # all or nothing
    pw = browser.find_element(By.ID, "u-WiFiPassword")
    pw.clear()
    pw.send_keys("long enough")
    click(browser, "u-save")
    until(browser, lambda d: d.find_element(By.ID, "u-msg").text.startswith("Saved."), "saved")
    config = charger.get(API + "SystemConfig").json
    assert (config["WiFiSSID"], config["WiFiPasswordSet"], config["AdminPasswordSet"]) == ("HomeNet", True, True)

    # A new visit: the page holds no password, and the browser none it would add.
    browser.get("about:blank")
    open_page(browser, charger, "#controls")
    charger.vehicle(State="C")
    until(browser, text_is("btn-start", "Stop"), "a session started by itself")
    requests_seen(browser)
    click(browser, "btn-start")
    dialog = until(browser, EC.visibility_of_element_located((By.ID, "login")), "the password dialog")
    browser.find_element(By.ID, "login-pw").send_keys("wrong")
    browser.find_element(By.ID, "login-ok").click()
    until(browser, text_is("login-msg", "Wrong password; try again."), "a wrong password said")
    assert charger.status()["ChargerStarted"] is True
    browser.find_element(By.ID, "login-pw").send_keys("s3cret-pw")
    browser.find_element(By.ID, "login-ok").click()
    until(browser, lambda d: not dialog.is_displayed(), "the dialog closed")
    until(browser, text_is("btn-start", "Start"), "stopped")
    assert charger.status()["ChargerStarted"] is False
    # The next change needs no question: the page kept the password for this tab.
    click(browser, "btn-start")
    until(browser, text_is("btn-start", "Stop"), "started again")
    assert not dialog.is_displayed()


# -- What the page asks for, and what other sites may not do -----------------------------------


def test_the_page_requests_nothing_but_the_charger(charger, browser):
    charger.config(Meter1Type=1, Meter2Type=1)
    open_page(browser, charger)
    charger.vehicle(State="C")
    until(browser, lambda d: "Meter 2" in d.find_element(By.ID, "meters").text, "both meters")
    for tab in ("controls", "settings", "system", "integrations", "setup", "status"):
        browser.get(url(charger, "#" + tab))
        until(browser, lambda d: d.find_element(By.ID, tab).is_displayed(), "the %s tab" % tab)
    until(browser, lambda d: d.find_element(By.ID, "y-version").get_attribute("textContent") != "", "the system tab filled")
    seen = requests_seen(browser)
    origin = url(charger)
    assert any(u == origin for u in seen) and any(u.endswith(API + "Meter2") for u in seen)
    assert [u for u in seen if not u.startswith(origin) and not u.startswith("data:")] == []
    # And as the page itself saw it: every resource it fetched.
    entries = browser.execute_script(
        "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
        ".map(e => e.name)")
    assert entries and [u for u in entries if not u.startswith(origin)] == []


EVIL_PAGE = """<!doctype html><title>evil</title>
<form id=f method=post action="%(target)sSystemConfig" enctype="text/plain" target=sink>
<input name='{"ChargeCurrent": 7, "x": "' value='"}'></form><iframe name=sink></iframe>
<script>
fetch("%(target)sSystemConfig", {method: "POST", mode: "no-cors", body: '{"ChargeCurrent": 7}'})
  .then(() => { document.title = "sent"; document.getElementById("f").submit(); });
</script>"""


class _Evil(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args):
        pass


def test_another_site_cannot_change_the_charger_through_the_browser(charger, browser):
    """A page of another site (here another port of this machine: another
    origin) posts to the charger with fetch and with a form, as a CSRF
    attack would; the browser sends both, the charger refuses both, 403,
    and nothing changes."""
    _Evil.page = (EVIL_PAGE % {"target": url(charger, "webapi/v1/")}).encode()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Evil)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        browser.get("http://127.0.0.1:%d/" % server.server_port)
        until(browser, lambda d: d.title == "sent", "the forged requests sent")
        target = url(charger, "webapi/v1/SystemConfig")

        seen = []

        def both_refused(d):
            seen.extend(responses_seen(d))
            return len([s for u, s in seen if u == target]) >= 2

        until(browser, both_refused, "the charger's answers to both")
        assert [s for u, s in seen if u == target] == [403, 403]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert charger.get(API + "SystemConfig").json["ChargeCurrent"] == 16


# -- How it looks -----------------------------------------------------------------------


def test_screenshots_of_every_tab(charger, browser):
    charger.config(Meter1Type=1, Meter1PerPhase=True)
    open_page(browser, charger)
    charger.vehicle(State="C")
    until(browser, lambda d: "Phase1Current[A]" in d.find_element(By.ID, "meters").text, "the meters")
    until(browser, lambda d: d.find_element(By.ID, "s-phases").text.startswith("L1 16"), "phase currents")
    shot(browser, "status")
    for tab, ready in (("controls", "c-state"), ("system", "y-version")):
        browser.get(url(charger, "#" + tab))
        until(browser, lambda d: d.find_element(By.ID, ready).text not in ("", "…"), tab)
        shot(browser, tab)
    # Nothing wider than a phone's screen (360 px, narrower than the shots): no sideways scrolling.
    viewport(browser, 360)
    try:
        for tab in ("status", "controls", "settings", "system", "integrations", "setup"):
            browser.get(url(charger, "#" + tab))
            until(browser, lambda d: d.find_element(By.ID, tab).is_displayed(), tab)
            width = browser.execute_script("return document.documentElement.scrollWidth")
            assert width <= 360, (tab, width)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
