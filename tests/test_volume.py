"""medwb.Volume: the geometry convention (checked against DICOM's equation and SimpleITK), windows, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from medwb.volume import WINDOW_PRESETS, GeometryError, Volume

AXIAL = np.array([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]])


def dicom_series_geometry(iop, pixel_spacing, ipp0, slice_step):
    """The affine DESIGN.md prescribes for a DICOM series, built from raw attributes."""
    r, c = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    affine = np.eye(4)
    affine[:3, 2] = r * pixel_spacing[1]  # along a row: column index increases
    affine[:3, 1] = c * pixel_spacing[0]  # down a column: row index increases
    affine[:3, 0] = np.cross(r, c) * slice_step
    affine[:3, 3] = ipp0
    return affine


OBLIQUE_IOP = np.r_[Rotation.from_euler("zyx", (20, -12, 9), degrees=True).as_matrix()[:, :2].T.ravel()]


def test_affine_reproduces_the_dicom_pixel_position_equation():
    iop, ps, ipp0, step = OBLIQUE_IOP, (0.7, 0.6), np.array([-120.0, 80.5, 33.0]), 2.5
    v = Volume(np.zeros((4, 5, 6)), dicom_series_geometry(iop, ps, ipp0, step))
    r, c = iop[:3], iop[3:]
    n = np.cross(r, c)
    for s, i, j in itertools.product(range(4), range(5), range(6)):  # i row, j column (PS3.3 C.7.6.2.1.1)
        expected = ipp0 + s * step * n + r * ps[1] * j + c * ps[0] * i
        np.testing.assert_allclose(v.index_to_world([s, i, j]), expected, atol=1e-9)
    assert v.spacing == pytest.approx((2.5, 0.7, 0.6))


@pytest.mark.parametrize("iop", [(1, 0, 0, 0, 1, 0), (0, 1, 0, 0, 0, -1), tuple(OBLIQUE_IOP)],
                         ids=["axial", "sagittal", "oblique"])
def test_index_to_world_matches_simpleitk_for_the_same_series(iop):
    ps, ipp0, step = (0.8, 0.5), (10.0, -20.0, 30.0), 3.0
    v = Volume(np.zeros((3, 4, 5), np.int16), dicom_series_geometry(iop, ps, ipp0, step))
    r, c = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    img = sitk.Image(5, 4, 3, sitk.sitkInt16)  # x, y, z = column, row, slice
    img.SetSpacing((ps[1], ps[0], step))
    img.SetOrigin(ipp0)
    img.SetDirection(tuple(np.column_stack([r, c, np.cross(r, c)]).ravel()))
    for idx in itertools.product((0, 2), (0, 3), (0, 4)):
        expected = img.TransformIndexToPhysicalPoint(tuple(int(i) for i in idx[::-1]))
        np.testing.assert_allclose(v.index_to_world(idx), expected, atol=1e-9)
    assert v.spacing == pytest.approx(img.GetSpacing()[::-1])
    assert v.origin == pytest.approx(img.GetOrigin())
    np.testing.assert_allclose(v.direction, np.array(img.GetDirection()).reshape(3, 3)[:, ::-1], atol=1e-12)


def test_world_to_index_inverts_index_to_world_on_an_oblique_grid():
    d = Rotation.from_euler("xyz", (30, 40, 50), degrees=True).as_matrix() @ AXIAL
    v = Volume.from_geometry(np.zeros((3, 3, 3)), (2.0, 0.5, 0.75), origin=(1, 2, 3), direction=d)
    idx = np.random.default_rng(0).uniform(-2, 5, size=(50, 3))
    np.testing.assert_allclose(v.world_to_index(v.index_to_world(idx)), idx, atol=1e-10)
    assert v.is_oblique


def test_default_geometry_is_an_axial_stack():
    v = Volume.from_geometry(np.zeros((4, 5, 6)), spacing=(2.0, 0.5, 0.25), origin=(1, 2, 3))
    np.testing.assert_allclose(v.index_to_world([1, 0, 0]), [1, 2, 5])  # next slice: superior
    np.testing.assert_allclose(v.index_to_world([0, 1, 0]), [1, 2.5, 3])  # next row: posterior
    np.testing.assert_allclose(v.index_to_world([0, 0, 1]), [1.25, 2, 3])  # next column: patient left
    assert not v.is_oblique
    np.testing.assert_allclose(v.center_world(), [1 + 2.5 * 0.25, 2 + 2 * 0.5, 3 + 1.5 * 2.0])


def test_isotropic_spacing_may_be_one_number():
    assert Volume.from_geometry(np.zeros((2, 2, 2)), 1.5).spacing == (1.5, 1.5, 1.5)


def test_same_grid_and_with_array_keep_geometry():
    v = Volume.from_geometry(np.zeros((2, 3, 4), np.int16), (1.0, 2.0, 3.0), modality="CT", meta={"a": 1})
    m = v.with_array(np.ones((2, 3, 4), np.uint8), kind="mask")
    assert m.same_grid(v) and m.modality == "CT" and m.meta == {"a": 1, "kind": "mask"}
    moved = Volume(v.array, v.affine.copy())
    moved.affine[0, 3] += 0.01
    assert not moved.same_grid(v)
    c = v.copy()
    c.array[0, 0, 0] = 5
    assert v.array[0, 0, 0] == 0


# -- windows -------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", list(WINDOW_PRESETS))
def test_each_preset_maps_its_centre_to_half_and_its_edges_to_0_and_1(preset):
    c, w = WINDOW_PRESETS[preset]
    v = Volume.from_geometry(np.array([[[c - w / 2 - 10, c, c + w / 2 + 10]]], np.float32))
    out = v.window(preset)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [0.0, 0.5, 1.0], atol=1e-6)


def test_explicit_center_and_width_override_the_preset():
    v = Volume.from_geometry(np.array([[[0, 50, 100]]], np.int16))
    np.testing.assert_allclose(v.window(center=50, width=100).ravel(), [0.0, 0.5, 1.0])
    assert WINDOW_PRESETS["brain"] == (40.0, 80.0) and WINDOW_PRESETS["bone"] == (600.0, 2800.0)


def test_window_errors_name_the_value():
    v = Volume.from_geometry(np.zeros((1, 1, 1)))
    with pytest.raises(KeyError, match="'liver'.*brain.*lung"):
        v.window("liver")
    with pytest.raises(ValueError, match="-5"):
        v.window(center=0, width=-5)


# -- bad input -----------------------------------------------------------------------------------
def test_bad_arrays_and_affines_are_refused_with_the_value():
    with pytest.raises(GeometryError, match=r"(?s)\(4, 5\).*array\[None\]"):
        Volume(np.zeros((4, 5)), np.eye(4))
    with pytest.raises(GeometryError, match=r"\(3, 3\)"):
        Volume(np.zeros((2, 2, 2)), np.eye(3))
    with pytest.raises(GeometryError, match="singular"):
        Volume(np.zeros((2, 2, 2)), np.diag([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(GeometryError, match="non-finite"):
        Volume(np.zeros((2, 2, 2)), np.diag([1.0, np.nan, 1.0, 1.0]))
    with pytest.raises(GeometryError, match=r"\[0\.0, 0\.0, 0\.0, 2\.0\]"):
        Volume(np.zeros((2, 2, 2)), np.diag([1.0, 1.0, 1.0, 2.0]))


def test_bad_geometry_arguments_name_the_value():
    arr = np.zeros((2, 2, 2))
    with pytest.raises(GeometryError, match=r"\[1\.0, -2\.0, 1\.0\]"):
        Volume.from_geometry(arr, spacing=(1.0, -2.0, 1.0))
    with pytest.raises(GeometryError, match=r"\[1\.0, 2\.0\]"):
        Volume.from_geometry(arr, origin=(1.0, 2.0))
    with pytest.raises(GeometryError, match="(?s)unit columns.*2\\.0"):
        Volume.from_geometry(arr, direction=np.eye(3) * 2.0)
    with pytest.raises(GeometryError, match=r"needs shape \(2, 2, 2\).*\(3, 3, 3\)"):
        Volume.from_geometry(arr).with_array(np.zeros((3, 3, 3)))


def test_a_3x4_affine_is_completed():
    a = np.eye(4)[:3]
    a[:, 3] = [1, 2, 3]
    assert Volume(np.zeros((1, 1, 1)), a).origin == (1.0, 2.0, 3.0)


def test_repr_shows_modality_shape_spacing_and_origin():
    v = Volume.from_geometry(np.zeros((2, 3, 4), np.int16), (2.0, 1.0, 1.0), modality="CT",
                             meta={"series_description": "HEAD"})
    assert repr(v) == ("Volume(CT, shape=(2, 3, 4), spacing=(2, 1, 1) mm, origin=(0.0, 0.0, 0.0) LPS, "
                       "dtype=int16, 'HEAD')")
