"""Open an HTML file in headless Chromium and report what a person would see.

``render_page(path)`` drives Chromium over its DevTools protocol and returns the
console errors and uncaught exceptions, every request that left the machine
(anything but ``file:``, ``data:`` and ``about:``), the visible text and a PNG
screenshot. Tests skip with a reason when no Chromium is installed
(``apt-get install chromium``; CI installs it in ``.ci/run``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LOCAL_SCHEMES = ("file:", "data:", "about:", "chrome:", "devtools:")


def chromium_path() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Rendered:
    console_errors: list[str] = field(default_factory=list)
    remote_requests: list[str] = field(default_factory=list)
    text: str = ""
    screenshot: Path | None = None
    height: int = 0
    value: object = None
    """What ``render_page``'s ``evaluate`` expression returned (JSON-like)."""


class _DevTools:
    """Just enough of the DevTools protocol: numbered commands, events collected while waiting."""

    def __init__(self, ws_url: str, timeout: float) -> None:
        import websocket  # websocket-client, installed with kfp (through kubernetes)

        self._ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self._next = 0
        self.events: list[dict] = []

    def call(self, method: str, **params: object) -> dict:
        self._next += 1
        ident = self._next
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method} failed: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, event: str, deadline: float) -> None:
        while not any(e["method"] == event for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"Chromium sent no {event} in time")
            message = json.loads(self._ws.recv())
            if "method" in message:
                self.events.append(message)

    def close(self) -> None:
        self._ws.close()


def _devtools_port(profile: Path, proc: subprocess.Popen, deadline: float) -> int:
    marker = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if marker.exists():
            lines = marker.read_text().splitlines()
            if lines and lines[0].strip().isdigit():
                return int(lines[0])
        if proc.poll() is not None:
            raise RuntimeError(f"Chromium exited with code {proc.returncode} before opening DevTools")
        time.sleep(0.05)
    raise TimeoutError("Chromium did not open its DevTools port in time")


def render_page(
    path: Path,
    screenshot: Path | None = None,
    width: int = 1280,
    height: int = 2000,
    full_page: bool = False,
    max_height: int = 12000,
    timeout: float = 60.0,
    evaluate: str | None = None,
) -> Rendered:
    """Load ``path`` in a fresh headless Chromium profile; screenshot the first ``height`` pixels (or the whole page).

    ``evaluate``: a JavaScript expression run after the page loaded; its value is ``Rendered.value``.
    """
    binary = chromium_path()
    if binary is None:
        raise FileNotFoundError(
            f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)}); install it with: apt-get install chromium"
        )
    profile = Path(tempfile.mkdtemp(prefix="headrace-chromium-"))
    args = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--mute-audio",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        f"--window-size={width},{height}",
        "about:blank",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        port = _devtools_port(profile, proc, deadline)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as response:
            targets = json.load(response)
        page = next(t for t in targets if t.get("type") == "page")
        tools = _DevTools(page["webSocketDebuggerUrl"], timeout)
        try:
            for domain in ("Page", "Runtime", "Log", "Network"):
                tools.call(f"{domain}.enable")
            tools.call(
                "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False
            )
            tools.call("Page.navigate", url=Path(path).resolve().as_uri())
            tools.wait_for("Page.loadEventFired", deadline)
            text = tools.call(
                "Runtime.evaluate", expression="document.body ? document.body.innerText : ''", returnByValue=True
            )
            page_height = tools.call(
                "Runtime.evaluate", expression="document.documentElement.scrollHeight", returnByValue=True
            )
            rendered = Rendered(text=text["result"].get("value", ""), height=int(page_height["result"].get("value", 0)))
            if evaluate is not None:
                result = tools.call("Runtime.evaluate", expression=evaluate, returnByValue=True)
                rendered.value = result["result"].get("value")
            if screenshot is not None:
                shot_height = min(max(rendered.height, 1), max_height) if full_page else height
                if shot_height != height:
                    tools.call(
                        "Emulation.setDeviceMetricsOverride",
                        width=width,
                        height=shot_height,
                        deviceScaleFactor=1,
                        mobile=False,
                    )
                shot = tools.call("Page.captureScreenshot", format="png")
                screenshot.write_bytes(base64.b64decode(shot["data"]))
                rendered.screenshot = screenshot
            _collect(tools.events, rendered)
        finally:
            tools.close()
        return rendered
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _collect(events: list[dict], rendered: Rendered) -> None:
    for e in events:
        method, params = e["method"], e.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            rendered.console_errors.append(
                " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            )
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            rendered.console_errors.append(
                details.get("exception", {}).get("description") or details.get("text", "exception")
            )
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            rendered.console_errors.append(f"{entry.get('text', '')} {entry.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if not url.startswith(LOCAL_SCHEMES):
                rendered.remote_requests.append(url)
