"""Turn per-slice DICOM positions into one regular voxel grid, or say precisely why they cannot be.

Slices are ordered along the normal of ImageOrientationPatient (row x column direction cosines), never
by InstanceNumber. analyse_stack() finds duplicates, gaps, uneven spacing and gantry tilt;
scan() uses it to flag series and load_series() to build the affine or to resample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["StackGeometry", "analyse_stack", "orientation_groups"]

IOP_TOL = 1e-4


@dataclass
class StackGeometry:
    """Positions of a stack of slices along their common normal and what is wrong with them."""

    iop: np.ndarray  # (6,) row direction r then column direction c
    pixel_spacing: tuple[float, float]  # (drow, dcol)
    normal: np.ndarray  # r x c
    order: np.ndarray  # indices of the input slices sorted along the normal
    distance: np.ndarray  # sorted positions along the normal (mm)
    ipp: np.ndarray  # (n, 3) positions in sorted order
    duplicates: list[tuple[int, int]] = field(default_factory=list)  # pairs of input indices
    step: float = 1.0  # typical distance between slices (mm)
    gaps: list[tuple[int, int, float]] = field(default_factory=list)  # (input i, input j, distance)
    inplane_offset: np.ndarray | None = None  # (n, 3) in-plane shift of each sorted IPP from the first
    tilted: bool = False

    @property
    def uniform(self) -> bool:
        return not self.gaps

    def affine(self) -> np.ndarray:
        """Index (slice, row, column) -> LPS affine; the slice step includes any tilt (shear)."""
        r, c = self.iop[:3], self.iop[3:]
        drow, dcol = self.pixel_spacing
        a = np.eye(4)
        a[:3, 2] = r * dcol
        a[:3, 1] = c * drow
        n = len(self.distance)
        a[:3, 0] = (self.ipp[-1] - self.ipp[0]) / (n - 1) if n > 1 else self.normal * self.step
        a[:3, 3] = self.ipp[0]
        return a

    def orthogonal_affine(self) -> np.ndarray:
        """Like affine() but with the slice step along the normal (what resampling produces)."""
        a = self.affine()
        a[:3, 0] = self.normal * self.step
        return a


def orientation_groups(iops: np.ndarray) -> list[np.ndarray]:
    """Indices grouped by ImageOrientationPatient (to IOP_TOL)."""
    iops = np.asarray(iops, dtype=np.float64)
    if len(iops) and np.all(np.abs(iops - iops[0]) <= IOP_TOL * 10):  # the usual case, vectorised
        return [np.arange(len(iops))]
    groups: list[list[int]] = []
    refs: list[np.ndarray] = []
    for i, iop in enumerate(iops):
        for g, ref in zip(groups, refs, strict=True):
            if np.allclose(iop, ref, atol=IOP_TOL * 10):
                g.append(i)
                break
        else:
            groups.append([i])
            refs.append(iop)
    return [np.asarray(g) for g in groups]


def _unit_iop(iop: Sequence[float]) -> np.ndarray:
    v = np.asarray(iop, dtype=np.float64).reshape(6)
    r, c = v[:3], v[3:]
    r = r / (np.linalg.norm(r) or 1.0)
    c = c - (c @ r) * r  # tidy rounding: keep the two axes exactly orthonormal
    c = c / (np.linalg.norm(c) or 1.0)
    return np.concatenate([r, c])


def analyse_stack(
    ipp: np.ndarray,
    iop: Sequence[float],
    pixel_spacing: Sequence[float],
    default_step: float = 1.0,
) -> StackGeometry:
    """Sort slices along the normal and find duplicates, gaps and tilt (nothing is raised here).

    Args:
        ipp: (n, 3) ImagePositionPatient of each slice, in input order.
        iop: the common ImageOrientationPatient.
        pixel_spacing: (row spacing, column spacing) in mm.
        default_step: slice spacing to report for a single slice (SpacingBetweenSlices / thickness).

    Example:
        >>> g = analyse_stack(np.array([[0, 0, 5.0], [0, 0, 0], [0, 0, 2.5]]), [1, 0, 0, 0, 1, 0], [1, 1])
        >>> g.order.tolist(), g.step, g.gaps
        ([1, 2, 0], 2.5, [])
    """
    iop_u = _unit_iop(iop)
    normal = np.cross(iop_u[:3], iop_u[3:])
    ipp = np.asarray(ipp, dtype=np.float64).reshape(-1, 3)
    dist = ipp @ normal
    order = np.argsort(dist, kind="stable")
    d = dist[order]
    geo = StackGeometry(iop_u, (float(pixel_spacing[0]), float(pixel_spacing[1])), normal, order, d, ipp[order])
    if len(d) < 2:
        geo.step = float(default_step) if default_step and default_step > 0 else 1.0
        return geo
    diffs = np.diff(d)
    nonzero = diffs[diffs > 1e-6]
    typical = float(np.median(nonzero)) if nonzero.size else 0.0
    dup_tol = min(0.01, 0.05 * typical) if typical else 0.01
    geo.duplicates = [(int(order[i]), int(order[i + 1])) for i in np.nonzero(diffs <= dup_tol)[0]]
    keep = np.concatenate([[True], diffs > dup_tol])
    dk, ok = d[keep], order[keep]
    if len(dk) < 2:
        geo.step = float(default_step) if default_step and default_step > 0 else 1.0
        return geo
    steps = np.diff(dk)
    geo.step = float(np.median(steps))
    tol = max(0.01, 0.02 * geo.step)
    geo.gaps = [
        (int(ok[i]), int(ok[i + 1]), float(steps[i])) for i in np.nonzero(np.abs(steps - geo.step) > tol)[0]
    ]
    rel = geo.ipp - geo.ipp[0]
    inplane = rel - np.outer(rel @ normal, normal)
    geo.inplane_offset = inplane
    extent = float(d[-1] - d[0])
    geo.tilted = bool(np.max(np.linalg.norm(inplane, axis=1)) > max(0.05, 1e-3 * extent))
    return geo
