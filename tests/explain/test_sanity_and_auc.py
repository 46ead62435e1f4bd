"""The randomisation check compares maps on the voxels that matter, sign-invariantly; the localisation AUC
is the voxel-wise ROC AUC (scikit-learn's roc_auc_score is the oracle)."""

import numpy as np
import pytest

from medwb.attribution import Attribution, explain, localisation, localisation_auc, randomisation_check
from medwb.attribution.sanity import compare_maps
from medwb.models import Preprocess
from medwb.volume import Volume

PP = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(48, 48, 48))


def test_a_sign_flipped_identical_map_scores_one():
    rng = np.random.default_rng(0)
    m = np.zeros((16, 16, 16))
    m[4:12, 4:12, 4:12] = rng.normal(size=(8, 8, 8))
    assert compare_maps(m, -m)["spearman_abs"] == pytest.approx(1.0)
    assert compare_maps(m, m)["spearman_abs"] == pytest.approx(1.0)


def test_shared_background_does_not_make_unrelated_maps_look_alike():
    rng = np.random.default_rng(0)
    a, b = np.zeros((16, 16, 16)), np.zeros((16, 16, 16))
    a[6:10, 6:10, 6:10] = rng.random((4, 4, 4)) + 0.1   # 64 voxels of 4096, unrelated values
    b[6:10, 6:10, 6:10] = rng.random((4, 4, 4)) + 0.1
    r = compare_maps(a, b)
    assert r["n_voxels"] == 64 and r["spearman_abs"] < 0.3  # over all voxels the zeros alone give ~1


def test_a_map_that_vanished_counts_as_fully_changed():
    a = np.zeros((8, 8, 8))
    a[2:6, 2:6, 2:6] = np.arange(64).reshape(4, 4, 4) + 1.0
    assert compare_maps(a, np.zeros_like(a))["spearman_abs"] == 0.0


def test_integrated_gradients_decorrelates_once_every_layer_is_random(trained, synthetic):
    net, _ = trained
    df = randomisation_check(net, synthetic[0][41], "integrated_gradients", target=1, preprocess=PP,
                             progress=False, n_steps=16)
    assert df["spearman_abs"].iloc[0] == pytest.approx(1.0)
    end = df["spearman_abs"].iloc[-1]
    assert end < 0.4, df  # 0.80 when the air, where every IG map is 0, was counted as agreement
    assert df["n_voxels"].iloc[-1] < 0.5 * 48**3  # the background was left out


def test_gradcam_randomisation_values_fall_in_zero_to_one_as_documented(trained, synthetic):
    net, _ = trained
    df = randomisation_check(net, synthetic[0][41], "gradcam", target=1, preprocess=PP, progress=False)
    assert df["spearman_abs"].between(0.0, 1.0).all(), df  # was negative (-0.66 on the demo)
    assert df["spearman_abs"].iloc[1:].max() < 0.5, df


def test_localisation_auc_equals_scikit_learns_roc_auc_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    mask = np.zeros((12, 14, 16), bool)
    mask[3:7, 4:9, 5:11] = True
    values = np.round(rng.normal(size=mask.shape) + 1.5 * mask, 1).astype(np.float32)  # many ties
    values[0] = 0.0
    a = Attribution(values, np.eye(4), "saliency", 1)
    expected = roc_auc_score(mask.ravel(), np.clip(values, 0, None).ravel())  # evidence for the target
    assert localisation_auc(a, mask) == pytest.approx(expected, abs=1e-12)
    assert localisation(a, mask)["auc"] == pytest.approx(expected, abs=1e-12)
    head = np.ones(mask.shape, bool)
    head[:, :, :3] = False
    inside = roc_auc_score(mask[head], np.clip(values, 0, None)[head])
    assert localisation_auc(a, mask, within=head) == pytest.approx(inside, abs=1e-12)


def test_localisation_auc_puts_a_mask_volume_on_the_maps_grid():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    grid = Volume.from_geometry(np.zeros((8, 8, 8), np.float32), spacing=2.0)
    fine = np.zeros((16, 16, 16), np.uint8)
    fine[4:10, 4:10, 4:10] = 1  # 1 mm mask, 3 coarse voxels a side
    mask = Volume.from_geometry(fine, spacing=1.0, origin=(-0.5, -0.5, -0.5))
    values = rng.random((8, 8, 8)).astype(np.float32)
    a = Attribution(values, grid.affine, "saliency", 1)
    from medwb.masks import mask_on_grid

    on_grid = mask_on_grid(mask, grid).array != 0
    assert on_grid.sum() == 27
    assert localisation_auc(a, mask) == pytest.approx(roc_auc_score(on_grid.ravel(), values.ravel()))


def test_coarse_gradcam_misses_the_pointing_game_but_ranks_the_lesion_first():
    mask = np.zeros((20, 20, 20), bool)
    mask[8:12, 8:12, 8:12] = True
    z, y, x = np.indices(mask.shape)
    blob = np.exp(-((z - 12) ** 2 + (y - 10) ** 2 + (x - 10) ** 2) / 30)  # peak one voxel off the lesion
    a = Attribution(blob.astype(np.float32), np.eye(4), "gradcam", 1)
    loc = localisation(a, mask)
    assert loc["pointing_hit"] == 0.0 and loc["auc"] > 0.95


def test_localisation_auc_of_a_real_map_is_between_chance_and_one(trained, synthetic):
    net, _ = trained
    vols, _, masks = synthetic
    a = explain(net, vols[41], "gradcam", target=1, preprocess=PP)
    assert 0.5 < localisation_auc(a, masks[41]) <= 1.0
