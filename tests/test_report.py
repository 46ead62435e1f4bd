"""The headless demo: `python -m medwb report OUT_DIR` runs tutorials without JupyterLab and writes an
offline HTML report (figures embedded, nothing fetched from the web, no identifying value of the cohort)."""

from __future__ import annotations

import base64
import json
import re

import pytest

from medwb.__main__ import main
from medwb.report import external_references, find_notebooks, notebook_html

PNG = re.compile(r'<img[^>]+src="data:image/png;base64,([A-Za-z0-9+/=\s]+)"')


def _notebook(cells: list[tuple[str, str]], widgets: bool = False):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
                for kind, src in cells]
    if widgets:
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                                 "version_minor": 0}}
    return nb


def test_external_references_finds_scripts_styles_and_images_but_not_links():
    page = ('<script src="https://cdn.example/a.js"></script><link href="//fonts.example/b.css">'
            '<style>@import "https://x.example/c.css"; div {background: url(http://x.example/d.png)}</style>'
            '<a href="https://medwb.example/docs">docs</a><img src="data:image/png;base64,AAAA">')
    assert len(external_references(page)) == 4


def test_notebook_page_loads_nothing_from_the_web_even_with_math_and_widgets():
    from nbconvert import HTMLExporter

    nb = _notebook([("md", "# Title\n\nThe hazard is $h(t) = h_0(t) e^{\\beta x}$."), ("code", "1 + 1")],
                   widgets=True)
    stock, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    assert external_references(stock), "nbconvert's stock page loads scripts from a CDN (the check can fail)"
    page = notebook_html(nb, "Title")
    assert external_references(page) == []
    assert "<title>Title</title>" in page


def test_unknown_notebook_name_lists_the_available_ones(tmp_path):
    (tmp_path / "01_intro.ipynb").write_text(json.dumps(_notebook([("code", "1")])))
    assert [p.name for p in find_notebooks(["01"], tmp_path)] == ["01_intro.ipynb"]
    with pytest.raises(ValueError, match="01_intro"):
        find_notebooks(["07"], tmp_path)


@pytest.mark.slow
def test_failing_notebook_still_gets_its_page_and_the_command_fails(tmp_path, capsys):
    import nbformat

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    nbformat.write(_notebook([("md", "# Works"), ("code", "import matplotlib.pyplot as plt\n"
                                                          "plt.plot([0, 1], [1, 0]); plt.show()")]),
                   nbs / "01_works.ipynb")
    nbformat.write(_notebook([("md", "# Breaks"), ("code", "1 / 0"), ("code", "print('never')")]),
                   nbs / "02_breaks.ipynb")
    out = tmp_path / "report"
    assert main(["report", str(out), "--notebook-dir", str(nbs)]) == 1
    summary = json.loads((out / "summary.json").read_text())
    works, breaks = summary["notebooks"]
    assert works["ok"] and works["figures"] == 1 and works["peak_rss_bytes"] > 10 * 2**20
    assert not breaks["ok"] and "ZeroDivisionError" in breaks["error"] and breaks["cells_run"] == 1
    assert "ZeroDivisionError" in (out / "02_breaks.html").read_text()
    index = (out / "index.html").read_text()
    assert 'href="01_works.html"' in index and 'href="02_breaks.html"' in index
    assert "FAILED" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.notebook
