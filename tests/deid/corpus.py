"""A crafted corpus for de-identification: DICOM files made here with pydicom, no patient data in git.

Each CORPUS entry builds one object that hides identifying text somewhere a de-identifier can miss and
returns the strings that must not survive the default options. Add an entry for every leak found.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

NAME, MRN, BIRTH = "KOWALSKI^ANNA", "MRN-583920", "19610417"
STUDY_UID = "1.2.826.0.1.3680043.8.498.11"


def base_ct(sop: str | None = None, pixels: int = 0, study_uid: str = STUDY_UID) -> Dataset:
    """A small valid CT slice with the patient's identity in the usual places."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop or generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = NAME, MRN, BIRTH, "F"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, study_uid + ".1"
    ds.FrameOfReferenceUID = study_uid + ".2"
    ds.StudyDate, ds.StudyTime, ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "20240310", "101500", "CT", 1, 1
    ds.AccessionNumber, ds.InstitutionName = "ACC-77120", "St Mercy Hospital"
    ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, 0], [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing, ds.SliceThickness = [0.5, 0.5], 1.0
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.PixelData = (np.arange(16, dtype=np.int16) + pixels).tobytes()
    return ds


def _free_text_birth_date() -> tuple[Dataset, list[str]]:
    ds = base_ct()
    ds.ImageComments = "pt born 1961-04-17, fall at home"
    return ds, ["1961-04-17", "19610417"]


def _phone_in_history() -> tuple[Dataset, list[str]]:
    ds = base_ct()
    ds.AdditionalPatientHistory = "call daughter on +44 20 7946 0958 before discharge"
    return ds, ["7946 0958", "7946"]


def _relative_name() -> tuple[Dataset, list[str]]:
    ds = base_ct()
    ds.AdditionalPatientHistory = "history given by her husband Tadeusz Wisniewski"
    ds.PatientComments = "mother Halina present"
    return ds, ["Tadeusz", "Wisniewski", "Halina"]


def _institution_in_text() -> tuple[Dataset, list[str]]:
    ds = base_ct()
    ds.ImageComments = "transferred from St Mercy Hospital ward 4"
    ds.StudyDescription = "CT head KOWALSKI"
    return ds, ["St Mercy Hospital", "KOWALSKI"]


def sr_content(ref_uid: str) -> list[Dataset]:
    """SR content items: TEXT naming the patient, a PNAME, a DATE and a UIDREF."""
    def item(value_type: str, meaning: str, **values: object) -> Dataset:
        it = Dataset()
        it.RelationshipType, it.ValueType = "CONTAINS", value_type
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "121071", "DCM", meaning
        it.ConceptNameCodeSequence = Sequence([code])
        for k, v in values.items():
            setattr(it, k, v)
        return it

    return [item("TEXT", "Finding", TextValue=f"Findings for Anna Kowalski ({MRN}), DOB 17.04.1961"),
            item("PNAME", "Person Observer Name", PersonName="HOUSE^GREGORY"),
            item("DATE", "Procedure date", Date="20240310"),
            item("UIDREF", "Study Instance UID", UID=ref_uid)]


def _sr_text_value() -> tuple[Dataset, list[str]]:
    ds = base_ct()
    del ds.PixelData
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"
    ds.Modality, ds.ValueType, ds.ContinuityOfContent = "SR", "CONTAINER", "SEPARATE"
    ds.ContentSequence = Sequence(sr_content(STUDY_UID))
    return ds, ["Kowalski", "Anna", MRN, "17.04.1961", "HOUSE", "GREGORY"]


def _file_meta_ae_titles() -> tuple[Dataset, list[str]]:
    ds = base_ct()
    ds.file_meta.SourceApplicationEntityTitle = "MERCYCT01"
    ds.file_meta.SendingApplicationEntityTitle = "MERCYPACS"
    return ds, ["MERCYCT01", "MERCYPACS"]


def _local_code_meaning() -> tuple[Dataset, list[str]]:
    ds = base_ct()
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "P17", "99MERCY", "Dr Zbigniew Religa protocol"
    ds.ProcedureCodeSequence = Sequence([code])
    return ds, ["Zbigniew", "Religa"]


def _unknown_public_attributes() -> tuple[Dataset, list[str]]:
    ds = base_ct()
    ds.ImageID = "KOWAL-IMG"  # public, in neither the profile nor medwb's keep list
    ds.UnformattedTextValue = "reported by Dr Edelman"
    inner = Dataset()
    inner.ImageID = "NESTED-ID-9"
    ds.ReferencedImageSequence = Sequence([inner])
    return ds, ["KOWAL-IMG", "Edelman", "NESTED-ID-9"]


def _preamble_and_private() -> tuple[Dataset, list[str]]:
    ds = base_ct()
    ds.preamble = b"KOWALSKI ANNA " + b"\0" * 114
    block = ds.private_block(0x0041, "MERCY 1.0", create=True)
    block.add_new(0x10, "LO", "Anna K. ward 4")
    return ds, ["KOWALSKI ANNA", "Anna K."]


def _names_in_unlisted_sequences() -> tuple[Dataset, list[str]]:
    ds = base_ct()
    reviewer = Dataset()
    reviewer.SecondaryReviewerName = "NOWAK^PIOTR"
    ds.AnatomicRegionSequence = Sequence([reviewer])
    return ds, ["NOWAK", "PIOTR"]


CORPUS: dict[str, Callable[[], tuple[Dataset, list[str]]]] = {
    "free text birth date": _free_text_birth_date,
    "phone number in history": _phone_in_history,
    "relative's name": _relative_name,
    "institution in free text": _institution_in_text,
    "SR text value, person name, date": _sr_text_value,
    "file meta AE titles": _file_meta_ae_titles,
    "local code meaning": _local_code_meaning,
    "unknown public attributes": _unknown_public_attributes,
    "preamble and private tags": _preamble_and_private,
    "names in unlisted sequences": _names_in_unlisted_sequences,
}


def write(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def read(path: Path) -> Dataset:
    return pydicom.dcmread(path)
