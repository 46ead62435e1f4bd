"""With p = 1000 features on n = 300 cases the fit converges through penalisation or says what to do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medwb.survival import CoxConvergenceError, CoxModel, fit_cox, univariate_score


@pytest.fixture(scope="module")
def wide():
    rng = np.random.default_rng(0)
    n, p = 300, 1000
    x = rng.normal(size=(n, p))
    lp = 0.8 * x[:, 0] - 0.6 * x[:, 1]
    t, c = rng.exponential(np.exp(-lp)), rng.exponential(2.0, n)
    df = pd.DataFrame(x, columns=[f"f{i}" for i in range(p)])
    df["time"], df["event"] = np.minimum(t, c), (t <= c).astype(int)
    return df, [f"f{i}" for i in range(p)]


def test_elastic_net_converges_and_finds_the_true_features(wide):
    df, cols = wide
    m = fit_cox(df, "time", "event", cols, penalizer=0.1, l1_ratio=0.5)
    hr = m.hazard_ratios()
    assert m.engine_ == "coxnet"
    top2 = hr["coef"].abs().nlargest(2).index.tolist()
    assert sorted(top2) == ["f0", "f1"]
    assert hr.loc["f0", "coef"] > 0 > hr.loc["f1", "coef"]
    assert (hr["coef"] != 0).sum() < 300  # the lasso part zeroes most noise features


def test_unpenalised_fit_stops_with_an_actionable_checklist(wide):
    df, cols = wide
    with pytest.raises(CoxConvergenceError, match=r"1000 covariates but only \d+ events(.|\n)*penalizer=0.1"):
        fit_cox(df, "time", "event", cols)


def test_collinear_columns_are_named_in_the_error(wide):
    df, _ = wide
    d = df[["time", "event", "f0", "f1"]].copy()
    d["f0_copy"] = d["f0"] * 2.0 + 1.0
    with pytest.raises(CoxConvergenceError, match=r"collinear.*f0 ~ f0_copy"):
        fit_cox(d, "time", "event", ["f0", "f1", "f0_copy"])


def test_in_model_selection_keeps_the_strongest_univariate_features(wide):
    df, cols = wide
    m = CoxModel(penalizer=0.01, select_k=5).fit(df, "time", "event", cols)
    assert len(m.covariates_) == 5 and {"f0", "f1"} <= set(m.covariates_)
    assert m.engine_ == "lifelines"


def test_univariate_score_agrees_with_lifelines_likelihood_ratio():
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(3)
    x = rng.normal(size=(150, 1))
    t = np.round(rng.exponential(np.exp(-0.5 * x[:, 0])) * 10) + 1  # ties on purpose
    e = rng.integers(0, 2, 150)
    d = pd.DataFrame({"x": x[:, 0], "t": t, "e": e})
    ref = CoxPHFitter().fit(d, "t", "e", formula="x")
    # lifelines' Efron-ties log-rank-like test differs slightly from Breslow's: compare loosely
    ours = univariate_score(x, t, e)[0]
    assert ours == pytest.approx(ref.log_likelihood_ratio_test().test_statistic, rel=0.1)
