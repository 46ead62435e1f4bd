"""The same CaseViewer works in Notebook 7 (not only JupyterLab): it renders and scrolls by key."""

from __future__ import annotations

from labdriver import JupyterLab, open_notebook, run_all_cells, wait_for_views
from pixels import canvas_stats
from widget_notebook import CASE_VIEWER, SETUP, write_widget_notebook


def test_case_viewer_renders_and_scrolls_in_notebook_7(lab, chrome, tmp_path):
    # a server and a browser profile of its own: Notebook 7 next to the JupyterLab session of the other
    # tests would restore JupyterLab's saved workspace and log errors that are no widget's doing
    write_widget_notebook(tmp_path, "notebook7.ipynb", cells=[SETUP, CASE_VIEWER])
    context = chrome.fresh_context()
    try:
        with JupyterLab(tmp_path) as server:
            _check_notebook_7(server, context.new_page())
    finally:
        context.close()


def _check_notebook_7(lab, page):
    try:
        nb = open_notebook(page, lab, "notebook7.ipynb", app="notebook")
        run_all_cells(page, timeout=120)
        ortho = wait_for_views(page, ".medwb-case-viewer .medwb-ortho[data-ready='1']").first
        page.wait_for_function("() => document.querySelector('canvas.medwb-ortho-axial').width > 1")
        axial = ortho.locator("canvas.medwb-ortho-axial")
        before = canvas_stats(axial)
        assert before["std"] > 5
        axial.hover()
        ortho.focus()
        page.keyboard.press("PageUp")
        page.wait_for_function("(el) => el.dataset.rendered && JSON.parse(el.dataset.rendered).axial === 34",
                               arg=ortho.element_handle(), timeout=15_000)
        assert canvas_stats(axial)["hash"] != before["hash"]
        nb.screenshot("notebook7_case_viewer", page.locator(".medwb-case-viewer").first)
        # Notebook 7.6.5 itself logs one TypeError at start-up in this set-up (its shortcuts plugin reads
        # the schema of a plugin it does not have); it happens on a page with no widget and with the
        # widget extensions disabled, so only that exact message is tolerated here.
        errors = [e for e in nb.errors if "Cannot read properties of undefined (reading 'schema')" not in e]
        assert errors == [], "\n".join(errors)
    finally:
        page.close()
