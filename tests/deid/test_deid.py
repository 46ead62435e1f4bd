"""De-identification (PS3.15 Basic Profile + options), cohort pseudonyms and the PHI scan."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medwb import Volume
from medwb.deid import BurnedInAnnotationError, Deidentifier, PseudonymMap, identifiers_from_dicom, scan_phi
from medwb.deid.profile import ACTIONS
from medwb.export.series import write_series
from medwb.io.dicom import load_series

PHI = {"name": "SMITH^JOHN^Q", "id": "MRN-4471", "birth": "19561103", "address": "12 Elm Street Springfield",
       "other_id": "ALT-9932", "referrer": "HOUSE^GREGORY", "institution": "St Mercy Hospital",
       "accession": "ACC778812", "private": "SMITH JOHN private note", "nested_name": "WATSON^JANE"}


def _crafted_series(folder, patient=PHI, study_date="20240310", n=4, seed="deid", study_uid=None):
    """A CT series whose headers carry PHI in profile attributes, private tags and sequences."""
    rng = np.random.default_rng(0)
    vol = Volume.from_geometry(rng.integers(-1000, 1500, (n, 12, 14)).astype(np.int16), (2.0, 0.7, 0.7),
                               origin=(-5, 3, 40), modality="CT")
    files = write_series(vol, folder, patient_name=patient["name"], patient_id=patient["id"],
                         study_date=study_date, uid_seed=seed, study_uid=study_uid,
                         study_description=f"CT head for {patient['name'].split('^')[0]} fall",
                         series_description=f"axial {patient['id']}")
    first_sop = None
    for i, f in enumerate(files):
        ds = pydicom.dcmread(f)
        first_sop = first_sop or str(ds.SOPInstanceUID)
        ds.PatientBirthDate = patient["birth"]
        ds.PatientAddress = patient["address"]
        ds.OtherPatientIDs = patient["other_id"]
        ds.ReferringPhysicianName = patient["referrer"]
        ds.InstitutionName = patient["institution"]
        ds.AccessionNumber = patient["accession"]
        ds.PatientSex = "M"
        ds.PatientAge = "067Y"
        ds.SeriesDate = study_date
        ds.AcquisitionDateTime = study_date + "101500"
        ds.ImageComments = f"patient {patient['id']} moved"
        block = ds.private_block(0x0029, "ACME 1.0", create=True)
        block.add_new(0x10, "LO", patient["private"])
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "T-A0100", "SRT", "Brain"
        item.SecondaryReviewerName = patient["nested_name"]  # a name the table does not list: safety net
        ds.AnatomicRegionSequence = Sequence([item])
        req = Dataset()
        req.RequestedProcedureID = "RP-" + patient["id"]
        req.ScheduledProcedureStepID = "SPS-1"
        ds.RequestAttributesSequence = Sequence([req])
        if i > 0:
            ref = Dataset()
            ref.ReferencedSOPClassUID = ds.SOPClassUID
            ref.ReferencedSOPInstanceUID = first_sop
            ds.ReferencedImageSequence = Sequence([ref])
        ds.save_as(f)
    return files, vol


@pytest.fixture
def crafted(tmp_path):
    files, vol = _crafted_series(tmp_path / "in" / "s1")
    return tmp_path, files, vol


def _read_all(folder):
    return sorted((pydicom.dcmread(p) for p in folder.rglob("*.dcm")), key=lambda d: int(d.InstanceNumber))


def test_phi_in_profile_attributes_private_tags_and_sequences_comes_out_clean(crafted):
    tmp, files, _ = crafted
    mapping = PseudonymMap(tmp / "secret" / "map.json")
    Deidentifier(mapping).folder(tmp / "in", tmp / "out", progress=False)
    assert scan_phi(tmp / "out", identifiers=identifiers_from_dicom(files)).empty
    for ds in _read_all(tmp / "out"):
        assert str(ds.PatientName) == ds.PatientID == "SUBJ-0001"
        assert ds.PatientBirthDate == "" and "PatientAddress" not in ds and "OtherPatientIDs" not in ds
        assert ds.InstitutionName == "" and ds.AccessionNumber == "" and ds.ReferringPhysicianName == ""
        assert not any(e.tag.is_private for e in ds.iterall())
        assert "SecondaryReviewerName" not in ds.AnatomicRegionSequence[0]  # not in the profile: removed
        assert ds.AnatomicRegionSequence[0].CodeMeaning == "Brain"  # non-identifying content survives
        assert "RequestAttributesSequence" not in ds
        assert ds.PatientIdentityRemoved == "YES"
        assert "113100" in [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]
        assert "PatientSex" in ds and ds.PatientSex == "" and "PatientAge" not in ds


def test_uids_are_replaced_consistently_across_a_series_and_references_follow(crafted):
    tmp, files, _ = crafted
    originals = [pydicom.dcmread(f) for f in files]
    Deidentifier(PseudonymMap()).folder(tmp / "in", tmp / "out", progress=False)
    out = _read_all(tmp / "out")
    for key in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert len({str(d[key].value) for d in out}) == 1
        assert str(out[0][key].value) != str(originals[0][key].value)
    sops = [str(d.SOPInstanceUID) for d in out]
    assert len(set(sops)) == len(out) and not set(sops) & {str(d.SOPInstanceUID) for d in originals}
    assert all(d.ReferencedImageSequence[0].ReferencedSOPInstanceUID == sops[0] for d in out[1:])
    assert all(d.SOPClassUID == originals[0].SOPClassUID for d in out)
    assert all(d.file_meta.MediaStorageSOPInstanceUID == d.SOPInstanceUID for d in out)


def test_pixel_data_is_untouched(crafted):
    tmp, files, vol = crafted
    Deidentifier(PseudonymMap()).folder(tmp / "in", tmp / "out", progress=False)
    before = {int(pydicom.dcmread(f).InstanceNumber): pydicom.dcmread(f).PixelData for f in files}
    for ds in _read_all(tmp / "out"):
        assert ds.PixelData == before[int(ds.InstanceNumber)]
    again = load_series(next((tmp / "out").rglob("*.dcm")).parent)
    np.testing.assert_array_equal(again.array, vol.array)
    np.testing.assert_allclose(again.affine, vol.affine, atol=1e-5)


def test_dates_shift_by_one_offset_per_patient_keeping_intervals(tmp_path):
    _crafted_series(tmp_path / "in" / "a", study_date="20240310", seed="a")
    _crafted_series(tmp_path / "in" / "b", study_date="20240402", seed="b")  # same patient, 23 days later
    other = {**PHI, "id": "MRN-9000", "name": "DOE^JANE"}
    _crafted_series(tmp_path / "in" / "c", patient=other, study_date="20240310", seed="c")
    mapping = PseudonymMap()
    Deidentifier(mapping).folder(tmp_path / "in", tmp_path / "out", progress=False)
    dates = {}
    for p in (tmp_path / "out").rglob("*.dcm"):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        dates.setdefault((ds.PatientID, ds.StudyInstanceUID), set()).add((ds.StudyDate, ds.AcquisitionDateTime))
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
        assert ds.AcquisitionDateTime.endswith("101500")  # the time of day is kept
    import datetime as dt

    subj1 = sorted(next(iter(v))[0] for (pid, _), v in dates.items() if pid == "SUBJ-0001")
    d0, d1 = (dt.datetime.strptime(d, "%Y%m%d") for d in subj1)
    assert (d1 - d0).days == 23 and subj1[0] != "20240310"
    assert mapping.date_shift("MRN-4471") != 0 and len(mapping) == 2


def test_without_the_longitudinal_option_dates_are_removed(crafted):
    tmp, _, _ = crafted
    Deidentifier(PseudonymMap(), retain_dates=False).folder(tmp / "in", tmp / "out", progress=False)
    ds = _read_all(tmp / "out")[0]
    assert ds.StudyDate == "" and ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert "113107" not in [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]


def test_clean_descriptors_keep_the_text_without_the_identifiers(crafted):
    tmp, _, _ = crafted
    Deidentifier(PseudonymMap(), clean_descriptors=True).folder(tmp / "in", tmp / "out", progress=False)
    ds = _read_all(tmp / "out")[0]
    assert ds.StudyDescription == "CT head for *** fall" and ds.SeriesDescription == "axial ***"
    assert ds.ImageComments == "patient *** moved"
    assert "113105" in [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]


def test_descriptors_are_removed_by_default_as_the_basic_profile_says(crafted):
    tmp, _, _ = crafted
    Deidentifier(PseudonymMap()).folder(tmp / "in", tmp / "out", progress=False)
    plain = _read_all(tmp / "out")[0]
    assert "StudyDescription" not in plain and "SeriesDescription" not in plain and "ImageComments" not in plain
    assert "113105" not in [c.CodeValue for c in plain.DeidentificationMethodCodeSequence]


def test_patient_characteristics_option_keeps_sex_and_age(crafted):
    tmp, _, _ = crafted
    Deidentifier(PseudonymMap(), retain_patient_characteristics=True).folder(tmp / "in", tmp / "out",
                                                                              progress=False)
    ds = _read_all(tmp / "out")[0]
    assert (ds.PatientSex, ds.PatientAge) == ("M", "067Y")


def test_retain_uids_option_keeps_the_originals(crafted):
    tmp, files, _ = crafted
    Deidentifier(PseudonymMap(), uids="keep").folder(tmp / "in", tmp / "out", progress=False)
    assert {str(d.SOPInstanceUID) for d in _read_all(tmp / "out")} == \
        {str(pydicom.dcmread(f).SOPInstanceUID) for f in files}


def test_pseudonyms_and_uids_persist_through_the_map_file(tmp_path):
    path = tmp_path / "keys" / "map.json"
    m = PseudonymMap(path)
    first = (m.pseudonym("MRN-1", "A^B"), m.date_shift("MRN-1"), m.uid("1.2.3.4"))
    m.save()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = PseudonymMap(path)
    assert (again.pseudonym("MRN-1"), again.date_shift("MRN-1"), again.uid("1.2.3.4")) == first
    assert again.pseudonym("MRN-2") == "SUBJ-0002"
    assert "MRN-1" not in repr(again) and "A^B" not in repr(again)
    assert set(again.originals()) >= {"MRN-1", "A^B"}


def test_map_inside_the_output_folder_is_refused(crafted):
    tmp, _, _ = crafted
    with pytest.raises(ValueError, match="original identities"):
        Deidentifier(PseudonymMap(tmp / "out" / "map.json")).folder(tmp / "in", tmp / "out", progress=False)


def test_burned_in_annotation_is_refused_unless_allowed(crafted):
    _, files, _ = crafted
    ds = pydicom.dcmread(files[0])
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(BurnedInAnnotationError, match="burned_in='allow'"):
        Deidentifier(PseudonymMap()).dataset(ds)
    assert Deidentifier(PseudonymMap(), burned_in="allow").dataset(ds).PatientID == "SUBJ-0001"


def test_phi_scan_finds_planted_values_in_dicom(crafted):
    _, files, _ = crafted
    hits = scan_phi(files[1], identifiers=identifiers_from_dicom(files))
    kinds = set(hits["kind"])
    assert {"identifying value", "direct identifier", "private attribute", "person name"} <= kinds
    where = set(hits["where"])
    assert {"PatientBirthDate", "PatientAddress", "AnatomicRegionSequence[0].SecondaryReviewerName"} <= where
    assert any(w.startswith("(0029") for w in where)


def _notebook(path, outputs_text, source="x = 1"):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": [source],
         "outputs": [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                      "data": {"text/plain": [outputs_text], "text/html": [f"<p>{outputs_text}</p>"]}},
                     {"output_type": "stream", "name": "stdout", "text": ["done\n"]}]}]}
    path.write_text(json.dumps(nb))
    return path


def test_phi_scan_finds_planted_values_in_executed_notebooks(tmp_path):
    mapping = PseudonymMap()
    mapping.pseudonym("MRN-4471", "SMITH^JOHN^Q")
    leaky = _notebook(tmp_path / "leaky.ipynb", "case SUBJ-0001 is MRN-4471")
    named = _notebook(tmp_path / "named.ipynb", "reader: HOUSE^GREGORY")
    in_code = _notebook(tmp_path / "code.ipynb", "ok", source="load('SMITH^JOHN^Q')")
    clean = _notebook(tmp_path / "clean.ipynb", "case SUBJ-0001: AUC 0.91")
    hits = scan_phi([leaky, named, in_code, clean], identifiers=mapping)
    by_file = hits.groupby("path")["kind"].apply(set).to_dict()
    assert by_file[str(leaky)] == {"identifying value"}
    assert by_file[str(named)] == {"person name pattern"}
    assert "identifying value" in by_file[str(in_code)]
    assert str(clean) not in by_file


def test_profile_table_uses_only_keywords_pydicom_knows():
    from pydicom.datadict import tag_for_keyword

    assert len(ACTIONS) > 600
    assert [k for k in ACTIONS if tag_for_keyword(k) is None] == []
    assert ACTIONS["PatientName"] == "Z" and ACTIONS["SOPInstanceUID"] == "U" and ACTIONS["PatientAddress"] == "X"
