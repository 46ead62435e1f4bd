"""What DICOM SEG, Parametric Map and SR writing share: the source series, equipment, UIDs, read-back.

Derived objects reference the image series they were computed from. ``source_datasets`` reads that
series (headers only) and sorts it by position along the slice normal, the order of a medwb Volume, so
that frame k of a result always lands on slice k of the source (the reversed-frames trap of
highdicom#330 is avoided by giving highdicom a geometry-carrying ``highdicom.Volume`` rather than a bare
array). ``frames_to_volume`` reads a multi-frame result back with pydicom alone: each pixel is put on the
grid by its frame's own position, orientation and spacing, never by frame number. A source that lacks Type 2
patient / study attributes (PatientBirthDate, AccessionNumber, ...) gets them empty, as DICOM requires.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medwb.volume import GeometryError, Volume

__all__ = ["source_datasets", "to_hd_volume", "equipment", "new_uid", "frames_to_volume", "SourceLike",
           "frame_positions", "frame_planes", "check_grid", "flip_slices", "TYPE2_FROM_SOURCE"]

SourceLike = str | os.PathLike | Sequence[Any]


#: Type 2 attributes of the Patient and General Study modules: a derived object must carry them (empty
#: when unknown), and highdicom copies them from the first source image.
TYPE2_FROM_SOURCE = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                     "ReferringPhysicianName", "StudyID", "AccessionNumber")
_TYPE1_FROM_SOURCE = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


def _complete(ds: Any) -> Any:
    """``ds`` with absent Type 2 attributes present and empty, as DICOM requires (a copy when it changes)."""
    missing = [k for k in TYPE2_FROM_SOURCE if k not in ds]
    if not missing:
        return ds
    out = copy.deepcopy(ds)  # the caller's Dataset stays as it was
    for keyword in missing:
        setattr(out, keyword, "")
    return out


def source_datasets(source: SourceLike) -> list[Any]:
    """The source series as pydicom Datasets (no pixel data), sorted along the slice normal.

    ``source`` is a folder of one series, a list of files, or a list of Datasets. Type 2 patient and
    study attributes a source lacks (PatientBirthDate, AccessionNumber, StudyID, ...) are added empty, as
    DICOM requires of the derived object; a missing Type 1 UID raises ValueError naming it.
    """
    import pydicom

    from medwb.io.dicom.files import list_files

    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        paths = list_files(p) if p.is_dir() else [p]
        items: list[Any] = [pydicom.dcmread(f, stop_before_pixels=True, force=True) for f in paths]
    else:
        items = [s if isinstance(s, pydicom.Dataset) else pydicom.dcmread(s, stop_before_pixels=True)
                 for s in source]
    items = [d for d in items if "SOPInstanceUID" in d and "ImagePositionPatient" in d]
    if not items:
        raise ValueError(f"no image instances found in {source!r}.\n"
                         "Fix: pass the folder (or files) of the image series the result was computed on.")
    series = {str(d.SeriesInstanceUID) for d in items}
    if len(series) > 1:
        raise ValueError(f"the source holds {len(series)} series ({sorted(series)[:3]}...); derived objects "
                         "reference one.\nFix: pass the folder or files of a single series.")
    for d in items:
        absent = [k for k in _TYPE1_FROM_SOURCE if not str(d.get(k, "") or "")]
        if absent:
            raise ValueError(f"source instance {d.get('SOPInstanceUID', '?')} lacks {', '.join(absent)}, which "
                             "a derived object must reference.\nFix: pass the original image series "
                             "(not a de-identified or stripped copy missing its UIDs).")
    items = [_complete(d) for d in items]
    iop = np.asarray(items[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    return sorted(items, key=lambda d: float(np.dot(normal, np.asarray(d.ImagePositionPatient, dtype=float))))


def flip_slices(volume: Volume) -> Volume:
    """The same voxels on the same grid, slice axis reversed (slice 0 becomes the last)."""
    affine = volume.affine.copy()
    affine[:3, 3] = volume.index_to_world([volume.shape[0] - 1, 0, 0])
    affine[:3, 0] = -affine[:3, 0]
    return Volume(np.ascontiguousarray(volume.array[::-1]), affine, volume.modality, dict(volume.meta))


def check_grid(volume: Volume, sources: list[Any], what: str) -> Volume:
    """``volume`` expressed on the source grid, slices in source order (ascending along the normal).

    A volume stacked the other way round (slice 0 at the source's last slice, e.g. from a NIfTI or
    another reader) is flipped, not refused: writing it as is would reverse every frame (highdicom#330).
    Anything else off the grid raises GeometryError with the fix.
    """
    if len(sources) != volume.shape[0] or (int(sources[0].Rows), int(sources[0].Columns)) != volume.shape[1:]:
        raise GeometryError(
            f"the {what} has shape {volume.shape} but the source series has {len(sources)} slices of "
            f"{int(sources[0].Rows)}x{int(sources[0].Columns)}.\n"
            "Fix: resample it onto the source grid first (medwb.transforms.resample_like(result, image)).")
    first = np.asarray(sources[0].ImagePositionPatient, dtype=float)
    last = np.asarray(sources[-1].ImagePositionPatient, dtype=float)
    for candidate in (volume, flip_slices(volume)):
        want0 = candidate.index_to_world([0, 0, 0])
        want1 = candidate.index_to_world([volume.shape[0] - 1, 0, 0])
        if np.allclose(first, want0, atol=1e-2) and np.allclose(last, want1, atol=1e-2):
            return candidate
    raise GeometryError(
        f"the {what} does not lie on the source series: its first/last slice start at "
        f"{np.round(volume.index_to_world([0, 0, 0]), 2).tolist()} / "
        f"{np.round(volume.index_to_world([volume.shape[0] - 1, 0, 0]), 2).tolist()} mm, the source's at "
        f"{np.round(first, 2).tolist()} / {np.round(last, 2).tolist()} mm.\n"
        "Fix: compute the result on the Volume loaded from this very series (or resample_like it).")


def to_hd_volume(volume: Volume, frame_of_reference_uid: str, array: np.ndarray | None = None) -> Any:
    """A highdicom.Volume with medwb's geometry (both map (slice, row, column) to LPS)."""
    import highdicom as hd

    return hd.Volume(np.asarray(volume.array if array is None else array), volume.affine.copy(),
                     coordinate_system="PATIENT", frame_of_reference_uid=frame_of_reference_uid)


def equipment() -> dict[str, str]:
    """The device fields highdicom asks for, naming medwb as the software that made the object."""
    try:
        from importlib.metadata import version

        v = version("medwb")
    except Exception:  # noqa: BLE001 - not installed as a distribution (running from a checkout)
        v = "0.1.0"
    return {"manufacturer": "medwb", "manufacturer_model_name": "medwb", "software_versions": v,
            "device_serial_number": "0"}


def new_uid(seed: str | None, *parts: str) -> str:
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[seed, *parts]) if seed is not None else generate_uid()


