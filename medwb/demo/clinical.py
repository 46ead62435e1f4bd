"""Clinical covariates and survival outcomes of the demo cohort, from a documented model.

Covariates: age, sex and ECOG performance status are resampled from a real table, the NCCTG
advanced lung cancer trial (lifelines.datasets.load_lung, 228 patients): whole rows are drawn with
replacement among complete cases, so the joint distribution is the real one, and age gets a small
integer jitter (+-2 years) so that cases do not duplicate each other exactly.

Survival: a Weibull proportional-hazards (Weibull-Cox) model with known hazard ratios,

    h(t | x) = lambda * rho * t**(rho - 1) * exp(beta . x),   S(t | x) = exp(-lambda t**rho exp(beta . x))

sampled by inversion, T = (-log U / (lambda exp(beta . x)))**(1/rho), in days. Censoring is
administrative (staggered entry: each patient is followed for a uniform 1-5 years) and random
(exponential loss to follow-up, ~4 % a year); about 30 % of cases end censored. The exact model,
covariate coding and hazard ratios are stored in ground_truth.json under "survival_model", so a Cox
fit can be checked against the truth.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "SURVIVAL_MODEL", "HAZARD_RATIOS", "draw_clinical", "design_matrix", "simulate_survival", "hazard_ratio_check",
]

#: True hazard ratios, per unit of the coded covariate (see SURVIVAL_MODEL["coding"]).
HAZARD_RATIOS: dict[str, float] = {
    "age_per_10y": 1.25,
    "male": 1.40,
    "ecog": 1.50,
    "ring_enhancing": 2.50,
    "lesion_volume_per_10ml": 1.20,
}

_RHO = 1.3
_BASELINE_MEDIAN_DAYS = 1300.0

#: The complete survival model (JSON-ready); written to ground_truth.json["survival_model"].
SURVIVAL_MODEL: dict[str, Any] = {
    "family": "Weibull proportional hazards (Weibull-Cox)",
    "hazard": "h(t|x) = lambda * rho * t^(rho-1) * exp(beta . x)",
    "survival": "S(t|x) = exp(-lambda * t^rho * exp(beta . x))",
    "time_unit": "days",
    "rho": _RHO,
    "lambda": math.log(2.0) / _BASELINE_MEDIAN_DAYS**_RHO,
    "baseline_median_days": _BASELINE_MEDIAN_DAYS,
    "hazard_ratios": dict(HAZARD_RATIOS),
    "betas": {k: math.log(v) for k, v in HAZARD_RATIOS.items()},
    "coding": {
        "age_per_10y": "(age - 60) / 10, age in years",
        "male": "1 if sex == 'M' else 0",
        "ecog": "ECOG performance status 0-3 (per point)",
        "ring_enhancing": "1 if the case has a ring-enhancing lesion (= label) else 0",
        "lesion_volume_per_10ml": "total volume of mask label 1 (lesion core + rim, all lesions), mL / 10",
    },
    "censoring": {
        "administrative": "follow-up ends after Uniform(365, 1825) days (staggered entry)",
        "random": "exponential loss to follow-up, rate 0.04 per year",
    },
    "clinical_source": "lifelines.datasets.load_lung (NCCTG lung cancer trial): rows resampled with "
    "replacement among complete cases; age jittered by an integer in [-2, 2]",
}


def draw_clinical(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rows of age (years, int), sex ("M"/"F") and ecog (0-3) from the real lung table.

    Example:
        >>> df = draw_clinical(5, np.random.default_rng(0))
        >>> list(df.columns), bool(df["sex"].isin(["M", "F"]).all())
        (['age', 'sex', 'ecog'], True)
    """
    from lifelines.datasets import load_lung

    lung = load_lung()[["age", "sex", "ph.ecog"]].dropna().reset_index(drop=True)
    rows = lung.iloc[rng.integers(0, len(lung), size=n)].reset_index(drop=True)
    age = rows["age"].to_numpy(int) + rng.integers(-2, 3, size=n)
    return pd.DataFrame({
        "age": np.clip(age, 18, 95).astype(int),
        "sex": np.where(rows["sex"].to_numpy() == 1, "M", "F"),  # load_lung: 1 = male, 2 = female
        "ecog": rows["ph.ecog"].to_numpy().astype(int),
    })  # fmt: skip


