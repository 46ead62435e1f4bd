"""medwb.io.nifti: exact round trips, and agreement with nibabel and SimpleITK on real and made files."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from medwb.convert import from_sitk, to_sitk
from medwb.io.nifti import NiftiOrientationWarning, load_nifti, save_nifti
from medwb.volume import Volume

AXIAL = np.array([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]])
OBLIQUE = Rotation.from_euler("xyz", (-8, 17, 31), degrees=True).as_matrix() @ AXIAL
FLIPPED = np.diag([-1.0, -1.0, 1.0]) @ AXIAL @ np.diag([-1.0, 1.0, 1.0])
MRICRON_T1 = Path("/usr/share/mricron/templates/ch2.nii.gz")  # Debian mricron-data: Colin27 T1


def volume(direction=AXIAL, dtype=np.int16, modality="CT") -> Volume:
    shape = (6, 7, 9)
    arr = (np.arange(np.prod(shape)).reshape(shape) * 7 % 251 - 100).astype(dtype)
    return Volume.from_geometry(arr, (3.0, 0.75, 0.7), origin=(-120.3, 87.1, -512.25), direction=direction,
                                modality=modality)


def corners(shape):
    return np.array(list(itertools.product(*[(0, n - 1) for n in shape])), dtype=float)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.uint16, np.int32, np.int64, np.float32, np.float64])
def test_round_trip_keeps_voxels_dtype_and_world_coordinates(tmp_path, suffix, dtype):
    v = volume(OBLIQUE, dtype)
    back = load_nifti(save_nifti(v, tmp_path / f"v{suffix}"))
    assert back.array.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.array, v.array)
    np.testing.assert_allclose(back.index_to_world(corners(v.shape)), v.index_to_world(corners(v.shape)),
                               atol=1e-4)  # NIfTI-1 stores transforms as float32
    assert back.modality == "CT"


@pytest.mark.parametrize("direction", [AXIAL, OBLIQUE, FLIPPED], ids=["axial", "oblique", "flipped"])
def test_simpleitk_reads_our_file_with_the_same_voxels_and_corner_positions(tmp_path, direction):
    v = volume(direction)
    path = save_nifti(v, tmp_path / "v.nii.gz")
    img = sitk.ReadImage(str(path))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), v.array)
    for idx in corners(v.shape):
        p = img.TransformContinuousIndexToPhysicalPoint(tuple(idx[::-1]))
        np.testing.assert_allclose(p, v.index_to_world(idx), atol=1e-4)


@pytest.mark.parametrize("direction", [AXIAL, OBLIQUE, FLIPPED], ids=["axial", "oblique", "flipped"])
def test_we_read_a_simpleitk_written_file_as_simpleitk_does(tmp_path, direction):
    img = to_sitk(volume(direction, np.float32))
    sitk.WriteImage(img, str(tmp_path / "s.nii.gz"))
    ours = load_nifti(tmp_path / "s.nii.gz")
    theirs = from_sitk(sitk.ReadImage(str(tmp_path / "s.nii.gz")))
    np.testing.assert_array_equal(ours.array, theirs.array)
    np.testing.assert_allclose(ours.affine, theirs.affine, atol=1e-4)


def test_nibabel_sees_the_same_ras_positions(tmp_path):
    v = volume(FLIPPED)
    img = nib.load(str(save_nifti(v, tmp_path / "v.nii")))
    data = np.asanyarray(img.dataobj)
    for idx in corners(v.shape):
        ras = nib.affines.apply_affine(img.affine, idx[::-1])
        lps = v.index_to_world(idx)
        np.testing.assert_allclose(ras, [-lps[0], -lps[1], lps[2]], atol=1e-4)
        assert data[tuple(int(i) for i in idx[::-1])] == v.array[tuple(int(i) for i in idx)]


def test_header_sets_qform_and_sform_with_the_requested_code(tmp_path):
    hdr = nib.load(str(save_nifti(volume(OBLIQUE), tmp_path / "v.nii"))).header
    assert int(hdr["qform_code"]) == 1 and int(hdr["sform_code"]) == 1
    assert hdr.get_xyzt_units()[0] == "mm"
    np.testing.assert_allclose(hdr.get_qform(), hdr.get_sform(), atol=1e-4)
    hdr2 = nib.load(str(save_nifti(volume(), tmp_path / "a.nii", code=2))).header
    assert int(hdr2["qform_code"]) == 2 and int(hdr2["sform_code"]) == 2
    with pytest.raises(ValueError, match="got 7"):
        save_nifti(volume(), tmp_path / "b.nii", code=7)


def test_sheared_affine_goes_to_the_sform_only(tmp_path):
    v = Volume(np.ones((3, 4, 5), np.float32), [[0.0, 0, 0.8, 1], [0.4, 0.9, 0, 2], [2.5, 0, 0, 3], [0, 0, 0, 1]])
    path = save_nifti(v, tmp_path / "tilt.nii.gz")
    hdr = nib.load(str(path)).header
    assert int(hdr["qform_code"]) == 0 and int(hdr["sform_code"]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = load_nifti(path)
    np.testing.assert_allclose(back.affine, v.affine, atol=1e-6)


def _write_with_forms(path, sform, qform, s_code=1, q_code=1):
    img = nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), None)
    img.set_sform(sform, code=s_code)
    img.set_qform(qform, code=q_code)
    img.to_filename(str(path))
    return path


def test_disagreeing_qform_and_sform_warn_and_prefer_chooses(tmp_path):
    sform = np.diag([1.0, 1.0, 2.0, 1.0])
    qform = sform.copy()
    qform[:3, 3] = [10.0, 0.0, 0.0]
    path = _write_with_forms(tmp_path / "d.nii", sform, qform)
    with pytest.warns(NiftiOrientationWarning, match="(?s)disagree.*prefer='qform'"):
        v = load_nifti(path)
    np.testing.assert_allclose(v.origin, [0.0, 0.0, 0.0], atol=1e-6)  # the sform
    with pytest.warns(NiftiOrientationWarning):
        q = load_nifti(path, prefer="qform")
    np.testing.assert_allclose(q.origin, [-10.0, 0.0, 0.0], atol=1e-6)  # RAS x=10 is LPS x=-10
    assert q.meta["nifti_transform"] == "qform"


def test_only_a_qform_is_used_silently(tmp_path):
    qform = np.diag([0.5, 0.5, 3.0, 1.0])
    qform[:3, 3] = [4.0, 5.0, 6.0]
    path = _write_with_forms(tmp_path / "q.nii", np.eye(4), qform, s_code=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = load_nifti(path)
    assert v.spacing == pytest.approx((3.0, 0.5, 0.5)) and v.origin == pytest.approx((-4.0, -5.0, 6.0))


def test_no_orientation_at_all_warns(tmp_path):
    path = _write_with_forms(tmp_path / "n.nii", np.eye(4), np.eye(4), s_code=0, q_code=0)
    with pytest.warns(NiftiOrientationWarning, match="neither qform nor sform"):
        load_nifti(path)


def test_4d_file_needs_a_frame(tmp_path):
    data = np.stack([np.full((3, 4, 5), t, np.int16) for t in range(4)], axis=-1)
    nib.Nifti1Image(data, np.eye(4)).to_filename(str(tmp_path / "f.nii"))
    with pytest.raises(ValueError, match=r"(?s)\(3, 4, 5, 4\).*frame=N"):
        load_nifti(tmp_path / "f.nii")
    v = load_nifti(tmp_path / "f.nii", frame=2)
    assert v.shape == (5, 4, 3) and (v.array == 2).all()
    nib.Nifti1Image(data[..., :1], np.eye(4)).to_filename(str(tmp_path / "one.nii"))
    assert load_nifti(tmp_path / "one.nii").shape == (5, 4, 3)


def test_scaled_integers_load_as_scaled_floats(tmp_path):
    img = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.eye(4))
    img.header.set_slope_inter(0.5, -10.0)
    img.to_filename(str(tmp_path / "s.nii"))
    v = load_nifti(tmp_path / "s.nii")
    assert v.array.dtype.kind == "f"
    assert v.array[0, 0, 0] == -10.0 and v.array[3, 2, 1] == pytest.approx(23 * 0.5 - 10)


def test_big_endian_files_load_as_native_numbers(tmp_path):
    hdr = nib.Nifti1Header(endianness=">")
    hdr.set_data_dtype(np.int16)
    data = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    nib.Nifti1Image(data, np.eye(4), header=hdr).to_filename(str(tmp_path / "be.nii"))
    v = load_nifti(tmp_path / "be.nii")
    assert v.array.dtype.isnative and v.array.dtype == np.int16
    np.testing.assert_array_equal(v.array, data.transpose(2, 1, 0))


def test_bool_masks_are_written_as_uint8_and_modality_defaults_to_ot(tmp_path):
    m = Volume.from_geometry(np.eye(4, dtype=bool)[None].repeat(3, 0))
    back = load_nifti(save_nifti(m, tmp_path / "m.nii.gz"))
    assert back.array.dtype == np.uint8 and back.array.sum() == 12
    nib.Nifti1Image(np.zeros((2, 2, 2), np.uint8), np.eye(4)).to_filename(str(tmp_path / "x.nii"))
    assert load_nifti(tmp_path / "x.nii").modality == "OT"
    assert load_nifti(tmp_path / "x.nii", modality="MR").modality == "MR"


def test_bad_paths_say_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.nii"):
        load_nifti(tmp_path / "nothere.nii")
    with pytest.raises(ValueError, match="'v.nrrd'"):
        save_nifti(volume(), tmp_path / "v.nrrd")
    (tmp_path / "junk.nii").write_bytes(b"not a nifti file at all")
    with pytest.raises(ValueError, match="junk.nii is not a readable NIfTI"):
        load_nifti(tmp_path / "junk.nii")


@pytest.mark.skipif(not MRICRON_T1.exists(),
                    reason=f"{MRICRON_T1} absent: apt-get install mricron-data for the real T1 MRI test")
def test_real_t1_mri_from_mricron_matches_simpleitk():
    v = load_nifti(MRICRON_T1)
    img = sitk.ReadImage(str(MRICRON_T1))
    assert v.shape == (181, 217, 181) and v.array.dtype == np.uint8
    np.testing.assert_array_equal(v.array, sitk.GetArrayFromImage(img))
    for idx in corners(v.shape):
        p = img.TransformContinuousIndexToPhysicalPoint(tuple(idx[::-1]))
        np.testing.assert_allclose(p, v.index_to_world(idx), atol=1e-4)
    # MNI space: the anterior commissure (0, 0, 0) lies inside the brain, near the grid centre
    ac = v.world_to_index([0.0, 0.0, 0.0])
    assert np.all(ac > 0.3 * np.asarray(v.shape)) and np.all(ac < 0.7 * np.asarray(v.shape))


def test_nifti2_and_hdr_img_pairs_load_like_nifti1(tmp_path):
    v = volume(OBLIQUE, np.float32)
    img = nib.load(str(save_nifti(v, tmp_path / "v.nii")))
    nib.Nifti2Image(np.asanyarray(img.dataobj), img.affine, img.header).to_filename(str(tmp_path / "v2.nii"))
    nib.Nifti1Pair(np.asanyarray(img.dataobj), img.affine, img.header).to_filename(str(tmp_path / "p.img"))
    for name in ("v2.nii", "p.hdr"):
        back = load_nifti(tmp_path / name)
        np.testing.assert_array_equal(back.array, v.array)
        np.testing.assert_allclose(back.affine, v.affine, atol=1e-4)


def test_non_nifti_images_are_refused_with_a_fix():
    from medwb.io.nifti import nifti_to_volume

    mgh = nib.MGHImage(np.zeros((2, 2, 2), np.float32), np.eye(4))
    with pytest.raises(TypeError, match="(?s)MGHImage.*Nifti1Image"):
        nifti_to_volume(mgh)
