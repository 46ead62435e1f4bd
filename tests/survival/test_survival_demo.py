"""On the demo cohort's documented Weibull–Cox model, medwb recovers the true hazard ratios and finds
that image features add prognostic value over clinical covariates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medwb.survival import CoxModel, added_value, fit_cox, join_features

demo = pytest.importorskip("medwb.demo", reason="medwb.demo (the demo cohort) is not available")

UNITS = dict(demo.TRUTH_UNITS)  # the demo's truth coding lives in medwb.demo.truth, once
TRUE_NAME = {c: demo.TRUTH_NAMES[c] for c in ("age", "male", "ecog", "label", "lesion_volume_ml")}


def _design(table: pd.DataFrame) -> pd.DataFrame:
    d = table[["case_id", "age", "ecog", "label", "lesion_volume_ml", "time", "event"]].copy()
    d["male"] = (table["sex"] == "M").astype(float)
    return d


def _check_coverage(d: pd.DataFrame, true_hrs: dict) -> pd.DataFrame:
    m = fit_cox(d, "time", "event", list(TRUE_NAME), units=UNITS)
    hr = m.hazard_ratios()
    hr["true"] = [true_hrs[TRUE_NAME[c]] for c in hr.index]
    hr["covered"] = (hr["hr_lower"] <= hr["true"]) & (hr["true"] <= hr["hr_upper"])
    return hr


def test_documented_hazard_ratios_are_recovered_from_the_demo_survival_model():
    # the demo's own generator, on a large simulated table (no images needed): fast and exact in law
    from medwb.demo.clinical import HAZARD_RATIOS, draw_clinical, simulate_survival

    rng = np.random.default_rng(7)
    n = 1500
    t = draw_clinical(n, rng)
    t["label"] = rng.integers(0, 2, n)
    t["lesion_volume_ml"] = np.where(rng.random(n) < 0.6, rng.gamma(2.0, 10.0, n), 0.0)
    t = pd.concat([t, simulate_survival(t, rng)], axis=1)
    t["case_id"] = [f"s{i}" for i in range(n)]
    hr = _check_coverage(_design(t), HAZARD_RATIOS)
    assert hr["covered"].all(), hr[["hr", "hr_lower", "hr_upper", "true"]]
    assert hr.loc["age", "per"] == 10.0  # reported per 10 years, as documented


@pytest.mark.slow
def test_demo_cohort_true_covariates_contain_the_true_hazard_ratios(demo_cohort):
    truth = demo_cohort.ground_truth["survival_model"]["hazard_ratios"]
    hr = _check_coverage(_design(demo_cohort.table), truth)
    assert hr["covered"].all(), hr[["hr", "hr_lower", "hr_upper", "true"]]


@pytest.mark.slow
def test_demo_image_features_add_value_over_clinical(demo_cohort):
    from medwb.features import extract

    feats = extract(demo_cohort, label=1, families=("shape", "intensity"), progress=False)
    # no lesion: volume 0 by definition; lesion intensities stay missing and are imputed in the folds
    feats["shape_volume_mm3"] = feats["shape_volume_mm3"].fillna(0.0)
    data, dropped = join_features(_design(demo_cohort.table).drop(columns=["label", "lesion_volume_ml"]), feats)
    assert dropped == []
    image = ["shape_volume_mm3", "intensity_p90", "intensity_sd"]
    res = added_value(data, "time", "event", ["age", "male", "ecog"], image, model=CoxModel(penalizer=0.01),
                      missing="impute", n_boot=500, seed=0)
    assert res.adds_value, str(res)
    assert res.c_full > res.c_clinical