def design_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """The model's coded covariates from a table with age, sex, ecog, label, lesion_volume_ml.

    Example:
        >>> t = pd.DataFrame({"age": [70], "sex": ["M"], "ecog": [1], "label": [1], "lesion_volume_ml": [20.0]})
        >>> design_matrix(t).iloc[0].tolist()
        [1.0, 1.0, 1.0, 1.0, 2.0]
    """
    return pd.DataFrame({
        "age_per_10y": (table["age"].astype(float) - 60.0) / 10.0,
        "male": (table["sex"] == "M").astype(float),
        "ecog": table["ecog"].astype(float),
        "ring_enhancing": table["label"].astype(float),
        "lesion_volume_per_10ml": table["lesion_volume_ml"].astype(float) / 10.0,
    }, index=table.index)  # fmt: skip


def simulate_survival(table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Draw (time in days, event 0/1) for each row from SURVIVAL_MODEL.

    Returns a DataFrame with ``time`` (float days, rounded to 0.1), ``event`` (1 = death observed),
    ``event_time`` (the uncensored time, kept for teaching) and ``censor_time``.
    """
    x = design_matrix(table).to_numpy()
    beta = np.array([SURVIVAL_MODEL["betas"][k] for k in HAZARD_RATIOS])
    lam, rho = SURVIVAL_MODEL["lambda"], SURVIVAL_MODEL["rho"]
    u = rng.uniform(size=len(table))
    t_event = (-np.log(u) / (lam * np.exp(x @ beta))) ** (1.0 / rho)
    admin = rng.uniform(365.0, 1825.0, size=len(table))
    loss = rng.exponential(365.25 / 0.04, size=len(table))
    t_censor = np.minimum(admin, loss)
    event = (t_event <= t_censor).astype(int)
    time = np.maximum(np.round(np.minimum(t_event, t_censor), 1), 1.0)
    return pd.DataFrame({
        "time": time, "event": event,
        "event_time": np.round(t_event, 1), "censor_time": np.round(t_censor, 1),
    }, index=table.index)  # fmt: skip


def hazard_ratio_check(table: pd.DataFrame) -> pd.DataFrame:
    """Fit a Cox model on the true covariates of a demo table and compare with the true hazard ratios.

    Args:
        table: a demo manifest (e.g. ``cohort.table``) with age, sex, ecog, label, lesion_volume_ml,
            time and event.

    Returns:
        One row per covariate: true_hr, fitted_hr, lower_95, upper_95, covered (true HR inside the CI).

    Example:
        >>> check = hazard_ratio_check(medwb.demo.load_cohort().table)
        >>> check.columns.tolist()
        ['true_hr', 'fitted_hr', 'lower_95', 'upper_95', 'covered']
        >>> bool(check["covered"].all())                  # every true HR inside its 95% interval
        True
    """
    from lifelines import CoxPHFitter

    x = design_matrix(table)
    x["time"], x["event"] = table["time"].astype(float), table["event"].astype(int)
    fit = CoxPHFitter().fit(x, "time", "event")
    ci = np.exp(fit.confidence_intervals_)
    out = pd.DataFrame({
        "true_hr": pd.Series(HAZARD_RATIOS),
        "fitted_hr": np.exp(fit.params_),
        "lower_95": ci.iloc[:, 0],
        "upper_95": ci.iloc[:, 1],
    })  # fmt: skip
    out["covered"] = (out["lower_95"] <= out["true_hr"]) & (out["true_hr"] <= out["upper_95"])
    return out
