"""Reshape a stack of slices onto a regular grid: sort in place, drop duplicates, fill gaps, undo tilt.

The helpers load_series() calls once the slices of a series are read and their geometry is analysed
(medwb.io.dicom.geometry): each takes the stack (N, rows, cols) and returns it changed, and
apply_rescale() turns stored values into modality values (int16 kept when exact, float32 otherwise).
"""

from __future__ import annotations

import warnings

import numpy as np

from medwb.io.dicom.errors import SeriesGeometryError
from medwb.io.dicom.geometry import StackGeometry

__all__ = ["duplicates", "permute_inplace", "resample_gaps", "untilt", "apply_rescale"]


def duplicates(geo: StackGeometry, stack: np.ndarray, names: list[str], slope: np.ndarray,
                intercept: np.ndarray, uid: str) -> list[int]:  # fmt: skip
    """Frames to drop because they repeat an identical frame; raise on differing ones."""
    drop = []
    for i, j in geo.duplicates:
        same = slope[i] == slope[j] and intercept[i] == intercept[j] and np.array_equal(stack[i], stack[j])
        if not same:
            raise SeriesGeometryError(
                f"series {uid}: {names[i]} and {names[j]} lie at the same position "
                f"({float(geo.normal @ geo.ipp[list(geo.order).index(i)]):.4g} mm along the normal) but hold "
                "different pixels: several acquisitions (echoes, phases, time points) share this series.\n"
                "Fix: split the files by EchoTime / TemporalPositionIdentifier / AcquisitionNumber "
                "(medwb.scan_dicom(folder).files lists them) and load one group as a list of files."
            )
        drop.append(j)
    if drop:
        warnings.warn(
            f"series {uid}: dropped {len(drop)} duplicate slice(s) identical to another at the same "
            f"position (e.g. {names[drop[0]]}).",
            stacklevel=4,
        )
    return drop


def permute_inplace(arr: np.ndarray, order: np.ndarray) -> np.ndarray:
    """arr[:] = arr[order] one slice at a time along permutation cycles (no second volume in memory)."""
    done = np.zeros(len(order), bool)
    tmp = np.empty_like(arr[0])
    for start in range(len(order)):
        if done[start] or order[start] == start:
            done[start] = True
            continue
        tmp[...] = arr[start]
        k = start
        while True:
            src = int(order[k])
            done[k] = True
            if src == start:
                arr[k] = tmp
                break
            arr[k] = arr[src]
            k = src
    return arr


def resample_gaps(stack: np.ndarray, geo: StackGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation along the normal onto a uniform grid; returns (stack, new distances)."""
    d = geo.distance
    m = int(round((d[-1] - d[0]) / geo.step)) + 1
    t = np.minimum(d[0] + np.arange(m) * geo.step, d[-1])
    hi = np.clip(np.searchsorted(d, t, side="right"), 1, len(d) - 1)
    lo = hi - 1
    w = ((t - d[lo]) / (d[hi] - d[lo]))[:, None, None].astype(np.float32)
    out = stack[lo].astype(np.float32) * (1 - w) + stack[hi].astype(np.float32) * w
    if np.issubdtype(stack.dtype, np.integer):
        out = np.round(out).astype(stack.dtype)
    return out, t


def untilt(stack: np.ndarray, geo: StackGeometry, offsets: np.ndarray) -> np.ndarray:
    """Shift each slice in-plane so the stack lies on a grid orthogonal to its planes."""
    from scipy import ndimage

    r, c = geo.iop[:3], geo.iop[3:]
    drow, dcol = geo.pixel_spacing
    out = np.empty(stack.shape, np.float32)
    fill = float(stack.min())
    for k in range(len(stack)):
        shift = (float(offsets[k] @ c) / drow, float(offsets[k] @ r) / dcol)
        out[k] = ndimage.shift(stack[k].astype(np.float32), shift, order=1, mode="constant", cval=fill)
    if np.issubdtype(stack.dtype, np.integer):
        return np.round(out).astype(stack.dtype)
    return out


def apply_rescale(stack: np.ndarray, slope: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    if np.all(slope == 1) and np.all(intercept == np.round(intercept)):
        if np.all(intercept == 0):
            return stack
        lo = int(stack.min()) + int(intercept.min())
        hi = int(stack.max()) + int(intercept.max())
        dt = np.int16 if -32768 <= lo and hi <= 32767 else np.int32
        out = stack.astype(dt)
        out += intercept.astype(dt)[:, None, None]
        return out
    out = stack.astype(np.float32)
    out *= slope.astype(np.float32)[:, None, None]
    out += intercept.astype(np.float32)[:, None, None]
    return out
