"""Default de-identification leaves no identifier: the crafted corpus, SR content, codes, file meta, options."""

from __future__ import annotations

import datetime as dt

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medwb.deid import Deidentifier, PseudonymMap, identifiers_from_dicom, scan_phi
from medwb.deid.keep import CODE_STRUCTURE, FILE_META_KEEP, KEEP
from medwb.deid.profile import ACTIONS

from .corpus import BIRTH, CORPUS, MRN, STUDY_UID, base_ct, sr_content, write


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_default_options_leave_none_of_the_planted_text_in_the_file_bytes(case, tmp_path):
    ds, planted = CORPUS[case]()
    source = write(ds, tmp_path / "in" / "x.dcm")
    out = Deidentifier(PseudonymMap()).file(source, tmp_path / "out" / "x.dcm")
    raw = out.read_bytes().decode("latin-1").lower()
    assert [s for s in planted if s.lower() in raw] == []
    assert scan_phi(out, identifiers=identifiers_from_dicom(source, kinds=("names", "ids", "dates", "contacts",
                                                                           "institution"))).empty
    assert pydicom.dcmread(out).PatientID == "SUBJ-0001"


def test_free_text_is_removed_by_default_and_cleaned_only_on_request(tmp_path):
    ds = base_ct()
    ds.ImageComments = "pt born 1961-04-17, call +44 20 7946 0958, mother HALINA NOWAK, St Mercy Hospital"
    ds.PatientMotherBirthName = "NOWAK^HALINA"
    ds.AdditionalPatientHistory = "fall at home"
    plain = Deidentifier(PseudonymMap()).dataset(ds)
    assert "ImageComments" not in plain and "AdditionalPatientHistory" not in plain
    cleaned = Deidentifier(PseudonymMap(), clean_descriptors=True).dataset(ds)
    assert cleaned.ImageComments == "pt born ***, call ***, mother *** ***, ***"
    assert cleaned.AdditionalPatientHistory == "fall at home"  # what identifies nobody stays


def test_sr_content_follows_the_stated_rule(tmp_path):
    image = base_ct(sop="1.2.826.0.1.3680043.8.498.99")
    sr, _ = CORPUS["SR text value, person name, date"]()
    mapping = PseudonymMap()
    deid = Deidentifier(mapping)
    out_image, out = deid.dataset(image), deid.dataset(sr)
    text, pname, date, uidref = out.ContentSequence
    assert text.TextValue == "ANONYMIZED" and text.ConceptNameCodeSequence[0].CodeMeaning == "Finding"
    assert pname.PersonName == "ANONYMOUS"
    shift = mapping.date_shift(MRN)
    assert date.Date == (dt.date(2024, 3, 10) + dt.timedelta(days=shift)).strftime("%Y%m%d") == out.StudyDate
    assert uidref.UID == out_image.StudyInstanceUID != STUDY_UID  # references stay consistent
    cleaned = Deidentifier(mapping, clean_descriptors=True).dataset(sr).ContentSequence[0].TextValue
    assert cleaned == "Findings for *** *** (***), DOB ***"


def test_nested_sequences_are_walked_with_the_same_rules():
    ds = base_ct()
    deep = Dataset()
    deep.TextValue, deep.ValueType, deep.PersonName = f"seen by {MRN}", "TEXT", "NOWAK^PIOTR"
    deep.ContentSequence = Sequence(sr_content(STUDY_UID))
    mid = Dataset()
    mid.ContentSequence = Sequence([deep])
    ds.ContentSequence = Sequence([mid])
    out = Deidentifier(PseudonymMap()).dataset(ds)
    inner = out.ContentSequence[0].ContentSequence[0]
    assert inner.TextValue == "ANONYMIZED" and inner.PersonName == "ANONYMOUS"
    assert inner.ContentSequence[0].TextValue == "ANONYMIZED"
    assert inner.ContentSequence[3].UID != STUDY_UID


def test_codes_of_published_schemes_keep_their_meaning_local_ones_do_not():
    ds = base_ct()
    sct, local = Dataset(), Dataset()
    sct.CodeValue, sct.CodingSchemeDesignator, sct.CodeMeaning = "69536005", "SCT", "Head"
    local.CodeValue, local.CodingSchemeDesignator, local.CodeMeaning = "P17", "99MERCY", "Dr Religa protocol"
    ds.AnatomicRegionSequence, ds.ProcedureCodeSequence = Sequence([sct]), Sequence([local])
    out = Deidentifier(PseudonymMap()).dataset(ds)
    assert (out.AnatomicRegionSequence[0].CodeValue, out.AnatomicRegionSequence[0].CodeMeaning) == ("69536005", "Head")
    assert (out.ProcedureCodeSequence[0].CodeValue, out.ProcedureCodeSequence[0].CodeMeaning) == ("P17", "P17")


def test_file_meta_keeps_only_what_reading_the_file_needs(tmp_path):
    ds, _ = CORPUS["file meta AE titles"]()
    out = Deidentifier(PseudonymMap()).dataset(ds)
    assert {e.keyword for e in out.file_meta} <= FILE_META_KEEP
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID != ds.SOPInstanceUID
    assert out.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID


def test_unknown_public_attributes_are_removed_and_keep_adds_to_the_safe_list():
    ds = base_ct()
    ds.ImageID = f"ID {MRN} x"
    assert "ImageID" not in ACTIONS and "ImageID" not in KEEP
    assert "ImageID" not in Deidentifier(PseudonymMap()).dataset(ds)
    assert Deidentifier(PseudonymMap(), keep=["ImageID"]).dataset(ds).ImageID == "ID *** x"  # kept, cleaned
    with pytest.raises(ValueError, match="ImageIdentifier"):
        Deidentifier(PseudonymMap(), keep=["ImageIdentifier"])


def test_the_image_description_survives(tmp_path):
    ds = base_ct()
    out = Deidentifier(PseudonymMap()).dataset(ds)
    for kw in ("Rows", "Columns", "PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient",
               "RescaleIntercept", "RescaleSlope", "PixelRepresentation", "Modality", "SOPClassUID"):
        assert out[kw].value == ds[kw].value, kw
    assert out.PixelData == ds.PixelData and out.PatientBirthDate == "" and str(out.PatientSex) == ""


def test_institution_option_keeps_the_institution_and_the_scan_accepts_it(tmp_path):
    ds = base_ct()
    out = Deidentifier(PseudonymMap(), retain_institution_identity=True).dataset(ds)
    assert out.InstitutionName == "St Mercy Hospital"
    assert Deidentifier(PseudonymMap()).dataset(ds).InstitutionName == ""


def test_keep_list_and_file_meta_list_use_only_keywords_pydicom_knows_and_never_overlap_the_profile():
    from pydicom.datadict import tag_for_keyword

    assert [k for k in KEEP | FILE_META_KEEP | CODE_STRUCTURE if tag_for_keyword(k) is None] == []
    assert KEEP & set(ACTIONS) == set()


def test_the_phi_scan_looks_for_the_birth_date_in_its_written_forms(tmp_path):
    source = write(base_ct(), tmp_path / "in.dcm")
    assert {BIRTH, "1961-04-17", "17.04.1961", "04/17/1961"} <= set(identifiers_from_dicom(source, kinds=["dates"]))
    leaky = base_ct()
    leaky.ContentDescription = "DOB 17.04.1961"
    hits = scan_phi(write(leaky, tmp_path / "leaky.dcm"), identifiers=identifiers_from_dicom(source))
    assert "17.04.1961" in set(hits["value"])
