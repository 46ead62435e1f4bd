"""Drive JupyterLab 4 in Debian's headless Chromium with Playwright (no ``playwright install``).

Used by the browser tests (tests/browser/) and by bench/bench_widgets.py. Everything runs on
127.0.0.1 with a token, in temporary Jupyter config / data / runtime / settings folders, so the
user's own Jupyter set-up neither leaks in nor gets touched.

Example::

    with JupyterLab(root) as lab, Chromium() as chrome:
        page = chrome.new_page()
        nb = open_notebook(page, lab, "widgets.ipynb")
        run_all_cells(page)
        wait_for_views(page, ".medwb-case-viewer", count=1)
        assert not nb.errors
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CHROMIUM",
    "CHROMIUM_FLAGS",
    "JupyterLab",
    "Chromium",
    "NotebookPage",
    "open_notebook",
    "run_all_cells",
    "wait_for_views",
    "accept_kernel_dialog",
    "chromium_missing_reason",
    "ARTIFACTS",
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# Messages that are not errors of the page under test (none are expected; keep this list short
# and say why each one is here).
IGNORED_CONSOLE: list[str] = []


def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return (f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; "
                "./setup.sh test does it from .ci/apt-test.txt)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[dev]' (never `playwright install`)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """A JupyterLab 4 server from this Python environment, on 127.0.0.1, serving ``root``."""

    def __init__(self, root: str | Path, timeout: float = 90.0) -> None:
        self.root = Path(root)
        self.timeout = timeout
        self.port = _free_port()
        self.token = os.urandom(16).hex()
        self._tmp = Path(tempfile.mkdtemp(prefix="medwb-lab-"))
        self.proc: subprocess.Popen | None = None
        self.log_path = self._tmp / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> JupyterLab:
        env = dict(os.environ)
        for name, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                          ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                          ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"), ("IPYTHONDIR", "ipython")]:
            (self._tmp / sub).mkdir()
            env[name] = str(self._tmp / sub)
        # No news polling and no update checks (see the server flags below): a quiet, offline page;
        # and no "get notified about Jupyter news?" toast over the widgets in screenshots.
        news = self._tmp / "settings" / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True)
        (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        env.setdefault("MPLBACKEND", "Agg")
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--port-retries=0", f"--ServerApp.root_dir={self.root}",
               f"--IdentityProvider.token={self.token}", "--ServerApp.password=",
               "--LabApp.news_url=", "--ServerApp.open_browser=False",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
            cmd.append("--allow-root")
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=self.root)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2):
                    return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"JupyterLab did not answer within {self.timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> JupyterLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Chromium:
    """Debian's /usr/bin/chromium under Playwright, headless, with a fresh profile."""

    def __init__(self, viewport: tuple[int, int] = (1400, 1000)) -> None:
        self.viewport = viewport
        self._profile = Path(tempfile.mkdtemp(prefix="medwb-chromium-"))

    def start(self) -> Chromium:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self.context = self._pw.chromium.launch_persistent_context(
            str(self._profile), executable_path=str(CHROMIUM), headless=True,
            args=[f for f in CHROMIUM_FLAGS if f != "--headless"],
            viewport={"width": self.viewport[0], "height": self.viewport[1]},
        )
        return self

    def new_page(self) -> Any:
        return self.context.new_page()

    def fresh_context(self) -> Any:
        """Another browser with its own fresh profile (close it when done): for pages that must not
        share storage with the other tabs."""
        profile = Path(tempfile.mkdtemp(prefix="medwb-chromium-", dir=self._profile.parent))
        return self._pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True,
            args=[f for f in CHROMIUM_FLAGS if f != "--headless"],
            viewport={"width": self.viewport[0], "height": self.viewport[1]},
        )

    def stop(self) -> None:
        try:
            self.context.close()
        finally:
            self._pw.stop()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class NotebookPage:
    """A page showing one notebook, with the console errors and failed requests it logged."""

    page: Any
    name: str
    errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str, locator: Any = None) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        (locator or self.page).screenshot(path=str(path))
        return path


def open_notebook(page: Any, lab: JupyterLab, name: str, timeout: float = 60.0, app: str = "lab") -> NotebookPage:
    """Open ``name`` (relative to the server root) in JupyterLab (``app="lab"``) or Notebook 7
    (``app="notebook"``) and wait for its kernel to be idle."""
    nb = NotebookPage(page, name)

    def on_console(msg: Any) -> None:
        if msg.type == "error" and not any(re.search(p, msg.text) for p in IGNORED_CONSOLE):
            nb.errors.append(f"console: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: nb.errors.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: nb.errors.append(f"request failed: {req.url} {req.failure}"))
    path = f"/lab/tree/{name}" if app == "lab" else f"/notebooks/{name}"
    page.goto(f"{lab.url}{path}?token={lab.token}", timeout=timeout * 1000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=timeout * 1000)
    if app == "lab":
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=timeout * 1000)
    else:  # Notebook 7 shows the kernel state in its toolbar's kernel status indicator
        page.wait_for_function(
            "() => document.querySelector('.jp-NotebookPanel') && "
            "!document.body.innerText.includes('Connecting')", timeout=timeout * 1000)
        page.wait_for_timeout(1000)
    accept_kernel_dialog(page)
    return nb


def accept_kernel_dialog(page: Any, wait_ms: int = 1500) -> None:
    """JupyterLab sometimes asks which kernel to start for a fresh notebook: keep the default."""
    dialog = page.locator(".jp-Dialog")
    try:
        dialog.wait_for(state="visible", timeout=wait_ms)
    except Exception:
        return
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    dialog.wait_for(state="detached", timeout=10_000)


def run_all_cells(page: Any, timeout: float = 120.0) -> None:
    """Run All Cells from the Run menu and wait until every code cell has an execution count."""
    accept_kernel_dialog(page, wait_ms=100)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    try:
        page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""",
            timeout=timeout * 1000,
        )
    except Exception as exc:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "run_all_cells_failed.png"))
        outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
        raise AssertionError(f"the notebook did not finish running within {timeout} s; "
                             f"screenshot in {ARTIFACTS}; outputs so far: {outputs}") from exc
    # JupyterLab renders both stderr streams and exceptions as stderr; only tracebacks are failures
    stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    failures = [t for t in stderr.all_inner_texts() if "Traceback (most recent call last)" in t]
    if failures:
        raise AssertionError("a notebook cell failed:\n" + "\n".join(failures))


def wait_for_views(page: Any, selector: str, count: int = 1, timeout: float = 60.0) -> Any:
    """Wait until ``count`` widget views matching ``selector`` are attached and visible."""
    page.wait_for_function(
        "([sel, n]) => [...document.querySelectorAll(sel)].filter(e => e.offsetParent).length >= n",
        arg=[selector, count], timeout=timeout * 1000,
    )
    return page.locator(selector)