def test_report_of_the_first_tutorial_has_embedded_figures_no_web_references_and_no_phi(demo_cohort, tmp_path):
    from medwb.deid import identifiers_from_dicom, scan_phi

    out = tmp_path / "report"
    assert main(["report", str(out), "--notebooks", "01"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [n["notebook"] for n in summary["notebooks"]] == ["01_cohort_tour.ipynb"]
    assert summary["notebooks"][0]["ok"] and summary["demo cohort"] == str(demo_cohort.root)
    page = (out / "01_cohort_tour.html").read_text()
    pngs = [base64.b64decode(m) for m in PNG.findall(page)]
    assert pngs and all(p.startswith(b"\x89PNG\r\n\x1a\n") and len(p) > 1000 for p in pngs)
    assert len(pngs) >= summary["notebooks"][0]["figures"]
    for html in (page, (out / "index.html").read_text()):
        assert external_references(html) == []
    # identifying values of the cohort's DICOM headers (one slice per case carries them all)
    first_slices = [sorted(d.glob("*.dcm"))[0] for d in sorted((demo_cohort.root / "dicom").iterdir())]
    known = identifiers_from_dicom(first_slices, kinds=("names", "dates", "contacts"), name_parts=False)
    assert known
    found = scan_phi(out, identifiers=known)
    assert found.empty, found.head().to_string()


# Data is text, never markup (issue 12): values from data reach the report's pages escaped, and HTML a cell
# built around them loses anything that runs.
HOSTILE = '<img src=x onerror="alert(1)">'


def _what_runs(page: str) -> list[str]:
    """What a browser would run in ``page``: on... handlers, javascript: URLs, scripts that call alert."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Parser(HTMLParser):
        script = False

        def handle_starttag(self, tag, attrs):
            self.script = tag == "script"
            found.extend(f"<{tag} {k}={v!r}>" for k, v in attrs
                         if k.startswith("on") or (v or "").strip().lower().startswith("javascript:"))

        def handle_data(self, data):
            if self.script and "alert" in data:
                found.append(f"<script>{data.strip()[:60]}")

    Parser().feed(page)
    return found


def test_notebook_page_shows_data_as_text_and_runs_nothing_a_cell_displayed():
    import html

    import nbformat
    import pandas as pd

    cell = nbformat.v4.new_code_cell("show(cohort)")
    table = pd.DataFrame({"patient_id": [HOSTILE], "<b>site</b>": ["&amp;"]})
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"loaded {HOSTILE}\n"),
        nbformat.v4.new_output("display_data", data={"text/html": table._repr_html_(), "text/plain": "t"}),
        nbformat.v4.new_output("display_data", data={"text/html": f"<b>case</b> {HOSTILE}<script>alert(2)</script>"
                                                                  "<a href='javascript:alert(3)'>open</a>"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "alert(4)"}),
        nbformat.v4.new_output("error", ename="ValueError", evalue=HOSTILE, traceback=[f"ValueError: {HOSTILE}"]),
    ]
    page = notebook_html(nbformat.v4.new_notebook(cells=[cell]), title=f"case {HOSTILE}")
    assert HOSTILE not in page and _what_runs(page) == []
    escaped = html.escape(HOSTILE, quote=False)
    assert page.count(escaped) >= 4  # printed, table cell, error value and traceback, title: all as text
    assert f"<title>case {escaped}" in page or f"<title>case {html.escape(HOSTILE)}" in page
    assert "&lt;b&gt;site&lt;/b&gt;" in page and "&amp;amp;" in page  # column name and cell, as written
    assert '<table border="1" class="dataframe">' in page and "<style scoped" in page  # formatting kept
    assert "<b>case</b>" in page and "[JavaScript output, not run in this page]" in page


@pytest.mark.slow
def test_index_and_pages_show_hostile_titles_outputs_and_errors_as_text(tmp_path):
    import html

    import nbformat

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    code = (f"from IPython.display import HTML, display\npid = {HOSTILE!r}\nprint(pid)\n"
            "display(HTML(f'<b>{pid}</b>'))\nraise ValueError(f'no image for {pid}')")
    nbformat.write(_notebook([("md", "# Review of <i>case</i> &amp; co"), ("code", code)]), nbs / "01_review.ipynb")
    out = tmp_path / "report"
    assert main(["report", str(out), "--notebook-dir", str(nbs)]) == 1
    index = (out / "index.html").read_text()
    page = (out / "01_review.html").read_text()
    for text in (index, page):
        assert HOSTILE not in text and _what_runs(text) == []
    assert f"failed: ValueError: no image for {html.escape(HOSTILE)}</td>" in index  # the error, as plain text
    assert "<td>Review of &lt;i&gt;case&lt;/i&gt; &amp;amp; co</td>" in index  # the title, as written
    assert page.count(html.escape(HOSTILE, quote=False)) >= 2  # printed and raised


def test_peak_memory_counts_the_notebooks_kernel_not_processes_that_were_already_running(tmp_path):
    import subprocess
    import sys
    import time

    import nbformat

    from medwb.report import execute_notebook

    hog = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(b'x') * 2**30; time.sleep(120)"])
    try:
        time.sleep(3)  # the bystander holds 1 GiB (a JupyterLab or Chromium of the test session, say)
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), tmp_path / "a.ipynb")
        run = execute_notebook(tmp_path / "a.ipynb")
    finally:
        hog.kill()
    assert run.ok and 0 < run.peak_rss < 2**30
