"""Fitted hazard ratios are compared with known true ones, and the plots show both."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from medwb.survival import (
    CoxModel,
    SurvivalDataError,
    auc_plot,
    compare_hazard_ratios,
    cross_validate,
    fit_cox,
    forest_plot,
)

matplotlib.use("Agg")

TRUE = {"age_per_10y": 1.5, "marker": 2.0}


def _simulated(n=600, seed=0):
    rng = np.random.default_rng(seed)
    age = rng.normal(60, 10, n)
    marker = rng.integers(0, 2, n)
    noise = rng.normal(size=n)
    lp = np.log(1.5) * (age - 60) / 10 + np.log(2.0) * marker
    t = rng.exponential(1000 * np.exp(-lp))
    c = rng.uniform(200, 3000, n)
    return pd.DataFrame({"age": age, "marker": marker, "noise": noise,
                         "time": np.minimum(t, c), "event": (t <= c).astype(int)})


def test_true_hazard_ratios_are_covered_when_units_match_the_truth():
    m = fit_cox(_simulated(), "time", "event", ["age", "marker", "noise"], units={"age": 10})
    tab = compare_hazard_ratios(m, TRUE, names={"age": "age_per_10y"})
    assert tab.loc["age", "truth_name"] == "age_per_10y" and tab.loc["marker", "truth_name"] == "marker"
    assert tab.loc["age", "true_hr"] == 1.5 and tab.loc["marker", "true_hr"] == 2.0
    assert bool(tab.loc["age", "covered"]) and bool(tab.loc["marker", "covered"])
    assert tab.loc["age", "ratio"] == pytest.approx(tab.loc["age", "hr"] / 1.5)
    # a covariate without a truth is kept, with no verdict
    assert np.isnan(tab.loc["noise", "true_hr"]) and pd.isna(tab.loc["noise", "covered"])


def test_a_wrong_unit_shows_up_as_not_covered():
    m = fit_cox(_simulated(), "time", "event", ["age", "marker"])  # per year, truth is per 10 years
    tab = compare_hazard_ratios(m, TRUE, names={"age": "age_per_10y"})
    assert not bool(tab.loc["age", "covered"])
    assert tab.loc["age", "ratio"] < 0.8


def test_names_that_match_nothing_say_which_keys_exist():
    m = fit_cox(_simulated(), "time", "event", ["age", "marker"])
    with pytest.raises(SurvivalDataError, match="age_per_10y"):
        compare_hazard_ratios(m, TRUE, names={"age": "age_10"})
    with pytest.raises(SurvivalDataError, match="does not have"):
        compare_hazard_ratios(m, TRUE, names={"weight": "marker"})
    with pytest.raises(SurvivalDataError, match="no covariate"):
        compare_hazard_ratios(m.hazard_ratios().drop(index="marker"), {"x": 1.0})


def test_forest_plot_draws_the_truth_beside_the_estimates():
    m = fit_cox(_simulated(), "time", "event", ["age", "marker", "noise"], units={"age": 10})
    tab = compare_hazard_ratios(m, TRUE, names={"age": "age_per_10y"})
    fig = forest_plot(tab)
    ax = fig.axes[0]
    diamonds = [ln for ln in ax.get_lines() if ln.get_label() == "true HR"]
    assert len(diamonds) == 1
    assert sorted(diamonds[0].get_xdata()) == [1.5, 2.0]  # noise has no truth: no diamond
    lo, hi = ax.get_xlim()
    assert lo < 1.5 and hi > 2.0
    # the same from a plain mapping
    fig2 = forest_plot(m, truth={"marker": 2.0})
    assert [list(ln.get_xdata()) for ln in fig2.axes[0].get_lines() if ln.get_label() == "true HR"] == [[2.0]]


def test_auc_plot_draws_one_line_per_model_at_the_evaluation_times():
    df = _simulated(n=300)
    cvs = {"noise": cross_validate(CoxModel(), df, "time", "event", ["noise"], n_splits=3),
           "age + marker": cross_validate(CoxModel(), df, "time", "event", ["age", "marker"], n_splits=3)}
    fig = auc_plot(cvs)
    lines = [ln for ln in fig.axes[0].get_lines() if "mean AUC" in ln.get_label()]
    assert len(lines) == 2
    for ln, cv in zip(lines, cvs.values(), strict=True):
        assert np.allclose(ln.get_ydata(), cv.auc.groupby("time")["auc"].mean().to_numpy())
    # the informative model's curve lies above the noise model's
    assert np.mean(lines[1].get_ydata()) > np.mean(lines[0].get_ydata())
