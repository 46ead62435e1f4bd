"""What DICOM SEG, Parametric Map and SR writing share: the source series, equipment, UIDs, read-back.

Derived objects reference the image series they were computed from. ``source_datasets`` reads that
series (headers only) and sorts it by position along the slice normal, the order of a medwb Volume, so
that frame k of a result always lands on slice k of the source (the reversed-frames trap of
highdicom#330 is avoided by giving highdicom a geometry-carrying ``highdicom.Volume`` rather than a bare
array). ``frames_to_volume`` reads a multi-frame result back with pydicom alone: each frame is put on the
grid by its own ImagePositionPatient, never by its number.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medwb.volume import GeometryError, Volume

__all__ = ["source_datasets", "to_hd_volume", "equipment", "new_uid", "frames_to_volume", "SourceLike",
           "frame_positions", "check_grid", "flip_slices"]

SourceLike = str | os.PathLike | Sequence[Any]


def source_datasets(source: SourceLike) -> list[Any]:
    """The source series as pydicom Datasets (no pixel data), sorted along the slice normal.

    ``source`` is a folder of one series, a list of files, or a list of Datasets.
    """
    import pydicom

    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        paths = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")) if p.is_dir() else [p]
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


def frames_to_volume(ds: Any, frames: np.ndarray, reference: Volume | None = None,
                     frame_indices: Sequence[int] | None = None) -> Volume:
    """Place ``frames`` (n, rows, cols) of a multi-frame object on a grid by their ImagePositionPatient.

    With ``reference`` the grid is the reference's (a frame off its slice positions raises); without,
    the grid runs from the lowest to the highest frame along the normal at SpacingBetweenSlices.
    ``frame_indices`` picks which frames of ``ds`` the rows of ``frames`` are (default: all, in order).
    """
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = np.asarray(shared.PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float)
    measures = shared.PixelMeasuresSequence[0]
    drow, dcol = (float(v) for v in measures.PixelSpacing)
    positions = frame_positions(ds)
    if frame_indices is not None:
        positions = positions[np.asarray(frame_indices)]
    row_dir, col_dir = iop[3:], iop[:3]  # IOP = (row cosine: along a row, column cosine: down a column)
    if reference is None:
        normal = np.cross(iop[:3], iop[3:])
        along = positions @ normal
        step = float(getattr(measures, "SpacingBetweenSlices", 0) or 0)
        if step <= 0:
            diffs = np.diff(np.unique(np.round(along, 4)))
            step = float(diffs.min()) if len(diffs) else float(getattr(measures, "SliceThickness", 1.0) or 1.0)
        n = int(round((along.max() - along.min()) / step)) + 1
        origin = positions[int(np.argmin(along))]
        affine = np.eye(4)
        affine[:3, 0] = normal * step
        affine[:3, 1] = row_dir * drow
        affine[:3, 2] = col_dir * dcol
        affine[:3, 3] = origin
        reference = Volume(np.zeros((n, int(ds.Rows), int(ds.Columns)), np.uint8), affine)
    out = np.zeros(reference.shape, dtype=frames.dtype)
    idx = reference.world_to_index(positions)
    for f, (k, r, c) in enumerate(np.atleast_2d(idx)):
        kk = int(round(k))
        if abs(k - kk) > 1e-2 or abs(r) > 1e-2 or abs(c) > 1e-2 or not 0 <= kk < reference.shape[0]:
            raise GeometryError(
                f"frame {f + 1} of {ds.SOPInstanceUID} at {np.round(positions[f], 3).tolist()} mm is not on a "
                f"slice of the reference grid (index {np.round([k, r, c], 3).tolist()}).\n"
                "Fix: read it against the image series it was made from.")
        out[kk] = frames[f]
    return Volume(out, reference.affine.copy(), "OT", {"sop_uid": str(ds.SOPInstanceUID),
                                                        "series_uid": str(ds.SeriesInstanceUID)})
