"""write_series / write_multiframe produce real, self-consistent DICOM that readers agree on."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import UID

from medwb import Volume
from medwb.export.series import TRANSFER_SYNTAXES, write_multiframe, write_series
from medwb.io.dicom import load_series


def _volume(shape=(4, 40, 36), modality="CT", seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.integers(-1024, 3000, size=shape).astype(np.int16)
    return Volume.from_geometry(arr, spacing=(3.0, 0.9, 0.8), origin=(-50.0, -60.0, 10.0), modality=modality)


@pytest.mark.parametrize("syntax", list(TRANSFER_SYNTAXES))
def test_round_trip_is_lossless_for_every_transfer_syntax(tmp_path, syntax):
    src = _volume()
    files = write_series(src, tmp_path, transfer_syntax=syntax)
    ds = pydicom.dcmread(files[0])
    assert ds.file_meta.TransferSyntaxUID == TRANSFER_SYNTAXES[syntax]
    assert np.array_equal(ds.pixel_array, src.array[0])  # pydicom's own decoder agrees
    v = load_series(tmp_path)
    assert np.array_equal(v.array, src.array)
    np.testing.assert_allclose(v.affine, src.affine, atol=1e-6)


def test_ct_files_carry_the_attributes_a_pacs_expects(tmp_path):
    files = write_series(_volume(), tmp_path, patient_id="P-7", series_description="axial", study_date="20250102")
    for number, f in enumerate(files, start=1):
        ds = pydicom.dcmread(f)
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.InstanceNumber == number and ds.Modality == "CT" and ds.PatientID == "P-7"
        assert (ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType) == (1, 0, "HU")
        assert [float(x) for x in ds.PixelSpacing] == [0.9, 0.8]
        assert float(ds.SliceThickness) == 3.0 and float(ds.SpacingBetweenSlices) == 3.0
        assert [float(x) for x in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert [float(x) for x in ds.ImagePositionPatient] == [-50.0, -60.0, 10.0 + 3.0 * (number - 1)]
        for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.FrameOfReferenceUID):
            assert UID(uid).is_valid
    uids = {pydicom.dcmread(f).SOPInstanceUID for f in files}
    assert len(uids) == len(files)


def test_uid_seed_makes_uids_reproducible_and_distinct_seeds_differ(tmp_path):
    a = [pydicom.dcmread(f) for f in write_series(_volume(), tmp_path / "a", uid_seed="case-001")]
    b = [pydicom.dcmread(f) for f in write_series(_volume(), tmp_path / "b", uid_seed="case-001")]
    c = [pydicom.dcmread(f) for f in write_series(_volume(), tmp_path / "c", uid_seed="case-002")]
    key = [(d.StudyInstanceUID, d.SeriesInstanceUID, d.SOPInstanceUID, d.FrameOfReferenceUID) for d in a]
    assert key == [(d.StudyInstanceUID, d.SeriesInstanceUID, d.SOPInstanceUID, d.FrameOfReferenceUID) for d in b]
    assert not {d.SOPInstanceUID for d in a} & {d.SOPInstanceUID for d in c}


def test_series_share_a_study_when_given_its_uid(tmp_path):
    first = pydicom.dcmread(write_series(_volume(), tmp_path / "1", series_number=1)[0])
    second = pydicom.dcmread(
        write_series(_volume(), tmp_path / "2", series_number=2, study_uid=first.StudyInstanceUID)[0]
    )
    assert second.StudyInstanceUID == first.StudyInstanceUID
    assert second.SeriesInstanceUID != first.SeriesInstanceUID


def test_instance_order_permutes_numbers_not_positions(tmp_path):
    src = _volume()
    files = write_series(src, tmp_path, instance_order=[2, 0, 3, 1])
    z = [float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in files]
    assert z == [16.0, 10.0, 19.0, 13.0]
    with pytest.raises(ValueError, match="permutation"):
        write_series(src, tmp_path / "bad", instance_order=[0, 0, 1, 2])


def test_extra_attributes_reach_every_file(tmp_path):
    files = write_series(_volume(), tmp_path, extra={"PatientAge": "054Y", "BodyPartExamined": "HEAD"})
    assert all(pydicom.dcmread(f).PatientAge == "054Y" for f in files)


def test_float_volume_is_quantised_with_a_warning_and_round_trips_closely(tmp_path):
    src = _volume().with_array(np.random.default_rng(1).normal(size=(4, 40, 36)))
    with pytest.warns(UserWarning, match="quantised to int16"):
        write_series(src, tmp_path)
    v = load_series(tmp_path)
    span = src.array.max() - src.array.min()
    assert np.abs(v.array - src.array).max() <= span / 65534 * 0.51 + 1e-6


def test_unsupported_modality_and_tiny_jpeg2000_explain_the_fix(tmp_path):
    with pytest.raises(ValueError, match='modality="CT"'):
        write_series(_volume(modality="OT"), tmp_path)
    with pytest.raises(ValueError, match="at least 32x32"):
        write_series(_volume(shape=(2, 8, 8)), tmp_path, transfer_syntax="jpeg2000-lossless")
    with pytest.raises(ValueError, match="unknown transfer_syntax"):
        write_series(_volume(), tmp_path, transfer_syntax="jpeg")


def test_mr_series_uses_mr_image_storage(tmp_path):
    ds = pydicom.dcmread(write_series(_volume(modality="MR"), tmp_path)[0])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4" and ds.Modality == "MR" and "RescaleSlope" not in ds


@pytest.mark.parametrize(("modality", "sop"), [("CT", "1.2.840.10008.5.1.4.1.1.2.1"), ("MR", "1.2.840.10008.5.1.4.1.1.4.1")])
def test_multiframe_has_functional_groups_per_frame(tmp_path, modality, sop):
    src = _volume(modality=modality)
    ds = pydicom.dcmread(write_multiframe(src, tmp_path / "mf.dcm", transfer_syntax="rle"))
    assert ds.SOPClassUID == sop and ds.NumberOfFrames == 4
    shared = ds.SharedFunctionalGroupsSequence[0]
    assert [float(x) for x in shared.PixelMeasuresSequence[0].PixelSpacing] == [0.9, 0.8]
    assert [float(x) for x in shared.PlaneOrientationSequence[0].ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    z = [float(f.PlanePositionSequence[0].ImagePositionPatient[2]) for f in ds.PerFrameFunctionalGroupsSequence]
    assert z == [10.0, 13.0, 16.0, 19.0]
    assert np.array_equal(ds.pixel_array, src.array)


@pytest.mark.parametrize("syntax", ["explicit", "implicit", "rle"])
def test_fast_template_writer_is_byte_identical_to_pydicom(tmp_path, syntax):
    import io

    files = write_series(_volume(shape=(3, 33, 35)), tmp_path, transfer_syntax=syntax, uid_seed="bytes")
    for f in files:
        ours = f.read_bytes()
        again = io.BytesIO()
        pydicom.dcmread(f).save_as(again, enforce_file_format=True)
        assert ours == again.getvalue()
