"""On the demo's truth the evaluation metrics must rank: the true lesion mask > a good attribution > a map of
brightness (the windowed CT, no model) > a random map. If a metric cannot tell the lesion from the skull, it
cannot check an explanation."""

import numpy as np
import pandas as pd
import pytest

from medwb.attribution import deletion_insertion, explain, localisation
from medwb.demo import LABEL_LESION
from medwb.masks import mask_on_grid

#: the good attribution: occlusion with an in-distribution reference, fine enough for the demo's lesions
GOOD = dict(method="occlusion", window=12, stride=6, baseline="blurred")
N_CASES = 3


@pytest.fixture(scope="module")
def scores(demo):
    net, pp, _, test_c, _ = demo
    cases = [c for c in test_c.case_ids if test_c.row(c)["label"] == 1][:N_CASES]
    rows = []
    for cid in cases:
        vol, truth = test_c.volume(cid), test_c.mask(cid)
        lesion = truth.with_array((truth.array == LABEL_LESION).astype(np.uint8))
        good = explain(net, vol, target=1, preprocess=pp, **GOOD)
        rng = np.random.default_rng(0)
        maps = {
            "truth": good.with_maps(lesion.array, mask_on_grid(lesion, good.model_input).array, method="truth"),
            "good": good,
            "brightness": good.with_maps(pp.intensity(vol.array), good.model_input.array, method="brightness"),
            "random": good.with_maps(rng.random(vol.shape), rng.random(good.model_input.shape), method="random"),
        }
        for name, a in maps.items():
            loc = localisation(a, lesion)
            curves = deletion_insertion(net, a, steps=10, baseline="blurred", score="probability")
            imputed = deletion_insertion(net, a, steps=10, removal="impute", score="probability")
            d = imputed[imputed["curve"] == "deletion"]["score"]
            rows.append({"case": cid, "map": name, "auc": loc["auc"], "mass": loc["mass_in_mask"],
                         "deletion": curves.groupby("curve")["auc"].first()["deletion"],
                         "deletion_impute": imputed.groupby("curve")["auc"].first()["deletion"],
                         "p": d.iloc[0], "p_impute_10": d.iloc[1],
                         "p_blurred_10": curves[curves["curve"] == "deletion"]["score"].iloc[1]})
    return pd.DataFrame(rows).groupby("map").mean(numeric_only=True)


@pytest.mark.slow
def test_localisation_auc_ranks_truth_good_map_brightness_random(scores):
    auc = scores["auc"]
    assert auc["truth"] == pytest.approx(1.0)
    assert auc["truth"] > auc["good"] > auc["brightness"] > auc["random"], scores
    assert auc["random"] == pytest.approx(0.5, abs=0.02)


@pytest.mark.slow
def test_mass_in_lesion_ranks_truth_good_map_brightness_random(scores):
    mass = scores["mass"]
    assert mass["truth"] == pytest.approx(1.0)
    assert mass["truth"] > mass["good"] > mass["brightness"] > mass["random"], scores


@pytest.mark.slow
def test_deletion_with_the_in_distribution_reference_puts_the_good_map_before_brightness(scores):
    # lower = removing what the map points at hurts the prediction more. Deletion ranks the good map above the
    # brightness and random maps; it does NOT reliably rank the true lesion mask first (on the course model,
    # bench/results/explain_quality.json, removing the mask's voxels barely moves p: deletion AUC 0.74 against
    # 0.25 for brightness), which is why the ranking tests above use the localisation metrics.
    dele = scores["deletion"]
    assert dele["good"] < dele["brightness"], scores
    assert dele["good"] < dele["random"], scores


@pytest.mark.slow
def test_imputed_removal_stays_in_distribution_and_still_puts_the_good_map_first(scores):
    # ROAD's noisy linear imputation (removal="impute"): deleting 10 % of the voxels at random leaves the answer
    # where it was (measured: within 0.02 on all three cases; "blurred" moves it by 0.12-0.21 here, and raises
    # it from 0.55 to 0.88 on the course model), so a falling curve means information was removed, not that
    # the image left the training distribution.
    drift_impute = abs(scores.loc["random", "p_impute_10"] - scores.loc["random", "p"])
    drift_blurred = abs(scores.loc["random", "p_blurred_10"] - scores.loc["random", "p"])
    assert drift_impute < 0.05 and drift_impute < drift_blurred / 2, scores
    dele = scores["deletion_impute"]
    assert dele["good"] < dele["brightness"] and dele["good"] < dele["random"], scores
    # Not asserted, because it does not hold with any removal we measured: the true mask first. Once the lesion
    # is filled in, the model keeps its lesion-free answer (p 0.1-0.3) while the good map also removes the rest
    # of what the model uses and drives p to 0 (here, impute: truth 0.30, good 0.02, brightness 0.46, random
    # 0.33; bench/results/explain_quality.json "deletion_by_removal" has the course model's figures).
