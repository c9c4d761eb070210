"""A real browser for tests and screenshots: Debian's ``chromium``, headless, driven over the
Chrome DevTools Protocol by a small client on one websocket (tornado's client).

Each :class:`Browser` runs its own chromium process with a fresh profile directory, on a
DevTools port the browser picks itself (read from ``DevToolsActivePort``, never guessed), and
records what the page reports: uncaught exceptions, console errors (Content-Security-Policy
violations among them) and JavaScript dialogs (``alert``), so a test can assert that none
happened. Waiting is by deadline (:meth:`Browser.wait_for`), never by sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tornado.websocket import WebSocketClientConnection, websocket_connect

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


class BrowserError(RuntimeError):
    """The browser could not start, or a DevTools call failed."""


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    def __init__(self, binary: str | None = None, width: int = 1400, height: int = 1000) -> None:
        binary = binary or find_chromium()
        if binary is None:
            raise BrowserError("no chromium found (apt-get install chromium)")
        self.profile = Path(tempfile.mkdtemp(prefix="pymesos-rt-chromium-"))
        self.log = self.profile / "chromium.log"
        argv = [
            binary,
            *FLAGS,
            f"--user-data-dir={self.profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.loop = asyncio.new_event_loop()
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self._ws: WebSocketClientConnection | None = None
        try:
            port = self._port()
            self._ws = self.loop.run_until_complete(self._connect(port))
            for domain in ("Page", "Runtime", "Log"):
                self.call(f"{domain}.enable")
            self.call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            self.close()
            raise

    # --- start -------------------------------------------------------------------------------
    def _port(self, timeout: float = 30.0) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrowserError(
                    f"chromium exited: {self.log.read_text(errors='replace')[-2000:]}"
                )
            text = marker.read_text() if marker.exists() else ""
            if text.strip():
                return int(text.split()[0])
            time.sleep(0.05)
        raise BrowserError(f"chromium did not open its DevTools port within {timeout}s")

    async def _connect(self, port: int) -> WebSocketClientConnection:
        url = f"http://127.0.0.1:{port}/json/list"
        targets = await asyncio.to_thread(_read_json, url)
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            raise BrowserError(f"chromium has no page target: {targets}")
        return await websocket_connect(pages[0]["webSocketDebuggerUrl"], max_message_size=2**28)

    # --- the protocol ------------------------------------------------------------------------
    def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        return self.loop.run_until_complete(asyncio.wait_for(self._call(method, params), timeout))

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self._ws is not None
        ident = next(self._ids)
        await self._ws.write_message(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            raw = await self._ws.read_message()
            if raw is None:
                raise BrowserError(f"DevTools connection closed during {method}")
            msg = json.loads(raw)
            if msg.get("id") == ident:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            if "method" in msg:
                self.events.append(msg)

    # --- what tests use ----------------------------------------------------------------------
    def navigate(self, url: str, timeout: float = 30.0) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", timeout, f"{url} loaded")

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} raised: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 30.0, what: str = "") -> Any:
        """Evaluate ``expression`` until it is truthy (its value is returned) or time is up."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{what or expression} not true within {timeout}s")
            self.loop.run_until_complete(asyncio.sleep(0.1))

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (beyond the viewport)."""
        size = self.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        )
        clip = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
        shot = self.call(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def dialogs(self) -> list[dict[str, Any]]:
        return [e["params"] for e in self.events if e["method"] == "Page.javascriptDialogOpening"]

    def errors(self) -> list[str]:
        """Uncaught exceptions and console errors the page reported so far."""
        out: list[str] = []
        for e in self.events:
            if e["method"] == "Runtime.exceptionThrown":
                out.append(json.dumps(e["params"]["exceptionDetails"])[:1000])
            elif e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error":
                out.append(e["params"]["entry"].get("text", "")[:1000])
            elif e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error":
                out.append(json.dumps(e["params"]["args"])[:1000])
        return out

    def close(self) -> None:
        if self._ws is not None:
            ws, self._ws = self._ws, None

            async def close_ws() -> None:  # tornado writes the close frame on the running loop
                ws.close()
                await asyncio.sleep(0)

            with contextlib.suppress(Exception):
                self.loop.run_until_complete(close_ws())
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.loop.is_closed():
            self.loop.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)
