"""The Breslow baseline hazard of medwb's Cox models equals lifelines' and scikit-survival's to 1e-6.

CoxModel keeps its own Breslow estimator for the Coxnet engine (medwb.survival.cox.CoxModel._breslow);
it is checked here against both libraries on their own bundled data sets, ties included (rossi has
many tied weeks, whas500 tied follow-up days).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_rossi

from medwb.survival import CoxModel

ROSSI_COVS = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
WHAS_COVS = ["age", "bmi", "hr", "sysbp", "diasbp", "gender", "chf", "afb", "sho"]


@pytest.fixture(scope="module")
def whas500() -> pd.DataFrame:
    from sksurv.datasets import load_whas500

    x, y = load_whas500()
    df = x[WHAS_COVS].astype(float)
    df["time"], df["event"] = y["lenfol"], y["fstat"].astype(int)
    return df


def probe_times(t: np.ndarray) -> np.ndarray:
    """Every distinct time, the midpoints between them, and points before the first and after the last."""
    u = np.unique(t)
    return np.sort(np.concatenate([[u[0] / 2], u, (u[:-1] + u[1:]) / 2, [u[-1] * 2]]))


def test_breslow_equals_lifelines_baseline_cumulative_hazard_on_rossi():
    rossi = load_rossi()
    assert rossi["week"].duplicated().sum() > 300  # heavily tied: the case where estimators differ
    m = CoxModel(engine="lifelines").fit(rossi, "week", "arrest", ROSSI_COVS)
    ref = m.lifelines_.baseline_cumulative_hazard_.iloc[:, 0]
    times = ref.index.to_numpy()
    np.testing.assert_allclose(m._breslow(times), ref.to_numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(m.lifelines_.baseline_hazard_.iloc[:, 0].to_numpy(),
                               np.diff(m._breslow(times), prepend=0.0), rtol=1e-6, atol=1e-9)


def test_breslow_equals_lifelines_on_whas500(whas500):
    m = CoxModel(engine="lifelines").fit(whas500, "time", "event", WHAS_COVS)
    ref = m.lifelines_.baseline_cumulative_hazard_.iloc[:, 0]
    np.testing.assert_allclose(m._breslow(ref.index.to_numpy()), ref.to_numpy(), rtol=1e-6, atol=1e-9)


def test_breslow_equals_scikit_survival_breslow_estimator_between_and_beyond_event_times(whas500):
    from sksurv.linear_model.coxph import BreslowEstimator

    m = CoxModel(penalizer=0.05, l1_ratio=0.5, engine="coxnet").fit(whas500, "time", "event", WHAS_COVS)
    ref = BreslowEstimator().fit(m._train_lp, m._train_e.astype(bool), m._train_t).cum_baseline_hazard_
    t = probe_times(m._train_t)
    inside = t <= ref.x[-1]
    expected = np.where(t < ref.x[0], 0.0, ref(np.clip(t, ref.x[0], ref.x[-1])))
    got = m._breslow(t)
    np.testing.assert_allclose(got[inside], expected[inside], rtol=1e-6, atol=1e-9)
    assert got[0] == 0.0  # before the first time nobody has had an event
    assert got[-1] == got[inside][-1]  # after the last time the step function stays where it was


def test_coxnet_survival_equals_scikit_survival_coxnet_with_its_baseline(whas500):
    from sksurv.linear_model import CoxnetSurvivalAnalysis
    from sksurv.util import Surv

    m = CoxModel(penalizer=0.05, l1_ratio=0.5, engine="coxnet").fit(whas500, "time", "event", WHAS_COVS)
    z = (whas500[WHAS_COVS].to_numpy() - m.mean_) / m.scale_
    ref = CoxnetSurvivalAnalysis(alphas=[0.05], l1_ratio=0.5, normalize=False, max_iter=100000,
                                 fit_baseline_model=True)
    ref.fit(z, Surv.from_arrays(whas500["event"].astype(bool), whas500["time"]))
    np.testing.assert_allclose(m.coef_std_, ref.coef_[:, 0], atol=1e-8)
    times = np.quantile(whas500["time"], [0.1, 0.3, 0.5, 0.7, 0.9])
    expected = np.stack([f(times) for f in ref.predict_survival_function(z[:25])])
    np.testing.assert_allclose(m.predict_survival(whas500.iloc[:25], times), expected, rtol=1e-6, atol=1e-9)
