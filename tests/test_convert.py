"""medwb.convert: voxels and world coordinates survive every hand-over (SimpleITK is the oracle)."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from medwb.convert import (
    from_highdicom,
    from_nibabel,
    from_sitk,
    from_torch,
    to_highdicom,
    to_itk,
    to_nibabel,
    to_sitk,
    to_torch,
)
from medwb.volume import GeometryError, Volume

AXIAL = np.array([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]])
OBLIQUE = Rotation.from_euler("xyz", (25, -10, 40), degrees=True).as_matrix() @ AXIAL
FLIPPED = np.diag([-1.0, 1.0, -1.0]) @ AXIAL  # columns to the right, slices inferior
SHEARED = Volume(np.zeros((2, 2, 2)), [[0.0, 0, 0.8, 1], [0.3, 0.9, 0, 2], [2.5, 0, 0, 3], [0, 0, 0, 1]])


def volume(direction=AXIAL, dtype=np.int16, shape=(5, 6, 7)) -> Volume:
    arr = (np.arange(np.prod(shape)).reshape(shape) % 200 - 50).astype(dtype)
    return Volume.from_geometry(arr, (2.5, 0.7, 0.6), origin=(-100.5, 20.25, 33.0), direction=direction,
                                modality="CT")


def corners(shape):
    return np.array(list(itertools.product(*[(0, n - 1) for n in shape])), dtype=float)


# -- SimpleITK ------------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", [AXIAL, OBLIQUE, FLIPPED], ids=["axial", "oblique", "flipped"])
def test_sitk_places_every_corner_voxel_where_the_volume_does(direction):
    v = volume(direction)
    img = to_sitk(v)
    assert img.GetSize() == v.shape[::-1]
    for idx in corners(v.shape):
        p = img.TransformContinuousIndexToPhysicalPoint(tuple(idx[::-1]))  # SimpleITK: x, y, z
        np.testing.assert_allclose(p, v.index_to_world(idx), atol=1e-9)
        assert img[tuple(int(i) for i in idx[::-1])] == v.array[tuple(int(i) for i in idx)]


def test_sheared_gantry_tilt_geometry_survives_sitk():
    v = SHEARED
    img = to_sitk(v)
    for idx in corners(v.shape):
        p = img.TransformContinuousIndexToPhysicalPoint(tuple(idx[::-1]))
        np.testing.assert_allclose(p, v.index_to_world(idx), atol=1e-9)
    np.testing.assert_allclose(from_sitk(img).affine, v.affine, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.uint16, np.int32, np.float32, np.float64])
def test_sitk_round_trip_is_exact_and_keeps_dtype_and_modality(dtype):
    v = volume(OBLIQUE, dtype)
    back = from_sitk(to_sitk(v))
    assert back.array.dtype == dtype
    np.testing.assert_array_equal(back.array, v.array)
    np.testing.assert_allclose(back.affine, v.affine, atol=1e-12)
    assert back.modality == "CT"


def test_bool_goes_to_sitk_as_uint8():
    v = Volume.from_geometry(np.eye(3, dtype=bool)[None].repeat(2, 0))
    assert to_sitk(v).GetPixelID() == sitk.sitkUInt8


def test_from_sitk_takes_a_2d_image_as_one_slice():
    img = sitk.GetImageFromArray(np.arange(12, dtype=np.float32).reshape(3, 4))
    img.SetSpacing((0.5, 0.25))
    img.SetOrigin((10.0, 20.0))
    v = from_sitk(img)
    assert v.shape == (1, 3, 4)
    assert v.spacing == (1.0, 0.25, 0.5)
    np.testing.assert_allclose(v.index_to_world([0, 2, 3]), [11.5, 20.5, 0.0])


def test_from_sitk_refuses_vector_images_and_says_how_to_pick_one():
    img = sitk.GetImageFromArray(np.zeros((2, 3, 4, 3), np.float32), isVector=True)
    with pytest.raises(GeometryError, match="(?s)3 components.*VectorIndexSelectionCast"):
        from_sitk(img)


# -- nibabel --------------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", [AXIAL, OBLIQUE, FLIPPED], ids=["axial", "oblique", "flipped"])
def test_nibabel_image_is_ras_with_axes_column_row_slice(direction):
    v = volume(direction)
    img = to_nibabel(v)
    data = np.asanyarray(img.dataobj)
    assert img.shape == v.shape[::-1]
    for idx in corners(v.shape):
        ijk = idx[::-1]
        ras = img.affine @ np.r_[ijk, 1.0]
        lps = v.index_to_world(idx)
        np.testing.assert_allclose(ras[:3], [-lps[0], -lps[1], lps[2]], atol=1e-4)
        assert data[tuple(int(i) for i in ijk)] == v.array[tuple(int(i) for i in idx)]
    back = from_nibabel(img)
    np.testing.assert_array_equal(back.array, v.array)
    np.testing.assert_allclose(back.affine, v.affine, atol=1e-4)


def test_nibabel_image_written_to_disk_is_read_by_sitk_on_the_same_grid(tmp_path):
    v = volume(OBLIQUE)
    path = tmp_path / "v.nii"
    to_nibabel(v).to_filename(str(path))
    img = sitk.ReadImage(str(path))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), v.array)
    for idx in corners(v.shape):
        p = img.TransformContinuousIndexToPhysicalPoint(tuple(idx[::-1]))
        np.testing.assert_allclose(p, v.index_to_world(idx), atol=1e-4)


# -- torch ----------------------------------------------------------------------------------------
def test_torch_tensor_is_n_c_slice_row_column():
    import torch

    v = volume()
    t = to_torch(v)
    assert t.shape == (1, 1, *v.shape) and t.dtype == torch.float32
    assert t[0, 0, 4, 5, 6].item() == float(v.array[4, 5, 6])
    assert to_torch(v, add_batch_channel=False, dtype=torch.int16).shape == v.shape
    assert to_torch(v, device="cpu").device.type == "cpu"


def test_from_torch_restores_the_grid_and_refuses_other_shapes():
    import torch

    v = volume(OBLIQUE)
    back = from_torch(to_torch(v) * 2, like=v, description="doubled")
    assert back.same_grid(v, atol=0) and back.modality == "CT" and back.meta["description"] == "doubled"
    np.testing.assert_array_equal(back.array, v.array.astype(np.float32) * 2)
    assert from_torch(torch.zeros(v.shape, dtype=torch.bfloat16), like=v).array.dtype == np.float32
    with pytest.raises(GeometryError, match=r"\(1, 2, 5, 6, 7\).*\(5, 6, 7\)"):
        from_torch(torch.zeros(1, 2, 5, 6, 7), like=v)


def test_uint16_goes_to_torch_without_wrapping():
    v = Volume.from_geometry(np.array([[[65535]]], np.uint16))
    assert to_torch(v).item() == 65535.0


# -- highdicom ------------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", [AXIAL, OBLIQUE, FLIPPED], ids=["axial", "oblique", "flipped"])
def test_highdicom_volume_maps_indices_to_the_same_lps_points(direction):
    v = volume(direction)
    v.meta["frame_of_reference_uid"] = "1.2.826.0.1.3680043.8.498.1"
    hv = to_highdicom(v)
    assert hv.spatial_shape == v.shape
    np.testing.assert_allclose(hv.map_indices_to_reference(corners(v.shape)),
                               v.index_to_world(corners(v.shape)), atol=1e-9)
    assert hv.spacing == pytest.approx(v.spacing)
    back = from_highdicom(hv, modality="CT")
    assert back.same_grid(v, atol=1e-12) and back.meta["frame_of_reference_uid"] == hv.frame_of_reference_uid
    np.testing.assert_array_equal(back.array, v.array)


def test_highdicom_agrees_with_sitk_through_its_own_converter():
    v = volume(OBLIQUE)
    img = to_highdicom(v).to_simpleitk()  # highdicom's mapping differs in axis order, not in space
    ours = to_sitk(v)
    for idx in corners(v.shape):
        hd_point = img.TransformContinuousIndexToPhysicalPoint(tuple(idx))  # highdicom: x = slice
        ours_point = ours.TransformContinuousIndexToPhysicalPoint(tuple(idx[::-1]))
        np.testing.assert_allclose(hd_point, ours_point, atol=1e-9)


def test_highdicom_refuses_sheared_volumes_with_a_fix():
    with pytest.raises(GeometryError, match="(?s)sheared.*resample"):
        to_highdicom(SHEARED)


def test_from_highdicom_refuses_channels():
    import highdicom

    hv = highdicom.Volume(np.zeros((2, 3, 4, 2)), np.eye(4), coordinate_system="PATIENT",
                          channels={"OpticalPathIdentifier": ["1", "2"]})
    with pytest.raises(GeometryError, match="(?s)channel.*get_channel"):
        from_highdicom(hv)


# -- ITK (optional extra) -------------------------------------------------------------------------
def test_to_itk_without_itk_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "itk", None)  # import itk now fails, installed or not
    with pytest.raises(ImportError, match="pip install itk"):
        to_itk(volume())


def test_to_itk_places_corners_like_sitk():
    itk = pytest.importorskip("itk", reason="ITK Python is an optional extra (pip install itk)")
    v = volume(OBLIQUE)
    img = to_itk(v)
    for idx in corners(v.shape):
        p = img.TransformContinuousIndexToPhysicalPoint([float(i) for i in idx[::-1]])
        np.testing.assert_allclose(list(p), v.index_to_world(idx), atol=1e-6)
    np.testing.assert_array_equal(itk.array_from_image(img), v.array)


# -- round trips through every library --------------------------------------------------------------
def test_round_trips_through_every_library_keep_the_grid():
    from medwb.convert import from_highdicom, from_nibabel, from_sitk, from_torch
    from medwb.transforms import crop_or_pad, reorient, resample, resample_like

    v = volume(OBLIQUE)
    assert from_sitk(to_sitk(v)).same_grid(v)
    assert from_nibabel(to_nibabel(v)).same_grid(v)
    assert from_highdicom(to_highdicom(v)).same_grid(v)
    assert from_torch(to_torch(v), like=v).same_grid(v)
    assert resample(v, 1.0).spacing == pytest.approx((1.0, 1.0, 1.0))
    assert resample_like(v, reorient(v), order=0).same_grid(reorient(v))
    assert crop_or_pad(v, (3, 3, 3)).shape == (3, 3, 3)


def test_worked_example_in_docs_geometry_holds():
    affine = [[0.0, 0.0, 0.6, -100.0], [0.0, 0.8, 0.0, -120.0], [2.5, 0.0, 0.0, 50.0], [0, 0, 0, 1]]
    v = Volume(np.zeros((3, 256, 320), np.int16), affine, "CT")
    v.array[2, 10, 20] = 7
    assert v.spacing == pytest.approx((2.5, 0.8, 0.6))
    np.testing.assert_allclose(v.index_to_world([2, 10, 20]), [-88, -112, 55])
    img = to_sitk(v)
    assert img.GetSize() == (320, 256, 3) and img.GetSpacing() == pytest.approx((0.6, 0.8, 2.5))
    assert img.GetDirection() == (1, 0, 0, 0, 1, 0, 0, 0, 1) and img[20, 10, 2] == 7
    np.testing.assert_allclose(img.TransformIndexToPhysicalPoint((20, 10, 2)), [-88, -112, 55])
    nii = to_nibabel(v)
    np.testing.assert_allclose(nii.affine[:3], [[-0.6, 0, 0, 100], [0, -0.8, 0, 120], [0, 0, 2.5, 50]],
                               atol=1e-6)
    assert np.asanyarray(nii.dataobj)[20, 10, 2] == 7
    np.testing.assert_allclose(nii.affine @ [20, 10, 2, 1], [88, 112, 55, 1], atol=1e-5)
    assert to_torch(v)[0, 0, 2, 10, 20].item() == 7
    hv = to_highdicom(v)
    assert hv.array[2, 10, 20] == 7
    np.testing.assert_allclose(hv.affine, v.affine)
