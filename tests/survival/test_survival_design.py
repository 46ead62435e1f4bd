"""medwb.survival.design_frame is the one Cox design frame; the SurvivalExplorer widget builds its fits on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medwb.survival import design_frame


def test_categories_are_one_hot_with_the_first_level_as_reference():
    t = pd.DataFrame({"sex": ["M", "F", "M"], "stage": pd.Categorical(["II", "I", "III"], ["I", "II", "III"]),
                      "smoker": [True, False, True], "age": [60, 70, 80]})
    x, names = design_frame(t, ["sex", "stage", "smoker", "age"])
    assert names == ["sex_M", "stage_II", "stage_III", "smoker", "age"]
    assert x["sex_M"].tolist() == [1.0, 0.0, 1.0] and x["stage_III"].tolist() == [0.0, 0.0, 1.0]
    assert x["smoker"].tolist() == [1.0, 0.0, 1.0] and x.index.equals(t.index)


def test_numbers_stored_as_objects_stay_numbers_and_none_is_missing():
    t = pd.DataFrame({"ecog": pd.Series([1, 2, 3], dtype="Int64")})
    t["ecog"] = t["ecog"].astype(object)
    t.loc[1, "ecog"] = None
    x, names = design_frame(t, ["ecog"])
    assert names == ["ecog"] and np.isnan(x["ecog"].iloc[1])


def test_a_missing_column_is_named_with_the_fix():
    with pytest.raises(KeyError, match=r"\['agee'\].*Fix"):
        design_frame(pd.DataFrame({"age": [1]}), ["agee"])


def test_the_survival_explorer_fits_on_this_design():
    from medwb.widgets import SurvivalExplorer
    from medwb.widgets import survival_explorer as se

    rng = np.random.default_rng(0)
    n = 60
    t = pd.DataFrame({"time": rng.exponential(100, n) + 1, "event": rng.integers(0, 2, n),
                      "age": rng.normal(60, 8, n), "sex": rng.choice(["F", "M"], n)})
    assert se.design_frame is design_frame
    s = SurvivalExplorer(t, clinical=["age", "sex"])
    assert list(s.model.hazard_ratios().index) == design_frame(t, ["age", "sex"])[1]
