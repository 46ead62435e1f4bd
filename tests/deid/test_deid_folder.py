"""A folder run is all or nothing, reruns identically, never overwrites, stays inside, and scans its output."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

from medwb.deid import (
    BurnedInAnnotationError,
    Deidentifier,
    PHIFoundError,
    PHIWarning,
    PseudonymMap,
)

from .corpus import MRN, NAME, STUDY_UID


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_burned_in_refusal_mid_folder_leaves_no_output_and_saves_the_map(ct_folder, tmp_path):
    ct_folder(3, edits={1: {"BurnedInAnnotation": "YES"}})
    map_path = tmp_path / "keys" / "map.json"
    with pytest.raises(BurnedInAnnotationError):
        Deidentifier(PseudonymMap(map_path)).folder(tmp_path / "in", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left
    saved = json.loads(map_path.read_text())
    assert saved["patients"][MRN]["pseudonym"] == "SUBJ-0001"
    again = Deidentifier(PseudonymMap(map_path), burned_in="allow").folder(tmp_path / "in", tmp_path / "out",
                                                                            progress=False)
    assert set(again["pseudonym"]) == {"SUBJ-0001"} and len(again) == 3
    shift = saved["patients"][MRN]["shift_days"]
    assert PseudonymMap(map_path).date_shift(MRN) == shift


def test_a_rerun_with_the_saved_map_gives_identical_files(ct_folder, tmp_path):
    ct_folder(3)
    map_path = tmp_path / "keys" / "map.json"
    first = Deidentifier(PseudonymMap(map_path)).folder(tmp_path / "in", tmp_path / "out1", progress=False)
    second = Deidentifier(PseudonymMap(map_path)).folder(tmp_path / "in", tmp_path / "out2", progress=False)
    assert len(first) == len(second) == 3
    assert _tree(tmp_path / "out1") == _tree(tmp_path / "out2")
    before = _tree(tmp_path / "out1")
    same_place = Deidentifier(PseudonymMap(map_path)).folder(tmp_path / "in", tmp_path / "out1", progress=False)
    assert same_place.problems.empty and len(same_place) == 3 and _tree(tmp_path / "out1") == before


def test_duplicate_sop_instance_uids_are_reported_never_overwritten(ct_folder, tmp_path):
    files = ct_folder(3)
    damaged = pydicom.dcmread(files[0])
    damaged.PixelData = bytes(len(damaged.PixelData))  # a damaged copy of slice 1
    damaged.save_as(tmp_path / "in" / "IMG999.dcm")
    result = Deidentifier(PseudonymMap()).folder(tmp_path / "in", tmp_path / "out", progress=False)
    assert len(result) == 3
    assert list(result.problems["source"]) == [str(tmp_path / "in" / "IMG999.dcm")]
    assert "IMG000.dcm" in result.problems["problem"].iloc[0]
    written = {pydicom.dcmread(p).InstanceNumber: pydicom.dcmread(p).PixelData for p in result["destination"]}
    assert written[1] == pydicom.dcmread(files[0]).PixelData


def test_an_existing_output_with_other_content_is_kept_and_reported(ct_folder, tmp_path):
    ct_folder(2)
    mapping = PseudonymMap()
    Deidentifier(mapping).folder(tmp_path / "in", tmp_path / "out", progress=False)
    before = _tree(tmp_path / "out")
    ct_folder(2, name="in2", edits={0: {"PixelData": bytes(32)}})  # same UIDs, other pixels
    result = Deidentifier(mapping).folder(tmp_path / "in2", tmp_path / "out", progress=False)
    assert _tree(tmp_path / "out") == before
    assert len(result.problems) == 1 and "not overwritten" in result.problems["problem"].iloc[0]
    assert len(result) == 1  # the identical one


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_retained_uids_and_a_hostile_prefix_cannot_write_outside_the_output_folder(ct_folder, tmp_path):
    ct_folder(2, edits={0: {"SOPInstanceUID": "../../../escaped", "SeriesInstanceUID": "../../x"},
                        1: {"StudyInstanceUID": "/tmp/abs", "SOPInstanceUID": "a\0b"}})
    deid = Deidentifier(PseudonymMap(prefix="../../up"), uids="keep")
    result = deid.folder(tmp_path / "in", tmp_path / "sub" / "out", progress=False)
    out = (tmp_path / "sub" / "out").resolve()
    written = sorted(p for p in tmp_path.rglob("*.dcm") if "in" not in p.relative_to(tmp_path).parts[:1])
    assert len(written) == 2 and all(out in p.resolve().parents for p in written)
    assert all(out in Path(p).resolve().parents for p in result["destination"])
    assert {pydicom.dcmread(p).SOPInstanceUID for p in written} == {"../../../escaped", "a\0b"}


def test_every_run_scans_its_output_and_says_so(ct_folder, tmp_path):
    ct_folder(2)
    result = Deidentifier(PseudonymMap()).folder(tmp_path / "in", tmp_path / "out", progress=False)
    assert result.phi_clean and result.phi.empty and "PHI scan: clean" in repr(result)


def test_a_leak_found_by_the_scan_stops_the_run_or_warns(ct_folder, tmp_path):
    files = ct_folder(2)
    ds = pydicom.dcmread(files[0])
    ds.private_block(0x0041, "MERCY 1.0", create=True).add_new(0x10, "LO", f"{NAME} {MRN}")
    ds.save_as(files[0])
    deid = Deidentifier(PseudonymMap(), keep_private=True)  # the user opted in to private attributes
    with pytest.raises(PHIFoundError, match="nothing was written") as err:
        deid.folder(tmp_path / "in", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() and MRN in set(err.value.findings["value"])
    with pytest.warns(PHIWarning):
        result = deid.folder(tmp_path / "in", tmp_path / "out", progress=False, phi_check="warn")
    assert not result.phi_clean and (tmp_path / "out").exists()


def test_files_that_are_not_dicom_are_reported(ct_folder, tmp_path):
    ct_folder(1)
    (tmp_path / "in" / "notes.txt").write_text(f"{NAME} is not DICOM")
    result = Deidentifier(PseudonymMap()).folder(tmp_path / "in", tmp_path / "out", progress=False)
    assert len(result) == 1 and result.problems["source"].str.endswith("notes.txt").all()
    assert not list((tmp_path / "out").rglob("*.txt"))


def test_an_output_inside_the_input_is_refused(ct_folder, tmp_path):
    ct_folder(1)
    with pytest.raises(ValueError, match="inside the input folder"):
        Deidentifier(PseudonymMap()).folder(tmp_path / "in", tmp_path / "in" / "out", progress=False)


def test_the_map_is_saved_when_the_run_is_interrupted_by_anything(ct_folder, tmp_path, monkeypatch):
    ct_folder(2)
    map_path = tmp_path / "keys" / "map.json"
    deid = Deidentifier(PseudonymMap(map_path))
    calls = []

    def failing_save(self, *a, **k):  # the second file fails to write (disk full)
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return original(self, *a, **k)

    original = pydicom.Dataset.save_as
    monkeypatch.setattr(pydicom.Dataset, "save_as", failing_save)
    with pytest.raises(OSError, match="No space"):
        deid.folder(tmp_path / "in", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() and json.loads(map_path.read_text())["patients"][MRN]
    assert STUDY_UID not in map_path.read_text()  # the map holds identities and a key, not the data's UIDs


def test_short_numeric_ids_equal_to_numbers_or_class_uid_parts_are_no_finding(ct_folder, tmp_path):
    # '840' is a component of every SOP class UID (1.2.840.10008...); '1001' is the series number
    ct_folder(2, edits={0: {"PatientID": "840", "SeriesNumber": 1001}, 1: {"PatientID": "840",
                                                                            "AccessionNumber": "1001"}})
    result = Deidentifier(PseudonymMap()).folder(tmp_path / "in", tmp_path / "out", progress=False)
    assert result.phi_clean and len(result) == 2


def test_a_file_without_a_sop_instance_uid_is_not_named_after_its_source(ct_folder, tmp_path):
    files = ct_folder(1)
    ds = pydicom.dcmread(files[0])
    del ds.SOPInstanceUID
    ds.save_as(tmp_path / "in" / "KOWALSKI_ANNA.dcm")
    files[0].unlink()
    result = Deidentifier(PseudonymMap()).folder(tmp_path / "in", tmp_path / "out", progress=False)
    assert len(result) == 1 and "KOWALSKI" not in result["destination"].iloc[0].upper()


def test_a_symlinked_series_folder_is_deidentified_and_a_loop_is_reported(ct_folder, tmp_path):
    ct_folder(3)
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / "in").rename(elsewhere)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "series-1").symlink_to(elsewhere, target_is_directory=True)  # exports often link series
    (elsewhere / "back").symlink_to(tmp_path / "in", target_is_directory=True)       # and sometimes loop
    result = Deidentifier(PseudonymMap()).folder(tmp_path / "in", tmp_path / "out", progress=False)
    assert len(result) == 3
    assert result.problems["problem"].str.contains("loop").sum() == 1
