"""Matplotlib figures for survival results: KM with an at-risk table, forest plot, calibration.

Each function returns the matplotlib Figure (headless-safe; nothing is shown). matplotlib and lifelines
are imported when a plot is drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from medwb.survival.cox import CoxModel
from medwb.survival.km import KMResult

__all__ = ["plot_km", "forest_plot", "calibration_plot"]


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


def forest_plot(model: CoxModel | pd.DataFrame, title: str = "", ax: Any = None) -> Any:
    """Hazard ratios with confidence intervals on a log axis (per original unit / per ``units``).

    Accepts a fitted CoxModel or its ``hazard_ratios()`` table.
    """
    import matplotlib.pyplot as plt

    hr = model.hazard_ratios() if isinstance(model, CoxModel) else model
    hr = hr.iloc[::-1]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(hr) + 1.2))
    else:
        fig = ax.figure
    y = np.arange(len(hr))
    has_ci = hr["hr_lower"].notna().to_numpy()
    err = np.vstack([hr["hr"] - hr["hr_lower"], hr["hr_upper"] - hr["hr"]])
    ax.errorbar(hr["hr"][has_ci], y[has_ci], xerr=err[:, has_ci], fmt="s", color="k", capsize=3)
    ax.plot(hr["hr"][~has_ci], y[~has_ci], "s", color="0.5")
    ax.axvline(1.0, color="0.6", ls="--", lw=1)
    ax.set_xscale("log")
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
