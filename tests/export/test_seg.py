"""DICOM SEG export: masks land on the right source slices (by position, whatever the file order)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from medwb import Volume
from medwb.export.seg import read_seg, write_seg
from medwb.export.series import write_series
from medwb.io.dicom import load_series


def _oblique_series(folder, n=9, shuffle=True):
    """A CT series tilted 0.3 rad about LPS x, its files written in shuffled InstanceNumber order."""
    c, s = np.cos(0.3), np.sin(0.3)
    direction = np.array([[1, 0, 0], [0, c, -s], [0, s, c]]) @ np.array([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]])
    arr = np.random.default_rng(1).integers(-100, 100, (n, 20, 24)).astype(np.int16)
    v = Volume.from_geometry(arr, (3.0, 0.8, 0.9), origin=(-10, 5, 30), direction=direction, modality="CT")
    order = np.random.default_rng(2).permutation(n).tolist() if shuffle else None
    write_series(v, folder, instance_order=order, uid_seed="seg-test")
    return load_series(folder)


@pytest.fixture
def image(tmp_path):
    return _oblique_series(tmp_path / "image")


def _asymmetric_masks(image):
    """A lesion near the first slices and oedema near the last: reversed frames would swap them."""
    lesion = np.zeros(image.shape, np.uint8)
    lesion[1, 3:7, 4:10] = 1
    lesion[2, 4:6, 5:8] = 1
    oedema = np.zeros(image.shape, np.uint8)
    oedema[7, 10:15, 2:20] = 1
    return image.with_array(lesion), image.with_array(oedema)


def test_seg_reads_back_on_the_same_slices_and_grid(image, tmp_path):
    lesion, oedema = _asymmetric_masks(image)
    path = write_seg({"lesion": lesion, "oedema": oedema}, tmp_path / "image", tmp_path / "seg.dcm",
                     segment_type=["lesion", "oedema"], algorithm="unet-demo", algorithm_version="7")
    back = read_seg(path, reference=image)
    np.testing.assert_array_equal(back["lesion"].array, lesion.array)
    np.testing.assert_array_equal(back["oedema"].array, oedema.array)
    assert back["lesion"].same_grid(image)
    assert back["oedema"].meta["property"] == "Edema"
    assert (back["lesion"].meta["algorithm"], back["lesion"].meta["algorithm_version"]) == ("unet-demo", "7")


def test_seg_frames_reference_the_source_instance_at_their_position(image, tmp_path):
    lesion, oedema = _asymmetric_masks(image)
    path = write_seg({"lesion": lesion, "oedema": oedema}, tmp_path / "image", tmp_path / "seg.dcm")
    seg = pydicom.dcmread(path)
    sources = {tuple(np.round(np.asarray(d.ImagePositionPatient, float), 3)): str(d.SOPInstanceUID)
               for d in (pydicom.dcmread(f, stop_before_pixels=True) for f in (tmp_path / "image").iterdir())}
    frames = seg.PerFrameFunctionalGroupsSequence
    assert len(frames) == 3  # empty frames omitted: slices 1, 2 (lesion) and 7 (oedema)
    for f in frames:
        ipp = tuple(np.round(np.asarray(f.PlanePositionSequence[0].ImagePositionPatient, float), 3))
        ref = f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        assert ref == sources[ipp]
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == image.meta["series_uid"]
    assert seg.FrameOfReferenceUID == image.meta["frame_of_reference_uid"]


def test_seg_agrees_with_highdicoms_own_reader(image, tmp_path):
    import highdicom as hd

    lesion, oedema = _asymmetric_masks(image)
    path = write_seg({"lesion": lesion, "oedema": oedema}, tmp_path / "image", tmp_path / "seg.dcm",
                     omit_empty_frames=False)
    seg = hd.seg.segread(path)
    vol = seg.get_volume(combine_segments=False)
    ours = read_seg(path, reference=image)
    geometry = vol.match_geometry(hd.Volume(image.array, image.affine, "PATIENT"))  # raises if off-grid
    np.testing.assert_array_equal(geometry.array[..., 0], ours["lesion"].array)
    np.testing.assert_array_equal(geometry.array[..., 1], ours["oedema"].array)


def test_label_map_volume_becomes_one_segment_per_label(image, tmp_path):
    labels = np.zeros(image.shape, np.uint8)
    labels[3, 2:5, 2:5] = 1
    labels[5, 8:12, 8:12] = 2
    path = write_seg(image.with_array(labels), tmp_path / "image", tmp_path / "seg.dcm")
    back = read_seg(path, reference=image)
    assert list(back) == ["segment 1", "segment 2"]
    np.testing.assert_array_equal(back["segment 2"].array, (labels == 2).astype(np.uint8))


def test_probability_map_is_stored_as_a_fractional_segment(image, tmp_path):
    prob = np.zeros(image.shape, np.float32)
    prob[4, 5:10, 5:10] = np.linspace(0, 1, 25, dtype=np.float32).reshape(5, 5)
    path = write_seg({"p(malignant)": image.with_array(prob)}, tmp_path / "image", tmp_path / "p.dcm",
                     fractional=True)
    assert pydicom.dcmread(path).SegmentationType == "FRACTIONAL"
    back = read_seg(path, reference=image)["p(malignant)"]
    np.testing.assert_allclose(back.array, prob, atol=1 / 255 / 2 + 1e-6)


def test_mask_off_the_source_grid_is_refused_with_the_fix(image, tmp_path):
    shifted = Volume(np.zeros(image.shape, np.uint8), image.affine + _shift(5.0))
    with pytest.raises(ValueError, match="resample_like"):
        write_seg({"lesion": shifted}, tmp_path / "image", tmp_path / "seg.dcm")


def _shift(mm):
    s = np.zeros((4, 4))
    s[2, 3] = mm
    return s


def test_probabilities_outside_zero_one_are_refused(image, tmp_path):
    logits = image.with_array(np.full(image.shape, 3.0, np.float32))
    with pytest.raises(ValueError, match="sigmoid"):
        write_seg({"p": logits}, tmp_path / "image", tmp_path / "p.dcm", fractional=True)


def test_mask_stacked_the_other_way_round_still_lands_on_the_right_slices(image, tmp_path):
    from medwb.export.derived import flip_slices

    lesion, oedema = _asymmetric_masks(image)
    reversed_lesion = flip_slices(lesion)  # same voxels in space, slice 0 at the top (as from a NIfTI)
    assert not np.array_equal(reversed_lesion.array, lesion.array)
    path = write_seg({"lesion": reversed_lesion}, tmp_path / "image", tmp_path / "seg.dcm")
    np.testing.assert_array_equal(read_seg(path, reference=image)["lesion"].array, lesion.array)
