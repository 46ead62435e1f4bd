"""Write a Volume as a real DICOM series: one CT or MR image per slice, or one Enhanced multi-frame file.

write_series() gives what scanners give (CT Image Storage / MR Image Storage, one file per slice,
geometry in ImagePositionPatient / ImageOrientationPatient / PixelSpacing); write_multiframe() gives an
Enhanced CT / Enhanced MR object with per-frame functional groups. Geometry follows medwb.volume:
for IOP (r, c) and PixelSpacing (drow, dcol), ``affine[:3, 2] = r*dcol``, ``affine[:3, 1] = c*drow``,
``affine[:3, 0]`` = the step from one slice's IPP to the next. Reading DICOM lives in medwb.io.dicom.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from medwb.export.series_encoding import SeriesTemplate, ds_string, encode_pixels, file_meta
from medwb.volume import GeometryError, Volume

__all__ = ["write_series", "write_multiframe", "TRANSFER_SYNTAXES", "SOP_CLASSES"]

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

def _geometry(volume: Volume) -> tuple[list[float], list[float], list[np.ndarray], float, float]:
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


def _pixels(array: np.ndarray, modality: str) -> tuple[np.ndarray, float, float]:
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


def _modality(volume: Volume, modality: str | None) -> str:
    mod = (modality or volume.modality or "").upper()
    if mod not in SOP_CLASSES:
        raise ValueError(
            f"cannot write modality {mod!r} as a DICOM image series; supported: {', '.join(SOP_CLASSES)}.\n"
            'Fix: pass modality="CT" (values in HU) or modality="MR".'
        )
    return mod


def _transfer_syntax(name: str) -> UID:
    if name not in TRANSFER_SYNTAXES:
        raise ValueError(
            f"unknown transfer_syntax {name!r}.\nFix: use one of {', '.join(TRANSFER_SYNTAXES)}."
        )
    return TRANSFER_SYNTAXES[name]


def _uids(
    uid_seed: str | None, study_uid: str | None, series_uid: str | None, series_number: int
) -> tuple[str, str, str]:
    """(study, series, frame of reference); reproducible when uid_seed is given."""

    def make(*parts: str) -> str:
        return generate_uid(entropy_srcs=[uid_seed, *parts]) if uid_seed is not None else generate_uid()

    study = study_uid or make("study")
    series = series_uid or make(study, "series", str(series_number))
    frame = make(study, "frame-of-reference") if uid_seed is not None else generate_uid()
    return study, series, frame


def _common(
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


def write_series(
    volume: Volume,
    folder: str | Path,
    *,
    patient_name: str = "DEMO^PATIENT",
    patient_id: str = "DEMO-000",
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_number: int = 1,
    series_description: str = "",
    study_description: str = "",
    modality: str | None = None,
    study_date: str = "20260101",
    transfer_syntax: str = "explicit",
    extra: Mapping[str, Any] | None = None,
    instance_order: Sequence[int] | None = None,
    uid_seed: str | None = None,
) -> list[Path]:
    """Write ``volume`` as a DICOM series, one CT / MR Image Storage file per slice.

    Integer voxels that fit int16 (e.g. HU) are stored exactly (RescaleSlope 1, Intercept 0); uint16
    likewise; float voxels are quantised to int16 with RescaleSlope / RescaleIntercept (with a warning).

    Args:
        volume: the image; slice k is written at IPP = affine @ (k, 0, 0, 1).
        folder: created if missing; files are named IM00001.dcm, IM00002.dcm, ... by InstanceNumber.
        study_uid, series_uid: reuse existing UIDs (e.g. several series in one study).
        modality: "CT" or "MR"; defaults to ``volume.modality``.
        transfer_syntax: "explicit" (default), "implicit", "rle", "jpeg-ls", "jpeg2000-lossless".
        extra: further attributes for every file, by keyword, e.g. {"PatientAge": "054Y"}.
        instance_order: ``instance_order[i]`` is the slice stored as InstanceNumber i+1 (tests use a
            shuffled order to check that readers sort by position, not by number or name).
        uid_seed: any string; makes every UID a deterministic function of it (reproducible builds).

    Returns:
        The written paths, in InstanceNumber order.

    Example:
        >>> import numpy as np, tempfile
        >>> from medwb import Volume
        >>> v = Volume.from_geometry(np.zeros((3, 8, 8), np.int16), spacing=(2, 1, 1), modality="CT")
        >>> len(write_series(v, tempfile.mkdtemp(), uid_seed="doc"))
        3
    """
    mod = _modality(volume, modality)
    ts = _transfer_syntax(transfer_syntax)
    n = volume.shape[0]
    order = list(range(n)) if instance_order is None else [int(i) for i in instance_order]
    if sorted(order) != list(range(n)):
        raise ValueError(
            f"instance_order must be a permutation of range({n}), got {order[:10]}...\n"
            "Fix: pass e.g. numpy.random.permutation(volume.shape[0])."
        )
    iop, pixel_spacing, ipp, thickness, between = _geometry(volume)
    stored, slope, intercept = _pixels(volume.array, mod)
    study, series, frame_uid = _uids(uid_seed, study_uid, series_uid, series_number)
    sop_class = SOP_CLASSES[mod][0]

    ds = _common(
        mod=mod, sop_class=sop_class, patient_name=patient_name, patient_id=patient_id,
        study_uid=study, series_uid=series, frame_uid=frame_uid, series_number=series_number,
        series_description=series_description, study_description=study_description,
        study_date=study_date, stored=stored,
    )  # fmt: skip
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImageOrientationPatient = [ds_string(v) for v in iop]
    ds.PixelSpacing = [ds_string(v) for v in pixel_spacing]
    ds.SliceThickness = ds_string(thickness)
    ds.SpacingBetweenSlices = ds_string(between)
    if mod == "CT":
        ds.KVP = "120"
        ds.RescaleIntercept = ds_string(intercept)
        ds.RescaleSlope = ds_string(slope)
        ds.RescaleType = "HU"
    else:
        ds.ScanningSequence = "RM"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "3D"
        ds.EchoTime = ds.RepetitionTime = ""
        ds.EchoTrainLength = ""
        if slope != 1.0 or intercept != 0.0:
            ds.RescaleIntercept = ds_string(intercept)
            ds.RescaleSlope = ds_string(slope)
    if ts.is_compressed:
        ds.LossyImageCompression = "00"
    for key, value in (extra or {}).items():
        setattr(ds, key, value)
    ds.file_meta = file_meta(sop_class, ts)
    normal = np.cross(np.asarray(iop[:3]), np.asarray(iop[3:]))

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    template = SeriesTemplate(ds, ts)
    paths: list[Path] = []
    for number, k in enumerate(order, start=1):
        sop_uid = (
            generate_uid(entropy_srcs=[uid_seed, series, str(k)]) if uid_seed is not None else generate_uid()
        )
        position = "\\".join(ds_string(v) for v in ipp[k])
        pixels = encode_pixels(stored[k : k + 1], ts, ds)
        path = folder / f"IM{number:05d}.dcm"
        path.write_bytes(template.render(sop_uid, number, position, ds_string(float(ipp[k] @ normal)), pixels))
        paths.append(path)
    return paths


def write_multiframe(
    volume: Volume,
    path: str | Path,
    *,
    patient_name: str = "DEMO^PATIENT",
    patient_id: str = "DEMO-000",
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_number: int = 1,
    series_description: str = "",
    study_description: str = "",
    modality: str | None = None,
    study_date: str = "20260101",
    transfer_syntax: str = "explicit",
    extra: Mapping[str, Any] | None = None,
    uid_seed: str | None = None,
) -> Path:
    """Write ``volume`` as one Enhanced CT / Enhanced MR multi-frame file with functional groups.

    Shared groups hold PixelMeasures, PlaneOrientation (and PixelValueTransformation for CT);
    each frame's PlanePositionSequence holds its ImagePositionPatient. Arguments as write_series.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from medwb import Volume
        >>> v = Volume.from_geometry(np.zeros((3, 8, 8), np.int16), modality="MR")
        >>> write_multiframe(v, os.path.join(tempfile.mkdtemp(), "mf.dcm")).suffix
        '.dcm'
    """
    mod = _modality(volume, modality)
    ts = _transfer_syntax(transfer_syntax)
    iop, pixel_spacing, ipp, thickness, between = _geometry(volume)
    stored, slope, intercept = _pixels(volume.array, mod)
    study, series, frame_uid = _uids(uid_seed, study_uid, series_uid, series_number)
    sop_class = SOP_CLASSES[mod][1]
    ds = _common(
        mod=mod, sop_class=sop_class, patient_name=patient_name, patient_id=patient_id,
        study_uid=study, series_uid=series, frame_uid=frame_uid, series_number=series_number,
        series_description=series_description, study_description=study_description,
        study_date=study_date, stored=stored,
    )  # fmt: skip
    sop_uid = generate_uid(entropy_srcs=[uid_seed, series, "mf"]) if uid_seed is not None else generate_uid()
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = 1
    frame_type = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.ImageType = frame_type
    ds.AcquisitionDateTime = f"{study_date}120000"
    ds.ContentQualification = "RESEARCH"
    ds.BurnedInAnnotation = "NO"
    ds.PresentationLUTShape = "IDENTITY"
    ds.LossyImageCompression = "00"
    ds.NumberOfFrames = volume.shape[0]
    if mod == "CT":
        ds.VolumeBasedCalculationTechnique = "NONE"
        ds.PixelPresentation = "MONOCHROME"
        ds.VolumetricProperties = "VOLUME"
    else:
        ds.PixelPresentation = "MONOCHROME"
        ds.VolumetricProperties = "VOLUME"
        ds.VolumeBasedCalculationTechnique = "NONE"
        ds.ComplexImageComponent = "MAGNITUDE"
        ds.AcquisitionContrast = "UNKNOWN"

    dim_uid = generate_uid(entropy_srcs=[uid_seed, series, "dim"]) if uid_seed is not None else generate_uid()
    org = Dataset()
    org.DimensionOrganizationUID = dim_uid
    ds.DimensionOrganizationSequence = DicomSequence([org])
    ds.DimensionOrganizationType = "3D"
    dim = Dataset()
    dim.DimensionOrganizationUID = dim_uid
    dim.DimensionIndexPointer = 0x00200032  # ImagePositionPatient
    dim.FunctionalGroupPointer = 0x00209113  # PlanePositionSequence
    dim.DimensionDescriptionLabel = "Image Position"
    ds.DimensionIndexSequence = DicomSequence([dim])

    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [ds_string(v) for v in pixel_spacing]
    measures.SliceThickness = ds_string(thickness)
    measures.SpacingBetweenSlices = ds_string(between)
    shared.PixelMeasuresSequence = DicomSequence([measures])
    orient = Dataset()
    orient.ImageOrientationPatient = [ds_string(v) for v in iop]
    shared.PlaneOrientationSequence = DicomSequence([orient])
    kind = Dataset()
    kind.FrameType = frame_type
    kind.PixelPresentation = "MONOCHROME"
    kind.VolumetricProperties = "VOLUME"
    kind.VolumeBasedCalculationTechnique = "NONE"
    if mod == "CT":
        transform = Dataset()
        transform.RescaleIntercept = ds_string(intercept)
        transform.RescaleSlope = ds_string(slope)
        transform.RescaleType = "HU"
        shared.PixelValueTransformationSequence = DicomSequence([transform])
        shared.CTImageFrameTypeSequence = DicomSequence([kind])
    else:
        kind.ComplexImageComponent = "MAGNITUDE"
        kind.AcquisitionContrast = "UNKNOWN"
        shared.MRImageFrameTypeSequence = DicomSequence([kind])
        if slope != 1.0 or intercept != 0.0:
            transform = Dataset()
            transform.RescaleIntercept = ds_string(intercept)
            transform.RescaleSlope = ds_string(slope)
            transform.RescaleType = "US"
            shared.PixelValueTransformationSequence = DicomSequence([transform])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])

    stamp = f"{study_date}120000"
    frames = []
    for k, pos in enumerate(ipp):
        item = Dataset()
        plane = Dataset()
        plane.ImagePositionPatient = [ds_string(v) for v in pos]
        item.PlanePositionSequence = DicomSequence([plane])
        content = Dataset()
        content.FrameAcquisitionDateTime = stamp
        content.FrameReferenceDateTime = stamp
        content.FrameAcquisitionDuration = 0.0
        content.StackID = "1"
        content.InStackPositionNumber = k + 1
        content.DimensionIndexValues = [k + 1]
        item.FrameContentSequence = DicomSequence([content])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(frames)
    for key, value in (extra or {}).items():
        setattr(ds, key, value)
    ds.file_meta = file_meta(sop_class, ts)
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.PixelData = encode_pixels(stored, ts, ds)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True, little_endian=True, implicit_vr=ts == ImplicitVRLittleEndian)
    return path

