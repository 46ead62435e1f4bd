"""Write a Volume as a real DICOM series: one CT or MR image per slice.

write_series() gives what scanners give (CT Image Storage / MR Image Storage, one file per slice,
geometry in ImagePositionPatient / ImageOrientationPatient / PixelSpacing). Geometry follows medwb.volume:
for IOP (r, c) and PixelSpacing (drow, dcol), ``affine[:3, 2] = r*dcol``, ``affine[:3, 1] = c*drow``,
``affine[:3, 0]`` = the step from one slice's IPP to the next. One Enhanced multi-frame file instead is
medwb.export.multiframe.write_multiframe (also importable from here); reading DICOM lives in medwb.io.dicom.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import generate_uid

from medwb.export.image_dataset import (
    SOP_CLASSES,
    TRANSFER_SYNTAXES,
    common_dataset,
    geometry,
    modality_of,
    series_uids,
    stored_values,
    transfer_syntax_of,
)
from medwb.export.multiframe import write_multiframe
from medwb.export.series_encoding import SeriesTemplate, ds_string, encode_pixels, file_meta
from medwb.volume import Volume

__all__ = ["write_series", "write_multiframe", "TRANSFER_SYNTAXES", "SOP_CLASSES"]


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
    mod = modality_of(volume, modality)
    ts = transfer_syntax_of(transfer_syntax)
    n = volume.shape[0]
    order = list(range(n)) if instance_order is None else [int(i) for i in instance_order]
    if sorted(order) != list(range(n)):
        raise ValueError(
            f"instance_order must be a permutation of range({n}), got {order[:10]}...\n"
            "Fix: pass e.g. numpy.random.permutation(volume.shape[0])."
        )
    iop, pixel_spacing, ipp, thickness, between = geometry(volume)
    stored, slope, intercept = stored_values(volume.array, mod)
    study, series, frame_uid = series_uids(uid_seed, study_uid, series_uid, series_number)
    sop_class = SOP_CLASSES[mod][0]

    ds = common_dataset(
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
