"""Data is text, never markup, in the page: a hostile PatientID and series description run nothing.

A DICOM cohort written here (medwb.export.write_series, pydicom) has a patient whose PatientID is
``<img src=x onerror="window.__pwned=1">`` and series whose SeriesDescription sets ``__pwned=2`` the same
way. CohortBrowser shows the id and the description in its table and in the opened case's title, and a
CaseViewer is titled with the description. In JupyterLab the page must make no <img> of them, run no
handler, request nothing, and show both strings as the text they are.
"""

from __future__ import annotations

from labdriver import JupyterLab, open_notebook, run_all_cells, wait_for_views
from widget_notebook import write_widget_notebook

HOSTILE_ID = '<img src=x onerror="window.__pwned=1">'
HOSTILE_DESC = '<img src=x onerror="window.__pwned=2">'

COHORT = f'''\
import numpy as np
import pandas as pd
import medwb
from medwb.export.series import write_series
from medwb.widgets import CaseViewer, CohortBrowser

HOSTILE_ID = {HOSTILE_ID!r}
HOSTILE_DESC = {HOSTILE_DESC!r}
z, y, x = np.mgrid[:8, :32, :32]
for i, pid in enumerate([HOSTILE_ID, "case-ok"]):
    hu = np.where((y - 16) ** 2 + (x - 16) ** 2 < 100 + 20 * i, 40 + 10 * z, -1000).astype(np.int16)
    write_series(medwb.Volume.from_geometry(hu, spacing=(2.0, 1.0, 1.0), modality="CT"), f"dicom/p{{i}}",
                 patient_id=pid, series_description=HOSTILE_DESC, uid_seed=f"hostile-{{i}}")
clinical = pd.DataFrame({{"patient_id": [HOSTILE_ID, "case-ok"], "age": [61, 47]}})
cohort = medwb.Cohort.from_dicom("dicom", clinical, progress=False)
series = pd.DataFrame({{"case_id": cohort.case_ids,
                       "series_description": [cohort.volume(c).meta["series_description"] for c in cohort.case_ids]}})
'''

BROWSER = '''\
browser = CohortBrowser(cohort, extra=series)
browser.open_case(HOSTILE_ID)
browser
'''

VIEWER = '''\
volume = cohort.volume(HOSTILE_ID)
viewer = CaseViewer(volume, title=volume.meta["series_description"])
viewer
'''

CELLS = [COHORT, BROWSER, VIEWER]
# the opened case's title (CohortBrowser's CaseViewer) shows ``shown`` and not ``gone``
_TITLE_IS = ("([shown, gone]) => { const v = document.querySelector('.medwb-cohort-browser .medwb-case-viewer');"
             " return !!v && v.innerText.includes(shown) && !(gone && v.innerText.includes(gone)); }")


def test_hostile_patient_id_and_series_description_run_nothing_and_show_as_text(chrome, tmp_path):
    # a server and a browser profile of its own: this notebook's kernel and workspace stay apart
    # from the session's widget notebook
    write_widget_notebook(tmp_path, "hostile.ipynb", cells=CELLS)
    context = chrome.fresh_context()
    try:
        with JupyterLab(tmp_path) as server:
            page = context.new_page()
            try:
                _check(page, server)
            finally:
                page.close()
    finally:
        context.close()


def _wait_for_title(page, shown: str, gone: str = "") -> None:
    try:
        page.wait_for_function(_TITLE_IS, arg=[shown, gone], timeout=30_000)
    except Exception as exc:  # say what the page made of the title instead of a bare timeout
        markup = page.evaluate("() => document.querySelector('.medwb-cohort-browser .medwb-case-viewer')"
                               "?.innerHTML.slice(0, 600)")
        raise AssertionError(f"the opened case's title never showed {shown!r} as text; window.__pwned is "
                             f"{page.evaluate('() => window.__pwned')!r}; the viewer's HTML: {markup}") from exc


def _check(page, lab) -> None:
    nb = open_notebook(page, lab, "hostile.ipynb")
    run_all_cells(page, timeout=180)
    viewers = wait_for_views(page, ".medwb-case-viewer", count=2)
    page.wait_for_function("() => document.querySelectorAll('.medwb-cohort-browser tbody tr').length === 2")
    _wait_for_title(page, HOSTILE_ID)
    # open the other case and then the hostile one again by clicking: the title is rebuilt from the data
    page.locator(".medwb-cohort-browser tr[data-case-id='case-ok']").click()
    _wait_for_title(page, "case-ok", gone=HOSTILE_ID)
    page.locator(".medwb-cohort-browser tbody tr").filter(has_text=HOSTILE_ID).first.click()
    _wait_for_title(page, HOSTILE_ID, gone="case-ok")

    # nothing ran, and no element was made from the data
    assert page.evaluate("() => window.__pwned") is None
    assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"], img[onerror]').length") == 0
    assert page.evaluate("() => [...document.querySelectorAll('*')].filter(e => e.hasAttribute('onerror'))"
                         ".length") == 0
    # ... and the strings are on show, as written
    table = page.locator(".medwb-cohort-browser .medwb-case-table").first.inner_text()
    assert HOSTILE_ID in table and HOSTILE_DESC in table
    in_browser, alone = viewers.nth(0).inner_text(), viewers.nth(1).inner_text()
    assert HOSTILE_ID in in_browser and HOSTILE_DESC in in_browser
    assert HOSTILE_DESC in alone and HOSTILE_ID not in alone
    nb.screenshot("hostile_text", page.locator(".jp-Notebook").first)
    assert page.evaluate("() => window.__pwned") is None
    # an <img src=x> would also have shown here, as a failed request for "x"
    assert nb.errors == [], "\n".join(nb.errors)