def frame_positions(ds: Any) -> np.ndarray:
    """ImagePositionPatient of every frame of an enhanced multi-frame object (n_frames x 3)."""
    per = ds.PerFrameFunctionalGroupsSequence
    return np.array([[float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient] for f in per])


def _group(ds: Any, k: int, sequence: str) -> Any:
    """Item of a functional group for frame k: its per-frame one, else the shared one."""
    per = ds.get("PerFrameFunctionalGroupsSequence")
    if per is not None and k < len(per) and sequence in per[k]:
        return per[k][sequence][0]
    return ds.SharedFunctionalGroupsSequence[0][sequence][0]


def frame_planes(ds: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(IPP (n, 3), IOP (n, 6), PixelSpacing (n, 2) as (row, column)) of every frame (per-frame, else shared)."""
    n = len(ds.PerFrameFunctionalGroupsSequence)
    iop = np.array([[float(v) for v in _group(ds, k, "PlaneOrientationSequence").ImageOrientationPatient]
                    for k in range(n)])
    ps = np.array([[float(v) for v in _group(ds, k, "PixelMeasuresSequence").PixelSpacing] for k in range(n)])
    return frame_positions(ds), iop, ps


def _own_grid(ds: Any, positions: np.ndarray, iop: np.ndarray, ps: np.ndarray) -> Volume:
    """The object's own grid: its first frame's plane, stepped from the lowest to the highest frame."""
    measures = ds.SharedFunctionalGroupsSequence[0].get("PixelMeasuresSequence", [None])[0]
    normal = np.cross(iop[0, :3], iop[0, 3:])
    along = positions @ normal
    step = float(getattr(measures, "SpacingBetweenSlices", 0) or 0) if measures is not None else 0.0
    if step <= 0:
        diffs = np.diff(np.unique(np.round(along, 4)))
        step = float(diffs.min()) if len(diffs) else float(getattr(measures, "SliceThickness", 1.0) or 1.0)
    n = int(round((along.max() - along.min()) / step)) + 1
    affine = np.eye(4)
    affine[:3, 0] = normal * step
    affine[:3, 1] = iop[0, 3:] * ps[0, 0]  # rows run along the column cosine (IOP[3:])
    affine[:3, 2] = iop[0, :3] * ps[0, 1]  # columns along the row cosine (IOP[:3])
    affine[:3, 3] = positions[int(np.argmin(along))]
    return Volume(np.zeros((n, int(ds.Rows), int(ds.Columns)), np.uint8), affine)


def _frame_lattice(reference: Volume, ipp: np.ndarray, iop: np.ndarray, ps: np.ndarray,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:  # fmt: skip
    """(reference voxel of the frame's first pixel, index step per frame row, per frame column), all integer;
    None when the frame's pixels do not fall one to one on reference voxels (another spacing, an oblique
    plane, half-voxel offsets)."""
    inv = np.linalg.inv(reference.affine[:3, :3])
    origin = inv @ (ipp - reference.affine[:3, 3])
    down = inv @ (iop[3:] * ps[0])  # index step from one row of the frame to the next
    across = inv @ (iop[:3] * ps[1])  # ... from one column to the next
    for v in (origin, down, across):
        if not np.allclose(v, np.round(v), atol=1e-2):
            return None
    down, across, origin = np.round(down).astype(int), np.round(across).astype(int), np.round(origin).astype(int)
    if np.abs(down).sum() != 1 or np.abs(across).sum() != 1 or np.array_equal(np.abs(down), np.abs(across)):
        return None
    return origin, down, across


def frames_to_volume(ds: Any, frames: np.ndarray, reference: Volume | None = None,
                     frame_indices: Sequence[int] | None = None) -> Volume:
    """Place ``frames`` (n, rows, cols) of a multi-frame object on a grid by their own geometry.

    Every pixel goes to the voxel at its position (IPP, IOP and PixelSpacing of its frame), never by frame
    number: frames written in another orientation than the reference (rows and columns swapped, flipped,
    or another plane of the same voxel lattice) land transposed back where they belong. Without
    ``reference`` the grid is the object's own (first frame's plane, stepped along its normal). A frame whose
    pixels do not fall one to one on reference voxels (an oblique plane, another spacing) raises
    GeometryError rather than being guessed. ``frame_indices`` picks which frames of ``ds`` the rows of
    ``frames`` are (default: all, in order).
    """
    positions, iop, ps = frame_planes(ds)
    if frame_indices is not None:
        which = np.asarray(frame_indices, dtype=int)
        positions, iop, ps = positions[which], iop[which], ps[which]
    if reference is None:
        reference = _own_grid(ds, positions, iop, ps)
    out = np.zeros(reference.shape, dtype=frames.dtype)
    for f in range(len(frames)):
        lattice = _frame_lattice(reference, positions[f], iop[f], ps[f])
        if lattice is None:
            raise GeometryError(
                f"frame {f + 1} of {ds.SOPInstanceUID} (IOP {np.round(iop[f], 4).tolist()}, spacing "
                f"{np.round(ps[f], 4).tolist()} mm, at {np.round(positions[f], 3).tolist()} mm) does not fall "
                "voxel for voxel on the reference grid (IOP "
                f"{np.round(np.r_[reference.direction[:, 2], reference.direction[:, 1]], 4).tolist()}, spacing "
                f"{np.round(reference.spacing[1:], 4).tolist()} mm).\n"
                "Fix: read it on its own grid (no reference) and resample that onto the image with "
                "medwb.transforms.resample_like(mask, image, order=0), or read it against the series it was "
                "made from.")
        origin, down, across = lattice
        if (origin[1:] == 0).all() and (down == (0, 1, 0)).all() and (across == (0, 0, 1)).all() \
                and frames.shape[1:] == out.shape[1:] and 0 <= origin[0] < out.shape[0]:
            out[origin[0]] = frames[f]  # the usual case: the frame is a slice of the reference
            continue
        rows, cols = np.meshgrid(np.arange(frames.shape[1]), np.arange(frames.shape[2]), indexing="ij")
        k, r, c = origin[:, None, None] + down[:, None, None] * rows + across[:, None, None] * cols
        if k.min() < 0 or r.min() < 0 or c.min() < 0 or k.max() >= out.shape[0] or r.max() >= out.shape[1] \
                or c.max() >= out.shape[2]:
            raise GeometryError(
                f"frame {f + 1} of {ds.SOPInstanceUID} at {np.round(positions[f], 3).tolist()} mm reaches "
                f"outside the reference grid {reference.shape} (voxels {int(k.min())}..{int(k.max())}, "
                f"{int(r.min())}..{int(r.max())}, {int(c.min())}..{int(c.max())}).\n"
                "Fix: read it against the image series it was made from.")
        out[k, r, c] = frames[f]
    return Volume(out, reference.affine.copy(), "OT", {"sop_uid": str(ds.SOPInstanceUID),
                                                        "series_uid": str(ds.SeriesInstanceUID)})
