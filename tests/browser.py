"""Debian's headless Chromium, driven over the Chrome DevTools protocol from Python.

No browser download and no driver: Chromium is started with a debugging port the system
picks (port 0), and a websocket (aiohttp's, already installed with s3fs) talks to its page.
The flags are those that work here as root on a closed network: without the
background-networking ones Chromium keeps trying, and failing, to reach its services.
"""

from __future__ import annotations

import asyncio
import base64
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
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1400,1800", "--hide-scrollbars"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageVisit:
    """What happened while a page was open: its problems, its requests, the check's value."""

    value: Any = None
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    screenshot: bytes | None = None


class _Page:
    def __init__(self, ws):
        self.ws, self.next_id, self.visit = ws, 0, PageVisit()
        self.loaded = asyncio.Event()
        self.replies: dict[int, asyncio.Future] = {}

    async def send(self, method: str, **params) -> dict:
        self.next_id += 1
        reply = self.replies[self.next_id] = asyncio.get_running_loop().create_future()
        await self.ws.send_str(json.dumps({"id": self.next_id, "method": method, "params": params}))
        message = await reply
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message.get("result", {})

    async def receive(self) -> None:
        async for frame in self.ws:
            message = json.loads(frame.data)
            if "id" in message:
                self.replies.pop(message["id"]).set_result(message)
                continue
            method, params = message.get("method"), message.get("params", {})
            if method == "Page.loadEventFired":
                self.loaded.set()
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                self.visit.console_errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                                          for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                self.visit.exceptions.append(details.get("exception", {}).get("description") or details.get("text", ""))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                self.visit.console_errors.append(params["entry"].get("text", ""))
            elif method == "Network.requestWillBeSent":
                self.visit.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed":
                self.visit.failed_requests.append(params.get("errorText", ""))


async def _visit(ws_url: str, url: str, check: str, timeout: float, screenshot: bool) -> PageVisit:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url, max_msg_size=0) as ws:
        page = _Page(ws)
        receiver = asyncio.create_task(page.receive())
        for domain in ("Runtime", "Log", "Page", "Network"):
            await page.send(f"{domain}.enable")
        await page.send("Page.navigate", url=url)
        await asyncio.wait_for(page.loaded.wait(), timeout)
        deadline = time.monotonic() + timeout
        while True:  # the check says when the page has drawn ("ready"), or the time is up
            result = await page.send("Runtime.evaluate", expression=check, returnByValue=True, awaitPromise=True)
            page.visit.value = result.get("result", {}).get("value")
            if (isinstance(page.visit.value, dict) and page.visit.value.get("ready")) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        if screenshot:
            shot = await page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            page.visit.screenshot = base64.b64decode(shot["data"])
        receiver.cancel()
        return page.visit


def visit(url: str, check: str, *, timeout: float = 30.0, screenshot: bool = False) -> PageVisit:
    """Open ``url`` in a fresh headless Chromium, wait for the load, then evaluate the
    JavaScript ``check`` until its value has ``ready: true`` (or ``timeout`` passes)."""
    exe = chromium()
    assert exe, "chromium is not installed (apt-get install chromium)"
    profile = tempfile.mkdtemp(prefix="clipwriter-chromium-")
    # Its own session, so that the renderer and utility processes can be stopped with it.
    proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, f"chromium exited: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "chromium did not open its debugging port"
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            pages = [t for t in json.load(reply) if t.get("type") == "page"]
        return asyncio.run(_visit(pages[0]["webSocketDebuggerUrl"], url, check, timeout, screenshot))
    finally:
        _stop(proc)
        _remove_profile(profile)


def _stop(proc: subprocess.Popen) -> None:
    """Stop Chromium and every process it started. The browser process exiting is not
    enough: its storage and network services can still be writing into the profile for a
    moment after (CI once failed removing the profile with "Directory not empty")."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    proc.stderr.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)  # anyone left in the group? (reaped ones are not)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _remove_profile(profile: str) -> None:
    # A process killed a moment ago may still have had a file being made; try a few times.
    for attempt in range(20):
        try:
            shutil.rmtree(profile)
            return
        except FileNotFoundError:
            return
        except OSError:
            if attempt == 19:
                raise
            time.sleep(0.1)
