"""Data is text, never markup: hostile strings from a cohort reach the widgets' HTML only escaped.

Each test feeds ``<img src=x onerror=...>``, ``<script>``, ``"quotes"`` and ``&amp;`` through a widget
where real data would come in (case ids, clinical values and column names, a series description, error
messages, metric names, ground-truth facts), then reads the HTML the widget sends to the page: no raw
markup, the escaped form present, and an HTML parser finds the hostile text as text and no element,
event handler or script made from it.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import medwb
from medwb.widgets import CaseViewer, CohortBrowser, SurvivalExplorer, TrainingMonitor
from medwb.widgets.attribution_explorer import AttributionExplorer
from medwb.widgets.safe_html import error_html, frame_html, text

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"
QUOTES = '"quotes"'
AMP = "&amp;"
HOSTILE = (IMG, SCRIPT, QUOTES, AMP)
#: what a browser would build from each string if it were markup
_ACTIVE_TAGS = {"img", "script"}


class _Page(HTMLParser):
    """What a browser makes of an HTML value: the elements (with attributes) and the visible text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def assert_shown_as_text(markup: str, *values: str) -> None:
    """``values`` appear in ``markup`` only escaped, and a parser reads them back as text, not elements."""
    page = _Page(markup)
    made = [t for t, _ in page.tags if t in _ACTIVE_TAGS]
    handlers = [(t, a) for t, attrs in page.tags for a in attrs if a.lower().startswith("on")]
    assert made == [] and handlers == [], f"data became markup: {made} {handlers}\n{markup}"
    for v in values:
        if "<" in v:
            assert v not in markup, f"raw {v!r} in\n{markup}"
        assert html.escape(v, quote=False) in markup or html.escape(v) in markup, f"{v!r} not escaped in\n{markup}"
        assert v in page.text, f"{v!r} is not shown as text; the page reads {page.text!r}"


def _hostile_cohort(folder) -> medwb.Cohort:
    """Two cases whose ids, a clinical value, a column name and a series description are hostile."""
    rows = []
    for i, case_id in enumerate([IMG, f"case {AMP} {QUOTES}"]):
        z, y, x = np.mgrid[:6, :12, :12]
        vol = medwb.Volume.from_geometry((np.sin(x / 2.0) * 100 + 10 * i).astype(np.int16), spacing=(2.0, 1.0, 1.0),
                                         modality="CT")
        mask = np.zeros(vol.shape, np.uint8)
        mask[2:4, 4:8, 4:8] = 1
        medwb.save_nifti(vol, folder / f"case-{i}.nii.gz")
        medwb.save_nifti(vol.with_array(mask), folder / f"case-{i}-mask.nii.gz")
        rows.append({"case_id": case_id, "image": f"case-{i}.nii.gz", "mask": f"case-{i}-mask.nii.gz",
                     "age": 50 + i, "series_description": SCRIPT, "<b onmouseover=alert(3)>site": AMP})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return medwb.Cohort.from_manifest(folder / "manifest.csv")


def test_safe_html_helpers_escape_text_tables_and_errors():
    for v in HOSTILE:
        assert_shown_as_text(f"<b>{text(v)}</b>", v)
        assert_shown_as_text(error_html(f"failed: {v}\nTraceback ..."), v)
    table = pd.DataFrame({IMG: [SCRIPT, AMP], "n": [1.5, 2.0]}, index=[QUOTES, "r2"])
    assert_shown_as_text(frame_html(table), *HOSTILE)
    with pytest.raises(ValueError, match="always escapes"):
        frame_html(table, escape=False)


def test_cohort_browser_case_title_shows_ids_values_and_column_names_as_text(tmp_path):
    b = CohortBrowser(_hostile_cohort(tmp_path))
    assert [r[0] for r in b.table.rows] == [IMG, f"case {AMP} {QUOTES}"]  # the table draws them with textContent
    viewer = b.open_case(IMG)
    assert_shown_as_text(viewer.title.value, IMG, SCRIPT, AMP, "<b onmouseover=alert(3)>site")
    assert viewer.title.value.startswith("<b>")  # the widget's own markup still renders
    b.open_case(f"case {AMP} {QUOTES}")
    assert_shown_as_text(viewer.title.value, f"case {AMP} {QUOTES}", SCRIPT)
    b.teaching.value = True  # the title is rebuilt on the teaching switch too
    assert_shown_as_text(viewer.title.value, f"case {AMP} {QUOTES}", SCRIPT)


