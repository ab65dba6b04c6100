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

Inside a change window (written to the lab's inventory for the test, then removed) a policy edit to r2's
upstream is planned and applied from the console: a viewer sees no Apply button and is refused when it posts
anyway; the operator's job page shows the progress lines as they happen (server-sent events, no reload) and
ends "confirmed"; r2's running config holds the change and the audit page names the operator. The edit is
then undone and applied back, so the lab is as it was.

Last, r2's management link is cut for real (its port on the management bridge set down): its device page
still answers within the read time limit, "unreachable since" with the reason; once the link is back the
page reads r2 again. Every cell of a phone card carries its column's name (checked at 390 px wide).
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
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import LabHandle, wait_until, write_window
from tonle.interfaces import client, service
from tonle.interfaces.protocol import Answer, ApplyParams, PasswordParams, PlanParams, UserNameParams, UserParams
from tonle.interfaces.web.live import READ_TIMEOUT
from tonle.state.disconnects import records

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CARRIER = ("up1", "198.51.100.0")  # the carrier's side of r2's only upstream session (POI)
UPSTREAM = "198.51.100.1"  # the same session seen from r2: the carrier's address
HAND_PEER = "192.0.2.99"
HAND_EDIT = f"neighbor {HAND_PEER} remote-as 65999"
PHONE, WALL, DESK = (390, 844), (2560, 1440), (1280, 1000)
UP1_SESSIONS = "    sessions: [{device: r2, link: r2-up1}]\n"  # up1's entry in the small lab's peers.yaml
LOCAL_PREF = "set local-preference 120"  # what the policy edit below puts in r2's import route-map for up1


@dataclass
class Console:
    url: str
    lab: LabHandle
    users: dict[str, str]
    passwords: dict[str, str]
    sock: Path  # the service's Unix socket (root acts there, as from the CLI)

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
    users = {"operator": f"tnlb-{tag}o", "approver": f"tnlb-{tag}a", "viewer": f"tnlb-{tag}v"}
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
        for who, role in (("operator", "operator"), ("approver", "approver"), ("viewer", "viewer")):
            for method, params in (("users.add", UserParams(name=users[who], role=role)),
                                   ("users.passwd", PasswordParams(name=users[who],
                                                                   password=(pw := secrets.token_urlsafe(12))))):
                answer = client.call(sock, method, params, progress=lambda _m: None)
                assert answer is not None and answer.exit == 0, answer
            passwords[who] = pw
        yield Console(url, small_lab, users, passwords, sock)
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


def _cell_label(b: WebDriver, css: str) -> list[str]:
    """[the label a phone card shows before the cell (its ::before content), the cell's own text], read in one
    look; the label must be displayed on the cell's line (inline) and the header row hidden."""
    got = b.execute_script(
        "var td = document.querySelector(arguments[0]); if (!td) return null;"
        "var before = getComputedStyle(td, '::before'), head = td.closest('table').querySelector('thead');"
        "return [before.content, before.display, getComputedStyle(head).display, td.textContent.trim()];", css)
    assert got is not None, f"no {css}"
    content, display, head, text = got
    assert display == "inline-block" and head == "none", (css, got)
    return [json.loads(content) if content.startswith('"') else content, " ".join(text.split())]


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
    # each cell of the card names its column beside its value (the header row is hidden on a phone)
    assert _cell_label(op, f"#active-disconnects tr[data-id='{rec.id}'] td:nth-child(3)") == ["ticket", "INC-42"]
    assert _cell_label(op, f"#active-disconnects tr[data-id='{rec.id}'] td:nth-child(4)") == [
        "by", f"{console.users['operator']} / {console.users['approver']}"]
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


def _apply_as_root(c: Console, host: str) -> Answer:
    """Plan `host` and apply it at once through the service's socket, as root (briefly held gates)."""
    plan = client.call(c.sock, "plan", PlanParams(hosts=[host]), progress=lambda _m: None)
    assert plan is not None and plan.exit == 0, plan
    done = client.call(c.sock, "apply", ApplyParams(plan=plan.data["id"], settle=30, hold=1), progress=lambda _m: None)
    assert done is not None, "the service did not answer"
    return done


def test_apply_from_the_console_inside_a_window_shows_its_progress_live(console: Console,
                                                                       browsers: list[WebDriver]) -> None:
    op, viewer = browsers
    inventory = console.lab.config_file.parent / "inventory"
    peers_file, window_file = inventory / "peers.yaml", inventory / "windows.yaml"
    original = peers_file.read_text()
    assert UP1_SESSIONS in original and not window_file.exists()
    # a change window open now, and a policy edit that changes r2 alone: what up1 sends gets local-pref 120
    write_window(inventory, open_now=True)
    peers_file.write_text(original.replace(UP1_SESSIONS, UP1_SESSIONS + "    import: {local_pref: 120}\n", 1))
    try:
        _login(op, console, "operator")
        op.get(f"{console.url}/plans")
        Select(op.find_element(By.NAME, "host")).select_by_visible_text("r2")
        op.find_element(By.ID, "plan").click()
        WebDriverWait(op, 90).until(lambda d: d.find_elements(By.ID, "apply"))
        plan_url = op.current_url
        pid = plan_url.rsplit("/", 1)[1]
        assert LOCAL_PREF in op.find_element(By.TAG_NAME, "main").text, "the plan's diff shows the edit"

        # a viewer sees the plan but no Apply button, and a post of its own is refused
        _login(viewer, console, "viewer")
        viewer.get(plan_url)
        assert not viewer.find_elements(By.ID, "apply") and _text(viewer, "plan-status") == "planned"
        status = viewer.execute_async_script(
            "var done = arguments[arguments.length - 1];"
            "var body = new URLSearchParams({csrf: document.querySelector('input[name=csrf]').value});"
            "fetch(arguments[0], {method: 'POST', body: body, headers: {accept: 'text/html'}})"
            ".then(function (r) { done(r.status); }, function (e) { done(String(e)); });", f"/plans/{pid}/apply")
        assert status == 403
        viewer.get(plan_url)
        assert _text(viewer, "plan-status") == "planned", "the viewer's post changed nothing"

        # the operator applies: the job page fills in as the apply goes, never reloaded
        op.find_element(By.ID, "apply").click()
        WebDriverWait(op, 15).until(lambda d: d.find_elements(By.ID, "job-progress"))
        at_load = op.execute_script(
            "window.__tonleNotReloaded = true; window.__tonleSeen = [];"
            "var pre = document.getElementById('job-progress'), st = document.getElementById('job-state');"
            "function lines() { return pre.textContent.split('\\n').filter(function (l) { return l; }).length; }"
            "new MutationObserver(function () { window.__tonleSeen.push([lines(), st.textContent]); })"
            ".observe(pre, {childList: true, characterData: true, subtree: true});"
            "return [lines(), st.textContent];")
        assert at_load[1] == "running", at_load  # the gates hold for seconds: the job page opens while it runs
        WebDriverWait(op, 90).until(lambda d: _text(d, "job-state").startswith("done"))
        progress = _text(op, "job-progress")
        assert op.execute_script("return window.__tonleNotReloaded === true;"), "the job page was reloaded"
        seen = op.execute_script("return window.__tonleSeen;")
        assert any(n > at_load[0] and state == "running" for n, state in seen), (at_load, seen)
        assert _text(op, "job-state") == "done, exit 0", progress
        assert _text(op, "job-outcome") == "confirmed", progress
        assert "validating" in progress and f"apply {pid}: CONFIRMED" in progress
        assert LOCAL_PREF in console.lab.vtysh("r2", "show running-config"), "r2 holds the change"

        # the audit page: the apply, by the operator
        op.get(f"{console.url}/audit?object={pid}")
        rows = [r.text for r in op.find_elements(By.CSS_SELECTOR, "#audit tbody tr")]
        assert any("apply-end" in r and console.users["operator"] in r and "confirmed" in r for r in rows), rows
        assert "intact" in _text(op, "verify")
    finally:
        # the inventory as it was, and r2 back to it (applied while the window is still open), then no window
        peers_file.write_text(original)
        try:
            if LOCAL_PREF in console.lab.vtysh("r2", "show running-config"):
                back = _apply_as_root(console, "r2")
                assert back.exit == 0, back.out + back.err
        finally:
            window_file.unlink(missing_ok=True)
    assert LOCAL_PREF not in console.lab.vtysh("r2", "show running-config")


def _ssh_answers(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=1):
            return True
    except OSError:
        return False


def test_a_dead_device_page_answers_in_time_then_reads_the_device_once_back(console: Console,
                                                                           browsers: list[WebDriver]) -> None:
    op = browsers[0]
    _login(op, console, "operator")
    port = console.lab.lab.layout.mgmt_if("r2")  # r2's port on the management bridge: its cable, pulled
    mgmt = str(console.lab.inv.devices["r2"].mgmt_ip)
    subprocess.run(["ip", "link", "set", port, "down"], check=True, capture_output=True)
    try:
        assert not _ssh_answers(mgmt), "r2 still answers on its management address"
        started = time.monotonic()
        op.get(f"{console.url}/devices/r2")
        took = time.monotonic() - started
        read = _text(op, "device-read")
        # the documented limit: the page waits READ_TIMEOUT s for the device, then answers (plus rendering)
        assert took < READ_TIMEOUT + 3, f"the page took {took:.1f} s"
        assert read.startswith("unreachable since "), read
        since, _, reason = read.removeprefix("unreachable since ").partition(": ")
        assert since and reason.strip() and "Traceback" not in reason, read
        assert UPSTREAM in _text(op, "sessions"), "the intended sessions are shown"
    finally:
        subprocess.run(["ip", "link", "set", port, "up"], check=True, capture_output=True)
        wait_until(lambda: _ssh_answers(mgmt), 30, "r2's management address answering again")
        wait_until(lambda: console.carrier_state() == "Established", 30, "r2's upstream session")

    # the device is back: the page reads it again (a read still in flight from the outage may finish first)
    deadline, read = time.monotonic() + 60, ""
    while "Read from the device" not in read:
        assert time.monotonic() < deadline, f"r2's page never read it again: {read}"
        op.get(f"{console.url}/devices/r2")
        read = _text(op, "device-read")
    assert "unreachable" not in read
    assert "Established" in _text(op, f"session-{UPSTREAM}")
