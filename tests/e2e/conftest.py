"""A console started exactly as `make run` starts it, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Flags that keep Chromium quiet on a machine without internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class Console:
    """A running console: where to browse, and the database it writes."""

    url: str
    database_url: str
    log: Path


@pytest.fixture(scope="session")
def console_url(console: Console) -> str:
    """Base URL of the running console."""
    return console.url


@pytest.fixture(scope="session")
def console_db(console: Console) -> str:
    """The running console's database URL."""
    return console.database_url


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """`streamlit run server.py` with no Lean credentials: the embedded sandbox."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAN_")}
    workdir = tmp_path_factory.mktemp("console")
    env.update(
        {
            "STREAMLIT_SERVER_PORT": str(port),
            "STREAMLIT_SERVER_HEADLESS": "true",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"sqlite:///{workdir / 'console.db'}",
            "LEAN_SANDBOX_WEBHOOK_INTERVAL": "1",
            # A source edit during a run would reload the console's modules and start a second
            # embedded sandbox with fresh state; tests want the code they started with.
            "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
        }
    )
    log = workdir / "console.log"
    with running_console(env, log) as url:
        yield Console(url, env["DATABASE_URL"], log)


@contextmanager
def running_console(env: dict[str, str], log: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """`streamlit run server.py` with `env`, its output in `log`: its URL once `/healthz`
    answers, stopped on the way out."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "server.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{host}:{env['STREAMLIT_SERVER_PORT']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"The console did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium (Playwright's own browser download is not available here)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: run `make browser` (or apt-get install chromium)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def click_when_settled(page: object, locator: object, *, timeout: float = 60.0) -> None:
    """Click `locator` once the page's script run has ended and the element has stayed where it
    is for a while.

    Playwright's own wait (the same box in two animation frames) is not enough on a loaded
    machine: the browser may still be laying out the run's elements seconds after the last
    message arrived (a chart, a table, a code block above), and a click aimed at the button's old
    place lands on the block around it and is lost (it failed so in CI, the click's target a
    `stVerticalBlock`).
    """
    app = page.locator("[data-testid='stApp'][data-test-script-state='notRunning']")  # type: ignore[attr-defined]
    app.wait_for(timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    box, same = None, 0
    while same < 3:  # the same box over ~0.6 s
        if time.monotonic() > deadline:
            raise AssertionError(f"{locator} never stopped moving: {box}")
        locator.wait_for(state="visible", timeout=timeout * 1000)  # type: ignore[attr-defined]
        now = locator.bounding_box()  # type: ignore[attr-defined]
        same = same + 1 if now is not None and now == box else 0
        box = now
        time.sleep(0.2)
    locator.click(timeout=timeout * 1000)  # type: ignore[attr-defined]
