"""Bad input gets a clear error; the clinical network is the Cox model; checkpoints round-trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medwb.survival import SurvivalDataError
from medwb.survival.deep import fit_prognosis, load_prognosis, survival_data


def test_cases_without_outcome_are_refused_by_name(tiny_table):
    tiny_table.loc[[2, 5], "time"] = np.nan
    with pytest.raises(SurvivalDataError, match=r"(?s)2 case\(s\) have no outcome.*'c2', 'c5'.*never imputed"):
        survival_data(tiny_table, images=False)


def test_a_missing_clinical_value_raises_and_says_how_to_impute(tiny_table):
    tiny_table.loc[3, "age"] = np.nan
    with pytest.raises(SurvivalDataError, match=r"(?s)missing values in covariates \{'age': 1\}.*impute"):
        survival_data(tiny_table, images=False)


def test_imputation_uses_the_training_medians_as_stated(tiny_table):
    tiny_table.loc[3, "age"] = np.nan
    data = survival_data(tiny_table, images=False, missing="impute")
    assert any("medians" in n for n in data.notes)
    m = fit_prognosis(data, mode="clinical", epochs=5, progress=False)
    assert m.medians["age"] == float(tiny_table["age"].median())  # 62, the median of the 7 known ages
    coded = m.code(tiny_table.iloc[[3]])
    assert coded.loc[3, "age"] == 62.0


def test_all_censored_cohort_is_refused(tiny_table):
    tiny_table["event"] = 0
    with pytest.raises(SurvivalDataError, match="all 8 cases are censored"):
        survival_data(tiny_table, images=False)


def test_a_horizon_beyond_the_last_follow_up_is_refused(tiny_table):
    m = fit_prognosis(survival_data(tiny_table, images=False), mode="clinical", epochs=5, progress=False)
    with pytest.raises(SurvivalDataError, match=r"(?s)horizon \[12.0\] days is beyond the last follow-up.*9 days"):
        m.predict_survival(survival_data(tiny_table, images=False), [4.0, 12.0])
    with pytest.raises(SurvivalDataError, match="beyond the last follow-up"):
        m.survival_curve(None, {"age": 60, "sex": "M", "ecog": 1}, times=[10.0])


def test_image_modes_need_images(tiny_table):
    with pytest.raises(SurvivalDataError, match="needs images"):
        fit_prognosis(survival_data(tiny_table, images=False), mode="fusion", progress=False)


def test_clinical_network_reproduces_the_cox_fit_of_lifelines(demo_cohort):
    """The clinical-only network, trained on torchsurv's partial likelihood, is the Cox model itself."""
    from lifelines import CoxPHFitter

    data = survival_data(demo_cohort, images=False)
    m = fit_prognosis(data, mode="clinical", progress=False)
    df = data.clinical.reset_index(drop=True).assign(time=data.time, event=data.event)
    cph = CoxPHFitter().fit(df, "time", "event")  # Efron ties, as the torchsurv loss
    net_coef = m.net.clinical.weight.detach().numpy()[0] / m.sd  # per original unit
    np.testing.assert_allclose(net_coef, cph.params_[m.columns].to_numpy(), atol=0.01)


def test_weibull_head_matches_lifelines_weibull_aft(demo_cohort):
    from lifelines import WeibullAFTFitter

    data = survival_data(demo_cohort, images=False)
    m = fit_prognosis(data, mode="clinical", head="weibull", epochs=600, lr=3e-2, progress=False)
    df = data.clinical.reset_index(drop=True).assign(time=data.time, event=data.event)
    aft = WeibullAFTFitter().fit(df, "time", "event")
    rho = float(m.net.log_shape.detach().exp())
    assert rho == pytest.approx(float(np.exp(aft.params_["rho_"]["Intercept"])), rel=0.02)
    # log scale = b - eta / rho, eta = w . z: the AFT coefficients are -w / (rho * sd)
    aft_coef = -m.net.clinical.weight.detach().numpy()[0] / (rho * m.sd)
    np.testing.assert_allclose(aft_coef, aft.params_["lambda_"][m.columns].to_numpy(), atol=0.01)


def test_checkpoint_round_trip_gives_the_same_predictions(tiny_table, tmp_path):
    import torch

    data = survival_data(tiny_table, images=False)
    m = fit_prognosis(data, mode="clinical", epochs=10, progress=False)
    path = m.save(tmp_path / "prognosis.pt")
    torch.load(path, weights_only=True)  # a safe checkpoint: no pickled code
    m2 = load_prognosis(path)
    np.testing.assert_array_equal(m.predict_risk(data), m2.predict_risk(data))
    np.testing.assert_array_equal(m.predict_survival(data, [3.0, 7.0]), m2.predict_survival(data, [3.0, 7.0]))


def test_same_seed_same_network(tiny_table):
    data = survival_data(tiny_table, images=False)
    a = fit_prognosis(data, mode="clinical", epochs=10, seed=3, progress=False)
    b = fit_prognosis(data, mode="clinical", epochs=10, seed=3, progress=False)
    np.testing.assert_array_equal(a.predict_risk(data), b.predict_risk(data))


def test_survival_curve_is_monotone_and_inside_its_band(tiny_table):
    m = fit_prognosis(survival_data(tiny_table, images=False), mode="clinical", epochs=10, progress=False)
    curve = m.survival_curve(None, {"age": 70, "sex": "M", "ecog": 2})
    assert list(curve.columns) == ["time", "survival", "lower", "upper"]
    assert np.all(np.diff(curve["survival"]) <= 1e-12)
    assert bool(((curve["lower"] <= curve["survival"] + 1e-9) & (curve["survival"] <= curve["upper"] + 1e-9)).all())
    assert float((curve["upper"] - curve["lower"]).max()) > 0  # the baseline bootstrap gives a band


def test_unknown_clinical_column_names_what_the_model_needs(tiny_table):
    m = fit_prognosis(survival_data(tiny_table, images=False), mode="clinical", epochs=5, progress=False)
    with pytest.raises(SurvivalDataError, match=r"(?s)lack 'ecog'.*fitted on \['age', 'sex_M', 'ecog'\]"):
        m.code(pd.DataFrame({"age": [60], "sex": ["M"]}))
