"""Survival analysis for imaging cohorts: Kaplan–Meier, Cox, honest validation, added value of imaging.

Built on lifelines (fitted objects are kept on every result) with scikit-survival for Uno's C,
time-dependent AUC, the integrated Brier score and high-dimensional (Coxnet) fits.
Submodules: km, cox, design, validation, added_value, risk, truth, plots. lifelines/sksurv load on first use.

Example:
    >>> from lifelines.datasets import load_lung
    >>> from medwb import survival
    >>> m = survival.fit_cox(load_lung(), "time", "status", ["age", "sex", "ph.ecog"], missing="drop")
    >>> m.hazard_ratios()["hr"].round(3).tolist()
    [1.011, 0.575, 1.59]
"""

from medwb.survival._data import DataReport, SurvivalDataError
from medwb.survival.added_value import AddedValueResult, added_value, join_features
from medwb.survival.cox import CoxConvergenceError, CoxConvergenceWarning, CoxModel, fit_cox, univariate_score
from medwb.survival.design import design_frame
from medwb.survival.km import KMResult, LogRankResult, kaplan_meier, logrank
from medwb.survival.plots import auc_plot, calibration_plot, forest_plot, plot_km
from medwb.survival.risk import RiskGroups, risk_groups, stratify
from medwb.survival.truth import compare_hazard_ratios
from medwb.survival.validation import CVResult, calibration_table, cross_validate

__all__ = [
    "AddedValueResult", "CVResult", "CoxConvergenceError", "CoxConvergenceWarning", "CoxModel", "DataReport", "KMResult",
    "LogRankResult", "RiskGroups", "SurvivalDataError", "added_value", "auc_plot", "calibration_plot",
    "calibration_table", "compare_hazard_ratios", "cross_validate", "design_frame", "fit_cox", "forest_plot",
    "join_features", "kaplan_meier", "logrank", "plot_km", "risk_groups", "stratify", "univariate_score",
]
