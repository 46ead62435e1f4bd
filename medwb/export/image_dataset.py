"""What writing a Volume as DICOM images needs, whatever the layout: geometry, stored values, UIDs, the
common attributes (patient, study, series, frame of reference, image pixel description).

write_series (medwb.export.series) and write_multiframe (medwb.export.multiframe) build on it.
"""

from __future__ import annotations

import warnings

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from medwb.volume import GeometryError, Volume

__all__ = ["TRANSFER_SYNTAXES", "SOP_CLASSES", "geometry", "stored_values", "modality_of", "transfer_syntax_of",
           "series_uids", "common_dataset"]

#: transfer_syntax names accepted by write_series / write_multiframe.
TRANSFER_SYNTAXES: dict[str, UID] = {
    "explicit": ExplicitVRLittleEndian,
    "implicit": ImplicitVRLittleEndian,
    "rle": RLELossless,
    "jpeg-ls": JPEGLSLossless,
    "jpeg2000-lossless": JPEG2000Lossless,
}

#: (single-frame, enhanced multi-frame) SOP Class UIDs per modality.
SOP_CLASSES: dict[str, tuple[UID, UID]] = {
    "CT": (UID("1.2.840.10008.5.1.4.1.1.2"), UID("1.2.840.10008.5.1.4.1.1.2.1")),
    "MR": (UID("1.2.840.10008.5.1.4.1.1.4"), UID("1.2.840.10008.5.1.4.1.1.4.1")),
}

def geometry(volume: Volume) -> tuple[list[float], list[float], list[np.ndarray], float, float]:
    """IOP (6 floats), PixelSpacing [drow, dcol], IPP per slice, thickness and spacing between slices."""
    a = volume.affine
    col_step, row_step, slice_step = a[:3, 2], a[:3, 1], a[:3, 0]
    dcol, drow = float(np.linalg.norm(col_step)), float(np.linalg.norm(row_step))
    r, c = col_step / dcol, row_step / drow
    if abs(float(r @ c)) > 1e-4:
        raise GeometryError(
            f"rows and columns of this volume are not perpendicular (cos = {float(r @ c):.4g}); DICOM "
            "ImageOrientationPatient cannot describe it.\n"
            "Fix: resample the volume onto an orthogonal grid first (medwb.transforms.resample)."
        )
    normal = np.cross(r, c)
    dz = float(np.linalg.norm(slice_step))
    between = abs(float(slice_step @ normal))
    if between < 1e-6:
        raise GeometryError(
            "the slice axis of this volume lies in the image plane; it cannot be written as a stack.\n"
            "Fix: reorient the volume (medwb.transforms.reorient) before writing."
        )
    ipp = [a[:3, 3] + k * slice_step for k in range(volume.shape[0])]
    return [*r.tolist(), *c.tolist()], [drow, dcol], ipp, dz, between


def stored_values(array: np.ndarray, modality: str) -> tuple[np.ndarray, float, float]:
    """Stored values (int16 / uint16), slope, intercept such that slope*stored+intercept ~ array."""
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        lo, hi = (int(array.min()), int(array.max())) if array.size else (0, 0)
        if lo >= -32768 and hi <= 32767:
            return array.astype(np.int16, copy=False), 1.0, 0.0
        if lo >= 0 and hi <= 65535:
            return array.astype(np.uint16, copy=False), 1.0, 0.0
    arr = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            "the volume holds NaN or infinite values, which DICOM pixels cannot store.\n"
            "Fix: replace them first, e.g. volume.with_array(np.nan_to_num(volume.array))."
        )
    lo, hi = float(arr.min()), float(arr.max())
    if np.allclose(arr, np.round(arr)) and lo >= -32768 and hi <= 32767:
        return np.round(arr).astype(np.int16), 1.0, 0.0
    slope = (hi - lo) / 65534.0 if hi > lo else 1.0
    intercept = lo + 32767.0 * slope
    stored = np.clip(np.round((arr - intercept) / slope), -32767, 32767).astype(np.int16)
    warnings.warn(
        f"{modality} volume of dtype {array.dtype} quantised to int16 with RescaleSlope {slope:.6g}, "
        f"RescaleIntercept {intercept:.6g} (max error {slope / 2:.3g}).",
        stacklevel=3,
    )
    return stored, slope, intercept


def modality_of(volume: Volume, modality: str | None) -> str:
    mod = (modality or volume.modality or "").upper()
    if mod not in SOP_CLASSES:
        raise ValueError(
            f"cannot write modality {mod!r} as a DICOM image series; supported: {', '.join(SOP_CLASSES)}.\n"
            'Fix: pass modality="CT" (values in HU) or modality="MR".'
        )
    return mod


def transfer_syntax_of(name: str) -> UID:
    if name not in TRANSFER_SYNTAXES:
        raise ValueError(
            f"unknown transfer_syntax {name!r}.\nFix: use one of {', '.join(TRANSFER_SYNTAXES)}."
        )
    return TRANSFER_SYNTAXES[name]


def series_uids(
    uid_seed: str | None, study_uid: str | None, series_uid: str | None, series_number: int
) -> tuple[str, str, str]:
    """(study, series, frame of reference); reproducible when uid_seed is given."""

    def make(*parts: str) -> str:
        return generate_uid(entropy_srcs=[uid_seed, *parts]) if uid_seed is not None else generate_uid()

    study = study_uid or make("study")
    series = series_uid or make(study, "series", str(series_number))
    frame = make(study, "frame-of-reference") if uid_seed is not None else generate_uid()
    return study, series, frame


def common_dataset(
    *,
    mod: str,
    sop_class: UID,
    patient_name: str,
    patient_id: str,
    study_uid: str,
    series_uid: str,
    frame_uid: str,
    series_number: int,
    series_description: str,
    study_description: str,
    study_date: str,
    stored: np.ndarray,
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = "120000"
    ds.AccessionNumber = ""
    ds.Modality = mod
    ds.Manufacturer = "medwb"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = study_description
    ds.SeriesDescription = series_description
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = int(series_number)
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(stored.shape[1]), int(stored.shape[2])
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if stored.dtype == np.int16 else 0
    return ds
