"""The reader-study app in Voilà, in real Chromium: a reader answers 5 cases by keyboard and mouse, the
Voilà server is killed (SIGKILL, kernel and all) and started again, and the reader resumes at case 6;
the store holds exactly those 5 answers.

The app is notebooks/apps/reader_study.ipynb; its model is the course net (a 1-epoch checkpoint made
here, which the app reuses: the test is about the reading loop, not the model's accuracy).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from labdriver import Chromium, _free_port, chromium_missing_reason

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "notebooks" / "apps" / "reader_study.ipynb"
STUDY = "voila-reader-study"
READER = "tester"
# Voilà's default template asks a CDN for Font Awesome CSS: offline these requests fail, nothing breaks.
CDN = re.compile(r"cdnjs|font-?awesome|fonts\.googleapis", re.I)


class Voila:
    """``voila APP`` on 127.0.0.1 in its own process group (so a kill takes its kernel too)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.port = env, log, _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> Voila:
        voila = Path(sys.executable).with_name("voila")
        self._log = open(self.log, "a")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            [str(voila), str(APP), "--no-browser", f"--port={self.port}", "--Voila.ip=127.0.0.1",
             "--Voila.port_retries=0"], env=self.env, cwd=APP.parent, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"voila exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/voila/static/", timeout=2):
                    pass
            except urllib.error.HTTPError:
                return self  # the server answers (404 is an answer)
            except OSError:
                time.sleep(0.3)
                continue
            return self
        raise TimeoutError(f"voila did not answer within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL to the whole process group: no clean shutdown, as when a machine dies."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(15)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()


@pytest.fixture(scope="module")
def app_env(tmp_path_factory):
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    if not Path(sys.executable).with_name("voila").exists():
        pytest.skip("voila is not installed: pip install -e '.[dev]'")
    import medwb
    from medwb import teaching

    root = tmp_path_factory.mktemp("voila-app")
    model = root / "course_net.pt"
    teaching.course_model(medwb.demo.load_cohort(), path=model, epochs=1, progress=False)
    env = dict(os.environ)
    jupyter = Path(tempfile.mkdtemp(prefix="medwb-voila-", dir=root))
    for name, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                      ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")]:
        (jupyter / sub).mkdir()
        env[name] = str(jupyter / sub)
    env.update(MEDWB_READER_STORE=str(root / "answers.sqlite"), MEDWB_READER_STUDY=STUDY,
               MEDWB_COURSE_MODEL=str(model), MPLBACKEND="Agg")
    return env, root


def _open(context, server: Voila, errors: list[str]):
    page = context.new_page()
    failed_cdn: list[str] = []

    def on_failed(req):
        (failed_cdn if CDN.search(req.url) else errors).append(f"request failed: {req.url} {req.failure}")

    page.on("requestfailed", on_failed)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}")
            if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    page.goto(f"{server.url}/?reader={READER}", timeout=180_000)
    page.wait_for_selector(".medwb-case-counter", timeout=180_000)
    page.wait_for_selector(".medwb-reader-study canvas", timeout=60_000)
    assert len(failed_cdn) <= 2, failed_cdn  # at most the two Font Awesome stylesheets
    return page


def _counter(page) -> str:
    return page.locator(".medwb-case-counter").inner_text()


def _wait_counter(page, text: str) -> None:
    page.wait_for_function("t => (document.querySelector('.medwb-case-counter') || {}).textContent === t",
                           arg=text, timeout=60_000)


def _tab_to(page, label: str, limit: int = 15) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => (document.activeElement && document.activeElement.textContent || '').trim()") \
                .endswith(label):
            return
    raise AssertionError(f"Tab never reached {label!r}")


def test_reader_answers_five_cases_server_dies_and_reader_resumes_at_case_six(app_env, browser: Chromium):
    from medwb.readers.store import AnswerStore

    env, root = app_env
    errors: list[str] = []
    server = Voila(env, root / "voila.log").start()
    chrome = browser.fresh_context()  # its own profile, on the session's Playwright
    try:
        page = _open(chrome, server, errors)
        assert _counter(page) == "case 1 of 12"
        body = page.locator(".medwb-reader-study").inner_text()
        assert "case-" not in body  # blinded: no case id on the page
        for k in range(1, 6):
            if k % 2:  # by keyboard: focus the first rating button, Tab to "4", Space, Tab to Save, Enter
                page.get_by_role("button", name="1 · definitely not").focus()
                _tab_to(page, "4 · probably")
                page.keyboard.press("Space")
                save = page.get_by_role("button", name="Save and next")
                page.wait_for_function("b => !b.disabled", arg=save.element_handle(), timeout=30_000)
                _tab_to(page, "Save and next")
                page.keyboard.press("Enter")
            else:  # by mouse, marking the lesion on the axial plane first
                page.locator(".medwb-reader-study canvas").first.click(position={"x": 60, "y": 60})
                page.get_by_role("button", name="Mark lesion at crosshair").click()
                page.wait_for_function("() => document.body.innerText.includes('lesion marked at LPS')",
                                       timeout=30_000)
                page.get_by_role("button", name="2 · probably not").click()
                page.get_by_role("button", name="Save and next").click()
            _wait_counter(page, f"case {k + 1} of 12")
        before_kill = list(errors)  # the first page's errors; after the kill it may only fail to reconnect
        server.kill()
        server = Voila(env, root / "voila.log").start()
        errors = []
        page2 = _open(chrome, server, errors)
        assert _counter(page2) == "case 6 of 12"
        assert "resuming at case 6 of 12" in page2.locator(".medwb-reader-study").inner_text()
    finally:
        chrome.close()
        server.kill()
    answers = AnswerStore(env["MEDWB_READER_STORE"]).answers(STUDY)
    assert len(answers) == 5
    assert answers.reader.tolist() == [READER] * 5 and answers.session.tolist() == [1] * 5
    assert answers.position.tolist() == [1, 2, 3, 4, 5]
    assert answers.rating.tolist() == [4.0, 2.0, 4.0, 2.0, 4.0]
    marked = answers.dropna(subset=["lesion_x"])
    assert marked.position.tolist() == [2, 4] and (answers.seconds > 0).all()
    assert not before_kill and not errors, before_kill + errors
