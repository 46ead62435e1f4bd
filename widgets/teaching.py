"""Teaching mode: one switch that reveals the ground truth beside the model's output.

A simulated cohort (medwb.demo) knows its truth: the lesion masks and per-lesion facts, the diagnosis,
the hazard ratios the survival times were drawn with. In a class that truth is hidden by default, so a
student judges the model and its explanation first; then a "Show ground truth" toggle (on every widget
that has truth to show) or the teacher's global switch ``set_teaching(True)`` reveals it beside the
model's output: true lesion outlines under the attribution map, localisation figures, true hazard
ratios on the forest plot, the diagnosis columns of the cohort table.

Everything here reads medwb's public API only (``cohort.ground_truth``, ``cohort.mask``); the demo's
truth coding (which columns are truth, label values, hazard-ratio names) is medwb.demo.truth's, and
per-lesion facts are measured by medwb.masks.lesions_from_mask.

Example:
    >>> import medwb.widgets as mw
    >>> mw.set_teaching(True); mw.teaching_enabled()
    True
    >>> mw.set_teaching(False)
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd

from medwb.demo.truth import TRUTH_COLUMNS, hazard_truth, lesion_table, truth_facts
from medwb.masks import lesions_from_mask
from medwb.widgets.safe_html import text

__all__ = [
    "TRUTH_COLUMNS",
    "TeachingToggle",
    "demo_hazard_truth",
    "lesion_table",
    "lesions_from_mask",
    "resolve_teaching",
    "set_teaching",
    "teaching_enabled",
    "truth_facts",
    "truth_html",
]


_state = {"on": False}
_toggles: weakref.WeakSet[TeachingToggle] = weakref.WeakSet()


def teaching_enabled() -> bool:
    """Whether new widgets open with their ground truth shown (the teacher's global switch)."""
    return _state["on"]


def set_teaching(on: bool = True) -> None:
    """The teacher's switch: show (or hide) ground truth in every open widget and in new ones.

    Example:
        >>> set_teaching(True)   # reveal the truth in every widget of this kernel
        >>> set_teaching(False)  # and hide it again
    """
    if not isinstance(on, (bool, np.bool_)):
        raise TypeError(f"set_teaching takes True or False, got {on!r}")
    _state["on"] = bool(on)
    for toggle in list(_toggles):
        if toggle.comm is not None:  # skip closed widgets
            toggle.value = bool(on)


def resolve_teaching(teaching: bool | None) -> bool:
    """A widget's ``teaching`` argument: None follows the global switch, True/False override it."""
    return teaching_enabled() if teaching is None else bool(teaching)


class TeachingToggle(w.ToggleButton):
    """The "Show ground truth" button every widget with ground truth carries; ``set_teaching`` flips all.

    Example:
        >>> button = TeachingToggle(teaching=None)   # None: follow the global switch
        >>> set_teaching(True); button.value
        True
        >>> set_teaching(False); button.value
        False
    """

    def __init__(self, teaching: bool | None = None, **kwargs: Any) -> None:
        super().__init__(value=resolve_teaching(teaching), description="Show ground truth",
                         icon="graduation-cap", tooltip="teaching mode: show the demo's ground truth "
                         "beside the model's output (medwb.widgets.set_teaching(True) flips every widget)",
                         layout=w.Layout(width="170px"), **kwargs)
        self.add_class("medwb-teaching-toggle")
        _toggles.add(self)


def truth_html(lesions: pd.DataFrame | None, facts: Mapping[str, Any] | None = None) -> str:
    """A one-block HTML summary of a case's truth: diagnosis facts, then one line per lesion (values escaped)."""
    parts = []
    if facts:
        parts.append(" · ".join(f"{text(k)} <b>{text(v)}</b>" for k, v in facts.items() if v is not None))
    if lesions is not None:
        if lesions.empty:
            parts.append("no lesion")
        for i, r in enumerate(lesions.to_dict("records"), start=1):
            bits = [f"lesion {i}: <b>{text(r.get('type', 'lesion'))}</b>"]
            if r.get("volume_ml") is not None:
                bits.append(f"{float(r['volume_ml']):.2f} mL")
            if r.get("oedema_ml"):
                bits.append(f"oedema {float(r['oedema_ml']):.2f} mL")
            if r.get("radius_mm") is not None:
                bits.append(f"radius {float(r['radius_mm']):.1f} mm")
            if r.get("centre_index") is not None:
                bits.append(f"centre voxel ({', '.join(str(int(v)) for v in r['centre_index'])})")
            parts.append(", ".join(bits))
    body = "<br>".join(parts) or "no ground truth for this case"
    return ("<div class='medwb-truth' style='border-left:3px solid #ff3b30;padding:2px 8px;margin:4px 0'>"
            f"<b>Ground truth</b> (red outlines)<br>{body}</div>")


#: (true hazard ratios, covariate -> truth key, units) of a demo ground truth: medwb.demo.hazard_truth
demo_hazard_truth = hazard_truth
