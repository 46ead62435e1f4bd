"""Cross-validation refits the whole pipeline per fold and reports honest metrics."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from medwb.survival import (
    CoxModel,
    added_value,
    calibration_plot,
    cross_validate,
    forest_plot,
    kaplan_meier,
    plot_km,
    risk_groups,
    stratify,
)

matplotlib.use("Agg")


def _cohort(n=240, p_noise=30, seed=0, image_effect=0.9):
    rng = np.random.default_rng(seed)
    age = rng.normal(62, 9, n)
    img = rng.normal(size=(n, p_noise))
    lp = 0.04 * (age - 62) + image_effect * img[:, 0]
    t = rng.weibull(1.3, n) * 900 * np.exp(-lp / 1.3)
    c = rng.uniform(300, 1800, n)
    df = pd.DataFrame(img, columns=[f"img{i}" for i in range(p_noise)])
    df["age"], df["time"], df["event"] = age, np.minimum(t, c), (t <= c).astype(int)
    return df


def test_cv_reports_harrell_uno_auc_and_brier_per_fold():
    df = _cohort()
    cv = cross_validate(CoxModel(penalizer=0.05), df, "time", "event", ["age", "img0", "img1"], n_splits=4)
    assert len(cv.folds) == 4 and cv.folds["n_test"].sum() == len(df)
    s = cv.summary()
    assert 0.6 < s.loc["harrell_c", "mean"] < 0.9
    assert 0.6 < s.loc["uno_c", "mean"] < 0.9
    assert 0.6 < s.loc["mean_auc", "mean"] < 0.95
    assert 0.0 < s.loc["ibs", "mean"] < 0.25  # an uninformative model scores about 0.25
    assert cv.oof_risk.notna().all() and not cv.auc.empty


def test_selection_happens_inside_folds_so_pure_noise_scores_near_chance():
    # leakage check: selecting the 5 "best" of 300 noise features on ALL data, then validating,
    # looks good; selecting inside the folds must not
    rng = np.random.default_rng(1)
    n = 150
    df = pd.DataFrame(rng.normal(size=(n, 300)), columns=[f"n{i}" for i in range(300)])
    df["time"], df["event"] = rng.exponential(500, n) + 1, rng.integers(0, 2, n)
    cols = [f"n{i}" for i in range(300)]
    honest = cross_validate(CoxModel(penalizer=0.1, select_k=5), df, "time", "event", cols, seed=0)
    from medwb.survival import univariate_score

    top = np.argsort(-univariate_score(df[cols].to_numpy(), df["time"].to_numpy(), df["event"].to_numpy()))[:5]
    leaky = cross_validate(CoxModel(penalizer=0.1), df, "time", "event", [cols[i] for i in top], seed=0)
    c_honest, c_leaky = honest.summary().loc["harrell_c", "mean"], leaky.summary().loc["harrell_c", "mean"]
    assert c_honest < 0.6 < c_leaky  # noise is noise when selection is inside the folds
    assert c_leaky > c_honest + 0.05


def test_impute_policy_imputes_with_training_fold_medians():
    df = _cohort()
    df.loc[:9, "age"] = np.nan
    cv = cross_validate(CoxModel(), df, "time", "event", ["age", "img0"], missing="impute")
    assert cv.folds["n_test"].sum() == len(df)
    assert any("training-fold medians" in n for n in cv.notes)


def test_calibration_at_horizon_tracks_observed_survival():
    df = _cohort(n=400)
    cv = cross_validate(CoxModel(), df, "time", "event", ["age", "img0"], horizon=365)
    cal = cv.calibration(n_groups=4)
    assert cal["n"].sum() == 400
    assert cal["predicted"].is_monotonic_decreasing
    assert np.all(np.abs(cal["predicted"] - cal["observed"]) < 0.15)


def test_added_value_detects_a_prognostic_image_feature():
    res = added_value(_cohort(), "time", "event", ["age"], ["img0", "img1", "img2"], n_boot=300)
    assert res.adds_value
    assert res.delta_c_ci[0] > 0 and res.lr_p < 1e-4 and res.lr_on == "features" and res.lr_df == 3


def test_added_value_finds_nothing_when_image_features_are_noise():
    res = added_value(_cohort(image_effect=0.0), "time", "event", ["age"], ["img1", "img2"], n_boot=300)
    assert not res.adds_value
    assert res.delta_c_ci[0] < 0 < res.delta_c_ci[1] + 0.02


def test_added_value_with_many_features_tests_an_out_of_fold_signature():
    df = _cohort(n=300, p_noise=200)
    cols = [f"img{i}" for i in range(200)]
    res = added_value(df, "time", "event", ["age"], cols, model=CoxModel(penalizer=0.1, l1_ratio=0.5), n_boot=200)
    assert res.lr_on == "signature" and res.lr_df == 1
    assert res.adds_value, str(res)


def test_risk_groups_split_at_the_median_and_stratify_runs_logrank():
    assert risk_groups([1, 2, 3, 4]).tolist() == ["low", "low", "high", "high"]
    assert risk_groups([1, 2, 3], cut=[1.5, 2.5]).tolist() == ["G1", "G2", "G3"]
    df = _cohort()
    rg = stratify(df["img0"], df["time"], df["event"], cut="tertiles")
    assert list(rg.km.fitters) == ["G1", "G2", "G3"]
    assert rg.test.df == 2 and rg.test.p_value < 1e-3
    med = rg.km.median()["median"]
    assert med["G1"] > med["G3"]


def test_plots_return_figures_with_the_expected_content():
    df = _cohort()
    fig = plot_km(kaplan_meier(df.assign(g=df["img0"] > 0), "time", "event", "g"))
    assert len(fig.axes) >= 2  # the curves plus lifelines' at-risk table axes
    from medwb.survival import fit_cox

    fig = forest_plot(fit_cox(df, "time", "event", ["age", "img0"], units={"age": 10}))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "age (per 10)" in labels and "img0" in labels
    cv = cross_validate(CoxModel(), df, "time", "event", ["img0"], horizon=365)
    fig = calibration_plot(cv.calibration(), 365)
    assert "365" in fig.axes[0].get_title()
    import matplotlib.pyplot as plt

    plt.close("all")


def test_km_figure_draws_each_groups_survival_function_censor_ticks_and_at_risk_counts():
    import matplotlib.pyplot as plt

    df = _cohort()
    km = kaplan_meier(df.assign(g=df["img0"] > 0), "time", "event", "g")
    ax = plot_km(km, title="by img0").axes[0]
    curves = {ln.get_label(): ln for ln in ax.get_lines() if ln.get_drawstyle() == "steps-post"}
    assert set(curves) == {str(k) for k in km.fitters}
    for key, kmf in km.fitters.items():
        line = curves[str(key)]
        np.testing.assert_allclose(line.get_xdata(), kmf.survival_function_.index)
        np.testing.assert_allclose(line.get_ydata(), kmf.survival_function_.iloc[:, 0])
        censored = (df.assign(g=df["img0"] > 0).query("g == @key and event == 0"))
        ticks = [ln for ln in ax.get_lines() if ln.get_marker() == "|" and ln.get_color() == line.get_color()]
        assert len(ticks) == 1 and len(ticks[0].get_xdata()) == censored["time"].nunique()
    assert len(ax.collections) == len(km.fitters)  # one confidence band each
    assert ax.get_title() == "by img0" and ax.get_ylim() == (0, 1.02)
    table = " ".join(t.get_text() for a in ax.figure.axes[1:] for t in a.get_xticklabels())
    n_false, n_true = (df["img0"] <= 0).sum(), (df["img0"] > 0).sum()
    assert "At risk" in table and "Events" in table and f"{n_false}" in table and f"{n_true}" in table
    plt.close("all")


def test_forest_and_calibration_figures_place_each_estimate_where_the_table_says():
    import matplotlib.pyplot as plt

    from medwb.survival import fit_cox

    df = _cohort()
    model = fit_cox(df, "time", "event", ["age", "img0"], units={"age": 10})
    hr = model.hazard_ratios()
    ax = forest_plot(model, truth={"img0": 2.5}).axes[0]
    (bars,) = ax.containers  # the estimates with their confidence intervals, last covariate on top
    markers, _, (ci,) = bars
    np.testing.assert_allclose(markers.get_xdata().astype(float), hr["hr"].iloc[::-1])
    np.testing.assert_allclose([seg[:, 0] for seg in ci.get_segments()],
                               hr[["hr_lower", "hr_upper"]].iloc[::-1].to_numpy())
    (true,) = [ln for ln in ax.get_lines() if ln.get_label() == "true HR"]
    assert list(true.get_xdata()) == [2.5] and list(true.get_ydata()) == [0.25]  # img0's row (y = 0) + 0.25
    assert [t.get_text() for t in ax.get_yticklabels()] == ["img0", "age (per 10)"]
    assert ax.get_xscale() == "log"
    cv = cross_validate(CoxModel(), df, "time", "event", ["img0"], horizon=365)
    table = cv.calibration()
    ax = calibration_plot(table, 365).axes[0]
    (points,) = ax.containers
    np.testing.assert_allclose(points.lines[0].get_xdata().astype(float), table["predicted"])
    np.testing.assert_allclose(points.lines[0].get_ydata().astype(float), table["observed"])
    assert ax.get_title() == "calibration at t = 365" and ax.get_xlabel() == "predicted survival"
    plt.close("all")


@pytest.mark.parametrize("n_splits", [1])
def test_cross_validate_refuses_fewer_than_two_folds(n_splits):
    with pytest.raises(ValueError, match="n_splits must be >= 2"):
        cross_validate(CoxModel(), _cohort(), "time", "event", ["age"], n_splits=n_splits)
