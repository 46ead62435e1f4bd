"""Bad survival input gives a clear error or a reported handling, never a silent drop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medwb.survival import SurvivalDataError, fit_cox, join_features, kaplan_meier


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    n = 80
    df = pd.DataFrame({"time": rng.exponential(300, n) + 1, "event": rng.integers(0, 2, n),
                       "age": rng.normal(60, 8, n), "ecog": rng.integers(0, 3, n).astype(float)})
    df.loc[[3, 7], "age"] = np.nan
    return df


def test_nan_covariates_raise_by_default_naming_the_policies(table):
    with pytest.raises(SurvivalDataError, match=r"(?s)'age': 2.*missing='drop'.*missing='impute'"):
        fit_cox(table, "time", "event", ["age", "ecog"])


def test_nan_drop_policy_reports_the_dropped_rows(table):
    m = fit_cox(table, "time", "event", ["age", "ecog"], missing="drop")
    assert m.data_report.dropped_rows == {"missing covariate": [3, 7]}
    assert m.n_samples_ == 78


def test_nan_impute_policy_reports_count_and_median(table):
    m = fit_cox(table, "time", "event", ["age", "ecog"], missing="impute")
    count, value = m.data_report.imputed["age"]
    assert count == 2 and value == pytest.approx(table["age"].median())
    assert m.n_samples_ == 80
    assert "imputed 2 missing values of 'age'" in str(m.data_report)


@pytest.mark.parametrize("bad", [0.0, -5.0])
def test_zero_or_negative_times_are_refused_with_the_rows(table, bad):
    table.loc[5, "time"] = bad
    with pytest.raises(SurvivalDataError, match=r"must be > 0; rows \[5\]"):
        fit_cox(table, "time", "event", ["ecog"])


def test_all_censored_is_refused(table):
    table["event"] = 0
    with pytest.raises(SurvivalDataError, match="all 80 cases are censored"):
        kaplan_meier(table, "time", "event")


def test_event_coding_other_than_0_1_is_refused(table):
    table["event"] = table["event"] + 1  # R's 1/2 coding
    with pytest.raises(SurvivalDataError, match="status - 1"):
        fit_cox(table, "time", "event", ["ecog"])


def test_constant_column_raises_or_is_dropped_with_report(table):
    table["site"] = 1.0
    with pytest.raises(SurvivalDataError, match="'site' is constant"):
        fit_cox(table, "time", "event", ["ecog", "site"])
    m = fit_cox(table, "time", "event", ["ecog", "site"], constant="drop")
    assert "site" in m.data_report.dropped_columns and m.covariates_ == ["ecog"]


def test_non_numeric_column_is_refused_with_an_encoding_hint(table):
    table["sex"] = np.where(table.index % 2, "M", "F")
    with pytest.raises(SurvivalDataError, match=r"(?s)'sex' is not numeric.*get_dummies"):
        fit_cox(table, "time", "event", ["ecog", "sex"])


def test_missing_outcome_is_never_imputed(table):
    table.loc[2, "time"] = np.nan
    with pytest.raises(SurvivalDataError, match="Outcomes are never imputed"):
        fit_cox(table, "time", "event", ["ecog"], missing="impute")


def test_cases_missing_from_feature_table_raise_or_are_reported():
    clin = pd.DataFrame({"case_id": ["a", "b", "c"], "age": [50, 60, 70]})
    feats = pd.DataFrame({"case_id": ["a", "c"], "shape_volume_mm3": [1.0, 2.0]})
    with pytest.raises(SurvivalDataError, match=r"1 cases have no row in the feature table: \['b'\]"):
        join_features(clin, feats)
    joined, dropped = join_features(clin, feats, missing_cases="drop")
    assert dropped == ["b"] and joined["case_id"].tolist() == ["a", "c"]


def test_unknown_column_lists_the_available_ones(table):
    with pytest.raises(SurvivalDataError, match=r"(?s)\['agee'\] are not in the table.*'age'"):
        fit_cox(table, "time", "event", ["agee"])


def test_lifelines_convergence_error_is_translated_into_the_checklist(table, monkeypatch):
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    from medwb.survival import CoxConvergenceError

    def boom(self, *a, **k):
        raise ConvergenceError("Convergence halted due to matrix inversion problems.")

    monkeypatch.setattr(CoxPHFitter, "fit", boom)
    with pytest.raises(CoxConvergenceError, match=r"(?s)matrix inversion problems.*penalizer=0.1.*select_k=20") as err:
        fit_cox(table, "time", "event", ["ecog"])
    assert isinstance(err.value.__cause__, ConvergenceError)


def test_km_and_logrank_accept_plain_arrays():
    from medwb.survival import logrank

    rng = np.random.default_rng(0)
    t, e, g = rng.exponential(100, 60) + 1, rng.integers(0, 2, 60), np.repeat(["a", "b", "c"], 20)
    km = kaplan_meier(None, t, e, g)
    assert list(km.fitters) == ["a", "b", "c"] and km.data_report.n_used == 60
    assert logrank(None, t, e, g).df == 2


def test_missing_group_labels_are_reported_by_km():
    df = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [1, 0, 1, 1], "g": ["x", None, "y", "x"]})
    km = kaplan_meier(df, "t", "e", "g")
    assert km.data_report.dropped_rows == {"missing group": [1]} and km.data_report.n_used == 3
