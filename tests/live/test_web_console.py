"""The web console in a real browser (Debian's headless Chromium driven by chromedriver through Selenium)
against `tonle serve --https` on the live small lab, with two real OS accounts (useradd, removed at the end).

An operator asks for every upstream of Poipet: the guard refuses it into "pending approval", and the
operator's own page offers no usable approve button. A second account (approver role) logs in, sees the blast
radius and the lines pushed, and approves; the operator's overview, left open, shows the session go dark
through server-sent events (the page is never reloaded), which the carrier's side confirms. The operator
restores it from the overview (at phone width: the button is on screen, nothing scrolls sideways), and the audit
page shows who did what and a verified signed chain.

Then the device page reads r2 itself: its upstream session Established with the prefix count vtysh gives on
r2, and no difference between intended and running; a hand edit on r2 then shows there (a session the intent
lacks, a `-` line), and the plan made from that page to remove it is refused at apply outside a change window,
the reason on the job's page; and the overview fills a wall screen with every site in one row.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import LabHandle, wait_until
from tonle.interfaces import client, service
from tonle.interfaces.protocol import PasswordParams, UserNameParams, UserParams
from tonle.state.disconnects import records

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CARRIER = ("up1", "198.51.100.0")  # the carrier's side of r2's only upstream session (POI)
UPSTREAM = "198.51.100.1"  # the same session seen from r2: the carrier's address
HAND_PEER = "192.0.2.99"
HAND_EDIT = f"neighbor {HAND_PEER} remote-as 65999"
PHONE, WALL, DESK = (390, 844), (2560, 1440), (1280, 1000)


@dataclass
class Console:
    url: str
    lab: LabHandle
    users: dict[str, str]
    passwords: dict[str, str]

    def carrier_state(self) -> str:
        summary = json.loads(self.lab.vtysh(CARRIER[0], "show bgp vrf default summary json"))
        return str(summary["ipv4Unicast"]["peers"].get(CARRIER[1], {}).get("state", "Missing"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def console(small_lab: LabHandle) -> Iterator[Console]:
    tag = secrets.token_hex(2)
    users = {"operator": f"tnlb-{tag}o", "approver": f"tnlb-{tag}a"}
    made: list[str] = []
    run = Path(tempfile.mkdtemp(prefix="tnlb-sock-"))
    sock = run / "tonle.sock"
    url = f"https://127.0.0.1:{_free_port()}"
    try:
        for name in users.values():
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                           check=True, capture_output=True)
            made.append(name)
        service.start(small_lab.config_file, small_lab.state_dir, sock, https=url.removeprefix("https://"))
        passwords = {}
        for who, role in (("operator", "operator"), ("approver", "approver")):
            for method, params in (("users.add", UserParams(name=users[who], role=role)),
                                   ("users.passwd", PasswordParams(name=users[who],
                                                                   password=(pw := secrets.token_urlsafe(12))))):
                answer = client.call(sock, method, params, progress=lambda _m: None)
                assert answer is not None and answer.exit == 0, answer
            passwords[who] = pw
        yield Console(url, small_lab, users, passwords)
    finally:
        try:
            for name in made:  # the lab's state is the session's: leave no account in it
                client.call(sock, "users.remove", UserNameParams(name=name), progress=lambda _m: None)
        finally:
            service.stop(small_lab.state_dir)
            for name in made:
                subprocess.run(["userdel", name], check=False, capture_output=True)
            shutil.rmtree(run, ignore_errors=True)
    left = [n for n in users.values() if subprocess.run(["getent", "passwd", n], check=False,
                                                                    capture_output=True).returncode == 0]
    assert not left, f"OS accounts left behind: {left}"


@pytest.fixture
def browsers() -> Iterator[list[WebDriver]]:
    """Headless Chromium instances, each with a new profile; all quit at the end."""
    opened: list[tuple[WebDriver, Path]] = []

    def new() -> WebDriver:
        profile = Path(tempfile.mkdtemp(prefix="tnlb-chromium-"))
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={profile}"):
            opts.add_argument(arg)
        opts.accept_insecure_certs = True  # the lab's self-signed certificate
        driver = webdriver.Chrome(options=opts, service=DriverService(executable_path=CHROMEDRIVER))
        driver.implicitly_wait(0)
        opened.append((driver, profile))
        return driver

    holder: list[WebDriver] = []
    holder.append(new())
    holder.append(new())
    try:
        yield holder
    finally:
        for driver, profile in opened:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)


def _login(b: WebDriver, c: Console, who: str) -> None:
    b.get(f"{c.url}/login")
    b.find_element(By.ID, "username").send_keys(c.users[who])
    b.find_element(By.ID, "password").send_keys(c.passwords[who])
    b.find_element(By.ID, "login").click()
    WebDriverWait(b, 15).until(lambda d: d.find_elements(By.ID, "whoami"))
    assert c.users[who] in b.find_element(By.ID, "whoami").text


def _text(b: WebDriver, element_id: str) -> str:
    # The overview's live updates replace elements: one found a moment ago may be gone; look it up again.
    for _ in range(5):
        try:
            found = b.find_elements(By.ID, element_id)
            return found[0].text if found else ""
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"#{element_id} kept being replaced")


def _no_sideways_scroll(b: WebDriver) -> None:
    width = b.execute_script("return [document.documentElement.scrollWidth, window.innerWidth];")
    assert width[0] <= width[1], f"{b.current_url}: page {width[0]} px wide in a {width[1]} px window"


def _click(b: WebDriver, css: str) -> None:
    for _ in range(5):  # a page just opened gets its first live update, which replaces the fragment
        try:
            b.find_element(By.CSS_SELECTOR, css).click()
        except StaleElementReferenceException:
            continue
        return
    raise AssertionError(f"{css} kept being replaced")


def _on_screen(b: WebDriver, css: str) -> None:
    """The element is displayed and wholly inside the window's width (not off in a scrolled table)."""
    for _ in range(5):  # the live updates may replace it between two looks: look it up again
        try:
            el = b.find_element(By.CSS_SELECTOR, css)
            b.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
            box = b.execute_script("var r = arguments[0].getBoundingClientRect(); "
                                   "return [r.left, r.right, r.width, window.innerWidth];", el)
            shown = el.is_displayed()
        except StaleElementReferenceException:
            continue
        assert shown and box[2] > 0 and box[0] >= 0 and box[1] <= box[3], (css, box)
        return
    raise AssertionError(f"{css} kept being replaced")


