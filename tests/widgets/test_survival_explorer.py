"""SurvivalExplorer: feature sets, refits, movable cut-point, forest and KM plots, C-index."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from medwb.widgets.survival_explorer import SurvivalExplorer, design_frame


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    age = rng.normal(65, 8, n)
    sex = rng.choice(["M", "F"], n)
    lesion = rng.normal(0, 1, n)
    hazard = np.exp(0.04 * (age - 65) + 0.9 * lesion)
    t = rng.exponential(300 / hazard)
    c = rng.exponential(600, n)
    table = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "age": age, "sex": sex,
                          "time": np.minimum(t, c), "event": (t <= c).astype(int)})
    feats = pd.DataFrame({"case_id": table["case_id"], "lesion_size": lesion, "noise": rng.normal(size=n)})
    return table, feats


def test_image_features_add_discrimination_over_clinical():
    table, feats = _data()
    s = SurvivalExplorer(table, features=feats)
    assert s.feature_set.options == ("clinical", "image", "both")
    assert list(s.covariates.value) == ["age", "sex"]
    c_clinical = s.model.concordance()
    s.feature_set.value = "both"
    assert set(s.model.hazard_ratios().index) == {"age", "sex_M", "lesion_size", "noise"}
    assert s.model.concordance() > c_clinical + 0.05
    assert "apparent C-index" in s.stats.value and "log-rank p" in s.stats.value


def test_moving_the_cut_point_restratifies_without_refitting():
    table, feats = _data()
    s = SurvivalExplorer(table, features=feats)
    model, km = s.model, s.km_image.value
    s.cut.value = 0.8
    assert s.model is model and s.km_image.value != km
    counts = s.groups.groups.value_counts()
    assert counts["high"] < counts["low"]


def test_cross_validated_c_index_is_reported_on_request():
    table, feats = _data()
    s = SurvivalExplorer(table, features=feats)
    assert "cross-validated" not in s.stats.value  # off by default: it costs five refits
    s.cross_validated.value = True
    assert "cross-validated C" in s.stats.value
    from medwb.survival import CoxModel, cross_validate

    x, names = design_frame(table, ["age", "sex"])
    df = pd.concat([table[["time", "event"]], x], axis=1)
    want = cross_validate(CoxModel(penalizer=s.penalizer.value), df, "time", "event", names, n_splits=5)
    shown = re.search(r"cross-validated C (\d\.\d{3})", s.stats.value).group(1)
    assert shown == f"{want.folds['harrell_c'].mean():.3f}"
    apparent = re.search(r"apparent C-index (\d\.\d{3})", s.stats.value).group(1)
    assert apparent == f"{s.model.concordance():.3f}" and f"n {len(table)} · events {table.event.sum()}" \
        in s.stats.value


def test_unknown_covariates_are_refused_with_the_columns():
    table, _ = _data()
    with pytest.raises(ValueError, match="not in the table"):
        SurvivalExplorer(table, clinical=["age", "ecog"])


def test_design_frame_one_hot_encodes_categories():
    df, cols = design_frame(pd.DataFrame({"sex": ["M", "F"], "x": [1, 2]}), ["sex", "x"])
    assert cols == ["sex_M", "x"] and df["sex_M"].tolist() == [1.0, 0.0]
