"""Browser tests: one JupyterLab server and one Chromium for the whole session.

A generated notebook (tests/browser/widget_notebook.py) shows each widget; the page is opened and
run once per session and the tests inspect and poke it. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from labdriver import Chromium, JupyterLab, chromium_missing_reason, open_notebook, run_all_cells  # noqa: E402
from widget_notebook import write_widget_notebook  # noqa: E402


def pytest_collection_modifyitems(items: list) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("lab-root")
    write_widget_notebook(root)
    with JupyterLab(root) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    """The session's one Playwright + Chromium (a second sync Playwright in the same process fails)."""
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    with Chromium() as chromium:
        yield chromium


@pytest.fixture(scope="session")
def chrome(lab, browser):
    """The session's Chromium, once JupyterLab is up."""
    return browser


@pytest.fixture(scope="session")
def widget_page(lab, chrome):
    """The widget notebook, opened and run; its console errors are collected as it goes."""
    page = chrome.new_page()
    nb = open_notebook(page, lab, "widgets.ipynb")
    run_all_cells(page, timeout=180)
    yield nb
    page.close()
