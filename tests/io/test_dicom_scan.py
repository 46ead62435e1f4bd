"""scan() on a messy tree: every bad file is reported by path, every good series still loads."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from medwb.export.series import write_multiframe, write_series
from medwb.io.dicom import MixedSeriesError, load_series, scan
from medwb.io.load import load_volume


def _sr(path, study_uid):
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, generate_uid()
    ds.Modality, ds.PatientID, ds.SeriesNumber, ds.InstanceNumber = "SR", "DEMO-000", 90, 1
    ds.ValueType, ds.CompletionFlag, ds.VerificationFlag = "CONTAINER", "COMPLETE", "UNVERIFIED"
    ds.ContinuityOfContent = "SEPARATE"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)


def _seg(path, source_files):
    hd = pytest.importorskip("highdicom")
    sources = [pydicom.dcmread(f) for f in source_files]
    mask = np.zeros((len(sources), sources[0].Rows, sources[0].Columns), bool)
    mask[1, 2:6, 2:6] = True
    desc = hd.seg.SegmentDescription(
        segment_number=1, segment_label="lesion",
        segmented_property_category=hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure"),
        segmented_property_type=hd.sr.CodedConcept("4147007", "SCT", "Mass"),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )  # fmt: skip
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=mask, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[desc], series_instance_uid=hd.UID(), series_number=99,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="medwb", manufacturer_model_name="test",
        software_versions="0", device_serial_number="0",
    )  # fmt: skip
    seg.save_as(path)


@pytest.fixture
def messy_tree(tmp_path, kit):
    """A tree with good series, broken files, non-image objects and geometry problems."""
    root = tmp_path / "tree"
    good_ct = write_series(kit.make_volume(shape=(6, 20, 16)), root / "ct", series_description="good CT",
                           uid_seed="ct")
    study = pydicom.dcmread(good_ct[0]).StudyInstanceUID
    write_series(kit.make_volume(shape=(5, 18, 18), modality="MR", seed=1), root / "mr", modality="MR",
                 study_uid=study, series_number=2, series_description="good MR", transfer_syntax="rle")
    write_multiframe(kit.make_volume(shape=(4, 12, 12), seed=2), root / "mf" / "enhanced.dcm", study_uid=study,
                     series_number=3)
    gap = write_series(kit.make_volume(shape=(6, 12, 12), seed=3), root / "gap", series_number=4)
    gap[2].unlink()
    dup = write_series(kit.make_volume(shape=(4, 12, 12), seed=4), root / "dup", series_number=5)
    ds = pydicom.dcmread(dup[1])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PixelData = (ds.pixel_array + 1).astype(np.int16).tobytes()
    ds.save_as(root / "dup" / "IM_DUP.dcm")
    mixed = root / "mixed"
    write_series(kit.make_volume(shape=(3, 12, 12), seed=5), mixed, series_number=6, series_description="one")
    write_series(kit.make_volume(shape=(3, 10, 10), seed=6), mixed / "x", series_number=7,
                 series_description="two")
    bad = root / "bad"
    one = write_series(kit.make_volume(shape=(1, 12, 12), seed=7), bad / "t")[0]
    truncated = bad / "truncated.dcm"
    truncated.write_bytes(one.read_bytes()[: len(one.read_bytes()) - 100])
    one.unlink()
    ds = pydicom.dcmread(write_series(kit.make_volume(shape=(1, 12, 12), seed=8), bad / "n")[0])
    del ds.PixelData
    nopix = bad / "no_pixels.dcm"
    ds.save_as(nopix)
    (bad / "n" / "IM00001.dcm").unlink()
    notdicom = bad / "notes.txt"
    notdicom.write_text("scanner export log\n" * 20)
    ds = pydicom.dcmread(write_series(kit.make_volume(shape=(1, 12, 12), seed=9), bad / "u")[0])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no decoder exists
    ds.PixelData = encapsulate([ds.PixelData])
    unsupported = bad / "mpeg2.dcm"
    ds.save_as(unsupported)
    (bad / "u" / "IM00001.dcm").unlink()
    sr = root / "objects" / "report.dcm"
    sr.parent.mkdir()
    _sr(sr, study)
    seg = root / "objects" / "seg.dcm"
    _seg(seg, good_ct)
    return {"root": root, "truncated": truncated, "nopix": nopix, "notdicom": notdicom,
            "unsupported": unsupported, "sr": sr, "seg": seg, "gap": root / "gap", "dup": root / "dup",
            "mixed": mixed}  # fmt: skip


def test_scan_reports_every_bad_file_by_path(messy_tree):
    idx = scan(messy_tree["root"], progress=False)
    reasons = dict(zip(idx.problems["path"], idx.problems["reason"], strict=False))
    assert "truncated" in reasons[str(messy_tree["truncated"])]
    assert "without pixel data" in reasons[str(messy_tree["nopix"])]
    assert "not a DICOM file" in reasons[str(messy_tree["notdicom"])]
    assert "no installed decoder" in reasons[str(messy_tree["unsupported"])]
    gap_rows = idx.problems[idx.problems["path"].str.startswith(str(messy_tree["gap"]))]
    assert gap_rows["reason"].str.contains("on_gap").any()
    dup_rows = idx.problems[idx.problems["path"].str.startswith(str(messy_tree["dup"]))]
    assert dup_rows["reason"].str.contains("repeated").any()


def test_scan_indexes_non_image_objects_without_calling_them_images(messy_tree):
    idx = scan(messy_tree["root"], progress=False)
    kinds = dict(zip(idx.files["path"], idx.files["kind"], strict=True))
    assert kinds[str(messy_tree["sr"])] == "SR" and kinds[str(messy_tree["seg"])] == "SEG"
    objects = idx.series[idx.series["kind"].isin(["SR", "SEG"])]
    assert len(objects) == 2 and not objects["is_image"].any()
    assert str(messy_tree["sr"]) not in set(idx.problems["path"])


def test_every_good_series_still_loads_from_the_index(messy_tree):
    idx = scan(messy_tree["root"], progress=False)
    good = idx.series[idx.series["is_image"] & (idx.series["geometry"].isin(["ok", "multi-frame", "single image"]))]
    assert set(good["series_description"]) >= {"good CT", "good MR", "one", "two"}
    for uid, n_frames in zip(good["series_uid"], good["n_frames"], strict=True):
        assert idx.load(uid).shape[0] == n_frames
    gap_uid = idx.series.loc[idx.series["geometry"] == "gap", "series_uid"].item()
    with pytest.warns(UserWarning, match="resampled"):
        assert idx.load(gap_uid, on_gap="resample").shape[0] == 6


def test_series_table_has_one_row_per_series_with_counts(messy_tree):
    idx = scan(messy_tree["root"], progress=False)
    ct = idx.series[idx.series["series_description"] == "good CT"].iloc[0]
    assert (ct["n_files"], ct["modality"], ct["rows"], ct["cols"], ct["geometry"]) == (6, "CT", 20, 16, "ok")
    assert ct["slice_spacing"] == pytest.approx(2.5)
    assert idx.series["series_uid"].is_unique
    assert idx.files["path"].is_unique and str(messy_tree["notdicom"]) not in set(idx.files["path"])


def test_folder_with_two_series_errors_listing_both_with_the_fix(messy_tree):
    with pytest.raises(MixedSeriesError) as info:
        load_volume(messy_tree["mixed"])
    msg = str(info.value)
    assert "2 image series" in msg and "one" in msg and "two" in msg and "scan_dicom" in msg


def test_load_series_skips_junk_in_a_folder_but_raises_on_a_bad_file_given_by_name(messy_tree, tmp_path, kit):
    folder = tmp_path / "s"
    write_series(kit.make_volume(shape=(4, 12, 12)), folder)
    (folder / "README.txt").write_text("not dicom")
    with pytest.warns(UserWarning, match="skipped 1 unusable"):
        assert load_series(folder).shape == (4, 12, 12)
    from medwb.io.dicom import DicomReadError

    with pytest.raises(DicomReadError, match="truncated"):
        load_series([messy_tree["truncated"]])
    with pytest.raises(DicomReadError, match="no installed decoder"):
        load_series([messy_tree["unsupported"]])
    with pytest.raises(DicomReadError, match="no image to load"):
        load_series([messy_tree["sr"]])


def test_scan_survives_pydicoms_own_zoo_of_odd_files():
    from pathlib import Path

    folder = Path(pydicom.__file__).parent / "data" / "test_files"
    idx = scan(folder, progress=False)
    on_disk = {str(p) for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert on_disk == set(idx.files["path"]) | set(idx.problems["path"])  # every file accounted for
    reasons = dict(zip(idx.problems["path"], idx.problems["reason"], strict=False))
    assert "truncated" in reasons[str(folder / "MR_truncated.dcm")]
    assert "not a DICOM file" in reasons[str(folder / "README.txt")]
    kinds = set(idx.series["kind"])
    assert {"image", "SR", "SEG", "RTSTRUCT"} <= kinds


def test_studies_table_groups_series_by_study(messy_tree):
    idx = scan(messy_tree["root"], progress=False)
    ct_study = idx.series.loc[idx.series["series_description"] == "good CT", "study_uid"].item()
    row = idx.studies.set_index("study_uid").loc[ct_study]
    assert row["n_series"] == 5  # CT, MR, enhanced multi-frame, SR and SEG share the study
    assert row["modalities"] == "CT/MR/SEG/SR"
