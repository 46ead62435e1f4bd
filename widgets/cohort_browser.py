"""CohortBrowser: a sortable, filterable table of cases; choosing one opens it in a CaseViewer.

Clinical columns, predictions and risk side by side; file paths and anything that looks like a
person's name are never shown (columns whose name contains "name", "surname", "given", "birth").
Filtering is a pandas query ("age > 60 and label == 1") or, for anything else, a case-insensitive
text match on any shown column. Ground-truth columns (the demo's label, diagnosis and lesion burden)
are shown only in teaching mode (medwb.widgets.teaching), so a student cannot peek, or filter on them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd

import medwb
from medwb.demo.truth import TRUTH_COLUMNS
from medwb.widgets.case_table import CaseTable, table_rows
from medwb.widgets.case_viewer import CaseViewer
from medwb.widgets.safe_html import text
from medwb.widgets.teaching import TeachingToggle

__all__ = ["CohortBrowser", "shown_columns", "HIDDEN_PATTERNS"]

#: column names matching any of these (case-insensitive) are never shown
HIDDEN_PATTERNS = (r"name", r"surname", r"given", r"birth", r"address", r"phone")
_PATH_COLUMNS = ("image", "mask", "path", "file", "folder")


def shown_columns(table: pd.DataFrame) -> list[str]:
    """The columns CohortBrowser may show: no names or other direct identifiers, no file paths."""
    out = []
    for c in table.columns:
        name = str(c).lower()
        if any(re.search(p, name) for p in HIDDEN_PATTERNS):
            continue
        if name in _PATH_COLUMNS or name.endswith(("_path", "_file")):
            continue
        out.append(str(c))
    return out


def _as_series(values: Any, case_ids: list[str], what: str) -> pd.Series:
    if isinstance(values, pd.DataFrame):
        if "case_id" in values and values.shape[1] == 2:
            values = values.set_index("case_id").iloc[:, 0]
        else:
            raise ValueError(f"{what} as a DataFrame needs exactly the columns case_id and one value "
                             f"column, got {list(values.columns)}; pass a Series indexed by case_id")
    if isinstance(values, Mapping):
        values = pd.Series(dict(values))
    if isinstance(values, pd.Series):
        missing = set(case_ids) - {str(i) for i in values.index}
        if len(missing) == len(case_ids):
            raise ValueError(f"{what} is indexed by {list(values.index[:3])}..., none of which is a case "
                             f"id of this cohort (e.g. {case_ids[:3]}); index it by case_id")
        return values.rename(index=str).reindex(case_ids)
    arr = np.asarray(values)
    if arr.shape != (len(case_ids),):
        raise ValueError(f"{what} has shape {arr.shape}; the cohort has {len(case_ids)} cases. "
                         "Pass one value per case, in cohort.case_ids order, or a Series indexed by case_id")
    return pd.Series(arr, index=case_ids)


class CohortBrowser(w.VBox):
    """Browse a Cohort: sort by a column header, filter with a query, click a row to open the case.

    Args:
        cohort: a medwb.Cohort.
        predictions: optional model output per case (Series indexed by case_id, dict, or an array in
            ``cohort.case_ids`` order), shown as column "prediction".
        risk: optional risk score per case (same forms), shown as column "risk".
        attributions: optional ``case_id -> map`` (dict or callable returning an Attribution /
            array on the case's grid, or None) shown as the overlay of the opened case.
        extra: optional DataFrame with a case_id column: more columns to show.
        truth_columns: columns that are ground truth, shown only in teaching mode (default: those of
            medwb.demo.TRUTH_COLUMNS in the table: label, diagnosis, lesion burden).
        teaching: show the truth columns, and the opened case's true outlines and lesion facts
            (None follows ``medwb.widgets.set_teaching``); the "Show ground truth" button flips it.

    Example:
        >>> import pandas as pd, medwb
        >>> c = medwb.Cohort(pd.DataFrame({"case_id": ["a", "b"], "age": [70, 55],
        ...                                "patient_name": ["X^Y", "Z^W"]}))
        >>> list(CohortBrowser(c).frame.columns)
        ['case_id', 'age']
    """

    def __init__(self, cohort: medwb.Cohort, *, predictions: Any = None, risk: Any = None,
                 attributions: Mapping[str, Any] | Callable[[str], Any] | None = None,
                 extra: pd.DataFrame | None = None, window: str = "brain", max_height: int = 300,
                 truth_columns: Sequence[str] | None = None, teaching: bool | None = None) -> None:
        self.cohort = cohort
        self.attributions = attributions
        self.window = window
        ids = list(cohort.case_ids)
        frame = cohort.table[shown_columns(cohort.table)].copy()
        frame.index = ids
        if predictions is not None:
            frame["prediction"] = _as_series(predictions, ids, "predictions").to_numpy()
        if risk is not None:
            frame["risk"] = _as_series(risk, ids, "risk").to_numpy()
        if extra is not None:
            more = extra.copy()
            more["case_id"] = more["case_id"].astype(str)
            more = more.set_index("case_id")
            more = more[[c for c in shown_columns(more) if c not in frame.columns]]
            frame = frame.join(more)
        self.frame = frame.reset_index(drop=True)
        self.truth_columns = [c for c in (TRUTH_COLUMNS if truth_columns is None else truth_columns)
                              if c in self.frame.columns]
        self.teaching = TeachingToggle(teaching)
        self._open_id = ""
        self.query = w.Text(placeholder="filter: age > 60 and label == 1, or any text", description="filter",
                            continuous_update=False, layout=w.Layout(width="420px"))
        self.status = w.HTML()
        self.table = CaseTable.from_frame(self.shown_frame(), max_height=max_height)
        self.viewer: CaseViewer | None = None
        self.viewer_box = w.VBox()
        self.query.observe(lambda _: self.apply_filter(), names="value")
        self.table.observe(self._on_select, names="selected")
        self.teaching.observe(lambda _: self._on_teaching(), names="value")
        super().__init__([w.HBox([self.query, self.status, self.teaching]), self.table, self.viewer_box])
        self.add_class("medwb-cohort-browser")
        self.apply_filter()

    def shown_frame(self) -> pd.DataFrame:
        """The columns on show: everything, or everything but the truth columns outside teaching mode."""
        if self.teaching.value:
            return self.frame
        return self.frame.drop(columns=self.truth_columns)

    def filtered(self) -> pd.DataFrame:
        """The rows that pass the current filter (on the shown columns only)."""
        frame = self.shown_frame()
        text = self.query.value.strip()
        if not text:
            return frame
        if re.search(r"==|!=|<|>|\band\b|\bor\b|\bin\b|\bnot\b", text):
            try:
                return frame.query(text)
            except Exception as exc:  # noqa: BLE001 - any query error is shown, the table stays usable
                hidden = [c for c in self.truth_columns if c in text and c not in frame.columns]
                hint = f" ({', '.join(hidden)}: ground truth, shown in teaching mode)" if hidden else ""
                self._error = f"query failed: {type(exc).__name__}: {exc}{hint}"
                return frame.iloc[:0]
        hit = frame.astype(str).apply(lambda col: col.str.contains(text, case=False, regex=False))
        return frame[hit.any(axis=1)]

    def apply_filter(self) -> None:
        self._error = ""
        rows = self.filtered()
        with self.table.hold_sync():
            self.table.columns = [str(c) for c in rows.columns]
            self.table.rows = table_rows(rows)
        msg = f"{len(rows)} of {len(self.frame)} cases"
        self.status.value = (f"<span class='medwb-status'>{msg}</span>"
                             + (f" <span style='color:#b00020'>{text(self._error)}</span>" if self._error else ""))

    def _on_select(self, change: dict) -> None:
        if change["new"]:
            self.open_case(change["new"])

    def _attribution(self, case_id: str) -> Any:
        a = self.attributions
        if a is None:
            return None
        return a(case_id) if callable(a) else a.get(case_id)

    def _title(self, case_id: str) -> str:
        """The opened case's title as HTML: its id and shown values, escaped (data is text, never markup)."""
        frame = self.shown_frame()
        row = frame[frame["case_id"] == case_id]
        facts = ""
        if len(row):
            r = row.iloc[0]
            facts = " · ".join(f"{c} {r[c]:.3g}" if isinstance(r[c], float) else f"{c} {r[c]}"
                               for c in row.columns if c != "case_id" and pd.notna(r[c]))
        return f"<b>{text(case_id)} <span style='font-weight:normal'>{text(facts)}</span></b>"

    def _on_teaching(self) -> None:
        self.apply_filter()
        if self.viewer is not None and self._open_id:
            self.viewer.title.value = self._title(self._open_id)

    def open_case(self, case_id: str) -> CaseViewer:
        """Show ``case_id`` in the CaseViewer below the table (created on first use) and return it.

        Its ground truth (mask outlines, and the demo's per-lesion facts from ``cohort.ground_truth``)
        follows this browser's teaching switch."""
        vol = self.cohort.volume(case_id)
        mask = self.cohort.mask(case_id)
        truth = (self.cohort.ground_truth or {}).get("cases", {}).get(case_id)
        self._open_id = case_id
        if self.viewer is None:
            self.viewer = CaseViewer(vol, self._attribution(case_id), mask=mask, window=self.window,
                                     truth=truth, teaching=self.teaching.value)
            self.viewer.teaching.layout.visibility = "hidden"  # the browser's button drives it
            w.link((self.teaching, "value"), (self.viewer.teaching, "value"))
            self.viewer_box.children = [self.viewer]
        else:
            self.viewer.load(vol, self._attribution(case_id), mask=mask, truth=truth)
        self.viewer.title.value = self._title(case_id)  # markup of our own around escaped values
        if self.table.selected != case_id:
            self.table.selected = case_id
        return self.viewer

    def _repr_mimebundle_(self, **kwargs: object) -> Any:
        import base64

        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if self.viewer is not None:
            data["image/png"] = base64.b64encode(self.viewer.to_png()).decode()
        data["text/plain"] = f"CohortBrowser({len(self.frame)} cases, showing {self.table.selected or 'none'})"
        return bundle
