"""Matplotlib figures for survival results: KM with an at-risk table, forest plot, calibration.

Each function returns the matplotlib Figure (headless-safe; nothing is shown). matplotlib and lifelines
are imported when a plot is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from medwb.survival.cox import CoxModel
from medwb.survival.km import KMResult
from medwb.survival.validation import CVResult

__all__ = ["plot_km", "forest_plot", "calibration_plot", "auc_plot"]


def plot_km(km: KMResult, at_risk: bool = True, ci: bool = True, title: str = "", xlabel: str = "days",
            ax: Any = None) -> Any:
    """Kaplan–Meier curves with confidence bands and lifelines' at-risk table under the axis.

    Example:
        >>> from lifelines.datasets import load_lung
        >>> from medwb.survival.km import kaplan_meier
        >>> fig = plot_km(kaplan_meier(load_lung(), "time", "status", "sex"))
    """
    import matplotlib.pyplot as plt
    from lifelines.plotting import add_at_risk_counts

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.8))
    else:
        fig = ax.figure
    for kmf in km.fitters.values():
        kmf.plot_survival_function(ax=ax, ci_show=ci, show_censors=True, censor_styles={"ms": 4, "marker": "|"})
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("survival probability")
    if title:
        ax.set_title(title)
    if at_risk:
        add_at_risk_counts(*km.fitters.values(), ax=ax, rows_to_show=["At risk", "Events"])
    fig.tight_layout()
    return fig


def forest_plot(model: CoxModel | pd.DataFrame, title: str = "", ax: Any = None,
                truth: Mapping[str, float] | None = None) -> Any:
    """Hazard ratios with confidence intervals on a log axis (per original unit / per ``units``).

    Accepts a fitted CoxModel or its ``hazard_ratios()`` table. Known true hazard ratios (``truth``:
    covariate -> HR, or the ``true_hr`` column that compare_hazard_ratios() adds) are drawn as red
    diamonds beside the estimates.

    Example:
        >>> from lifelines.datasets import load_lung
        >>> from medwb.survival.cox import fit_cox
        >>> m = fit_cox(load_lung(), "time", "status", ["age", "sex"], units={"age": 10})
        >>> fig = forest_plot(m, truth={"sex": 0.6})
    """
    import matplotlib.pyplot as plt

    hr = model.hazard_ratios() if isinstance(model, CoxModel) else model
    hr = hr.iloc[::-1]
    if truth is not None:
        true = pd.Series({c: float(truth[c]) if c in truth else np.nan for c in hr.index})
    elif "true_hr" in hr.columns:
        true = hr["true_hr"].astype(float)
    else:
        true = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(hr) + 1.2 + 0.45 * (true is not None)))
    else:
        fig = ax.figure
    y = np.arange(len(hr))
    has_ci = hr["hr_lower"].notna().to_numpy()
    err = np.vstack([hr["hr"] - hr["hr_lower"], hr["hr_upper"] - hr["hr"]])
    ax.errorbar(hr["hr"][has_ci], y[has_ci], xerr=err[:, has_ci], fmt="s", color="k", capsize=3)
    ax.plot(hr["hr"][~has_ci], y[~has_ci], "s", color="0.5")
    ax.axvline(1.0, color="0.6", ls="--", lw=1)
    if true is not None and true.notna().any():
        ok = true.notna().to_numpy()
        ax.plot(true.to_numpy()[ok], y[ok] + 0.25, "D", color="tab:red", ms=6, label="true HR")
        ax.plot([], [], "s", color="k", label="estimate (95% CI)")
        ax.set_ylim(-0.6, len(hr) + 0.3)  # a free band on top holds the legend, clear of every estimate
        ax.legend(loc="upper center", ncol=2, fontsize=8, frameon=False)
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter, NullLocator

    lo, hi = ax.get_xlim()
    ticks = [t for t in (0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 50) if lo <= t <= hi]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    for yi, (_, r) in zip(y, hr.iterrows(), strict=True):
        txt = f"{r['hr']:.2f}" + (f" ({r['hr_lower']:.2f}–{r['hr_upper']:.2f})" if np.isfinite(r["hr_lower"]) else "")
        ax.annotate(txt, (1.01, yi), xycoords=("axes fraction", "data"), va="center", fontsize=8)
    per = hr["per"] if "per" in hr else pd.Series(1.0, index=hr.index)
    ax.set_yticks(y, [f"{c} (per {p:g})" if p != 1 else str(c) for c, p in zip(hr.index, per, strict=False)])
    ax.set_xlabel("hazard ratio (95% CI)")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def calibration_plot(table: pd.DataFrame, horizon: float | None = None, ax: Any = None) -> Any:
    """Observed (KM, with CI) against predicted survival at a horizon, from calibration_table()."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(4.8, 4.8))
    else:
        fig = ax.figure
    err = np.vstack([table["observed"] - table["lower"], table["upper"] - table["observed"]])
    ax.errorbar(table["predicted"], table["observed"], yerr=np.clip(err, 0, None), fmt="o", capsize=3)
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted survival")
    ax.set_ylabel("observed survival (Kaplan–Meier)")
    ax.set_title("calibration" + (f" at t = {horizon:g}" if horizon is not None else ""))
    fig.tight_layout()
    return fig


def auc_plot(results: CVResult | Mapping[str, CVResult], title: str = "", xlabel: str = "days",
             ax: Any = None) -> Any:
    """Cross-validated time-dependent AUC (cumulative/dynamic) against time, one line per model.

    The line is the mean over folds (and repeats) at each evaluation time, the band ± one SD across
    folds; the legend gives each model's mean AUC. Pass one CVResult or a dict name -> CVResult.

    Example:
        >>> from lifelines.datasets import load_lung
        >>> from medwb.survival.validation import cross_validate
        >>> cv = cross_validate(CoxModel(), load_lung(), "time", "status", ["age", "ph.ecog"], missing="drop")
        >>> fig = auc_plot({"age + ECOG": cv})
    """
    import matplotlib.pyplot as plt

    if isinstance(results, CVResult):
        results = {"model": results}
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 4))
    else:
        fig = ax.figure
    for name, cv in results.items():
        if cv.auc.empty or cv.auc["auc"].isna().all():
            raise ValueError(f"{name!r} has no time-dependent AUC (see its .notes: {cv.notes[:2]}); "
                             "Fix: pass times= inside the follow-up of every fold to cross_validate.")
        g = cv.auc.groupby("time")["auc"].agg(["mean", "std"])
        line, = ax.plot(g.index, g["mean"], "o-", ms=3, label=f"{name} (mean AUC {cv.folds['mean_auc'].mean():.3f})")
        ax.fill_between(g.index, g["mean"] - g["std"].fillna(0), g["mean"] + g["std"].fillna(0),
                        color=line.get_color(), alpha=0.15, lw=0)
    ax.axhline(0.5, color="0.6", ls="--", lw=1)
    ax.set_ylim(0.3, 1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("time-dependent AUC (cross-validated)")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
