"""Attribution evaluation: localisation on the demo's ground truth, faithfulness, sanity, figures."""

import numpy as np
import pytest

from medwb.attribution import (
    deletion_insertion,
    explain,
    infidelity,
    localisation,
    localisation_table,
    pointing_game,
    randomisation_check,
    sensitivity,
)
from medwb.attribution.plots import plot_attribution, plot_curves, plot_randomisation
from medwb.attribution.sanity import compare_maps


def _lesion(mask):
    return mask.with_array((mask.array == 1).astype(np.uint8))  # 1 = lesion, 2 = oedema


def _positives(test_c):
    return [c for c in test_c.case_ids if test_c.row(c)["label"] == 1]


@pytest.mark.slow
def test_attribution_mass_concentrates_in_the_lesion_far_more_than_chance(demo):
    net, pp, _, test_c, _ = demo
    enrich = []
    for cid in _positives(test_c):
        a = explain(net, test_c.volume(cid), "integrated_gradients", target=1, preprocess=pp, n_steps=16)
        loc = localisation(a, _lesion(test_c.mask(cid)))
        assert 0 <= loc["mass_in_mask"] <= 1 and 0 < loc["chance"] < 0.05
        enrich.append(loc["enrichment"])
    assert len(enrich) >= 3
    assert np.median(enrich) > 3.0, enrich


@pytest.mark.slow
def test_maps_decorrelate_when_weights_are_randomised(demo):
    net, pp, _, test_c, _ = demo
    vol = test_c.volume(_positives(test_c)[0])
    df = randomisation_check(net, vol, "gradcam", target=1, preprocess=pp, progress=False)
    assert df["layer"].iloc[0] == "(original)" and df["spearman_abs"].iloc[0] == pytest.approx(1.0)
    assert df["layer"].iloc[1] == "classifier"
    last = df.iloc[-1]
    assert last["ssim"] < 0.6 and abs(last["spearman_abs"]) < 0.5, df
    before = {k: v.clone() for k, v in net.state_dict().items()}
    randomisation_check(net, vol, "saliency", target=1, preprocess=pp, progress=False, layers=["classifier"])
    assert all((before[k] == v).all() for k, v in net.state_dict().items())  # the model is untouched


def test_deletion_of_the_most_attributed_voxels_hurts_more_than_random_deletion(trained, synthetic):
    import dataclasses

    from medwb.models import Preprocess

    net, _ = trained
    pp = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(48, 48, 48))
    a = explain(net, synthetic[0][41], "integrated_gradients", target=1, preprocess=pp, n_steps=16)
    curves = deletion_insertion(net, a, steps=10)
    assert set(curves["curve"]) == {"deletion", "insertion"} and len(curves) == 22
    rng = np.random.default_rng(0)
    shuffled = a.model_space.with_array(rng.random(a.model_space.shape).astype(np.float32))
    random_map = dataclasses.replace(a, model_space=shuffled)
    rand = deletion_insertion(net, random_map, steps=10)
    auc = curves.groupby("curve")["auc"].first()
    auc_rand = rand.groupby("curve")["auc"].first()
    assert auc["deletion"] < auc_rand["deletion"]
    assert auc["insertion"] > auc_rand["insertion"]


def test_infidelity_and_sensitivity_are_finite_and_non_negative(trained, synthetic):
    from medwb.models import Preprocess

    net, _ = trained
    pp = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(48, 48, 48))
    a = explain(net, synthetic[0][41], "saliency", target=1, preprocess=pp)
    inf = infidelity(net, a, n_perturb_samples=4)
    sens = sensitivity(net, a, n_perturb_samples=2)
    assert np.isfinite(inf) and inf >= 0
    assert np.isfinite(sens) and sens >= 0


def test_figures_are_returned_not_shown(trained, synthetic):
    import matplotlib

    matplotlib.use("Agg")
    from medwb.models import Preprocess

    net, _ = trained
    pp = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(48, 48, 48))
    vols, _, masks = synthetic
    a = explain(net, vols[41], "gradcam", target=1, preprocess=pp)
    figs = [plot_attribution(a, vols[41], mask=masks[41]), plot_curves(deletion_insertion(net, a, steps=4)),
            plot_randomisation(randomisation_check(net, vols[41], "gradcam", 1, preprocess=pp, progress=False,
                                                   layers=["classifier", "features.conv4.0"]))]
    assert all(len(f.axes) >= 1 for f in figs)


def test_localisation_table_has_one_row_per_case_and_method(trained, synthetic):
    from medwb.models import Preprocess

    net, _ = trained
    vols, labels, masks = synthetic

    class Mini:
        case_ids = ["a", "b"]

        def volume(self, cid):
            return vols[41] if cid == "a" else vols[43]

        def mask(self, cid):
            return masks[41] if cid == "a" else masks[43]

    pp = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(48, 48, 48))
    t = localisation_table(net, Mini(), methods=("saliency", "gradcam"), preprocess=pp, progress=False)
    assert len(t) == 4 and set(t["method"]) == {"saliency", "gradcam"}
    assert {"mass_in_mask", "chance", "enrichment", "pointing_hit"} <= set(t.columns)


def test_compare_maps_is_one_for_identical_and_low_for_independent_maps():
    rng = np.random.default_rng(0)
    a = rng.random((16, 16, 16))
    same = compare_maps(a, a)
    assert same["spearman"] == pytest.approx(1.0) and same["ssim"] == pytest.approx(1.0)
    other = compare_maps(a, rng.random((16, 16, 16)))
    assert abs(other["spearman"]) < 0.1 and other["ssim"] < 0.2


def test_localisation_counts_positive_mass_inside_the_mask():
    from medwb.attribution import Attribution

    arr = np.zeros((4, 4, 4), np.float32)
    arr[0, 0, 0], arr[3, 3, 3], arr[1, 1, 1] = 3.0, 1.0, -5.0
    a = Attribution(arr, np.eye(4), "saliency", 1)
    mask = np.zeros((4, 4, 4), bool)
    mask[0, 0, 0] = True
    loc = localisation(a, mask)
    assert loc["mass_in_mask"] == pytest.approx(0.75) and loc["chance"] == pytest.approx(1 / 64)
    assert loc["pointing_hit"] == 1.0
    mask2 = np.zeros((4, 4, 4), bool)
    mask2[1, 0, 0] = True
    assert not pointing_game(a, mask2) and pointing_game(a, mask2, tolerance_mm=1.0)
