"""Shape features on hand-computable masks: voxelised spheres and boxes, isotropic and not."""

from __future__ import annotations

import numpy as np
import pytest

from medwb.features import FeatureInputError, shape_features
from medwb.volume import Volume


def _sphere(radius_mm, spacing):
    n = [int(2 * radius_mm / s) + 6 for s in spacing]
    grids = np.meshgrid(*[(np.arange(k) - (k - 1) / 2) * s for k, s in zip(n, spacing, strict=True)], indexing="ij")
    inside = sum(g**2 for g in grids) <= radius_mm**2
    return Volume.from_geometry(inside.astype(np.uint8), spacing=spacing)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 1.0, 1.0), (1.5, 0.75, 1.0)])
def test_voxelised_sphere_volume_is_within_two_percent_of_four_thirds_pi_r3(spacing):
    f = shape_features(_sphere(10.0, spacing))
    true = 4 / 3 * np.pi * 10.0**3
    assert f["shape_volume_mm3"] == pytest.approx(true, rel=0.02)
    assert f["shape_mesh_volume_mm3"] == pytest.approx(true, rel=0.02)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 1.0, 1.0)])
def test_sphere_surface_and_sphericity_reflect_voxel_staircase(spacing):
    # marching cubes on a binary mask overestimates a sphere's area by ~8% (1 mm voxels) to ~14%
    # (2 mm slices): the staircase does not vanish with resolution, so sphericity sits near 0.9
    f = shape_features(_sphere(10.0, spacing))
    area = 4 * np.pi * 10.0**2
    assert area < f["shape_surface_mm2"] < 1.16 * area
    assert 0.85 < f["shape_sphericity"] <= 1.0
    assert f["shape_elongation"] == pytest.approx(1.0, abs=0.02)
    assert f["shape_flatness"] == pytest.approx(1.0, abs=0.02)
    assert f["shape_major_axis_mm"] == pytest.approx(4 * np.sqrt(10.0**2 / 5), rel=0.03)  # 4·sqrt(r²/5)


def test_box_volume_surface_and_axes_are_exact_in_mm_with_anisotropic_spacing():
    m = np.zeros((10, 20, 20), np.uint8)
    m[2:6, 4:14, 5:10] = 1  # 4 slices × 10 rows × 5 columns
    v = Volume.from_geometry(m, spacing=(3.0, 0.5, 2.0))  # box 12 × 5 × 10 mm
    f = shape_features(v)
    assert f["shape_volume_mm3"] == pytest.approx(600.0)
    # elongation from PCA of voxel centres: variances (n²-1)/12·s² per axis
    var = sorted([(4**2 - 1) / 12 * 9, (10**2 - 1) / 12 * 0.25, (5**2 - 1) / 12 * 4], reverse=True)
    assert f["shape_elongation"] == pytest.approx(np.sqrt(var[1] / var[0]), rel=1e-6)
    assert f["shape_flatness"] == pytest.approx(np.sqrt(var[2] / var[0]), rel=1e-6)
    # marching cubes cuts the box's corners; its area is a little under the box's 2(ab+bc+ca)
    assert 0.8 * 2 * (12 * 5 + 5 * 10 + 10 * 12) < f["shape_surface_mm2"] < 2 * (12 * 5 + 5 * 10 + 10 * 12)


def test_oblique_grid_gives_the_same_volume_and_area_as_the_axis_aligned_one():
    v = _sphere(8.0, (1.0, 1.0, 1.0))
    c, s = np.cos(0.4), np.sin(0.4)
    rot = np.array([[1, 0, 0], [0, c, -s], [0, s, c]]) @ np.eye(3)
    w = Volume.from_geometry(v.array, spacing=(1.0, 1.0, 1.0), direction=rot)
    a, b = shape_features(v), shape_features(w)
    assert b["shape_volume_mm3"] == pytest.approx(a["shape_volume_mm3"])
    assert b["shape_surface_mm2"] == pytest.approx(a["shape_surface_mm2"], rel=1e-9)


def test_empty_mask_is_an_error_that_says_so():
    with pytest.raises(FeatureInputError, match="mask is empty"):
        shape_features(Volume.from_geometry(np.zeros((4, 4, 4), np.uint8)))


def test_mask_on_another_grid_names_both_shapes():
    img = Volume.from_geometry(np.zeros((4, 5, 6)))
    msk = Volume.from_geometry(np.ones((4, 5, 7), np.uint8))
    with pytest.raises(FeatureInputError, match=r"(?s)image shape \(4, 5, 6\).*mask shape \(4, 5, 7\).*resample_like"):
        shape_features(msk, img)
