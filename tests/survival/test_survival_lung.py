"""medwb's KM, log-rank and Cox on the NCCTG lung data equal lifelines and R's survival package."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_lung

from medwb.survival import fit_cox, kaplan_meier, logrank

COVS = ["age", "sex", "ph.ecog"]


@pytest.fixture(scope="module")
def lung():
    return load_lung()


def test_km_equals_lifelines_including_confidence_band(lung):
    km = kaplan_meier(lung, "time", "status")
    ref = KaplanMeierFitter().fit(lung["time"], lung["status"])
    tab = km.table()
    np.testing.assert_allclose(tab["survival"], ref.survival_function_.loc[tab["time"]].iloc[:, 0], atol=1e-12)
    np.testing.assert_allclose(tab["lower"], ref.confidence_interval_.loc[tab["time"]].iloc[:, 0], atol=1e-12)
    np.testing.assert_array_equal(tab["at_risk"], ref.event_table.loc[tab["time"], "at_risk"])


def test_km_matches_r_survfit_on_lung(lung):
    # R: survfit(Surv(time, status) ~ 1, lung): median 310; summary(..., times=365): n.risk 65, surv 0.409
    km = kaplan_meier(lung, "time", "status")
    assert km.median().loc["all", "median"] == 310.0
    at = km.survival_at([365]).iloc[0]
    assert at["at_risk"] == 65
    assert at["survival"] == pytest.approx(0.409, abs=5e-4)
    # by sex, R reports medians 270 (male) and 426 (female)
    med = kaplan_meier(lung, "time", "status", group_col="sex").median()
    assert med.loc[1, "median"] == 270.0 and med.loc[2, "median"] == 426.0


def test_logrank_two_groups_matches_r_survdiff(lung):
    res = logrank(lung, "time", "status", "sex")  # R survdiff: Chisq = 10.3 on 1 df, p = 0.00131
    assert res.df == 1
    assert res.statistic == pytest.approx(10.33, abs=0.01)
    assert res.p_value == pytest.approx(0.00131, abs=2e-5)


def test_logrank_many_groups_uses_k_minus_one_df(lung):
    res = logrank(lung.dropna(subset=["ph.ecog"]), "time", "status", "ph.ecog")
    assert res.df == 3 and res.groups == [0.0, 1.0, 2.0, 3.0]
    assert res.statistic == pytest.approx(22.0, abs=0.05)  # R survdiff: Chisq = 22 on 3 df


def test_cox_matches_r_coxph_published_coefficients(lung):
    # R: coxph(Surv(time, status) ~ age + sex + ph.ecog, lung)
    m = fit_cox(lung, "time", "status", COVS, missing="drop")
    hr = m.hazard_ratios()
    np.testing.assert_allclose(hr["coef"], [0.011067, -0.552612, 0.463728], atol=2e-6)
    np.testing.assert_allclose(hr["se"], [0.009267, 0.167739, 0.113577], atol=2e-6)
    assert m.data_report.dropped_rows == {"missing covariate": [13]}  # the one patient without ECOG
    assert m.n_samples_ == 227 and m.n_events_ == 164
    assert m.concordance() == pytest.approx(0.637, abs=5e-4)  # R: Concordance = 0.637


def test_cox_equals_raw_lifelines_and_keeps_its_fitter(lung):
    d = lung[["time", "status", *COVS]].dropna()
    ref = CoxPHFitter().fit(d, "time", "status")
    m = fit_cox(d, "time", "status", COVS)
    np.testing.assert_allclose(m.hazard_ratios()["coef"], ref.params_[COVS], rtol=1e-6)
    np.testing.assert_allclose(m.hazard_ratios()["hr_upper"],
                               np.exp(ref.confidence_intervals_.loc[COVS].iloc[:, 1]), rtol=1e-6)
    assert m.log_likelihood_ == pytest.approx(ref.log_likelihood_, abs=1e-8)
    assert isinstance(m.lifelines_, CoxPHFitter)
    surv = m.predict_survival(d.iloc[:3], [100, 365])
    # the Breslow baseline is a step function: lifelines' curve at its own event times, read as steps
    # (lifelines' times= would interpolate linearly between event times)
    curve = ref.predict_survival_function(d.iloc[:3])
    ref_surv = curve.iloc[curve.index.searchsorted([100, 365], side="right") - 1].to_numpy().T
    np.testing.assert_allclose(surv, ref_surv, atol=1e-8)


def test_hazard_ratio_per_documented_units(lung):
    m = fit_cox(lung, "time", "status", COVS, missing="drop", units={"age": 10})
    hr = m.hazard_ratios()
    assert hr.loc["age", "per"] == 10
    assert hr.loc["age", "hr"] == pytest.approx(np.exp(10 * 0.011067), rel=1e-5)


def test_standardisation_does_not_change_unpenalised_hazard_ratios(lung):
    a = fit_cox(lung, "time", "status", COVS, missing="drop", standardize=True).hazard_ratios()
    b = fit_cox(lung, "time", "status", COVS, missing="drop", standardize=False).hazard_ratios()
    np.testing.assert_allclose(a["hr"], b["hr"], rtol=1e-6)
    assert not np.allclose(a["coef_standardized"], b["coef_standardized"])


def test_ph_test_is_a_tidy_table_equal_to_lifelines(lung):
    from lifelines.statistics import proportional_hazard_test

    d = lung[["time", "status", *COVS]].dropna()
    tab = fit_cox(d, "time", "status", COVS, standardize=False).ph_test()
    ref = proportional_hazard_test(CoxPHFitter().fit(d, "time", "status"), d, time_transform="rank").summary
    assert list(tab.columns) == ["covariate", "statistic", "p", "time_transform", "violated"]
    got = tab.set_index("covariate").loc[COVS, "p"].to_numpy()
    np.testing.assert_allclose(got, ref.loc[COVS, "p"].to_numpy(), rtol=1e-6)
