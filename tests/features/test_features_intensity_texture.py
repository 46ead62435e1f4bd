"""First-order and GLCM features on cases whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from medwb.features import DIRECTIONS_13, glcm_3d, intensity_features, texture_features
from medwb.features.intensity import discretise
from medwb.volume import Volume


def test_first_order_statistics_equal_numpy_and_scipy():
    rng = np.random.default_rng(0)
    arr = rng.gamma(2.0, 20.0, (12, 12, 12))
    m = np.zeros(arr.shape, bool)
    m[2:10, 3:9, 1:11] = True
    f = intensity_features(Volume.from_geometry(arr), m)
    x = arr[m]
    assert f["intensity_mean"] == pytest.approx(x.mean())
    assert f["intensity_sd"] == pytest.approx(x.std())
    assert f["intensity_p90"] == pytest.approx(np.percentile(x, 90))
    assert f["intensity_skewness"] == pytest.approx(stats.skew(x))
    assert f["intensity_kurtosis"] == pytest.approx(stats.kurtosis(x))
    assert f["intensity_skewness"] > 0.5  # a gamma(2) sample is right-skewed


def test_entropy_of_two_equal_levels_is_one_bit_and_uniform_is_zero():
    arr = np.zeros((2, 4, 4))
    arr[1] = 100.0
    assert intensity_features(Volume.from_geometry(arr), np.ones(arr.shape, bool))["intensity_entropy"] == pytest.approx(1.0)
    flat = intensity_features(Volume.from_geometry(np.full((3, 3, 3), 7.0)), np.ones((3, 3, 3), bool))
    assert flat["intensity_entropy"] == 0.0 and flat["intensity_sd"] == 0.0


def test_uniform_region_has_zero_contrast_and_unit_homogeneity_and_energy():
    arr = np.full((6, 6, 6), 40.0)
    arr[0] = 900.0  # outside the mask: must not leak into the GLCM
    m = np.zeros(arr.shape, bool)
    m[1:5, 1:5, 1:5] = True
    f = texture_features(Volume.from_geometry(arr), m)
    assert f["glcm_contrast"] == 0.0
    assert f["glcm_homogeneity"] == 1.0 and f["glcm_energy"] == 1.0


def test_checkerboard_has_maximal_contrast_along_axes():
    z, y, x = np.indices((6, 6, 6))
    arr = ((z + y + x) % 2).astype(float)
    lev = discretise(arr.ravel(), bin_count=2).reshape(arr.shape)
    p = glcm_3d(lev, np.ones(arr.shape, bool), 2)
    axis = [DIRECTIONS_13.index(d) for d in [(0, 0, 1), (0, 1, 0), (1, 0, 0)]]
    for k in axis:  # every axis neighbour differs: all counts off the diagonal
        assert p[0, 0, 0, k] == 0 and p[1, 1, 0, k] == 0 and p[0, 1, 0, k] > 0
    f = texture_features(Volume.from_geometry(arr), np.ones(arr.shape, bool), bin_count=2)
    assert 0 < f["glcm_contrast"] < 1 and f["glcm_correlation"] < 0


def test_in_plane_directions_equal_skimage_graycomatrix_summed_over_slices():
    from skimage.feature import graycomatrix

    rng = np.random.default_rng(1)
    lev = rng.integers(0, 5, (4, 9, 9))
    ours = glcm_3d(lev, np.ones(lev.shape, bool), 5, directions=[(0, 0, 1), (0, 1, 0)])
    ref = sum(graycomatrix(lev[k].astype(np.uint8), [1], [0, -np.pi / 2], levels=5, symmetric=True)
              for k in range(4))
    np.testing.assert_array_equal(ours[:, :, 0, 0], ref[:, :, 0, 0])
    np.testing.assert_array_equal(ours[:, :, 0, 1], ref[:, :, 0, 1])


def test_thirteen_directions_cover_the_26_neighbourhood_once():
    both = set(DIRECTIONS_13) | {tuple(-c for c in d) for d in DIRECTIONS_13}
    assert len(DIRECTIONS_13) == 13 and len(both) == 26 and (0, 0, 0) not in both


def test_fixed_bin_width_discretisation_uses_multiples_of_the_width():
    lev = discretise(np.array([-10.0, 0.0, 24.9, 25.0, 60.0]), bin_width=25)
    assert lev.tolist() == [0, 1, 1, 2, 3]
