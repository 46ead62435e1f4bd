"""The fusion network against the demo's truth, and the four models in one honest table.

The demo's hazard depends on ring enhancement (HR 2.5), lesion volume (1.2 per 10 mL), ECOG (1.5 per
point), male sex (1.4) and age (1.25 per 10 years). A network that learned it must put its risk
attributions in the lesions, rank the clinical covariates as the truth does, and imply hazard ratios
near the true ones. Figures are printed (pytest -s) for the report.
"""

from __future__ import annotations

import numpy as np
import pytest

from medwb.survival.deep import compare_prognosis, covariate_order, implied_hazard_ratios, lesion_localisation


def test_risk_attributions_fall_in_the_lesions(fusion, demo_cohort):
    ids = [c for c in demo_cohort.case_ids if demo_cohort.row(c)["n_lesions"] > 0][:12]
    loc = lesion_localisation(fusion, demo_cohort, ids, progress=False)
    print("\nlesion localisation (12 cases):\n", loc.describe().loc[["mean", "50%", "min"]].round(4))
    assert len(loc) == 12
    # the share of positive risk attribution inside the true lesion masks, against a random map's
    assert loc["mass_in_mask"].mean() > 5 * loc["random_mass"].mean()
    assert loc["enrichment"].median() > 5


def test_clinical_attributions_rank_the_covariates_as_the_truth_does(fusion, deep_data, demo_cohort):
    order = covariate_order(fusion, deep_data, demo_cohort.table)
    print("\ncovariate order:\n", order.round(4))
    assert order["truth_rank"].tolist() == [1, 2, 3]  # ecog, age, sex_M by their true mean |effect|
    assert order["network_rank"].tolist() == order["truth_rank"].tolist()


def test_implied_hazard_ratios_sit_beside_the_true_ones(fusion, deep_data, demo_cohort):
    tab = implied_hazard_ratios(fusion, deep_data, demo_cohort.table)
    print("\nimplied vs true hazard ratios:\n", tab[["hr", "hr_lower", "hr_upper", "true_hr", "covered"]].round(3))
    assert tab.index.tolist() == ["age_per_10y", "male", "ecog", "ring_enhancing", "lesion_volume_per_10ml"]
    assert tab["true_hr"].tolist() == [1.25, 1.4, 1.5, 2.5, 1.2]
    # every effect the demo builds in points the right way in the network
    assert bool((tab["hr"] > 1).all())
    # the image effects are learned from pixels alone: both CIs exclude "no effect"
    assert tab.loc["ring_enhancing", "hr_lower"] > 1 and tab.loc["lesion_volume_per_10ml", "hr_lower"] > 1


@pytest.fixture(scope="module")
def comparison(deep_data, lesion_feature_table, train_settings):
    return compare_prognosis(deep_data, lesion_feature_table, n_splits=3, n_boot=40, deep=train_settings,
                             progress=False)


def test_comparison_table_has_every_model_metric_and_ci(comparison):
    tab = comparison.table
    print("\ncomparison (3 folds, 40 bootstrap resamples):\n", comparison.summary().to_string())
    assert tab.index.tolist() == ["clinical Cox", "Cox image features + clinical", "deep image-only",
                                  "deep image + clinical"]
    for metric in ["harrell_c", "uno_c", "auc_1y", "auc_2y", "auc_3y", "ibs", "calibration", "delta_c"]:
        assert {metric, f"{metric}_lower", f"{metric}_upper"} <= set(tab.columns)
        assert tab[metric].notna().all(), metric
    assert bool((tab["harrell_c_lower"] <= tab["harrell_c"]).all() and (tab["harrell_c"] <= tab["harrell_c_upper"]).all())
    assert tab.loc["clinical Cox", "delta_c"] == 0.0
    # the cross-validated C is the mean over folds, as everywhere in medwb.survival
    folds = comparison.folds
    for model in tab.index:
        assert tab.loc[model, "harrell_c"] == pytest.approx(folds.loc[folds["model"] == model, "harrell_c"].mean())


def test_imaging_adds_prognostic_value_over_the_clinical_model(comparison):
    tab = comparison.table
    clinical = tab.loc["clinical Cox", "harrell_c"]
    assert 0.5 < clinical < 0.7  # age, sex and ECOG alone
    # hand-made features on the true lesion masks carry the demo's strongest effects: ΔC with its CI above 0
    assert tab.loc["Cox image features + clinical", "delta_c_lower"] > 0.03
    assert tab.loc["Cox image features + clinical", "ibs"] < tab.loc["clinical Cox", "ibs"]
    # the fusion network, from pixels and 107 training cases per fold, beats the clinical model on the point
    # estimate and beats its own image-only variant (its clinical branch adds what the image lacks)
    assert tab.loc["deep image + clinical", "delta_c"] > 0
    assert tab.loc["deep image + clinical", "harrell_c"] > tab.loc["deep image-only", "harrell_c"]
    assert np.all(tab["ibs"] < 0.26)