def test_cohort_browser_filter_error_shows_the_query_as_text(tmp_path):
    b = CohortBrowser(_hostile_cohort(tmp_path))
    b.query.value = f"age > '{IMG}' and nonsense {SCRIPT} == 1"
    assert "query failed" in b.status.value and b.table.rows == []
    assert IMG not in b.status.value and SCRIPT not in b.status.value and "<img" not in b.status.value
    assert [t for t, _ in _Page(b.status.value).tags] == ["span", "span"]


def test_case_viewer_title_from_a_series_description_is_text():
    vol = medwb.Volume.from_geometry(np.zeros((4, 6, 6), np.int16), modality="CT",
                                     meta={"series_description": IMG})
    v = CaseViewer(vol, title=vol.meta["series_description"])
    assert_shown_as_text(v.title.value, IMG)
    for desc in HOSTILE:
        v.load(vol, title=f"T1 {desc}")
        assert_shown_as_text(v.title.value, desc)


def test_ground_truth_facts_are_text_in_teaching_mode():
    vol = medwb.Volume.from_geometry(np.zeros((4, 6, 6), np.int16), modality="CT")
    truth = {"diagnosis": IMG, "label": AMP, "lesions": [{"type": SCRIPT, "volume_ml": 1.0}]}
    v = CaseViewer(vol, truth=truth, teaching=True)
    assert_shown_as_text(v.truth_box.value, IMG, AMP, SCRIPT)
    assert "Ground truth" in v.truth_box.value


def test_survival_explorer_shows_covariate_names_and_fit_errors_as_text():
    rng = np.random.default_rng(0)
    n = 60
    x = rng.normal(size=n)
    t = rng.exponential(300 / np.exp(x))
    table = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], IMG: x, "time": t, "event": 1})
    s = SurvivalExplorer(table, clinical=[IMG], truth={IMG: 2.0}, teaching=True)
    assert s.comparison is not None and IMG in s.comparison.index
    assert_shown_as_text(s.truth_table.value, IMG)
    assert "apparent C-index" in s.stats.value
    table[SCRIPT] = 1.0  # a constant covariate: the Cox fit fails, naming it
    s = SurvivalExplorer(table, clinical=[SCRIPT])
    assert "Cox fit failed" in s.stats.value
    assert_shown_as_text(s.stats.value, SCRIPT)


def test_training_monitor_shows_metric_names_and_errors_as_text():
    m = TrainingMonitor(epochs=2, metrics=(IMG,))
    m({"epoch": 1, "train_loss": 0.5, IMG: 0.7}, pd.DataFrame([{"epoch": 1, "train_loss": 0.5, IMG: 0.7}]))
    assert_shown_as_text(m.status.value, IMG)

    def broken(**kwargs):
        raise RuntimeError(f"no such file: {SCRIPT} {AMP}")

    m.start(broken, epochs=2).wait(10)
    assert "training failed" in m.status.value and m.progress.bar_style == "danger"
    assert_shown_as_text(m.status.value, SCRIPT, AMP)


def test_attribution_explorer_shows_model_errors_as_text():
    from torch import nn

    class Hostile(nn.Module):
        def forward(self, x):
            raise ValueError(f"layer {IMG} {QUOTES} failed")

    vol = medwb.Volume.from_geometry(np.zeros((4, 6, 6), np.float32))
    ex = AttributionExplorer(Hostile().eval(), vol, methods=("saliency",), target=0)
    ex.run(wait=True)
    assert "failed" in ex.status.value and ex.progress.bar_style == "danger"
    assert_shown_as_text(ex.status.value, IMG, QUOTES)
