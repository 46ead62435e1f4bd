"""Kaplan–Meier estimates with confidence bands and at-risk counts, and log-rank tests.

Thin, checked wrappers around lifelines: results keep lifelines' own KaplanMeierFitter objects
(``result.fitters``) and test results, so anything lifelines can do stays available.
Plotting lives in medwb.survival.plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from medwb.survival._data import DataReport, SurvivalDataError, positional, prepare, relabel

__all__ = ["KMResult", "LogRankResult", "kaplan_meier", "logrank"]


@dataclass
class KMResult:
    """Kaplan–Meier fits, one per group (the key "all" when ungrouped).

    Attributes:
        fitters: group -> lifelines KaplanMeierFitter.
        alpha: 1 - confidence level of the bands.
        data_report: rows used/dropped.
    """

    fitters: dict[Any, Any]
    alpha: float = 0.05
    data_report: DataReport = field(default_factory=DataReport)

    def survival_at(self, times: Sequence[float]) -> pd.DataFrame:
        """Survival with CI and number at risk at given times, one row per (group, time)."""
        rows = []
        for g, kmf in self.fitters.items():
            ci = kmf.confidence_interval_survival_function_
            durations = np.asarray(kmf.durations)
            for t in times:
                s = float(kmf.predict(t))
                idx = ci.index.searchsorted(t, side="right") - 1
                lo, hi = (ci.iloc[max(idx, 0), 0], ci.iloc[max(idx, 0), 1]) if idx >= 0 else (1.0, 1.0)
                rows.append({"group": g, "time": float(t), "survival": s, "lower": float(lo),
                             "upper": float(hi), "at_risk": int((durations >= t).sum())})
        return pd.DataFrame(rows)

    def median(self) -> pd.DataFrame:
        """Median survival time and its confidence interval per group (inf when not reached)."""
        from lifelines.utils import median_survival_times

        rows = []
        for g, kmf in self.fitters.items():
            ci = median_survival_times(kmf.confidence_interval_)
            rows.append({"group": g, "n": int(kmf.event_observed.size),
                         "events": int(np.sum(kmf.event_observed)), "median": float(kmf.median_survival_time_),
                         "lower": float(ci.iloc[0, 0]), "upper": float(ci.iloc[0, 1])})
        return pd.DataFrame(rows).set_index("group")

    def table(self) -> pd.DataFrame:
        """Full step table: group, time, survival, lower, upper, at_risk, events, censored."""
        frames = []
        for g, kmf in self.fitters.items():
            ev = kmf.event_table
            ci = kmf.confidence_interval_survival_function_
            f = pd.DataFrame({
                "group": g, "time": ev.index.values.astype(float),
                "survival": kmf.survival_function_.iloc[:, 0].reindex(ev.index).values,
                "lower": ci.iloc[:, 0].reindex(ev.index).values, "upper": ci.iloc[:, 1].reindex(ev.index).values,
                "at_risk": ev["at_risk"].values, "events": ev["observed"].values, "censored": ev["censored"].values,
            })
            frames.append(f)
        return pd.concat(frames, ignore_index=True)


@dataclass
class LogRankResult:
    """A log-rank test: statistic (chi-square), degrees of freedom, p-value, and lifelines' result."""

    statistic: float
    df: int
    p_value: float
    groups: list
    lifelines_result: Any

    def __str__(self) -> str:
        return f"log-rank chi2 = {self.statistic:.3f} on {self.df} df, p = {self.p_value:.4g} (groups {self.groups})"


def _frame(df: pd.DataFrame | None, duration: Any, event: Any,
           group: Any) -> tuple[pd.DataFrame, str, str, str | None, pd.Index | None]:
    """(table, time, event and group column names, original row labels where they repeat: see positional)."""
    if df is None:
        d = pd.DataFrame({"time": np.asarray(duration), "event": np.asarray(event)})
        if group is not None:
            d["group"] = np.asarray(group)
        return d, "time", "event", ("group" if group is not None else None), None
    d, labels = positional(df)
    return d, duration, event, group, labels


def kaplan_meier(
    df: pd.DataFrame | None,
    duration_col: Any,
    event_col: Any,
    group_col: Any = None,
    alpha: float = 0.05,
) -> KMResult:
    """Kaplan–Meier survival per group with (1 - alpha) bands (lifelines' log(-log) Greenwood CIs).

    Pass a DataFrame and column names, or ``df=None`` with arrays for the other arguments.
    Rows with a missing group are reported in ``data_report``, never silently dropped.

    Example:
        >>> from lifelines.datasets import load_lung
        >>> km = kaplan_meier(load_lung(), "time", "status", group_col="sex")
        >>> km.median()["median"].tolist()
        [270.0, 426.0]
    """
    from lifelines import KaplanMeierFitter

    d, tcol, ecol, gcol, labels = _frame(df, duration_col, event_col, group_col)
    clean, rep = prepare(d, tcol, ecol, [], missing="raise")
    fitters: dict[Any, Any] = {}
    if gcol is None:
        fitters["all"] = KaplanMeierFitter(alpha=alpha).fit(clean[tcol], clean[ecol], label="all")
    else:
        g = d.loc[clean.index, gcol]
        if g.isna().any():
            rep.dropped_rows["missing group"] = g.index[g.isna()].tolist()
            clean, g = clean.loc[g.notna()], g[g.notna()]
            rep.n_used, rep.n_events = len(clean), int(clean[ecol].sum())
        for level in sorted(pd.unique(g)):
            sub = clean.loc[g == level]
            fitters[level] = KaplanMeierFitter(alpha=alpha).fit(sub[tcol], sub[ecol], label=str(level))
    return KMResult(fitters=fitters, alpha=alpha, data_report=relabel(rep, labels))


def logrank(
    df: pd.DataFrame | None,
    duration_col: Any,
    event_col: Any,
    group_col: Any,
) -> LogRankResult:
    """Log-rank test of equal survival across groups (two groups or many: chi-square on k-1 df).

    Example:
        >>> from lifelines.datasets import load_lung
        >>> round(logrank(load_lung(), "time", "status", "sex").statistic, 1)  # R survdiff: 10.3
        10.3
    """
    from lifelines.statistics import logrank_test, multivariate_logrank_test

    d, tcol, ecol, gcol, labels = _frame(df, duration_col, event_col, group_col)
    clean, _ = prepare(d, tcol, ecol, [], missing="raise")
    g = d.loc[clean.index, gcol]
    if g.isna().any():
        raise SurvivalDataError(
            f"group column {gcol!r} is missing for rows {(g.index if labels is None else labels)[g.isna().to_numpy()].tolist()[:10]}.\n"
            "Fix: drop or label those cases explicitly before testing."
        )
    levels = sorted(pd.unique(g).tolist())
    if len(levels) < 2:
        raise SurvivalDataError(f"log-rank needs at least two groups; {gcol!r} has only {levels}.")
    if len(levels) == 2:
        a, b = clean[g == levels[0]], clean[g == levels[1]]
        res = logrank_test(a[tcol], b[tcol], a[ecol], b[ecol])
    else:
        res = multivariate_logrank_test(clean[tcol], g, clean[ecol])
    return LogRankResult(float(res.test_statistic), len(levels) - 1, float(res.p_value), levels, res)
