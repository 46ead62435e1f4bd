"""Regenerate docs/img/case_review.png (the README picture) from a real JupyterLab page.

Uses the browser-test harness (JupyterLab on 127.0.0.1, Debian chromium via Playwright):
    MEDWB_DEMO_DIR=data/demo .venv/bin/python docs/make_screenshot.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "browser"))

from labdriver import Chromium, JupyterLab, open_notebook, run_all_cells, wait_for_views  # noqa: E402
from widget_notebook import write_widget_notebook  # noqa: E402

CELL = '''
import medwb
from medwb import teaching
from medwb.widgets import CaseViewer

cohort = medwb.demo.load_cohort()
model, preprocess, _ = teaching.course_model(cohort, progress=False)
case = next(c for c in cohort.case_ids if cohort.row(c)["label"] == 1)
volume, mask = cohort.volume(case), cohort.mask(case)
# the method that localises best on the demo's truth (bench/results/explain_quality.json)
attribution = medwb.explain(model, volume, method="occlusion", target=1, preprocess=preprocess,
                            window=12, stride=6, baseline="blurred")
viewer = CaseViewer(volume, attribution, mask=mask, teaching=True,
                    title=f"{case}: occlusion (blurred reference) with the true lesion outline")
viewer
'''


def main() -> None:
    root = Path(tempfile.mkdtemp())
    write_widget_notebook(root, "shot.ipynb", cells=[CELL])
    with JupyterLab(root) as lab, Chromium(viewport=(1500, 900)) as chrome:
        page = chrome.new_page()
        nb = open_notebook(page, lab, "shot.ipynb")
        run_all_cells(page, timeout=600)
        wait_for_views(page, ".medwb-case-viewer .medwb-ortho[data-ready='1']")
        page.wait_for_timeout(1500)
        out = HERE / "img" / "case_review.png"
        page.locator(".medwb-case-viewer").first.screenshot(path=str(out))
        print(out, nb.errors or "no console errors")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
