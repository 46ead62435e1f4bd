"""Deep features come from the penultimate layer; attribution features locate the evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medwb.features import DeepPCA, LayerNotFoundError, attribution_features, deep_features
from medwb.volume import Volume

torch = pytest.importorskip("torch")
nn = torch.nn


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(1, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                         nn.Linear(6, 3), nn.ReLU(), nn.Linear(3, 2))


def test_default_layer_is_the_input_of_the_last_linear():
    net = _net()
    x = np.random.default_rng(0).normal(size=(8, 8, 8)).astype(np.float32)
    df = deep_features(net, {"a": x})
    with torch.no_grad():
        expected = net[:6](torch.as_tensor(x)[None, None]).numpy()[0]
    assert df.columns.tolist() == ["case_id", "deep_0", "deep_1", "deep_2"]
    np.testing.assert_allclose(df.iloc[0, 1:].to_numpy(float), expected, rtol=1e-5)


def test_named_spatial_layer_is_global_average_pooled_and_training_mode_restored():
    net = _net().train()
    vols = {f"c{i}": Volume.from_geometry(np.full((8, 8, 8), float(i))) for i in range(3)}
    df = deep_features(net, vols, layer="1")
    assert df.shape == (3, 7) and net.training
    with torch.no_grad():
        ref = net[:2](torch.full((1, 1, 8, 8, 8), 2.0)).mean(dim=(2, 3, 4)).numpy()[0]
    np.testing.assert_allclose(df.iloc[2, 1:].to_numpy(float), ref, rtol=1e-5)


def test_unknown_layer_lists_the_layers_the_model_has():
    with pytest.raises(LayerNotFoundError, match=r"no layer 'head'.*'0', '1'"):
        deep_features(_net(), {"a": np.zeros((8, 8, 8))}, layer="head")


def test_pca_fitted_on_training_cases_applies_to_new_ones():
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(20, 5)) @ np.diag([5, 1, 0.1, 0.1, 0.1]),
                         columns=[f"deep_{i}" for i in range(5)])
    train.insert(0, "case_id", [f"t{i}" for i in range(20)])
    pca = DeepPCA(2).fit(train)
    assert pca.explained_variance_ratio_[0] > 0.8
    out = pca.transform(train.iloc[:3])
    assert out.columns.tolist() == ["case_id", "deep_pc1", "deep_pc2"]
    with pytest.raises(ValueError, match="needs at least"):
        DeepPCA(30).fit(train)


def test_attribution_inside_the_lesion_scores_full_mass_and_zero_offset():
    arr = np.zeros((10, 10, 10))
    arr[3:6, 3:6, 3:6] = 50.0
    v = Volume.from_geometry(arr, spacing=(2.0, 1.0, 1.0))
    mask = arr > 0
    f = attribution_features(v, mask.astype(float), mask)
    assert f["attr_mass_in_mask"] == 1.0 and f["attr_centroid_distance_mm"] == pytest.approx(0.0, abs=1e-9)
    assert f["attr_weighted_intensity_mean"] == 50.0


def test_attribution_beside_the_lesion_is_measured_in_millimetres():
    arr = np.zeros((10, 10, 10))
    v = Volume.from_geometry(arr, spacing=(2.0, 1.0, 1.0))
    mask = np.zeros(arr.shape, bool)
    mask[2, 5, 5] = True
    att = np.zeros(arr.shape)
    att[5, 5, 5] = 1.0  # three slices away at 2 mm
    att[0, 0, 0] = -5.0  # negative evidence is ignored
    f = attribution_features(v, att, mask)
    assert f["attr_mass_in_mask"] == 0.0
    assert f["attr_centroid_distance_mm"] == pytest.approx(6.0)
    assert f["attr_top_dice"] == 0.0


def test_teaching_net_penultimate_features_from_volumes_with_preprocess():
    models = pytest.importorskip("medwb.models")
    torch.manual_seed(0)
    net = models.TeachingNet3D(width=4)
    rng = np.random.default_rng(0)
    vols = {f"c{i}": Volume.from_geometry(rng.normal(40, 20, (20, 32, 32)).astype(np.float32),
                                          spacing=(2.5, 2.0, 2.0), modality="CT") for i in range(3)}
    pre = models.Preprocess(spacing=3.0, shape=(32, 32, 32))
    df = deep_features(net, vols, preprocess=pre)
    assert df.shape == (3, 1 + 8)  # case_id + 2 × width pooled channels of features.conv4
    x = torch.as_tensor(pre(vols["c1"]).array, dtype=torch.float32)[None, None]
    with torch.no_grad():
        net.eval()
        ref = net.features(x).mean(dim=(2, 3, 4)).numpy()[0]
    np.testing.assert_allclose(df.iloc[1, 1:].to_numpy(float), ref, rtol=1e-4, atol=1e-6)
