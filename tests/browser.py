"""A headless Chromium driven through the DevTools protocol (websocket-client), for the pages' tests.

    with browser.open_page(path, tmp_path) as page:
        page.evaluate("1 + 1"); page.click_at(x, y); page.screenshot(file); page.goto(other)

`page.errors` collects what the page reports as an error: uncaught exceptions,
console.error calls and the browser's own error log entries (a refused
Content-Security-Policy, a failed load). `SKIP` says why no page can be opened
here (no chromium, no websocket-client), else None.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    import websocket
except ImportError:  # the test extra installs it
    websocket = None

SKIP = ("chromium is not installed (make test installs it: apt-get install chromium); the pages are not checked in "
        "a browser" if CHROMIUM is None else
        "websocket-client is not installed (pip install -e '.[test]'); the pages are not checked in a browser"
        if websocket is None else None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1300,1000", "--hide-scrollbars"]


class Page:
    """One tab: commands sent one at a time, events kept as they come."""

    def __init__(self, ws_url: str):
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.errors: list[str] = []
        self.events: list[dict] = []

    def send(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def _event(self, msg: dict) -> None:
        method, p = msg.get("method"), msg.get("params", {})
        self.events.append(msg)
        if method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            self.errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append("console.error: " + " ".join(str(a.get("value", a.get("description")))
                                                            for a in p.get("args", [])))
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            self.errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")

    def goto(self, path: Path) -> None:
        """Loads a file into the tab and waits for its load event."""
        self.send("Page.navigate", url=path.as_uri())
        self.wait_for(f"document.readyState === 'complete' && location.href === {path.as_uri()!r}", timeout=60)

    def evaluate(self, expression: str, await_promise: bool = True):
        """The value of a JavaScript expression (a promise awaited); an exception in it fails the call."""
        r = self.send("Runtime.evaluate", expression=expression, awaitPromise=await_promise, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression[:80]}: {r['exceptionDetails'].get('exception', {}).get('description')}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(expression)

    def mouse(self, kind: str, x: float, y: float, button: str = "none", clicks: int = 0) -> None:
        self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button=button, clickCount=clicks)

    def click_at(self, x: float, y: float) -> None:
        """A real click (pressed and released) at a point of the viewport."""
        self.mouse("mouseMoved", x, y)
        self.mouse("mousePressed", x, y, "left", 1)
        self.mouse("mouseReleased", x, y, "left", 1)

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
        self.mouse("mouseMoved", *start)
        self.mouse("mousePressed", *start, "left", 1)
        for k in range(1, steps + 1):
            t = k / steps
            self.send("Input.dispatchMouseEvent", type="mouseMoved", x=start[0] + t * (end[0] - start[0]),
                      y=start[1] + t * (end[1] - start[1]), button="left", buttons=1)
        self.mouse("mouseReleased", *end, "left", 1)

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data


@contextlib.contextmanager
def open_page(path: Path, tmp: Path):
    """Chromium on a fresh profile, the file at `path` loaded (its load event passed) in one tab."""
    profile = tmp / "chromium-profile"
    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file, end = profile / "DevToolsActivePort", time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if time.monotonic() > end or proc.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            tab = next(t for t in json.load(r) if t["type"] == "page")
        page = Page(tab["webSocketDebuggerUrl"])
        try:
            for domain in ("Runtime", "Log", "Page"):
                page.send(f"{domain}.enable")
            page.goto(path)
            yield page
        finally:
            page.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