def test_two_people_disconnect_and_restore_in_the_console(console: Console, browsers: list[WebDriver]) -> None:
    op, ap = browsers
    _login(op, console, "operator")
    assert console.carrier_state() == "Established"

    # the operator: dry run (the blast radius), then the request, which the guard refuses into pending approval
    op.get(f"{console.url}/disconnects")
    op.find_element(By.CSS_SELECTOR, "#scope_kind option[value='site-upstreams']").click()
    for field, value in (("scope_value", "POI"), ("reason", "carrier fibre cut, browser test"), ("ticket", "INC-42")):
        op.find_element(By.ID, field).send_keys(value)
    op.find_element(By.ID, "dry-run").click()
    WebDriverWait(op, 30).until(lambda d: d.find_elements(By.ID, "result"))
    assert "OVER LIMIT" in _text(op, "result") and "dry run: nothing changed" in _text(op, "result")
    assert not records(console.lab.state_dir)
    op.find_element(By.ID, "submit").click()
    WebDriverWait(op, 30).until(lambda d: "needs approval" in _text(d, "result-status"))
    (rec,) = records(console.lab.state_dir)
    assert rec.status == "pending-approval" and rec.operator == console.users["operator"]
    assert rec.id in _text(op, "pending-disconnects")
    op.get(f"{console.url}/disconnects/{rec.id}")
    assert not op.find_element(By.ID, "approve").is_enabled()
    assert "you requested it" in _text(op, "cannot-approve")

    # the operator's overview stays open; a marker tells whether the page was ever reloaded
    op.get(f"{console.url}/")
    WebDriverWait(op, 15).until(lambda d: "on" in d.find_element(By.ID, "live").get_attribute("class"))
    op.execute_script("window.__tonleNotReloaded = true;")
    assert _text(op, "up-POI").startswith("1/1")

    # the approver reviews the blast radius and the lines pushed, then approves
    _login(ap, console, "approver")
    ap.get(f"{console.url}/disconnects/{rec.id}")
    preview = _text(ap, "preview")
    assert "pushed to r2:" in preview and "OVER LIMIT" in preview
    ap.find_element(By.ID, "approve").click()
    WebDriverWait(ap, 90).until(lambda d: _text(d, "outcome"))
    assert _text(ap, "outcome") == "done", _text(ap, "outcome-lines")
    assert console.carrier_state() != "Established"

    # the operator's overview went dark by itself
    WebDriverWait(op, 15).until(lambda d: _text(d, "up-POI").startswith("0/1"))
    assert op.execute_script("return window.__tonleNotReloaded === true;")
    dark = _text(op, "dark-sessions")
    assert "r2 198.51.100.1" in dark and rec.id in dark and "INC-42" in dark
    assert "left" in _text(op, "active-disconnects"), "the TTL counts down"

    # on a phone: nothing scrolls sideways and the restore button is on screen, on the overview and the list
    op.set_window_size(*PHONE)
    restore = f"#active-disconnects tr[data-id='{rec.id}'] button.restore"
    _no_sideways_scroll(op)
    _on_screen(op, restore)
    assert op.execute_script("return window.__tonleNotReloaded === true;")
    op.get(f"{console.url}/disconnects")
    _no_sideways_scroll(op)
    _on_screen(op, restore)
    op.get(f"{console.url}/")

    # restore from the overview's button (still at phone width)
    _click(op, restore)
    WebDriverWait(op, 90).until(lambda d: _text(d, "outcome"))
    assert _text(op, "outcome") == "done", _text(op, "outcome-lines")
    wait_until(lambda: console.carrier_state() == "Established", 30, "the carrier's session back")
    op.set_window_size(*DESK)
    op.get(f"{console.url}/")
    assert _text(op, "up-POI").startswith("1/1") and _text(op, "no-dark")

    # the audit view: who did what, and the signed chain verified
    op.get(f"{console.url}/audit?object={rec.id}")
    rows = [r.text for r in op.find_elements(By.CSS_SELECTOR, "#audit tbody tr")]
    assert any("disconnect-refused" in r and console.users["operator"] in r for r in rows)
    assert any("approv" in r and console.users["approver"] in r for r in rows)
    assert any("restore" in r and console.users["operator"] in r for r in rows)
    assert "intact" in _text(op, "verify")


