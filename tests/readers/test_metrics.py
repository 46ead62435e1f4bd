"""Sensitivity/specificity, ROC curves, reading times and the figures."""

from __future__ import annotations

import numpy as np
import pytest

from medwb.readers import mrmc, operating_points, reading_times, roc_curves, simulate_study


@pytest.fixture(scope="module")
def study():
    return simulate_study(n_readers=3, n_cases=40, scale="1-5", seed=11)


def test_sensitivity_and_specificity_equal_sklearns_confusion_matrix(study):
    from sklearn.metrics import confusion_matrix

    ops = operating_points(study, threshold=4).set_index(["modality", "reader"])
    for (m, r), part in study.groupby(["modality", "reader"]):
        tn, fp, fn, tp = confusion_matrix(part.truth, part.rating >= 4).ravel()
        assert ops.loc[(m, r), "sensitivity"] == pytest.approx(tp / (tp + fn))
        assert ops.loc[(m, r), "specificity"] == pytest.approx(tn / (tn + fp))
    assert ops.loc[("image", "(mean)"), "sensitivity"] == pytest.approx(
        ops.loc["image"].drop("(mean)").sensitivity.mean())
    assert list(ops.index.get_level_values(0)[:4]) == ["image"] * 4  # the arms' own order, not alphabetical


def test_reading_times_summarise_seconds_per_reader_and_arm(study):
    t = reading_times(study).set_index(["modality", "reader"])
    part = study[(study.modality == "image+AI") & (study.reader == "sim-reader-02")].seconds
    assert t.loc[("image+AI", "sim-reader-02"), "median_s"] == pytest.approx(part.median())
    assert t.loc[("image", "(all)"), "n"] == 3 * 40


def test_roc_curves_end_at_the_corners_and_match_the_auc(study):
    curves = roc_curves(study)
    res = mrmc(study)
    for (m, r), c in curves.groupby(["modality", "reader"]):
        assert (c.fpr.iloc[0], c.tpr.iloc[0], c.fpr.iloc[-1], c.tpr.iloc[-1]) == (0, 0, 1, 1)
        assert np.all(np.diff(c.tpr) >= 0)
        if r != "(mean)":  # the trapezoid area under the empirical curve is the Wilcoxon AUC
            assert np.trapezoid(c.tpr, c.fpr) == pytest.approx(res.auc.loc[r, m], abs=1e-12)


def test_forest_plot_shows_each_contrast_and_says_simulated():
    from medwb.readers import forest_plot

    res = mrmc(simulate_study(n_readers=4, n_cases=30, arms=("a", "b", "c"), auc=(0.7, 0.75, 0.8)))
    fig = forest_plot(res)
    ax = fig.axes[0]
    assert len(ax.get_yticklabels()) == 3 and "simulated readers" in ax.get_title()
