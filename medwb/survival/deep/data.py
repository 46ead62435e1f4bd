"""Cases for a deep survival network: preprocessed images, a clinical design, outcomes, all checked.

``survival_data(cohort)`` turns a Cohort into a ``SurvivalData``: image tensors made by the same
medwb.models.Preprocess the classifiers use (cached), the clinical design of medwb.survival.design_frame
(``sex`` becomes ``sex_M``, as everywhere in medwb), time and event. Outcomes are checked by the rules of
medwb.survival (no case without outcome, times > 0, events 0/1, not all censored); missing clinical values
raise unless ``missing="impute"``, whose rule is stated: the median of the training cases (the model
learns the medians when it is fitted, so a fold never sees its test cases' values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from medwb.survival._data import SurvivalDataError, prepare

__all__ = ["SurvivalData", "survival_data", "check_horizon", "DEFAULT_CLINICAL"]

#: the demo's clinical covariates (their coded names after design_frame: age, sex_M, ecog)
DEFAULT_CLINICAL: tuple[str, ...] = ("age", "sex", "ecog")


@dataclass
class SurvivalData:
    """Model-ready cases: ``images`` (N, 1, D, H, W) float32 or None, ``clinical`` (raw coded values,
    NaN where missing), ``time`` (days), ``event`` (0/1), in the order of ``case_ids``."""

    case_ids: list[str]
    images: Any  # torch.Tensor or None
    clinical: pd.DataFrame
    time: np.ndarray
    event: np.ndarray
    preprocess: Any = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.case_ids)

    @property
    def clinical_columns(self) -> list[str]:
        return list(self.clinical.columns)

    def subset(self, index: Sequence[int] | np.ndarray) -> SurvivalData:
        """The cases at positions ``index`` (images share memory with this one)."""
        idx = np.asarray(index, dtype=np.int64)
        images = self.images[idx] if self.images is not None else None
        return SurvivalData([self.case_ids[i] for i in idx], images, self.clinical.iloc[idx],
                            self.time[idx], self.event[idx], self.preprocess, list(self.notes))


def _outcome_check(table: pd.DataFrame, duration_col: str, event_col: str) -> None:
    for col in (duration_col, event_col):
        if col not in table.columns:
            raise SurvivalDataError(
                f"the cohort table has no {col!r} column (columns: {list(table.columns)[:20]}).\n"
                "Fix: name the outcome columns with duration_col=... and event_col=...")
    bad = table[duration_col].isna() | table[event_col].isna()
    if bad.any():
        ids = table.loc[bad, "case_id"].astype(str).tolist() if "case_id" in table else table.index[bad].tolist()
        raise SurvivalDataError(
            f"{len(ids)} case(s) have no outcome ({duration_col!r} or {event_col!r} is missing): {ids[:10]}.\n"
            "Fix: outcomes are never imputed; leave those cases out explicitly, e.g. "
            f"cohort.subset(cohort.table.dropna(subset=[{duration_col!r}, {event_col!r}])['case_id']).")


def survival_data(
    cohort: Any,
    clinical: Sequence[str] = DEFAULT_CLINICAL,
    *,
    preprocess: Any = None,
    images: bool = True,
    duration_col: str = "time",
    event_col: str = "event",
    missing: str = "raise",
    progress: bool = True,
) -> SurvivalData:
    """Check a Cohort's outcomes and clinical columns and prepare every case for a survival network.

    Args:
        cohort: a medwb Cohort with outcome columns (or a DataFrame when ``images=False``).
        clinical: clinical columns (text columns are one-hot coded by medwb.survival.design_frame).
        preprocess: the medwb.models.Preprocess for the images (default: the course's, 4 mm, 32 × 48 × 48).
        images: False for clinical-only data (nothing is read from disk).
        missing: missing clinical values: "raise" (default) or "impute" (training medians, learned
            when the model is fitted; the notes say which columns).

    Example:
        >>> t = pd.DataFrame({"case_id": ["a", "b", "c"], "time": [10.0, 20.0, 30.0], "event": [1, 0, 1],
        ...                   "age": [60, 70, 80], "sex": ["M", "F", "M"], "ecog": [0, 1, 2]})
        >>> d = survival_data(t, images=False)
        >>> d.clinical_columns, d.event.tolist()
        (['age', 'sex_M', 'ecog'], [1, 0, 1])
    """
    from medwb.survival.design import design_frame

    if missing not in ("raise", "impute"):
        raise SurvivalDataError(f"missing={missing!r} is not a policy. Fix: use 'raise' or 'impute' (training medians).")
    table = cohort.table if hasattr(cohort, "table") else cohort
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"survival_data takes a Cohort or a DataFrame, got {type(cohort).__name__}")
    table = table.reset_index(drop=True)
    _outcome_check(table, duration_col, event_col)
    try:
        design, names = design_frame(table, list(clinical))
    except KeyError as err:
        raise SurvivalDataError(str(err.args[0])) from err
    frame = pd.concat([table[[duration_col, event_col]], design], axis=1)
    clean, _ = prepare(frame, duration_col, event_col, names, missing="raise" if missing == "raise" else "impute")
    notes = []
    nan_cols = [c for c in names if design[c].isna().any()]
    if nan_cols:
        notes.append(f"missing values in {nan_cols} are imputed with the training cases' medians")
    ids = table["case_id"].astype(str).tolist() if "case_id" in table else [str(i) for i in table.index]
    x = None
    pp = preprocess
    if images:
        if not (hasattr(cohort, "volume") and hasattr(cohort, "case_ids")):
            raise TypeError("images=True needs a Cohort (its volumes). Fix: pass a Cohort, or images=False.")
        import torch

        from medwb.models import COURSE_RECIPE, CohortDataset

        pp = preprocess if preprocess is not None else COURSE_RECIPE.preprocess
        ds = CohortDataset(cohort, ids, label=None, preprocess=pp).preload(progress=progress)
        x = torch.stack([ds.tensor(i) for i in range(len(ds))])
    design = design.astype(float)
    design.index = pd.Index(ids, name="case_id")
    return SurvivalData(ids, x, design, clean[duration_col].to_numpy(float), clean[event_col].to_numpy(int),
                        pp, notes)


def check_horizon(horizon: float | Sequence[float], time: np.ndarray, what: str = "the training cases") -> np.ndarray:
    """``horizon`` as an array, or a SurvivalDataError when a horizon lies beyond the last follow-up.

    Example:
        >>> check_horizon(365.0, np.array([100.0, 900.0])).tolist()
        [365.0]
    """
    h = np.atleast_1d(np.asarray(horizon, dtype=float))
    last = float(np.max(time))
    if np.any(~np.isfinite(h)) or np.any(h <= 0):
        raise SurvivalDataError(f"horizon {h.tolist()} must be positive days. Fix: e.g. horizon=730 (2 years).")
    beyond = h[h > last]
    if beyond.size:
        raise SurvivalDataError(
            f"horizon {beyond.tolist()} days is beyond the last follow-up of {what} ({last:g} days): the "
            f"model knows nothing about survival after {last:g} days.\nFix: choose a horizon <= {last:g} days, "
            "or follow the cohort longer.")
    return h