def test_device_page_reads_the_device_and_apply_is_refused_outside_a_window(console: Console,
                                                                           browsers: list[WebDriver]) -> None:
    op = browsers[0]
    _login(op, console, "operator")

    def summary() -> int:
        peers = json.loads(console.lab.vtysh("r2", "show bgp summary json"))["ipv4Unicast"]["peers"]
        return int(peers[UPSTREAM]["pfxRcd"]) if peers[UPSTREAM]["state"] == "Established" else -1

    seen = [""]

    def page_matches(b: WebDriver) -> bool:
        b.get(f"{console.url}/devices/r2")
        seen[0] = b.find_element(By.TAG_NAME, "main").text[:1500]
        row = b.find_elements(By.ID, f"session-{UPSTREAM}")
        if not row or "Established" not in row[0].find_element(By.CLASS_NAME, "bgp-state").text:
            return False
        shown = row[0].find_element(By.CLASS_NAME, "accepted").text
        return shown == str(summary()) and int(shown) > 0

    deadline = time.monotonic() + 60  # the restore of the test before converges
    while not page_matches(op):
        assert time.monotonic() < deadline, f"r2's page never matched vtysh ({summary()} prefixes): {seen[0]}"
        time.sleep(2)
    assert "Read from the device" in _text(op, "device-read") and "unreachable" not in _text(op, "device-read")
    assert _text(op, "device-diff") == "no difference"
    op.set_window_size(*PHONE)
    _no_sideways_scroll(op)
    op.set_window_size(*DESK)

    # a hand edit on r2 (a session the intent lacks) shows on its page; a plan made there to remove it is
    # refused at apply: no change window is open (the small lab defines none)
    console.lab.vtysh("r2", f"configure terminal\nrouter bgp 64500\n{HAND_EDIT}")
    try:
        op.get(f"{console.url}/devices/r2")
        assert "not in the intent" in _text(op, f"session-{HAND_PEER}")
        diff = _text(op, "device-diff").splitlines()
        assert any(ln.startswith("- ") and HAND_EDIT in ln for ln in diff), diff
        op.find_element(By.CSS_SELECTOR, "form[action='/plans'] button").click()
        WebDriverWait(op, 90).until(lambda d: d.find_elements(By.ID, "apply"))
        op.find_element(By.ID, "apply").click()
        WebDriverWait(op, 90).until(lambda d: _text(d, "job-state").startswith("done"))
        assert _text(op, "job-state") != "done, exit 0"
        assert "outside a change window" in _text(op, "job-progress")
        assert HAND_EDIT in console.lab.vtysh("r2", "show running-config"), "nothing was applied"
    finally:
        console.lab.vtysh("r2", f"configure terminal\nrouter bgp 64500\nno neighbor {HAND_PEER}")

    # a wall screen: every site in one row, nothing scrolls sideways
    op.set_window_size(*WALL)
    op.get(f"{console.url}/")
    tops = set(op.execute_script(  # one look (the live update replaces the cards: no element held across calls)
        "return Array.from(document.querySelectorAll('.sites .site'), e => e.getBoundingClientRect().top);"))
    assert len(tops) == 1, f"sites on {len(tops)} rows"
    _no_sideways_scroll(op)
