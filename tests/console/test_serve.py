"""``drconsole serve`` in a real browser (headless Chromium driven over the DevTools protocol):
the page connects and shows the watch screen of a live run, loads nothing from elsewhere, and a
request without the token is refused when it listens beyond 127.0.0.1.

"Beyond" is tested on 127.0.0.2: any address but 127.0.0.1, ::1 and localhost needs the token,
so another loopback address shows the rule without leaving the machine."""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import websocket

from drconsole.adapters.oscmd import free_port
from tests.conftest import Cli, drconsole_cmd, kill_run, start_run

FOCUS = "document.querySelector('.xterm-helper-textarea').focus()"
TOKEN = "watchers-token-0123456789abcdef"
ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


@contextmanager
def serving(runs: Path, host: str, *extra: str) -> Iterator[str]:
    """``drconsole serve`` on a free port; yields its base URL once it answers."""
    port = free_port(host)
    proc = subprocess.Popen(
        [*drconsole_cmd(), "serve", "--host", host, "--port", str(port), "--runs-dir", str(runs)]
        + list(extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read() if proc.stdout else ""
                    raise AssertionError(f"serve did not start: {out}") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        assert TOKEN not in out  # the token is never printed or logged
        # the browser tabs' watchers end with the server (textual-serve leaves them running)
        deadline = time.monotonic() + 5
        while (left := _watchers_of(runs)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, left


def _watchers_of(runs: Path) -> list[str]:
    """The command lines of the processes still watching ``runs``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"watch" in words and str(runs).encode() in words:
            found.append(b" ".join(words).decode(errors="replace"))
    return found


def status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


class Browser:
    """Headless Chromium and one page, spoken to over the DevTools protocol."""

    def __init__(self, profile: Path) -> None:
        self.proc = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-port=0", f"--user-data-dir={profile}",
             "--window-size=1280,860", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not active.exists() or not active.read_text().strip():
            if time.monotonic() > deadline:
                raise AssertionError("chromium did not start")
            time.sleep(0.1)
        port = active.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                return dict(message.get("result", {}))
            self.events.append(message)

    def collect(self, seconds: float, done: Callable[[], bool]) -> None:
        """Gather the page's events until ``done`` or ``seconds`` have passed."""
        deadline = time.monotonic() + seconds
        self.ws.settimeout(0.5)
        while time.monotonic() < deadline and not done():
            try:
                self.events.append(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                continue

    def received_text(self) -> str:
        """What the page's websocket received, as text with the terminal escapes taken out."""
        parts = []
        for e in self.events:
            if e.get("method") != "Network.webSocketFrameReceived":
                continue
            frame = e["params"]["response"]
            data = frame["payloadData"]
            raw = base64.b64decode(data) if frame["opcode"] == 2 else data.encode()
            parts.append(ANSI.sub("", raw.decode("utf-8", "replace")))
        return "".join(parts)

    def requested(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def browser() -> Iterator[Browser]:
    if shutil.which("chromium") is None:
        pytest.fail("chromium is not installed (make setup installs it)")
    profile = Path(tempfile.mkdtemp(prefix="dc-chromium-"))
    opened = Browser(profile)
    try:
        yield opened
    finally:
        opened.close()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.slow
def test_the_browser_shows_the_watch_screen_of_a_live_run(browser: Browser, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "id: projected\ntitle: Projected drill\nkind: drill\nobjectives: {rto: 5m}\nsteps:\n"
        "  - {id: soak, wait: 90s}\n"
    )
    runs = tmp_path / "runs"
    proc, run_dir = start_run(
        [str(plan), "--headless", "--runs-dir", str(runs), "--operator", "kim"], step="soak"
    )
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    try:
        with serving(runs, "127.0.0.2", "--token-file", str(token_file)) as base:
            # without the token every path is refused; with it, the page and its parts load
            assert status(f"{base}/") == 403
            assert status(f"{base}/ws") == 403
            assert status(f"{base}/static/js/textual.js") == 403
            assert status(f"{base}/?token=wrong-{TOKEN}") == 403
            assert status(f"{base}/?token={TOKEN}") == 200
            assert status(f"{base}/static/js/textual.js", {"Cookie": f"drconsole_watch={TOKEN}"})
            browser.call("Network.enable")
            browser.call("Page.enable")
            browser.call("Page.navigate", url=f"{base}/?token={TOKEN}")
            browser.collect(40, lambda: "RUNNING: kim" in browser.received_text())
            browser.call("Runtime.evaluate", expression=FOCUS)  # as a click on the page does
            browser.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter",
                         windowsVirtualKeyCode=13, text="\r")  # fmt: skip
            browser.call("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter",
                         windowsVirtualKeyCode=13)  # fmt: skip
            browser.collect(30, lambda: "Driven by kim" in browser.received_text())
            time.sleep(1.0)  # let it paint
            shot = browser.call("Page.captureScreenshot", format="png")
            (tmp_path / "serve.png").write_bytes(base64.b64decode(shot["data"]))
            shutil.copy(tmp_path / "serve.png", Path(tempfile.gettempdir()) / "dc-serve.png")
            text = browser.received_text()
            assert "WATCHING (read-only)" in text
            assert "Driven by kim" in text
            assert "Projected drill" in text
            urls = browser.requested()
            assert urls
            assert all(u.startswith((base, "ws://127.0.0.2", "data:")) for u in urls), urls
    finally:
        kill_run(proc)


def test_serve_refuses_to_listen_beyond_loopback_without_a_token(cli: Cli, tmp_path: Path) -> None:
    result = cli("serve", "--host", "0.0.0.0", "--runs-dir", str(tmp_path))
    assert result.code == 2
    assert "--token-file FILE" in result.err
    short = tmp_path / "short"
    short.write_text("abc\n")
    result = cli("serve", "--host", "0.0.0.0", "--token-file", str(short))
    assert result.code == 2
    assert "16 characters or more" in result.err
    result = cli("serve", "--token-file", str(tmp_path / "missing"))
    assert result.code == 2
    assert "cannot read the token file" in result.err


@pytest.mark.slow
def test_without_a_token_only_loopback_names_are_answered(tmp_path: Path) -> None:
    with serving(tmp_path, "127.0.0.1") as base:
        assert status(f"{base}/") == 200
        page = urllib.request.urlopen(f"{base}/").read().decode()
        assert "googleapis" not in page
        assert not re.findall(r"(?:src|href)=\"https?://", page)  # every part comes from here
        # a page elsewhere reaching it through its own name (DNS rebinding) is refused
        assert status(f"{base}/", {"Host": "attacker.example:80"}) == 403
