"""Honest performance of a Cox model: cross-validated discrimination and calibration.

Every fold re-fits the whole CoxModel pipeline (selection, standardisation, penalised fit) on the
training part only, then scores the held-out part: Harrell's C, Uno's C (IPCW), time-dependent
cumulative/dynamic AUC and the integrated Brier score (scikit-survival), and predicted survival at a
horizon for calibration. Model fitting lives in medwb.survival.cox.

One definition, used by every medwb function that reports it: the **cross-validated C** (and every other
cross-validated metric) is the mean over folds of the metric computed on each held-out fold with the
model fitted on the rest. Pooled out-of-fold predictions are kept for calibration and plots, never to
compute a C-index (risk scores of different folds' models are not on one scale).

Each test fold is scored on one common time grid: its follow-up is truncated (administratively censored)
just after the last evaluation time, so that every fold can be scored at every time (scikit-survival
refuses times beyond a fold's follow-up or where the censoring distribution reaches zero); a fold that
still cannot be scored is named in ``notes``, and ``summary()`` counts the folds behind each mean.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medwb.survival._data import DataReport, SurvivalDataError, positional, prepare, relabel
from medwb.survival.cox import CoxModel

__all__ = ["CVResult", "cross_validate", "calibration_table", "fold_indices", "fit_fold", "truncate_follow_up"]


@dataclass
class CVResult:
    """Per-fold metrics and out-of-fold predictions of a cross-validated CoxModel.

    Attributes:
        folds: one row per (repeat, fold): n_test, events, harrell_c, uno_c, mean_auc, ibs.
        auc: time-dependent AUC, one row per (repeat, fold, time).
        oof_risk: out-of-fold linear predictor of the first repeat (index = row labels).
        oof_survival: out-of-fold predicted survival at ``horizon`` (first repeat).
        times: evaluation time grid; horizon: calibration time.
    """

    folds: pd.DataFrame
    auc: pd.DataFrame
    oof_risk: pd.Series
    oof_survival: pd.Series
    durations: pd.Series
    events: pd.Series
    times: np.ndarray
    horizon: float
    data_report: DataReport = field(default_factory=DataReport)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """Mean, SD, min and max of each metric over folds, and ``n_folds``: how many folds scored it.

        The mean over folds is the cross-validated value (see the module docstring).
        """
        cols = ["harrell_c", "uno_c", "mean_auc", "ibs"]
        out = self.folds[cols].agg(["mean", "std", "min", "max"]).T
        out["n_folds"] = self.folds[cols].notna().sum().astype(int)
        return out

    def calibration(self, n_groups: int = 5) -> pd.DataFrame:
        """Calibration at the horizon from out-of-fold predictions (see calibration_table)."""
        return calibration_table(self.oof_survival.to_numpy(), self.durations.to_numpy(),
                                 self.events.to_numpy(), self.horizon, n_groups)


def fold_indices(events: np.ndarray, n_splits: int, seed: int) -> list[np.ndarray]:
    """Test indices of ``n_splits`` folds stratified on the event indicator."""
    from sklearn.model_selection import StratifiedKFold

    if n_splits < 2:
        raise ValueError(f"n_splits must be >= 2, got {n_splits}")
    if min(np.sum(events == 1), np.sum(events == 0)) < n_splits:
        from sklearn.model_selection import KFold

        splitter = KFold(n_splits, shuffle=True, random_state=seed).split(events)
    else:
        splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(events, events)
    return [test for _, test in splitter]


def calibration_table(
    predicted_survival: np.ndarray,
    durations: np.ndarray,
    events: np.ndarray,
    horizon: float,
    n_groups: int = 5,
) -> pd.DataFrame:
    """Predicted vs observed (Kaplan–Meier) survival at ``horizon`` in groups of predicted risk.

    Returns one row per group: n, predicted (mean), observed, lower, upper (95% KM CI).

    Example:
        >>> rng = np.random.default_rng(0); t = rng.exponential(100, 300)
        >>> tab = calibration_table(np.full(300, np.exp(-0.5)), t, np.ones(300), 50.0, n_groups=1)
        >>> bool(abs(tab.loc[0, "observed"] - np.exp(-0.5)) < 0.1)
        True
    """
    from lifelines import KaplanMeierFitter

    pred = np.asarray(predicted_survival, dtype=float)
    q = pd.qcut(pd.Series(-pred).rank(method="first"), n_groups, labels=False)
    rows = []
    for g in range(n_groups):
        m = (q == g).to_numpy()
        kmf = KaplanMeierFitter().fit(np.asarray(durations)[m], np.asarray(events)[m])
        ci = kmf.confidence_interval_survival_function_
        i = max(ci.index.searchsorted(horizon, side="right") - 1, 0)
        rows.append({"group": g, "n": int(m.sum()), "predicted": float(pred[m].mean()),
                     "observed": float(kmf.predict(horizon)), "lower": float(ci.iloc[i, 0]),
                     "upper": float(ci.iloc[i, 1])})
    return pd.DataFrame(rows)


def truncate_follow_up(time: np.ndarray, event: np.ndarray, end: float) -> tuple[np.ndarray, np.ndarray]:
    """Administrative censoring just after ``end``: later times become ``end`` + a hair, censored.

    Nothing at or before ``end`` changes, so metrics evaluated at times up to ``end`` are unchanged,
    and scikit-survival accepts every evaluation time up to ``end`` for the fold.

    Example:
        >>> t, e = truncate_follow_up(np.array([1.0, 5.0, 9.0]), np.array([1, 1, 1]), 4.0)
        >>> t.round(6).tolist(), e.tolist()
        ([1.0, 4.000004, 4.000004], [1, 0, 0])
    """
    end_plus = float(end) * (1 + 1e-6) + 1e-9
    late = np.asarray(time) > end_plus
    return np.where(late, end_plus, time), np.where(late, 0, event).astype(int)


def _fold_metrics(model: CoxModel, train: pd.DataFrame, test: pd.DataFrame, tcol: str, ecol: str,
                  times: np.ndarray, notes: list[str], where: str) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    from sksurv.metrics import (
        concordance_index_censored,
        concordance_index_ipcw,
        cumulative_dynamic_auc,
        integrated_brier_score,
    )
    from sksurv.util import Surv

    risk = model.predict_risk(test)
    out = {"n_test": len(test), "events": int(test[ecol].sum()),
           "harrell_c": float(concordance_index_censored(test[ecol].to_numpy().astype(bool),
                                                          test[tcol].to_numpy(), risk)[0])}
    # one common grid: times inside the training follow-up and after the fold's first time
    t = times[(times >= test[tcol].min()) & (times < train[tcol].max())]
    if len(t) < len(times):
        notes.append(f"{where}: {len(times) - len(t)} evaluation time(s) outside its follow-up were not scored")
    end = float(t.max()) if len(t) else float(test[tcol].max())
    tt, te = truncate_follow_up(test[tcol].to_numpy(), test[ecol].to_numpy(), end)
    y_tr = Surv.from_arrays(train[ecol].to_numpy().astype(bool), train[tcol].to_numpy())
    y_te = Surv.from_arrays(te.astype(bool), tt)
    surv = model.predict_survival(test, t) if len(t) else np.empty((len(test), 0))
    out["uno_c"] = out["mean_auc"] = out["ibs"] = np.nan
    auc = np.full(len(t), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out["uno_c"] = float(concordance_index_ipcw(y_tr, y_te, risk, tau=end)[0])
        except ValueError as err:
            notes.append(f"{where}: Uno's C not scored: {err}")
        if len(t) >= 2:
            try:
                auc, mean_auc = cumulative_dynamic_auc(y_tr, y_te, risk, t)
                out["mean_auc"] = float(mean_auc)
                out["ibs"] = float(integrated_brier_score(y_tr, y_te, surv, t))
            except ValueError as err:
                notes.append(f"{where}: AUC(t) and IBS not scored: {err}")
    return out, risk, auc, t


def fit_fold(model: CoxModel, train: pd.DataFrame, tcol: str, ecol: str, covariates: Sequence[str],
             missing: str, where: str) -> CoxModel:
    """``model.clone().fit(train, ...)``, with the fold named in any data error and the remedy stated."""
    try:
        return model.clone().fit(train, tcol, ecol, covariates, missing=missing)
    except SurvivalDataError as err:
        raise SurvivalDataError(
            f"{where} ({len(train)} training cases): {err}\n"
            "A covariate can be constant inside one training fold although it varies in the whole table "
            "(rare categories). Fix: CoxModel(constant='drop') drops it in that fold only (reported), or "
            "merge rare categories, or use fewer folds."
        ) from err


def cross_validate(
    model: CoxModel,
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    covariates: Sequence[str],
    n_splits: int = 5,
    n_repeats: int = 1,
    times: Sequence[float] | None = None,
    horizon: float | None = None,
    seed: int = 0,
    missing: str = "raise",
) -> CVResult:
    """K-fold (optionally repeated) cross-validation of a CoxModel, leakage-free.

    Args:
        model: an unfitted template (cloned per fold): its selection, scaling, imputation and
            penalty are all learned inside each training fold.
        times: evaluation grid for AUC/IBS; default 10 points between the 10th and 80th percentile
            of event times. horizon: calibration time (default: median event time).
        missing: NaN policy; "impute" imputes with training-fold medians.

    Example:
        >>> from lifelines.datasets import load_lung
        >>> cv = cross_validate(CoxModel(), load_lung(), "time", "status", ["age", "sex", "ph.ecog"],
        ...                     missing="drop")
        >>> bool(0.55 < cv.summary().loc["harrell_c", "mean"] < 0.7)
        True
    """
    # outcomes and types are checked on the whole table; NaN covariates are dropped here only under
    # missing="drop" -- under "impute" they stay NaN and each fold imputes with its training medians
    df, labels = positional(df)
    clean, rep = prepare(df, duration_col, event_col, covariates, missing,
                         constant="drop" if model.constant == "drop" else "raise")
    if missing == "impute":
        rep.imputed = {}
        notes_imp = [c for c in covariates if df[c].isna().any()]
    else:
        notes_imp = []
    data = df.loc[clean.index, [duration_col, event_col, *covariates]].copy()
    data[duration_col], data[event_col] = clean[duration_col], clean[event_col]
    ev_times = clean.loc[clean[event_col] == 1, duration_col].to_numpy()
    if times is None:
        times = np.unique(np.quantile(ev_times, np.linspace(0.1, 0.8, 10)))
    times = np.asarray(times, dtype=float)
    horizon = float(np.median(ev_times)) if horizon is None else float(horizon)
    notes: list[str] = [f"missing values in {notes_imp} imputed with training-fold medians"] if notes_imp else []
    rows, auc_rows = [], []
    oof_risk = pd.Series(np.nan, index=data.index)
    oof_surv = pd.Series(np.nan, index=data.index)
    e = data[event_col].to_numpy()
    from tqdm.auto import tqdm

    bar = tqdm(total=n_splits * n_repeats, desc="cross-validation", disable=n_splits * n_repeats * len(data) < 20000)
    for r in range(n_repeats):
        for k, test_idx in enumerate(fold_indices(e, n_splits, seed + r)):
            mask = np.zeros(len(data), bool)
            mask[test_idx] = True
            train, test = data.iloc[~mask], data.iloc[mask]
            where = f"fold {k + 1} of {n_splits}" + (f" (repeat {r + 1})" if n_repeats > 1 else "")
            m = fit_fold(model, train, duration_col, event_col, covariates,
                         "impute" if missing == "impute" else "raise", where)
            test = test.fillna(m.impute_values_) if missing == "impute" else test
            metrics, risk, auc, t = _fold_metrics(m, train, test, duration_col, event_col, times, notes, where)
            rows.append({"repeat": r, "fold": k, **metrics})
            auc_rows += [{"repeat": r, "fold": k, "time": float(ti), "auc": float(a)} for ti, a in zip(t, auc, strict=False)]
            if r == 0:
                oof_risk.iloc[test_idx] = risk
                oof_surv.iloc[test_idx] = m.predict_survival(test, [horizon])[:, 0]
            bar.update()
    bar.close()
    durations, events = data[duration_col], data[event_col]
    if labels is not None:  # back to the caller's (repeated) row labels
        for series in (oof_risk, oof_surv, durations, events):
            series.index = labels[series.index]
    return CVResult(pd.DataFrame(rows), pd.DataFrame(auc_rows, columns=["repeat", "fold", "time", "auc"]),
                    oof_risk, oof_surv, durations, events, times, horizon, relabel(rep, labels), notes)
