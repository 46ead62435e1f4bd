"""Per-frame geometry and rescale of a DICOM image: single-frame, legacy or enhanced multi-frame.

frame_geometry() reads ImagePositionPatient, ImageOrientationPatient, PixelSpacing and RescaleSlope /
RescaleIntercept for every frame, from the top level or the functional groups (per-frame first, then
shared), filling what the groups leave out from the top-level attributes. Raw header values come from
medwb.io.dicom.header; reading pixels is medwb.io.dicom.pixels's job.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from medwb.io.dicom.header import raw_floats, raw_value

__all__ = ["frame_geometry", "Facts"]

Facts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _floats(value: Any, n: int) -> np.ndarray:
    try:
        arr = np.asarray([float(v) for v in value], dtype=np.float64)
        return arr if arr.size == n else np.full(n, np.nan)
    except (TypeError, ValueError):
        return np.full(n, np.nan)


def _first(ds: Dataset, seq: str) -> Dataset | None:
    items = ds.get(seq)
    return items[0] if items else None


def _group_value(frame: Dataset | None, shared: Dataset | None, seq: str, key: str) -> Any:
    for group in (frame, shared):
        item = _first(group, seq) if group is not None else None
        if item is not None and key in item:
            return item[key].value
    return None


def _rescale(value: Any, default: float) -> float:
    """A rescale value; NaN when present but not a number (the caller reports it, never guesses 1)."""
    try:
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return float("nan")


def _spacing(value: Any, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def frame_geometry(ds: Dataset | dict[int, bytes], n: int) -> Facts:
    """(ipp (n, 3), iop (n, 6), pixel_spacing (n, 2), slope (n,), intercept (n,)) of the n frames of ``ds``.

    NaN where a position, orientation or spacing is absent; a rescale value that is present but not a
    number is NaN too (the caller reports it: it must never be read as 1).
    """
    if n == 1:  # the hot path: raw values, no pydicom conversion
        nan3, nan6, nan2 = np.full(3, np.nan), np.full(6, np.nan), np.full(2, np.nan)
        ipp, iop, ps = raw_floats(ds, 0x00200032, 3), raw_floats(ds, 0x00200037, 6), raw_floats(ds, 0x00280030, 2)
        return ((nan3 if ipp is None else ipp)[None], (nan6 if iop is None else iop)[None],
                (nan2 if ps is None else ps)[None], np.array([_rescale(raw_value(ds, 0x00281053), 1.0)]),
                np.array([_rescale(raw_value(ds, 0x00281052), 0.0)]))  # fmt: skip
    assert isinstance(ds, Dataset)
    top_ipp = _floats(ds.get("ImagePositionPatient", []), 3)
    top_iop = _floats(ds.get("ImageOrientationPatient", []), 6)
    top_ps = _floats(ds.get("PixelSpacing", []), 2)
    top_slope = _rescale(ds.get("RescaleSlope"), 1.0)
    top_icpt = _rescale(ds.get("RescaleIntercept"), 0.0)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    if n > 1 and (per_frame or shared is not None):
        frames = list(per_frame or [])
        ipp, iop, ps, sl, ic = (np.full((n, 3), np.nan), np.full((n, 6), np.nan), np.full((n, 2), np.nan),
                                np.ones(n), np.zeros(n))  # fmt: skip
        for k in range(n):
            fr = frames[k] if k < len(frames) else None
            ipp[k] = _floats(_group_value(fr, shared, "PlanePositionSequence", "ImagePositionPatient") or [], 3)
            iop[k] = _floats(
                _group_value(fr, shared, "PlaneOrientationSequence", "ImageOrientationPatient") or [], 6
            )
            ps[k] = _floats(_group_value(fr, shared, "PixelMeasuresSequence", "PixelSpacing") or [], 2)
            sl[k] = _rescale(_group_value(fr, shared, "PixelValueTransformationSequence", "RescaleSlope"), top_slope)
            ic[k] = _rescale(
                _group_value(fr, shared, "PixelValueTransformationSequence", "RescaleIntercept"), top_icpt
            )
        for k in range(n):  # legacy fields fill what the groups leave out
            if np.isnan(iop[k]).any():
                iop[k] = top_iop
            if np.isnan(ps[k]).any():
                ps[k] = top_ps
        if np.isnan(ipp).any() and not np.isnan(top_ipp).any() and not np.isnan(iop[0]).any():
            ipp = _stepped(ds, top_ipp, iop[0], n)
        return ipp, iop, ps, sl, ic
    if n > 1 and not np.isnan(top_ipp).any() and not np.isnan(top_iop).any():
        ipp = _stepped(ds, top_ipp, top_iop, n)  # legacy multi-frame: one position, a slice step
    else:
        ipp = np.tile(top_ipp, (n, 1))
    return ipp, np.tile(top_iop, (n, 1)), np.tile(top_ps, (n, 1)), np.full(n, top_slope), np.full(n, top_icpt)


def _stepped(ds: Dataset, ipp0: np.ndarray, iop: np.ndarray, n: int) -> np.ndarray:
    step = _spacing(ds.get("SpacingBetweenSlices"), 0.0) or _spacing(ds.get("SliceThickness"), 1.0) or 1.0
    normal = np.cross(iop[:3], iop[3:])
    return ipp0[None, :] + np.arange(n)[:, None] * step * normal[None, :]
