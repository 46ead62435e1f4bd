"""Explanations of a survival network's risk: the explain verb's targets, clinical and time-dependent ones."""

from __future__ import annotations

import numpy as np
import pytest

import medwb
from medwb.survival.deep import Risk, SurvivalAt, explain_clinical, explain_over_time


@pytest.fixture(scope="module")
def patient(demo_cohort):
    table = demo_cohort.table.set_index("case_id")
    cid = next(c for c in demo_cohort.case_ids if table.loc[c, "label"] == 1)
    return demo_cohort.volume(cid), table.loc[cid], demo_cohort.mask(cid)


def test_explain_verb_explains_the_risk_on_the_volume_grid(fusion, patient):
    vol, row, _ = patient
    a = medwb.explain(fusion, vol, "integrated_gradients", target=Risk(row))
    assert a.array.shape == vol.shape and np.allclose(a.affine, vol.affine)
    assert a.relative_delta < 0.05  # IG adds up to risk(x) - risk(baseline)
    assert a.score == pytest.approx(fusion.risk(vol, row), abs=1e-4)
    assert isinstance(a.target, str) and a.target.startswith("Risk(")  # JSON-friendly, as every target


def test_survival_target_attributions_oppose_the_risk_ones(fusion, patient):
    vol, row, _ = patient
    surv = medwb.explain(fusion, vol, "integrated_gradients", target=SurvivalAt(730.0, row))
    ig_risk = medwb.explain(fusion, vol, "integrated_gradients", target=Risk(row))
    # S(t) falls as the risk rises: the same voxels, opposite signs
    assert np.corrcoef(surv.array.ravel(), ig_risk.array.ravel())[0, 1] < -0.5
    s = fusion.survival_from_eta(fusion.risk(vol, row), [730.0])[0, 0]
    assert surv.score == pytest.approx(s, abs=1e-4)


def test_survival_target_beyond_follow_up_is_refused(fusion, patient):
    vol, row, _ = patient
    with pytest.raises(medwb.survival.SurvivalDataError, match="beyond the last follow-up"):
        medwb.explain(fusion, vol, "saliency", target=SurvivalAt(10 * fusion.last_time, row))


def test_clinical_attributions_are_exact_for_the_linear_branch(fusion, patient):
    vol, row, _ = patient
    tab = explain_clinical(fusion, vol, row)
    w = fusion.net.clinical.weight.detach().numpy()[0] / fusion.sd  # log HR per unit
    np.testing.assert_allclose(tab["attribution"], w * (tab["value"] - tab["baseline"]), atol=1e-5)
    assert tab["baseline"].to_dict() == fusion.medians  # the stated baseline: the cohort's medians
    assert abs(tab.attrs["delta"]) < 1e-5


def test_time_dependent_contributions_add_up_and_equal_captum(fusion, patient):
    """One IG path serves every horizon; at any one horizon it equals Captum's IG of S(t | x)."""
    import torch
    from captum.attr import IntegratedGradients

    from medwb.masks import mask_on_grid

    vol, row, mask = patient
    lesion = mask.with_array((mask.array == 1).astype(np.uint8))
    times = [180.0, 365.0, 730.0, 1095.0]
    tab = explain_over_time(fusion, vol, row, times, regions={"lesions": lesion}, n_steps=64)
    assert list(tab.columns) == ["time", "S(t)", "S0(t)", *fusion.columns, "lesions", "rest of image"]
    feats = tab.attrs["features"]
    gap = tab["S(t)"] - tab["S0(t)"]
    np.testing.assert_allclose(tab[feats].sum(axis=1), gap, atol=0.05 * float(gap.abs().max()))
    # Captum at t = 730 days on (image, clinical) jointly
    h0 = float(fusion.cumulative_baseline(np.array([730.0]))[0])
    mvol = fusion.preprocess(vol)
    x = torch.from_numpy(mvol.array.astype(np.float32))[None, None]
    z, z0 = fusion.clinical_tensor(row), fusion.clinical_tensor(None)
    net = fusion.net.eval()
    ig = IntegratedGradients(lambda xx, zz: torch.exp(-h0 * torch.exp(net.log_hazard(xx, zz))))
    ax, az = ig.attribute((x, z), baselines=(torch.zeros_like(x), z0), target=0, n_steps=64,
                          method="gausslegendre", internal_batch_size=16)
    m = torch.from_numpy(mask_on_grid(lesion, mvol).array != 0)
    row730 = tab.set_index("time").loc[730.0]
    np.testing.assert_allclose(row730[fusion.columns].to_numpy(float), az[0].detach().numpy(), atol=1e-5)
    assert row730["lesions"] == pytest.approx(float(ax[0, 0][m].sum()), abs=1e-5)
    assert row730["rest of image"] == pytest.approx(float(ax[0, 0][~m].sum()), abs=1e-5)


def test_contributions_to_survival_change_with_the_horizon(fusion, patient):
    """With proportional hazards the risk contributions are constant, but their effect on S(t) is not:
    it starts at 0 (everyone is alive at t = 0) and grows while S(t) falls."""
    vol, row, _ = patient
    tab = explain_over_time(fusion, vol, row, [30.0, 365.0, 730.0])
    image = tab["image"].abs().to_numpy()
    assert image[0] < image[1]
    assert image[0] < 0.05
