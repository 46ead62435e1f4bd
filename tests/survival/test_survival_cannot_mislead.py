"""Survival answers that warn instead of misleading (issue 14): each test failed before its fix."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi

from medwb import survival as S
from medwb.survival._data import SurvivalDataError, prepare
from medwb.survival.validation import fold_indices, truncate_follow_up

COVS = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    return load_rossi()


def test_perfect_separation_warns_with_the_column_and_a_checklist(rossi):
    d = rossi.assign(sep=(rossi["arrest"] == 1).astype(float))
    with pytest.warns(S.CoxConvergenceWarning) as caught:
        m = S.fit_cox(d, "week", "arrest", ["age", "sep"])
    text = str(caught[0].message)
    assert "'sep'" in text and "separat" in text and "penalizer" in text
    assert any("convergence" in n for n in m.notes)


def test_an_ordinary_fit_does_not_warn(rossi):
    with warnings.catch_warnings():
        warnings.simplefilter("error", S.CoxConvergenceWarning)
        S.fit_cox(rossi, "week", "arrest", COVS)


def test_every_fold_scores_time_dependent_auc_and_brier_on_rossi(rossi):
    # before: 3 of 5 folds were dropped without a word (censoring survival reaches 0 at week 52)
    cv = S.cross_validate(S.CoxModel(), rossi, "week", "arrest", COVS)
    summary = cv.summary()
    assert summary["n_folds"].tolist() == [5, 5, 5, 5]
    assert cv.folds[["uno_c", "mean_auc", "ibs"]].notna().all().all()
    assert len(cv.auc) == 5 * len(cv.times) and cv.notes == []


def test_truncated_follow_up_changes_nothing_up_to_the_last_evaluation_time(rossi):
    from sksurv.metrics import cumulative_dynamic_auc
    from sksurv.util import Surv

    rng = np.random.default_rng(0)
    risk = rng.normal(size=400)
    event_time, censor_time = rng.exponential(50 * np.exp(-risk)), rng.uniform(0, 150, 400)
    t, e = np.minimum(event_time, censor_time), (event_time <= censor_time).astype(int)
    y = Surv.from_arrays(e.astype(bool), t)
    times = np.array([10.0, 20.0, 30.0])
    tt, ee = truncate_follow_up(t, e, 30.0)
    assert tt.max() < 30.01 and ee[t > 30.01].sum() == 0 and (tt[t <= 30] == t[t <= 30]).all()
    before, _ = cumulative_dynamic_auc(y, y, risk, times)
    after, _ = cumulative_dynamic_auc(y, Surv.from_arrays(ee.astype(bool), tt), risk, times)
    np.testing.assert_allclose(after, before, atol=1e-12)


def test_added_value_without_clinical_covariates_compares_with_chance(rossi):
    res = S.added_value(rossi, "week", "arrest", [], ["age", "prio"], n_boot=100)
    assert res.c_clinical == 0.5 and res.c_full > 0.55 and res.lr_df == 2
    lifelines_lr = CoxPHFitter().fit(rossi[["week", "arrest", "age", "prio"]], "week", "arrest")
    assert res.lr_statistic == pytest.approx(lifelines_lr.log_likelihood_ratio_test().test_statistic, rel=1e-6)


def test_cross_validated_c_means_the_mean_over_folds_everywhere(rossi):
    res = S.added_value(rossi, "week", "arrest", ["age"], ["prio", "fin"], n_boot=50)
    assert res.c_full == pytest.approx(res.folds["c_full"].mean(), abs=1e-12)
    assert res.c_clinical == pytest.approx(res.folds["c_clinical"].mean(), abs=1e-12)
    assert res.delta_c == pytest.approx(res.folds["delta_c"].mean(), abs=1e-12)
    cv = S.cross_validate(S.CoxModel(), rossi, "week", "arrest", ["age", "prio", "fin"])
    assert cv.summary().loc["harrell_c", "mean"] == pytest.approx(cv.folds["harrell_c"].mean(), abs=1e-12)


def test_repeated_index_labels_from_two_sites_work_everywhere(rossi):
    two_sites = pd.concat([rossi, rossi])          # index labels 0..431 twice
    fresh = two_sites.reset_index(drop=True)
    km_a, km_b = S.kaplan_meier(two_sites, "week", "arrest", "fin"), S.kaplan_meier(fresh, "week", "arrest", "fin")
    pd.testing.assert_frame_equal(km_a.table(), km_b.table())
    assert S.logrank(two_sites, "week", "arrest", "fin").statistic == pytest.approx(
        S.logrank(fresh, "week", "arrest", "fin").statistic, rel=1e-12)
    cv_a = S.cross_validate(S.CoxModel(), two_sites, "week", "arrest", ["age", "prio"])
    cv_b = S.cross_validate(S.CoxModel(), fresh, "week", "arrest", ["age", "prio"])
    pd.testing.assert_frame_equal(cv_a.folds, cv_b.folds)
    assert cv_a.oof_risk.index.equals(two_sites.index)
    av = S.added_value(two_sites, "week", "arrest", ["age"], ["prio"], n_boot=20)
    assert av.oof.index.equals(two_sites.index) and np.isfinite(av.delta_c)


def test_duplicate_column_names_get_a_clear_error(rossi):
    doubled = pd.concat([rossi, rossi[["age"]]], axis=1)
    with pytest.raises(SurvivalDataError, match=r"(?s)more than one column named \['age'\].*Fix"):
        S.fit_cox(doubled, "week", "arrest", ["age", "prio"])


def test_a_covariate_constant_in_one_training_fold_names_the_fold_and_the_remedy(rossi):
    d = rossi.copy()
    test_of_first_fold = fold_indices(d["arrest"].to_numpy(), 5, 0)[0]
    d["rare"] = 0.0
    d.iloc[test_of_first_fold[:3], d.columns.get_loc("rare")] = 1.0  # varies overall, constant when training fold 1
    with pytest.raises(SurvivalDataError, match=r"(?s)fold 1 of 5.*'rare'.*constant='drop'") as err:
        S.cross_validate(S.CoxModel(), d, "week", "arrest", ["age", "rare"])
    assert "rare categories" in str(err.value)
    cv = S.cross_validate(S.CoxModel(constant="drop"), d, "week", "arrest", ["age", "rare"])
    assert cv.summary()["n_folds"].min() == 5


def test_timedelta_durations_are_read_as_days(rossi):
    as_timedelta = rossi.assign(week=pd.to_timedelta(rossi["week"] * 7, unit="D"))
    clean, report = prepare(as_timedelta, "week", "arrest", ["age"])
    np.testing.assert_allclose(clean["week"].to_numpy(), rossi["week"].to_numpy() * 7.0)
    assert any("timedelta" in n and "days" in n for n in report.notes)
    assert "days" in str(report)


def test_predicted_survival_is_a_step_function_on_both_engines(rossi):
    lifelines_engine = S.CoxModel().fit(rossi, "week", "arrest", COVS)
    coxnet_engine = S.CoxModel(penalizer=0.01, l1_ratio=0.5, engine="coxnet").fit(rossi, "week", "arrest", COVS)
    event_times = np.unique(rossi.loc[rossi["arrest"] == 1, "week"].to_numpy(float))
    between = (event_times[:-1] + event_times[1:]) / 2
    for m in (lifelines_engine, coxnet_engine):
        np.testing.assert_allclose(m.predict_survival(rossi, between), m.predict_survival(rossi, event_times[:-1]),
                                   atol=1e-12)
    cph = lifelines_engine.lifelines_
    z = pd.DataFrame(lifelines_engine._z(rossi), columns=lifelines_engine.covariates_)
    own = cph.predict_survival_function(z, times=event_times).to_numpy().T
    np.testing.assert_allclose(lifelines_engine.predict_survival(rossi, event_times), own, atol=1e-10)


def test_standardize_false_with_a_penalty_is_honoured_or_refused(rossi):
    raw = S.CoxModel(penalizer=0.1, standardize=False).fit(rossi, "week", "arrest", COVS)
    std = S.CoxModel(penalizer=0.1, standardize=True).fit(rossi, "week", "arrest", COVS)
    assert raw.engine_ == "coxnet" and any("raw coefficients" in n for n in raw.notes)
    assert not np.allclose(raw.hazard_ratios()["coef"], std.hazard_ratios()["coef"], rtol=1e-3)
    with pytest.raises(ValueError, match="(?s)standardize=False.*Fix"):
        S.CoxModel(penalizer=0.1, standardize=False, engine="lifelines").fit(rossi, "week", "arrest", COVS)


def test_the_automatic_engine_switch_says_that_ties_are_handled_differently(rossi):
    m = S.CoxModel(penalizer=0.1, l1_ratio=0.5, lifelines_max_p=3).fit(rossi, "week", "arrest", COVS)
    assert m.engine_ == "coxnet"
    assert any("Breslow" in n and "Efron" in n for n in m.notes)
