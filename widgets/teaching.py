"""Teaching mode: one switch that reveals the ground truth beside the model's output.

A simulated cohort (medwb.demo) knows its truth: the lesion masks and per-lesion facts, the diagnosis,
the hazard ratios the survival times were drawn with. In a class that truth is hidden by default, so a
student judges the model and its explanation first; then a "Show ground truth" toggle (on every widget
that has truth to show) or the teacher's global switch ``set_teaching(True)`` reveals it beside the
model's output: true lesion outlines under the attribution map, localisation figures, true hazard
ratios on the forest plot, the diagnosis columns of the cohort table.

Everything here reads medwb's public API only (``cohort.ground_truth``, ``cohort.mask``).

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

#: cohort-table columns that are ground truth in the demo cohort (hidden unless teaching mode is on)
TRUTH_COLUMNS = ("label", "diagnosis", "n_lesions", "lesion_volume_ml", "oedema_volume_ml")

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


def lesions_from_mask(mask: np.ndarray, spacing: tuple[float, float, float]) -> pd.DataFrame:
    """Per-lesion facts measured from a label mask (label 1 = lesion, 2 = oedema): connected lesion
    components with their volume (mL), oedema touching them (mL) and centre voxel.

    Example:
        >>> m = np.zeros((4, 4, 4), np.uint8); m[1:3, 1:3, 1:3] = 1
        >>> lesions_from_mask(m, (1.0, 1.0, 1.0))["volume_ml"].tolist()
        [0.008]
    """
    from scipy import ndimage

    voxel_ml = float(np.prod(spacing)) / 1000.0
    lab, n = ndimage.label(np.asarray(mask) == 1)
    oedema = np.asarray(mask) == 2
    rows = []
    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        box = tuple(slice(max(0, s.start - 3), s.stop + 3) for s in sl)  # the lesion plus a margin
        comp = lab[box] == i
        grown = ndimage.binary_dilation(comp, iterations=3)
        centre = [int(round(c)) + b.start for c, b in zip(ndimage.center_of_mass(comp), box)]
        rows.append({"type": "lesion", "volume_ml": float(comp.sum()) * voxel_ml,
                     "oedema_ml": float((grown & oedema[box]).sum()) * voxel_ml,
                     "centre_index": tuple(centre)})
    return pd.DataFrame(rows, columns=["type", "volume_ml", "oedema_ml", "centre_index"])


def lesion_table(truth: Any) -> pd.DataFrame | None:
    """Per-lesion truth as a DataFrame: from a DataFrame, a list of dicts, or one case's entry of a demo
    ``cohort.ground_truth["cases"]`` (a dict with "lesions"); None passes through."""
    if truth is None:
        return None
    if isinstance(truth, pd.DataFrame):
        return truth
    if isinstance(truth, Mapping):
        if "lesions" not in truth:
            raise ValueError(f"per-lesion truth as a dict needs a 'lesions' list, got keys {list(truth)[:8]}; "
                             "pass cohort.ground_truth['cases'][case_id] or a DataFrame with one row per lesion")
        truth = truth["lesions"]
    return pd.DataFrame(list(truth))


def truth_facts(truth: Any) -> dict[str, Any]:
    """The case-level facts (diagnosis, label) of one case's demo truth entry; {} for anything else."""
    if isinstance(truth, Mapping):
        return {k: truth[k] for k in ("diagnosis", "label") if k in truth}
    return {}


def truth_html(lesions: pd.DataFrame | None, facts: Mapping[str, Any] | None = None) -> str:
    """A one-block HTML summary of a case's truth: diagnosis facts, then one line per lesion."""
    parts = []
    if facts:
        parts.append(" · ".join(f"{k} <b>{v}</b>" for k, v in facts.items() if v is not None))
    if lesions is not None:
        if lesions.empty:
            parts.append("no lesion")
        for i, r in enumerate(lesions.to_dict("records"), start=1):
            bits = [f"lesion {i}: <b>{r.get('type', 'lesion')}</b>"]
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


#: covariate names of SurvivalExplorer's design -> keys of the demo's survival_model["hazard_ratios"]
_DEMO_NAMES = {"age": "age_per_10y", "sex_M": "male", "male": "male", "ecog": "ecog",
               "label": "ring_enhancing", "ring_enhancing": "ring_enhancing",
               "lesion_volume_ml": "lesion_volume_per_10ml"}
#: the scale the demo's hazard ratios are stated on (per 10 years, per 10 mL)
_DEMO_UNITS = {"age": 10.0, "lesion_volume_ml": 10.0}


def demo_hazard_truth(ground_truth: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, str],
                                                                   dict[str, float]]:
    """(true hazard ratios, covariate -> truth key, covariate units) from a demo ``cohort.ground_truth``.

    The units put the fitted hazard ratios on the truth's scale (age per 10 years, lesion volume per
    10 mL), so fitted and true values can be compared on one forest plot.

    Example:
        >>> hr, names, units = demo_hazard_truth({"survival_model": {"hazard_ratios": {"male": 1.4}}})
        >>> names["sex_M"], units["age"]
        ('male', 10.0)
    """
    model = ground_truth.get("survival_model") if isinstance(ground_truth, Mapping) else None
    if not model or "hazard_ratios" not in model:
        raise ValueError("this ground truth has no survival_model.hazard_ratios (is it a medwb.demo cohort?); "
                         f"keys: {list(ground_truth)[:8]}. Pass truth={{covariate: true HR}} instead")
    hrs = {str(k): float(v) for k, v in model["hazard_ratios"].items()}
    names = {c: t for c, t in _DEMO_NAMES.items() if t in hrs}
    return hrs, names, dict(_DEMO_UNITS)
