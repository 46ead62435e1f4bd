"""load_series against SimpleITK: voxels and world geometry on written series and pydicom's files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from medwb import Volume
from medwb.export.series import write_multiframe, write_series
from medwb.io.dicom import load_series
from medwb.io.load import load_volume


def test_axial_series_matches_sitk_and_source(kit, tmp_path, ct_volume):
    write_series(ct_volume, tmp_path)
    v = load_series(tmp_path)
    kit.assert_same_as_sitk(v, tmp_path)
    assert np.array_equal(v.array, ct_volume.array) and v.array.dtype == np.int16
    np.testing.assert_allclose(v.affine, ct_volume.affine, atol=1e-5)


def test_oblique_series_matches_sitk(kit, tmp_path):
    src = kit.make_volume(direction=kit.oblique_direction(25.0))
    write_series(src, tmp_path)
    v = load_series(tmp_path)
    assert v.is_oblique
    kit.assert_same_as_sitk(v, tmp_path)
    np.testing.assert_allclose(v.affine, src.affine, atol=1e-5)


def test_slices_stored_head_to_feet_load_in_spatial_order(kit, tmp_path, ct_volume):
    n = ct_volume.shape[0]
    write_series(ct_volume, tmp_path, instance_order=list(range(n))[::-1])
    v = load_series(tmp_path)
    assert np.array_equal(v.array, ct_volume.array)
    kit.assert_same_as_sitk(v, tmp_path)


def test_shuffled_files_load_in_spatial_order(kit, tmp_path, ct_volume):
    order = np.random.default_rng(3).permutation(ct_volume.shape[0])
    files = write_series(ct_volume, tmp_path, instance_order=order)
    v = load_series(files[::-1])  # neither file names nor InstanceNumbers follow position
    assert np.array_equal(v.array, ct_volume.array)
    np.testing.assert_allclose(v.affine, ct_volume.affine, atol=1e-5)
    kit.assert_same_as_sitk(v, tmp_path)


def test_slice_axis_against_the_normal_is_kept(kit, tmp_path):
    flip = np.diag([-1.0, 1.0, 1.0])  # slices step towards the feet: IPP decreases along r x c
    src = kit.make_volume(direction=np.array([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]]) @ flip)
    write_series(src, tmp_path)
    v = load_series(tmp_path)
    kit.assert_same_as_sitk(v, tmp_path)
    # sorted along the normal: same voxels in world space, slice order reversed
    assert np.array_equal(v.array, src.array[::-1])
    np.testing.assert_allclose(v.index_to_world([0, 0, 0]), src.index_to_world([src.shape[0] - 1, 0, 0]), atol=1e-5)


@pytest.mark.parametrize("syntax", ["explicit", "implicit", "rle", "jpeg-ls", "jpeg2000-lossless"])
def test_compressed_series_match_sitk(kit, tmp_path, syntax):
    src = kit.make_volume(shape=(5, 40, 36))
    write_series(src, tmp_path, transfer_syntax=syntax)
    v = load_series(tmp_path)
    assert np.array_equal(v.array, src.array)
    kit.assert_same_as_sitk(v, tmp_path)


def test_rescale_slope_gives_float32_in_world_units(kit, tmp_path):
    src = kit.make_volume(modality="MR").with_array(np.linspace(0, 1.5, 12 * 20 * 16).reshape(12, 20, 16))
    with pytest.warns(UserWarning, match="quantised"):
        write_series(src, tmp_path, modality="MR")
    v = load_series(tmp_path)
    assert v.array.dtype == np.float32
    np.testing.assert_allclose(v.array, src.array, atol=1.5 / 65534)
    kit.assert_same_as_sitk(v, tmp_path)


def test_unsigned_pixels_with_intercept_stay_integer(kit, tmp_path, ct_volume):
    files = write_series(ct_volume.with_array((ct_volume.array + 1024).astype(np.uint16)), tmp_path)
    import pydicom

    for f in files:  # re-label as the common "uint16 + intercept -1024" CT encoding
        ds = pydicom.dcmread(f)
        ds.RescaleIntercept = "-1024"
        ds.save_as(f)
    v = load_series(tmp_path)
    assert v.array.dtype == np.int16
    assert np.array_equal(v.array, ct_volume.array)
    kit.assert_same_as_sitk(v, tmp_path)


@pytest.mark.parametrize(
    "name",
    ["CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
     "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "MR_small_padded.dcm", "MR2_J2KR.dcm",
     "MR-SIEMENS-DICOM-WithOverlays.dcm"],
)
def test_pydicom_single_files_match_sitk(kit, name):
    path = get_testdata_file(name)
    v = load_series(path)
    assert v.shape[0] == 1
    kit.assert_same_as_sitk(v, path, in_plane_only=True)  # one slice: no slice spacing to compare


@pytest.mark.parametrize(
    "name",
    ["emri_small.dcm", "emri_small_RLE.dcm", "emri_small_big_endian.dcm", "emri_small_jpeg_2k_lossless.dcm",
     "emri_small_jpeg_ls_lossless.dcm"],
)
def test_pydicom_multiframe_voxels_match_sitk(kit, name):
    path = get_testdata_file(name)
    with pytest.warns(UserWarning, match="no ImagePositionPatient"):  # these files carry no geometry
        v = load_series(path)
    assert v.shape == (10, 64, 64)
    kit.assert_same_as_sitk(v, path, in_plane_only=True)


@pytest.mark.parametrize("modality", ["CT", "MR"])
def test_enhanced_multiframe_round_trips_and_matches_sitk(kit, tmp_path, modality):
    src = kit.make_volume(direction=kit.oblique_direction(15.0), modality=modality)
    path = write_multiframe(src, tmp_path / "enhanced.dcm")
    v = load_series(path)
    assert np.array_equal(v.array, src.array)
    np.testing.assert_allclose(v.affine, src.affine, atol=1e-5)
    assert v.modality == modality
    array, _ = kit.sitk_read(path)
    assert np.array_equal(array, v.array)


def test_meta_names_the_series_and_never_the_patient(tmp_path, ct_volume):
    write_series(ct_volume, tmp_path, patient_name="DOE^JANE", series_description="head", uid_seed="m")
    v = load_series(tmp_path)
    assert v.meta["series_description"] == "head" and v.meta["modality"] == "CT"
    assert v.meta["series_uid"] and v.meta["study_uid"] and v.meta["frame_of_reference_uid"]
    assert len(v.meta["files"]) == ct_volume.shape[0]
    assert "DOE" not in repr(v.meta)


def test_load_volume_dispatches_folder_files_multiframe_and_nifti(tmp_path, ct_volume):
    files = write_series(ct_volume, tmp_path / "series")
    mf = write_multiframe(ct_volume, tmp_path / "mf.dcm")
    for source in (tmp_path / "series", files, mf):
        assert np.array_equal(load_volume(source).array, ct_volume.array)
    nifti = pytest.importorskip("medwb.io.nifti")
    nifti.save_nifti(ct_volume, tmp_path / "v.nii.gz")
    back = load_volume(tmp_path / "v.nii.gz")
    assert isinstance(back, Volume) and np.array_equal(back.array, ct_volume.array)


def test_load_series_does_not_warn_on_a_clean_series(tmp_path, ct_volume):
    write_series(ct_volume, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_series(tmp_path)


def test_per_slice_rescale_intercepts_are_applied_slice_by_slice(kit, tmp_path, ct_volume):
    import pydicom

    files = write_series(ct_volume, tmp_path)
    for k, f in enumerate(files[::2]):  # every other slice stored with its own offset
        ds = pydicom.dcmread(f)
        shift = 100 * (k + 1)
        ds.PixelData = (ds.pixel_array.astype(np.int32) - shift).astype(np.int16).tobytes()
        ds.RescaleIntercept = str(shift)
        ds.save_as(f)
    v = load_series(tmp_path)
    assert v.array.dtype == np.int16
    assert np.array_equal(v.array, ct_volume.array)
    kit.assert_same_as_sitk(v, tmp_path)
