"""Lesion and prediction masks as DICOM Segmentation objects (through highdicom), and back.

write_seg() stores one or more masks drawn on an image series as a DICOM SEG that references that
series (per frame, by SOP Instance UID), so a viewer or PACS overlays it where it belongs: binary
masks as a BINARY segmentation, probability maps as a FRACTIONAL one. read_seg() reads a SEG with
pydicom alone and puts every frame on the image grid by its own geometry (position, orientation, spacing):
a SEG written in another orientation (rows and columns swapped, flipped) lands where it belongs, and one
whose frames do not fall voxel for voxel on the reference raises GeometryError instead of being guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medwb.export.derived import (
    SourceLike,
    check_grid,
    equipment,
    frames_to_volume,
    new_uid,
    source_datasets,
)
from medwb.volume import Volume

__all__ = ["write_seg", "read_seg", "SEGMENT_TYPES"]

#: Segmented property types by name (SNOMED CT), the category being a morphologically abnormal structure
#: except for "tissue" / "organ".
SEGMENT_TYPES: dict[str, tuple[str, str, str]] = {
    "lesion": ("49755003", "52988006", "Lesion"),
    "neoplasm": ("49755003", "108369006", "Neoplasm"),
    "mass": ("49755003", "4147007", "Mass"),
    "oedema": ("49755003", "79654002", "Edema"),
    "necrosis": ("49755003", "6574001", "Necrosis"),
    "tissue": ("85756007", "85756007", "Tissue"),
}
_CATEGORY_MEANING = {"49755003": "Morphologically Abnormal Structure", "85756007": "Tissue"}


def _codes(kind: str) -> tuple[Any, Any]:
    from pydicom.sr.coding import Code

    if kind not in SEGMENT_TYPES:
        raise KeyError(f"unknown segment type {kind!r}; known: {', '.join(SEGMENT_TYPES)}.\n"
                       "Fix: pick one, or add a SNOMED CT code to medwb.export.seg.SEGMENT_TYPES.")
    cat, value, meaning = SEGMENT_TYPES[kind]
    return Code(cat, "SCT", _CATEGORY_MEANING[cat]), Code(value, "SCT", meaning)


def write_seg(
    masks: Volume | Mapping[str, Volume],
    source: SourceLike,
    path: str | Path,
    *,
    segment_type: str | Sequence[str] = "lesion",
    fractional: bool = False,
    algorithm: str = "medwb",
    algorithm_version: str | None = None,
    manual: bool = False,
    series_description: str = "medwb segmentation",
    series_number: int = 300,
    omit_empty_frames: bool = True,
    uid_seed: str | None = None,
) -> Path:
    """Write masks drawn on ``source``'s grid as a DICOM SEG file.

    Args:
        masks: one mask Volume (a label map: each value 1..n a segment) or {label: Volume} of binary
            masks (overlaps allowed) or, with ``fractional=True``, of probabilities in [0, 1].
        source: the image series the masks were drawn on (folder, files or Datasets).
        path: the file to write (its folder is created).
        segment_type: a key of SEGMENT_TYPES, or one per segment.
        fractional: store probabilities (FRACTIONAL / PROBABILITY, 8 bits) instead of binary masks.
        algorithm, algorithm_version: the model or method, recorded in AlgorithmIdentificationSequence.
        manual: segments drawn by hand (SegmentAlgorithmType MANUAL) rather than computed.
        omit_empty_frames: leave out frames where a segment is empty (smaller files; read_seg fills
            them back in against the reference grid).
        uid_seed: makes the SEG's UIDs deterministic.

    Example:
        >>> from medwb.export.series import write_series
        >>> hu = np.zeros((4, 8, 8), np.int16)
        >>> ct = medwb.Volume.from_geometry(hu, spacing=(2.5, 0.8, 0.8), modality="CT")
        >>> _ = write_series(ct, tmp_path / "ct")                    # the image series the result is about
        >>> mask = np.zeros(ct.shape, np.uint8)
        >>> mask[1:3, 2:5, 2:5] = 1
        >>> write_seg({"lesion": ct.with_array(mask)}, tmp_path / "ct", tmp_path / "seg.dcm").name
        'seg.dcm'
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    sources = source_datasets(source)
    if isinstance(masks, Volume):
        arr = np.asarray(masks.array)
        if fractional or not np.issubdtype(arr.dtype, np.integer) and arr.dtype != bool:
            raise TypeError("a single mask Volume must be an integer label map; pass {label: Volume} for "
                            "probability maps with fractional=True.")
        n = int(arr.max()) if arr.size else 0
        labels = [f"segment {i}" for i in range(1, max(n, 1) + 1)]
        geometry = masks
        stacked = np.stack([arr == i for i in range(1, len(labels) + 1)], axis=-1).astype(np.uint8)
    else:
        if not masks:
            raise ValueError("no masks given.\nFix: pass {'lesion': mask_volume, ...}.")
        labels = list(masks)
        geometry = next(iter(masks.values()))
        for name, m in masks.items():
            if not m.same_grid(geometry):
                raise ValueError(f"mask {name!r} is not on the grid of mask {labels[0]!r}.\n"
                                 "Fix: resample all masks onto the image grid (medwb.transforms.resample_like).")
        parts = []
        for name, m in masks.items():
            a = np.asarray(m.array)
            if fractional:
                a = a.astype(np.float32)
                if a.size and (np.nanmin(a) < 0 or np.nanmax(a) > 1):
                    raise ValueError(f"probability map {name!r} has values outside [0, 1] "
                                     f"({float(np.nanmin(a)):.3g}..{float(np.nanmax(a)):.3g}).\n"
                                     "Fix: apply a sigmoid / softmax first, or clip.")
            else:
                a = (a > 0).astype(np.uint8)
            parts.append(a)
        stacked = np.stack(parts, axis=-1)
    aligned = check_grid(geometry, sources, "mask")
    if aligned is not geometry:  # stacked the other way round: reverse the frames with the geometry
        stacked = np.ascontiguousarray(stacked[::-1])
        geometry = aligned
    kinds = [segment_type] * len(labels) if isinstance(segment_type, str) else list(segment_type)
    if len(kinds) != len(labels):
        raise ValueError(f"{len(kinds)} segment types for {len(labels)} segments {labels}")
    eq = equipment()
    algo = None if manual else hd.AlgorithmIdentificationSequence(
        name=algorithm, family=codes.cid7162.ArtificialIntelligence,
        version=algorithm_version or eq["software_versions"])
    descriptions = []
    for i, (label, kind) in enumerate(zip(labels, kinds), start=1):
        category, prop = _codes(kind)
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=i, segment_label=str(label)[:64], segmented_property_category=category,
            segmented_property_type=prop, algorithm_type="MANUAL" if manual else "AUTOMATIC",
            algorithm_identification=algo, tracking_uid=new_uid(uid_seed, "track", str(label)),
            tracking_id=str(label)[:64]))
    frame_uid = str(sources[0].FrameOfReferenceUID)
    hd_vol = hd.Volume(stacked, geometry.affine.copy(), coordinate_system="PATIENT",
                       frame_of_reference_uid=frame_uid,
                       channels={"SegmentNumber": list(range(1, len(labels) + 1))})
    series_uid = new_uid(uid_seed, "seg-series")
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=hd_vol,
        segmentation_type="FRACTIONAL" if fractional else "BINARY",
        segment_descriptions=descriptions, series_instance_uid=series_uid, series_number=int(series_number),
        sop_instance_uid=new_uid(uid_seed, "seg-sop"), instance_number=1,
        fractional_type="PROBABILITY" if fractional else None, omit_empty_frames=omit_empty_frames,
        series_description=series_description[:64], content_label="MEDWB_SEG",
        content_description=f"{algorithm} {'probabilities' if fractional else 'masks'}"[:64], **eq)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return path


