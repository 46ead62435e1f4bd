"""Series that do not form a regular grid: each problem gets an error naming files and a fix."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from medwb import Volume
from medwb.export.series import write_series
from medwb.io.dicom import SeriesGeometryError, load_series


def _copy_as_new_instance(src, dst, change_pixels=False):
    ds = pydicom.dcmread(src)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    if change_pixels:
        arr = ds.pixel_array.copy()
        arr[0, 0] += 7
        ds.PixelData = arr.tobytes()
    ds.save_as(dst)


def test_missing_slice_error_names_both_neighbours_and_the_gap(tmp_path, ct_volume):
    files = write_series(ct_volume, tmp_path)
    files[5].unlink()
    with pytest.raises(SeriesGeometryError) as info:
        load_series(tmp_path)
    msg = str(info.value)
    assert files[4].name in msg and files[6].name in msg
    assert "5 mm" in msg and "2.5 mm apart" in msg and 'on_gap="resample"' in msg


def test_missing_slice_resamples_onto_uniform_grid_when_asked(tmp_path, ct_volume):
    files = write_series(ct_volume, tmp_path)
    files[5].unlink()
    with pytest.warns(UserWarning, match="resampled onto a uniform 2.5 mm grid"):
        v = load_series(tmp_path, on_gap="resample")
    assert v.shape == ct_volume.shape and v.array.dtype == np.int16
    np.testing.assert_allclose(v.affine, ct_volume.affine, atol=1e-5)
    keep = [k for k in range(ct_volume.shape[0]) if k != 5]
    assert np.array_equal(v.array[keep], ct_volume.array[keep])
    expected = np.round((ct_volume.array[4].astype(np.float32) + ct_volume.array[6]) / 2)
    assert np.abs(v.array[5] - expected).max() <= 1


def test_identical_duplicate_slice_is_dropped_with_a_warning(tmp_path, ct_volume):
    files = write_series(ct_volume, tmp_path)
    _copy_as_new_instance(files[3], tmp_path / "copy_of_3.dcm")
    with pytest.warns(UserWarning, match="duplicate"):
        v = load_series(tmp_path)
    assert np.array_equal(v.array, ct_volume.array)


def test_differing_slices_at_one_position_raise_naming_both(tmp_path, ct_volume):
    files = write_series(ct_volume, tmp_path)
    _copy_as_new_instance(files[3], tmp_path / "other_echo.dcm", change_pixels=True)
    with pytest.raises(SeriesGeometryError, match="same position") as info:
        load_series(tmp_path)
    assert "other_echo.dcm" in str(info.value) and files[3].name in str(info.value)


def test_localizer_in_the_series_raises_mixed_orientation(tmp_path, ct_volume, kit):
    files = write_series(ct_volume, tmp_path, uid_seed="s")
    series_uid = pydicom.dcmread(files[0]).SeriesInstanceUID
    coronal = np.array([[0.0, 0, 1], [1, 0, 0], [0, -1, 0]])  # columns: slice +y, row -z, column +x
    loc = kit.make_volume(shape=(1, 20, 16), direction=coronal)
    write_series(loc, tmp_path / "loc", series_uid=series_uid, uid_seed="loc")
    with pytest.raises(SeriesGeometryError, match="orientations") as info:
        load_series(tmp_path)
    assert "IM00001.dcm" in str(info.value)


def test_mixed_image_sizes_raise_naming_files(tmp_path, ct_volume, kit):
    files = write_series(ct_volume, tmp_path)
    uid = pydicom.dcmread(files[0]).SeriesInstanceUID
    write_series(kit.make_volume(shape=(1, 10, 16)), tmp_path / "small", series_uid=uid)
    with pytest.raises(SeriesGeometryError, match="mixes image sizes"):
        load_series(tmp_path)


def _tilted(shape=(10, 24, 20), tilt_mm=0.6) -> Volume:
    """Slices 2.5 mm apart along z, each shifted tilt_mm posterior: a gantry-tilted stack."""
    yy = np.arange(shape[1]) * 0.8
    affine = np.eye(4)
    affine[:3, 0] = [0.0, tilt_mm, 2.5]
    affine[:3, 1] = [0.0, 0.8, 0.0]
    affine[:3, 2] = [0.7, 0.0, 0.0]
    affine[:3, 3] = [-10.0, -20.0, 5.0]
    world_y = affine[1, 3] + np.arange(shape[0])[:, None] * tilt_mm + yy[None, :]
    array = np.broadcast_to(np.round(world_y * 10)[:, :, None], shape).astype(np.int16)
    return Volume(np.ascontiguousarray(array), affine, "CT")


def test_gantry_tilt_raises_with_the_angle_and_the_fix(tmp_path):
    write_series(_tilted(), tmp_path)
    with pytest.raises(SeriesGeometryError, match="gantry tilt of about 13.5") as info:
        load_series(tmp_path)
    assert 'on_tilt="resample"' in str(info.value)


def test_gantry_tilt_keep_returns_the_exact_sheared_affine(tmp_path):
    src = _tilted()
    write_series(src, tmp_path)
    v = load_series(tmp_path, on_tilt="keep")
    np.testing.assert_allclose(v.affine, src.affine, atol=1e-5)
    assert np.array_equal(v.array, src.array)


def test_gantry_tilt_resample_puts_voxels_where_the_world_says(tmp_path):
    write_series(_tilted(), tmp_path)
    with pytest.warns(UserWarning, match="gantry tilt"):
        v = load_series(tmp_path, on_tilt="resample")
    d = v.direction
    assert abs(d[:, 0] @ d[:, 1]) < 1e-9  # slice axis now orthogonal to the image plane
    world = v.index_to_world(np.stack(np.meshgrid(*map(np.arange, v.shape), indexing="ij"), -1))
    expected = np.round(world[..., 1] * 10)
    inside = world[..., 1] >= -20.0 + 9 * 0.6 + 0.8  # rows every tilted slice covers (no fill)
    assert np.abs(v.array[inside] - expected[inside]).max() <= 1


def test_files_without_positions_stack_by_instance_number_with_a_warning(tmp_path, ct_volume):
    files = write_series(ct_volume, tmp_path, instance_order=list(range(ct_volume.shape[0]))[::-1])
    for f in files:
        ds = pydicom.dcmread(f)
        del ds.ImagePositionPatient, ds.ImageOrientationPatient
        ds.save_as(f)
    with pytest.warns(UserWarning, match="no ImagePositionPatient"):
        v = load_series(tmp_path)
    assert np.array_equal(v.array, ct_volume.array[::-1])


def test_some_files_without_positions_raise(tmp_path, ct_volume):
    files = write_series(ct_volume, tmp_path)
    ds = pydicom.dcmread(files[2])
    del ds.ImagePositionPatient
    ds.save_as(files[2])
    with pytest.raises(SeriesGeometryError, match="lack ImagePositionPatient") as info:
        load_series(tmp_path)
    assert files[2].name in str(info.value)


def test_single_slice_uses_spacing_between_slices(tmp_path, kit):
    write_series(kit.make_volume(shape=(1, 20, 16)), tmp_path)
    v = load_series(tmp_path)
    assert v.shape == (1, 20, 16) and v.spacing == pytest.approx((2.5, 0.8, 0.7))


def test_copying_a_series_twice_into_one_folder_is_one_duplicate_set(tmp_path, ct_volume):
    write_series(ct_volume, tmp_path / "a", uid_seed="dup")
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # same SOP instances twice
    with pytest.warns(UserWarning, match="duplicate"):
        v = load_series(tmp_path)
    assert np.array_equal(v.array, ct_volume.array)


def test_files_without_positions_still_list_their_files_in_slice_order(tmp_path, ct_volume):
    files = write_series(ct_volume, tmp_path, instance_order=list(range(ct_volume.shape[0]))[::-1])
    for f in files:
        ds = pydicom.dcmread(f)
        del ds.ImagePositionPatient
        ds.save_as(f)
    shuffled = [files[i] for i in np.random.default_rng(0).permutation(len(files))]
    with pytest.warns(UserWarning, match="no ImagePositionPatient"):
        v = load_series(shuffled)
    assert v.meta["files"] == [str(f) for f in files]  # InstanceNumber order
