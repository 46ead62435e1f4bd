"""Compare a fitted Cox model with hazard ratios that are known, e.g. those of a simulation.

On simulated data (the demo cohort's Weibull–Cox model, ``cohort.ground_truth["survival_model"]``)
the true hazard ratios are known, so one can check whether each confidence interval covers the
truth. Fitting lives in medwb.survival.cox; the forest plot draws the ``true_hr`` column.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from medwb.survival._data import SurvivalDataError
from medwb.survival.cox import CoxModel

__all__ = ["compare_hazard_ratios"]


def compare_hazard_ratios(
    model: CoxModel | pd.DataFrame,
    true_hrs: Mapping[str, float],
    names: Mapping[str, str] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Fitted hazard ratios side by side with the true ones, and whether each CI covers the truth.

    Args:
        model: a fitted CoxModel, or its ``hazard_ratios()`` table.
        true_hrs: true hazard ratio per covariate, on the same scale as the model's (fit with
            ``units`` that match the truth's coding, e.g. ``units={"age": 10}`` for a truth per 10 years).
        names: model covariate -> key in ``true_hrs`` where the names differ; covariates not named
            here are looked up under their own name. Covariates without a truth keep NaN.
        alpha: 1 - confidence level (ignored when a table is given: its CIs are used as they are).

    Returns:
        The hazard-ratio table (hr, hr_lower, hr_upper, per, ...) plus ``truth_name``, ``true_hr``,
        ``ratio`` (fitted / true) and ``covered`` (True/False, <NA> without a truth).

    Example:
        >>> hr = pd.DataFrame({"hr": [1.2, 3.9], "hr_lower": [0.9, 2.4], "hr_upper": [1.5, 6.4]},
        ...                   index=["age", "label"])
        >>> tab = compare_hazard_ratios(hr, {"age_per_10y": 1.25, "ring_enhancing": 2.5},
        ...                             names={"age": "age_per_10y", "label": "ring_enhancing"})
        >>> tab["covered"].tolist()
        [True, True]
    """
    table = model.hazard_ratios(alpha) if isinstance(model, CoxModel) else model.copy()
    needed = [c for c in ("hr", "hr_lower", "hr_upper") if c not in table.columns]
    if needed:
        raise SurvivalDataError(
            f"the hazard-ratio table lacks columns {needed}. Fix: pass a fitted CoxModel or its hazard_ratios()."
        )
    names = dict(names or {})
    unknown = [c for c in names if c not in table.index]
    if unknown:
        raise SurvivalDataError(
            f"names maps covariates {unknown} that the model does not have. Its covariates: "
            f"{list(table.index)}.\nFix: use the model's covariate names as the keys of `names`."
        )
    bad = {c: t for c, t in names.items() if t not in true_hrs}
    if bad:
        raise SurvivalDataError(
            f"names points to {sorted(bad.values())}, which are not in true_hrs (keys: {sorted(true_hrs)}).\n"
            "Fix: map each covariate to one of those keys."
        )
    truth_name = [names.get(c, c if c in true_hrs else None) for c in table.index]
    if all(t is None for t in truth_name):
        raise SurvivalDataError(
            f"no covariate of the model ({list(table.index)}) has a true hazard ratio (keys: {sorted(true_hrs)}).\n"
            "Fix: pass names={model_covariate: truth_key, ...}."
        )
    true = np.array([float(true_hrs[t]) if t is not None else np.nan for t in truth_name])
    if np.any(true[np.isfinite(true)] <= 0):
        raise SurvivalDataError(f"true hazard ratios must be > 0; got {dict(true_hrs)}")
    out = table.copy()
    out["truth_name"] = truth_name
    out["true_hr"] = true
    out["ratio"] = out["hr"].to_numpy() / true
    covered = (out["hr_lower"] <= out["true_hr"]) & (out["true_hr"] <= out["hr_upper"])
    out["covered"] = pd.array(np.where(np.isfinite(true) & out["hr_lower"].notna(), covered, pd.NA),
                              dtype="boolean")
    return out
