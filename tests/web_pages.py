"""Open a web page (a single-page app such as the MLflow UI) in headless Chromium and read it like a person.

``tests/browser.py`` renders local files until their load event; an app
served over HTTP renders after that, from its API calls, so here the page
is polled until the expected texts appear. The same profile and flags are
used: ``--headless --no-sandbox --disable-gpu --disable-background-networking``.
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
from pathlib import Path

from tests.browser import _DevTools, _devtools_port, chromium_path


class Browser:
    """One headless Chromium, one tab, reused for several pages."""

    def __init__(self, width: int = 1400, height: int = 1000, timeout: float = 90.0) -> None:
        binary = chromium_path()
        if binary is None:
            raise FileNotFoundError("no Chromium found; install it with: apt-get install chromium")
        self.width, self.height, self.timeout = width, height, timeout
        self.profile = Path(tempfile.mkdtemp(prefix="headrace-chromium-"))
        self.proc = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-dev-shm-usage",
                "--no-first-run",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port = _devtools_port(self.profile, self.proc, time.monotonic() + timeout)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as response:
            page = next(t for t in json.load(response) if t.get("type") == "page")
        self.tools = _DevTools(page["webSocketDebuggerUrl"], timeout)
        for domain in ("Page", "Runtime"):
            self.tools.call(f"{domain}.enable")
        self.tools.call(
            "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False
        )

    def evaluate(self, expression: str) -> object:
        return self.tools.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def open(self, url: str, expect: list[str], screenshot: Path | None = None) -> str:
        """Navigate to ``url`` and wait until every text in ``expect`` is on the page; the page's visible text."""
        self.tools.call("Page.navigate", url=url)
        deadline = time.monotonic() + self.timeout
        text = ""
        while time.monotonic() < deadline:
            text = str(self.evaluate("document.body ? document.body.innerText : ''") or "")
            if all(e in text for e in expect):
                break
            time.sleep(0.5)
        else:
            missing = [e for e in expect if e not in text]
            raise AssertionError(f"{url} never showed {missing}; it shows:\n{text[:3000]}")
        time.sleep(1.0)  # let images and late panels settle before the screenshot
        if screenshot is not None:
            shot = self.tools.call("Page.captureScreenshot", format="png")
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        return str(self.evaluate("document.body.innerText") or "")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.tools.close()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
