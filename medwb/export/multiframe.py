"""Write a Volume as one Enhanced CT / Enhanced MR multi-frame DICOM file with functional groups.

The multi-frame twin of medwb.export.series.write_series (same arguments, same geometry convention):
shared groups hold PixelMeasures, PlaneOrientation and PixelValueTransformation, each frame's
PlanePositionSequence its ImagePositionPatient.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ImplicitVRLittleEndian, generate_uid

from medwb.export.image_dataset import (
    SOP_CLASSES,
    common_dataset,
    geometry,
    modality_of,
    series_uids,
    stored_values,
    transfer_syntax_of,
)
from medwb.export.series_encoding import ds_string, encode_pixels, file_meta
from medwb.volume import Volume

__all__ = ["write_multiframe"]


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
    mod = modality_of(volume, modality)
    ts = transfer_syntax_of(transfer_syntax)
    iop, pixel_spacing, ipp, thickness, between = geometry(volume)
    stored, slope, intercept = stored_values(volume.array, mod)
    study, series, frame_uid = series_uids(uid_seed, study_uid, series_uid, series_number)
    sop_class = SOP_CLASSES[mod][1]
    ds = common_dataset(
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
    if mod == "CT" or slope != 1.0 or intercept != 0.0:  # CT always states its rescale to HU
        transform = Dataset()
        transform.RescaleIntercept = ds_string(intercept)
        transform.RescaleSlope = ds_string(slope)
        transform.RescaleType = "HU" if mod == "CT" else "US"
        shared.PixelValueTransformationSequence = DicomSequence([transform])
    if mod == "CT":
        shared.CTImageFrameTypeSequence = DicomSequence([kind])
    else:
        kind.ComplexImageComponent = "MAGNITUDE"
        kind.AcquisitionContrast = "UNKNOWN"
        shared.MRImageFrameTypeSequence = DicomSequence([kind])
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
