"""DICOMweb cohort source against a real Orthanc: search, retrieve, load, store back, cohorts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medwb.io.dicom.series import load_series
from medwb.io.dicomweb import DicomWebNotFoundError, cohort_from_dicomweb
from medwb.io.dicomweb.config import DicomWebAuthError

pytestmark = pytest.mark.pacs


def test_series_search_filters_by_patient_modality_and_date(orthanc, pacs_cases, source_for):
    src = source_for(orthanc)
    everything = src.search_series()
    assert set(everything["patient_id"]) >= {c.patient_id for c in pacs_cases}
    ct = src.search_series(modality="CT")
    assert set(ct["patient_id"]) == {"PACS-001", "PACS-002"}
    one = src.search_series(patient_id="PACS-002")
    assert one["series_uid"].tolist() == [pacs_cases[1].series_uid]
    assert int(one["n_instances"].iloc[0]) == 10
    recent = src.search_series(date=("2025-01-01", None))
    assert set(recent["patient_id"]) == {"PACS-001", "PACS-002"}
    window = src.search_series(date=("20240101", "20241231"))
    assert window["patient_id"].tolist() == ["PACS-003"]


def test_study_search_has_no_patient_names_unless_asked(orthanc, source_for):
    src = source_for(orthanc)
    studies = src.search_studies(patient_id="PACS-001")
    assert len(studies) == 1 and "patient_name" not in studies.columns
    assert studies["modalities"].iloc[0] == "CT"
    named = src.search_studies(patient_id="PACS-001", include_names=True)
    assert named["patient_name"].iloc[0] == "TEST^PACS-001"


def test_retrieved_series_has_the_voxels_and_geometry_of_the_local_files(orthanc, pacs_cases, source_for):
    src = source_for(orthanc)
    for case in pacs_cases:
        vol = src.load_series(case.study_uid, case.series_uid, progress=False)
        local = load_series(case.folder)
        assert vol.array.dtype == local.array.dtype
        np.testing.assert_array_equal(vol.array, local.array)
        np.testing.assert_allclose(vol.affine, local.affine, atol=1e-5)
        np.testing.assert_allclose(vol.affine, case.volume.affine, atol=1e-4)
        assert vol.meta["series_uid"] == case.series_uid


def test_complete_cached_series_loads_without_the_server(orthanc, pacs_cases, source_for, tmp_path):
    case = pacs_cases[0]
    first = source_for(orthanc).retrieve(case.study_uid, case.series_uid, progress=False)
    assert (first.n_fetched, first.n_cached) == (10, 0)
    offline = source_for(orthanc, url="http://127.0.0.1:9/dicom-web", retries=0)  # nothing listens on port 9
    again = offline.retrieve(case.study_uid, case.series_uid, progress=False)
    assert (again.n_fetched, again.n_cached) == (0, 10)
    np.testing.assert_array_equal(load_series(again.files).array, case.volume.array)


def test_compressed_instances_are_cached_as_stored_and_decoded_on_load(orthanc, pacs_cases, source_for):
    import pydicom
    from pydicom.uid import RLELossless

    case = pacs_cases[2]
    got = source_for(orthanc).retrieve(case.study_uid, case.series_uid, progress=False)
    cached = {f.name: f.read_bytes() for f in got.files}
    assert all(pydicom.dcmread(f, stop_before_pixels=True).file_meta.TransferSyntaxUID == RLELossless
               for f in got.files)
    originals = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID: f.read_bytes() for f in case.files}
    assert {k.removesuffix(".dcm"): len(v) for k, v in cached.items()} == {k: len(v) for k, v in originals.items()}
    np.testing.assert_array_equal(load_series(got.files).array, case.volume.array)


def test_instance_by_instance_retrieval_gives_the_same_files(orthanc, pacs_cases, source_for):
    case = pacs_cases[1]
    got = source_for(orthanc, workers=3).retrieve(case.study_uid, case.series_uid, mode="instances",
                                                  progress=False)
    assert got.n_fetched == 10
    np.testing.assert_array_equal(load_series(got.files).array, case.volume.array)


def test_missing_series_raises_not_found_and_leaves_nothing_in_the_cache(orthanc, pacs_cases, source_for):
    src = source_for(orthanc)
    with pytest.raises(DicomWebNotFoundError, match="1.2.3.4.5.6"):
        src.retrieve(pacs_cases[0].study_uid, "1.2.3.4.5.6", progress=False)
    assert not src.cache.series_dir(pacs_cases[0].study_uid, "1.2.3.4.5.6").exists()


def test_wrong_password_is_an_auth_error_that_shows_no_secret(orthanc, source_for):
    src = source_for(orthanc, password="not-the-password-123")
    with pytest.raises(DicomWebAuthError, match="HTTP 401") as info:
        src.search_series()
    assert "not-the-password-123" not in str(info.value) and "not-the-password-123" not in repr(src)


def test_credentials_come_from_the_environment(orthanc, tmp_path, monkeypatch):
    from medwb.io.dicomweb import DicomWebSource

    monkeypatch.setenv("MEDWB_DICOMWEB_URL", orthanc.dicomweb_url)
    monkeypatch.setenv("MEDWB_DICOMWEB_USER", orthanc.username)
    monkeypatch.setenv("MEDWB_DICOMWEB_PASSWORD", orthanc.password)
    src = DicomWebSource(cache=tmp_path / "c", config_path=tmp_path / "none.json")
    assert len(src.search_series(modality="MR")) == 1
    assert orthanc.password not in repr(src) and orthanc.password not in repr(src.settings)


def test_results_stored_back_are_found_and_read_again(fresh_orthanc, pacs_cases, source_for, tmp_path):
    from medwb.export.series import write_series

    case = pacs_cases[0]
    result = case.volume.with_array((case.volume.array > 500).astype(np.int16) * 100)
    files = write_series(result, tmp_path / "result", patient_id=case.patient_id, study_uid=case.study_uid,
                         series_number=99, series_description="medwb threshold", study_date=case.study_date)
    src = source_for(fresh_orthanc)
    stored = src.store(files, batch=4, progress=False)
    assert stored["stored"].all() and len(stored) == 10
    found = src.search_series(study_uid=case.study_uid)
    assert len(found) == 2
    mine = found[found["series_description"] == "medwb threshold"]
    back = src.load_series(case.study_uid, mine["series_uid"].iloc[0], progress=False)
    np.testing.assert_array_equal(back.array, result.array)
    np.testing.assert_allclose(back.affine, result.affine, atol=1e-4)


def test_cohort_from_dicomweb_joins_the_clinical_table(orthanc, pacs_cases, source_for):
    src = source_for(orthanc)
    clinical = pd.DataFrame({"patient_id": ["PACS-001", "PACS-002", "PACS-404"], "age": [61, 47, 70],
                             "time": [300.0, 120.0, 50.0], "event": [1, 0, 1]})
    with pytest.warns(UserWarning, match="problem"):
        cohort = cohort_from_dicomweb(src, {"modality": "CT"}, clinical, progress=False)
    assert sorted(cohort.case_ids) == ["PACS-001", "PACS-002", "PACS-404"]
    assert cohort.row("PACS-002")["age"] == 47
    np.testing.assert_array_equal(cohort.volume("PACS-002").array, pacs_cases[1].volume.array)
    assert str(cohort.root) == str(src.cache.root)
    assert cohort.problems[cohort.problems["case_id"] == "PACS-404"]["problem"].str.contains("no image").any()


def test_seg_and_sr_results_round_trip_through_the_pacs(fresh_orthanc, pacs_cases, source_for, tmp_path):
    from medwb.export.seg import read_seg, write_seg
    from medwb.export.sr import read_sr, write_sr

    case = pacs_cases[1]  # the oblique one
    src = source_for(fresh_orthanc)
    image = src.load_series(case.study_uid, case.series_uid, progress=False)
    mask = np.zeros(image.shape, np.uint8)
    mask[2:4, 5:9, 6:12] = 1
    seg = write_seg({"lesion": image.with_array(mask)}, case.folder, tmp_path / "seg.dcm", uid_seed="rt")
    sr = write_sr(case.folder, tmp_path / "sr.dcm", seg=seg, prediction=0.7, risk_score=0.2, uid_seed="rt")
    assert src.store([seg, sr], progress=False)["stored"].all()

    found = src.search_series(study_uid=case.study_uid).set_index("modality")
    assert {"CT", "SEG", "SR"} <= set(found.index)
    seg_back = src.retrieve(case.study_uid, found.loc["SEG", "series_uid"], progress=False).files[0]
    np.testing.assert_array_equal(read_seg(seg_back, reference=image)["lesion"].array, mask)
    sr_back = src.retrieve(case.study_uid, found.loc["SR", "series_uid"], progress=False).files[0]
    values = read_sr(sr_back).set_index("name")["value"]
    assert values["Predicted probability"] == pytest.approx(0.7)
    assert values["Volume"] == pytest.approx(mask.sum() * np.prod(image.spacing))


def test_deidentified_export_keeps_seg_references_and_leaks_no_identity(fresh_orthanc, pacs_cases, source_for,
                                                                        tmp_path):
    import pydicom

    from medwb.deid import Deidentifier, PseudonymMap, scan_phi
    from medwb.export.seg import read_seg, write_seg

    case = pacs_cases[0]
    image = load_series(case.folder)
    mask = np.zeros(image.shape, np.uint8)
    mask[4:6, 8:14, 9:15] = 1
    seg = write_seg({"lesion": image.with_array(mask)}, case.folder, tmp_path / "seg.dcm")
    src = source_for(fresh_orthanc)
    src.store([*case.files, seg], deidentify=Deidentifier(PseudonymMap(prefix="RES")), progress=False)

    found = src.search_series(patient_id="RES-0001").set_index("modality")
    assert set(found.index) == {"CT", "SEG"} and found.loc["CT", "series_uid"] != case.series_uid
    ct = src.retrieve(found.loc["CT", "study_uid"], found.loc["CT", "series_uid"], progress=False)
    sg = src.retrieve(found.loc["SEG", "study_uid"], found.loc["SEG", "series_uid"], progress=False)
    assert pydicom.dcmread(sg.files[0]).ReferencedSeriesSequence[0].SeriesInstanceUID == found.loc["CT", "series_uid"]
    np.testing.assert_array_equal(read_seg(sg.files[0], reference=load_series(ct.files))["lesion"].array, mask)
    assert scan_phi([ct.folder, sg.folder], identifiers=[case.patient_id, f"TEST^{case.patient_id}"]).empty


def test_cohort_imported_with_deidentification_holds_pseudonyms_only(orthanc, pacs_cases, source_for, tmp_path):
    from medwb.deid import Deidentifier, PseudonymMap, identifiers_from_dicom, scan_phi

    src = source_for(orthanc)
    mapping = PseudonymMap(tmp_path / "keys" / "map.json", prefix="STUDY")
    clinical = pd.DataFrame({"patient_id": ["PACS-001", "PACS-002"], "age": [61, 47]})
    cohort = cohort_from_dicomweb(src, {"modality": "CT"}, clinical, deidentify=Deidentifier(mapping),
                                  progress=False)
    assert sorted(cohort.case_ids) == ["STUDY-0001", "STUDY-0002"]
    assert (tmp_path / "keys" / "map.json").exists()
    by_pseudonym = {mapping.pseudonym(c.patient_id): c for c in pacs_cases[:2]}
    for cid in cohort.case_ids:
        case = by_pseudonym[cid]
        np.testing.assert_array_equal(cohort.volume(cid).array, case.volume.array)
        assert cohort.row(cid)["series_uid"] != case.series_uid
        assert cohort.row(cid)["study_date"] != case.study_date
    cohort.table.to_csv(tmp_path / "table.csv", index=False)
    images = [cohort.root / cohort.row(c)["image"] for c in cohort.case_ids]
    originals = identifiers_from_dicom([f for c in pacs_cases[:2] for f in c.files])
    assert scan_phi([*images, tmp_path / "table.csv"], identifiers=originals).empty


def test_refresh_fetches_only_instances_added_since_the_series_was_cached(fresh_orthanc, pacs_cases, source_for,
                                                                          tmp_path):
    import pydicom
    import requests
    from pydicom.uid import generate_uid

    case = pacs_cases[0]
    src = source_for(fresh_orthanc)
    assert src.retrieve(case.study_uid, case.series_uid, progress=False).n_fetched == 10
    extra = pydicom.dcmread(case.files[0])
    extra.SOPInstanceUID = extra.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    extra.InstanceNumber = 11
    extra.save_as(tmp_path / "extra.dcm")
    requests.post(f"{fresh_orthanc.url}/instances", data=(tmp_path / "extra.dcm").read_bytes(),
                  auth=fresh_orthanc.auth, timeout=30).raise_for_status()
    assert len(src.retrieve(case.study_uid, case.series_uid, progress=False).files) == 10  # cache, no request
    again = src.retrieve(case.study_uid, case.series_uid, progress=False, refresh=True)
    assert (again.n_fetched, again.n_cached, len(again.files)) == (1, 10, 11)
