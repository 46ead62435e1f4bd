"""CohortBrowser: no names shown, predictions and risk joined by case, filtering, a row opens its case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medwb.widgets import CohortBrowser
from medwb.widgets.cohort_browser import shown_columns


def test_names_and_file_paths_are_never_shown(tiny_cohort):
    b = CohortBrowser(tiny_cohort)
    assert "patient_name" not in b.table.columns and "PatientName" not in b.table.columns
    assert "image" not in b.table.columns and "mask" not in b.table.columns
    assert not any("DOE" in str(v) for row in b.table.rows for v in row)
    assert shown_columns(pd.DataFrame(columns=["case_id", "Surname", "given_name", "birth_date", "age"])) \
        == ["case_id", "age"]


def test_predictions_and_risk_are_matched_by_case_id(tiny_cohort):
    pred = pd.Series({"case-2": 0.9, "case-0": 0.1, "case-1": 0.5, "case-3": 0.7})
    b = CohortBrowser(tiny_cohort, predictions=pred, risk=np.array([1.0, 2.0, 3.0, 4.0]))
    row = b.frame.set_index("case_id").loc["case-2"]
    assert row["prediction"] == 0.9 and row["risk"] == 3.0


def test_predictions_for_other_cases_are_refused_with_the_fix(tiny_cohort):
    with pytest.raises(ValueError, match="index it by case_id"):
        CohortBrowser(tiny_cohort, predictions=pd.Series([0.1, 0.2, 0.3, 0.4]))
    with pytest.raises(ValueError, match="one value per case"):
        CohortBrowser(tiny_cohort, risk=[1.0, 2.0])


def test_query_and_text_filters_select_rows(tiny_cohort):
    b = CohortBrowser(tiny_cohort)
    b.query.value = "age > 60"
    assert [r[0] for r in b.table.rows] == ["case-2", "case-3"] and "2 of 4" in b.status.value
    b.query.value = "case-1"
    assert [r[0] for r in b.table.rows] == ["case-1"]
    b.query.value = "age >> 3"
    assert b.table.rows == [] and "query failed" in b.status.value
    b.query.value = ""
    assert len(b.table.rows) == 4


def test_selecting_a_row_opens_that_case_with_its_mask(tiny_cohort):
    attributions = {"case-1": np.ones((8, 16, 16), np.float32)}
    b = CohortBrowser(tiny_cohort, attributions=attributions)
    assert b.viewer is None
    b.table.selected = "case-1"  # what a click in the page sends
    assert b.viewer is not None and "case-1" in b.viewer.title.value
    assert b.viewer.mask is not None and b.viewer.position[1] == 6  # opened on case-1's lesion
    assert b.viewer.attribution is not None
    first = b.viewer
    b.table.selected = "case-3"
    assert b.viewer is first and "case-3" in b.viewer.title.value and b.viewer.attribution is None
    assert b.viewer.position[1] == 8


def test_static_fallback_shows_the_opened_case(tiny_cohort):
    b = CohortBrowser(tiny_cohort)
    data = b._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert "image/png" not in data
    b.open_case("case-2")
    data = b._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert "image/png" in data and "case-2" in data["text/plain"]
    import base64

    png_2 = base64.b64decode(data["image/png"])
    assert png_2 == b.viewer.to_png()  # the opened case's three planes, as its viewer shows them
    b.open_case("case-3")
    data = b._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert "case-3" in data["text/plain"]
    assert base64.b64decode(data["image/png"]) == b.viewer.to_png() != png_2
