"""CaseTable: a sortable table of cases drawn in the browser; clicking a row selects that case.

An anywidget with inline JavaScript (no CDN). Python sends the rows already filtered; sorting is done
in the page (no round trip) and reported back in ``sort``; a click sets ``selected`` to the row's
``case_id``. Keyboard: Up/Down move the selection when the table has focus.
"""

from __future__ import annotations

import math
from typing import Any

import anywidget
import pandas as pd
import traitlets as t

__all__ = ["CaseTable", "table_rows"]

_ESM = r"""
function fmt(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(3);
  return String(v);
}

function render({ model, el: host }) {
  const el = document.createElement("div");
  el.className = "medwb-case-table";
  el.tabIndex = 0;
  el.style.cssText = "max-height:" + model.get("max_height") + "px;overflow:auto;outline:none;" +
    "border:1px solid var(--jp-border-color2,#ccc);font:12px var(--jp-ui-font-family,sans-serif)";
  host.append(el);
  const table = document.createElement("table");
  table.style.cssText = "border-collapse:collapse;width:100%";
  el.append(table);

  function order() {
    const rows = model.get("rows").map((r, i) => i);
    const [col, asc] = model.get("sort");
    const k = model.get("columns").indexOf(col);
    if (k < 0) return rows;
    const data = model.get("rows");
    rows.sort((a, b) => {
      const x = data[a][k], y = data[b][k];
      if (x === y) return a - b;
      if (x === null) return 1;
      if (y === null) return -1;
      const c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
      return asc ? c : -c;
    });
    return rows;
  }

  function draw() {
    const cols = model.get("columns"), data = model.get("rows"), [scol, asc] = model.get("sort");
    const sel = model.get("selected");
    const idCol = cols.indexOf("case_id");
    table.innerHTML = "";
    const head = table.createTHead().insertRow();
    for (const c of cols) {
      const th = document.createElement("th");
      th.textContent = c + (c === scol ? (asc ? " ▲" : " ▼") : "");
      th.dataset.column = c;
      th.style.cssText = "position:sticky;top:0;background:var(--jp-layout-color2,#eee);cursor:pointer;" +
        "text-align:left;padding:3px 8px;white-space:nowrap;user-select:none";
      th.addEventListener("click", () => {
        const [c0, a0] = model.get("sort");
        model.set("sort", [c, c0 === c ? !a0 : true]);
        model.save_changes();
      });
      head.append(th);
    }
    const body = table.createTBody();
    for (const i of order()) {
      const tr = body.insertRow();
      const id = data[i][idCol];
      tr.dataset.caseId = id;
      const isSel = id === sel;
      tr.style.cssText = "cursor:pointer;" + (isSel ? "background:#0a84ff;color:#fff" : "");
      for (const v of data[i]) {
        const td = tr.insertCell();
        td.textContent = fmt(v);
        td.style.cssText = "padding:2px 8px;white-space:nowrap;border-top:1px solid var(--jp-border-color3,#eee)";
      }
      tr.addEventListener("click", () => { model.set("selected", id); model.save_changes(); el.focus(); });
    }
    el.dataset.rows = String(data.length);
  }

  el.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    const trs = [...table.tBodies[0].rows];
    const i = trs.findIndex((r) => r.dataset.caseId === model.get("selected"));
    const j = Math.max(0, Math.min(trs.length - 1, i + (e.key === "ArrowDown" ? 1 : -1)));
    if (trs[j]) { model.set("selected", trs[j].dataset.caseId); model.save_changes(); }
    e.preventDefault(); e.stopPropagation();
  });
  for (const name of ["rows", "columns", "sort", "selected"]) model.on("change:" + name, draw);
  draw();
  return () => { for (const n of ["rows", "columns", "sort", "selected"]) model.off("change:" + n, draw); };
}
export default { render };
"""


def _cell(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if hasattr(v, "item"):  # numpy scalar
        v = v.item()
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    if isinstance(v, (int, bool, str)):
        return v
    return str(v)


def table_rows(frame: pd.DataFrame) -> list[list[Any]]:
    """The rows of ``frame`` as JSON-safe lists (NaN -> None, numpy scalars -> Python)."""
    return [[_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]


class CaseTable(anywidget.AnyWidget):
    """The table part of CohortBrowser. Set ``columns`` and ``rows``; read ``selected`` and ``sort``.

    Example:
        >>> import pandas as pd
        >>> t = CaseTable.from_frame(pd.DataFrame({"case_id": ["a", "b"], "age": [70, 55.5]}))
        >>> t.rows
        [['a', 70.0], ['b', 55.5]]
    """

    _esm = _ESM
    columns = t.List(t.Unicode()).tag(sync=True)
    rows = t.List().tag(sync=True)
    #: [column, ascending]
    sort = t.List(default_value=["case_id", True]).tag(sync=True)
    selected = t.Unicode("").tag(sync=True)
    max_height = t.Int(320).tag(sync=True)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, **kwargs: Any) -> CaseTable:
        return cls(columns=[str(c) for c in frame.columns], rows=table_rows(frame), **kwargs)