def read_seg(path: str | Path | Any, reference: Volume | None = None) -> dict[str, Volume]:
    """Read a DICOM SEG (path or Dataset) into {segment label: Volume} on ``reference``'s grid (or its own).

    Binary segments come back as uint8 0/1, fractional ones as float32 in [0, 1]. Each Volume's meta
    holds segment_number, the segmented property and the algorithm (name, version) when recorded.

    Example:
        >>> from medwb.export.series import write_series
        >>> hu = np.zeros((4, 8, 8), np.int16)
        >>> ct = medwb.Volume.from_geometry(hu, spacing=(2.5, 0.8, 0.8), modality="CT")
        >>> _ = write_series(ct, tmp_path / "ct")                    # the image series the result is about
        >>> mask = np.zeros(ct.shape, np.uint8)
        >>> mask[1:3, 2:5, 2:5] = 1
        >>> path = write_seg({"lesion": ct.with_array(mask)}, tmp_path / "ct", tmp_path / "seg.dcm")
        >>> masks = read_seg(path, reference=ct)
        >>> list(masks), bool(np.array_equal(masks["lesion"].array, mask)), masks["lesion"].meta["property"]
        (['lesion'], True, 'Lesion')
    """
    import pydicom

    ds = path if isinstance(path, pydicom.Dataset) else pydicom.dcmread(path)
    if ds.get("Modality") != "SEG":
        raise ValueError(f"{path} is not a DICOM SEG (Modality {ds.get('Modality')!r}).")
    pixels = ds.pixel_array
    pixels = pixels.reshape((-1, int(ds.Rows), int(ds.Columns)))
    fractional = ds.SegmentationType == "FRACTIONAL"
    if fractional:
        frames = pixels.astype(np.float32) / float(ds.MaximumFractionalValue)
    else:
        frames = pixels.astype(np.uint8)
    shared = ds.SharedFunctionalGroupsSequence[0]
    owner = np.array([int((f.get("SegmentIdentificationSequence") or shared.SegmentIdentificationSequence)[0]
                          .ReferencedSegmentNumber) for f in ds.PerFrameFunctionalGroupsSequence])
    if reference is None:  # one grid for every segment, from all frames
        reference = frames_to_volume(ds, frames)
    out: dict[str, Volume] = {}
    for seg in ds.SegmentSequence:
        number = int(seg.SegmentNumber)
        which = np.flatnonzero(owner == number)
        vol = frames_to_volume(ds, frames[which], reference, frame_indices=which) if len(which) else \
            Volume(np.zeros(reference.shape, frames.dtype), reference.affine.copy())
        algo = seg.get("SegmentationAlgorithmIdentificationSequence") or seg.get("AlgorithmIdentificationSequence")
        prop = seg.SegmentedPropertyTypeCodeSequence[0]
        vol.meta.update(segment_number=number, segment_label=str(seg.SegmentLabel),
                        property=str(prop.CodeMeaning), algorithm_type=str(seg.SegmentAlgorithmType),
                        algorithm=str(algo[0].AlgorithmName) if algo else None,
                        algorithm_version=str(algo[0].AlgorithmVersion) if algo else None,
                        series_uid=str(ds.SeriesInstanceUID), sop_uid=str(ds.SOPInstanceUID))
        out[str(seg.SegmentLabel)] = vol
    return out
