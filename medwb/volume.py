"""Volume: voxels plus their place in the patient.

The one geometry convention of medwb, stated once (docs/geometry.md says it at length):

* ``array`` axes are (slice, row, column), numpy order, C-contiguous where we can.
* ``affine`` is a 4x4 matrix from voxel index (slice, row, column, 1) to patient coordinates in
  millimetres, **LPS** (DICOM: +x to the patient's left, +y posterior, +z superior).
* ``affine[:3, 0]`` is the step between slices, ``affine[:3, 1]`` the step down one row,
  ``affine[:3, 2]`` the step along one column; ``affine[:3, 3]`` the centre of voxel (0, 0, 0).
* ``spacing``, ``origin`` and ``direction`` are derived from the affine, in the same axis order.

Resampling, cropping and reorientation live in medwb.transforms; conversions to torch, nibabel,
SimpleITK and highdicom in medwb.convert. This module only holds the data and its geometry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Volume", "GeometryError", "WINDOW_PRESETS", "window_center_width", "apply_window"]

#: Hounsfield window presets as (centre, width), the values radiologists use by default.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "stroke": (35.0, 40.0),
    "bone": (600.0, 2800.0),
    "soft_tissue": (50.0, 400.0),
    "lung": (-600.0, 1500.0),
}


def window_center_width(window: str | Sequence[float] = "brain", *, center: float | None = None,
                        width: float | None = None) -> tuple[float, float]:
    """(center, width) of a window: a preset name of WINDOW_PRESETS or a (center, width) pair;
    ``center``/``width`` override either part. The one place windows are resolved and checked.

    Example:
        >>> window_center_width("bone"), window_center_width((40, 80)), window_center_width("brain", width=120)
        ((600.0, 2800.0), (40.0, 80.0), (40.0, 120.0))
    """
    if center is None or width is None:
        if isinstance(window, str) or window is None:
            if window not in WINDOW_PRESETS:
                raise KeyError(
                    f"unknown window preset {window!r}. Presets: {', '.join(WINDOW_PRESETS)}; "
                    "or pass center=..., width=... (or a (center, width) pair) explicitly."
                )
            c0, w0 = WINDOW_PRESETS[window]
        else:
            pair = tuple(window)
            if len(pair) != 2:
                raise ValueError(f"a window is a preset name or a (center, width) pair, got {window!r}.\n"
                                 "Fix: e.g. window=(40, 80) for the brain window.")
            c0, w0 = pair
        center = c0 if center is None else center
        width = w0 if width is None else width
    center, width = float(center), float(width)
    if not width > 0:
        raise ValueError(f"window width must be positive, got {width}.\nFix: e.g. width=80 for the brain window.")
    return center, width


def apply_window(values: np.ndarray, window: str | Sequence[float] = "brain", *, center: float | None = None,
                 width: float | None = None) -> np.ndarray:
    """Map raw intensities (HU for CT) to display values in [0, 1] (float32) with a window.

    The one windowing of medwb: Volume.window, the model's Preprocess, the viewers' frames and the
    static figures all call it. ``(v - (center - width / 2)) / width``, clipped to [0, 1].

    Example:
        >>> apply_window(np.array([-1000, 40, 3000]), "brain").tolist()
        [0.0, 0.5, 1.0]
    """
    c, w = window_center_width(window, center=center, width=width)
    out = (np.asarray(values).astype(np.float32) - np.float32(c - w / 2.0)) / np.float32(w)
    return np.clip(out, 0.0, 1.0, out=out)


class GeometryError(ValueError):
    """An affine or a set of positions that cannot describe a regular voxel grid."""


def _check_affine(affine: np.ndarray) -> np.ndarray:
    a = np.asarray(affine, dtype=np.float64)
    if a.shape == (3, 4):
        a = np.vstack([a, [0.0, 0.0, 0.0, 1.0]])
    if a.shape != (4, 4):
        raise GeometryError(
            f"affine must be 4x4 (or 3x4), got shape {a.shape}.\n"
            "Fix: build it with Volume.from_geometry(array, spacing=..., origin=..., direction=...)."
        )
    if not np.all(np.isfinite(a)):
        raise GeometryError(f"affine has non-finite entries:\n{a}")
    if not np.allclose(a[3], [0, 0, 0, 1]):
        raise GeometryError(f"the last row of an affine must be [0, 0, 0, 1], got {a[3].tolist()}")
    if abs(np.linalg.det(a[:3, :3])) < 1e-12:
        raise GeometryError(
            f"affine is singular (two axes are parallel or a spacing is 0):\n{a[:3, :3]}\n"
            "Fix: check PixelSpacing / slice positions of the source."
        )
    return a


@dataclass(eq=False)
class Volume:
    """A 3D image: ``array`` (slice, row, column) and ``affine`` (index -> LPS mm).

    Args:
        array: 3D numpy array; CT volumes hold Hounsfield units.
        affine: 4x4 index-to-LPS matrix (see the module docstring).
        modality: DICOM modality code ("CT", "MR", ...), "OT" when unknown.
        meta: free-form provenance (series UID, source path, description, ...). Never PHI
            that widgets would show: see medwb.io.dicom for what it keeps.

    Example:
        >>> import numpy as np
        >>> v = Volume.from_geometry(np.zeros((4, 5, 6), np.int16), spacing=(2.0, 0.5, 0.5))
        >>> v.shape, v.spacing
        ((4, 5, 6), (2.0, 0.5, 0.5))
        >>> v.index_to_world([1, 0, 0]).tolist()  # one slice up: +z in LPS
        [0.0, 0.0, 2.0]
    """

    array: np.ndarray
    affine: np.ndarray
    modality: str = "OT"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.ndim != 3:
            raise GeometryError(
                f"a Volume holds a 3D array (slice, row, column), got shape {arr.shape}.\n"
                "Fix: for a single 2D image use array[None]; for 4D data pick one frame or channel."
            )
        self.array = arr
        self.affine = _check_affine(self.affine)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_geometry(
        cls,
        array: np.ndarray,
        spacing: float | Sequence[float] = (1.0, 1.0, 1.0),
        origin: Sequence[float] = (0.0, 0.0, 0.0),
        direction: np.ndarray | None = None,
        modality: str = "OT",
        meta: dict[str, Any] | None = None,
    ) -> Volume:
        """Build a Volume from spacing (slice, row, column mm, or one number), origin (LPS mm), direction.

        ``direction`` is 3x3 with unit columns: the LPS direction of the slice, row and column axes.
        The default is an axial stack: slices go superior (+z), rows posterior (+y), columns left (+x).
        """
        if direction is None:
            direction = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
        direction = np.asarray(direction, dtype=np.float64)
        spacing = np.asarray(spacing, dtype=np.float64)
        if spacing.ndim == 0:  # one number: isotropic voxels
            spacing = np.repeat(spacing, 3)
        if spacing.shape != (3,) or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
            raise GeometryError(f"spacing must be three positive millimetre values, got {spacing.tolist()}")
        origin = np.asarray(origin, dtype=np.float64)
        if origin.shape != (3,) or not np.all(np.isfinite(origin)):
            raise GeometryError(f"origin must be one LPS point (x, y, z) in mm, got {origin.tolist()}")
        norms = np.linalg.norm(direction, axis=0) if direction.shape == (3, 3) else np.zeros(3)
        if not np.all(np.abs(norms - 1.0) < 1e-3):
            raise GeometryError(
                f"direction must be 3x3 with unit columns (slice, row, column axes in LPS), got\n"
                f"{direction.tolist()}\nFix: pass spacing separately; an affine goes to Volume(array, affine)."
            )
        direction = direction / norms[None, :]
        affine = np.eye(4)
        affine[:3, :3] = direction * spacing[None, :]
        affine[:3, 3] = origin
        return cls(np.asarray(array), affine, modality, dict(meta or {}))

    def with_array(self, array: np.ndarray, **meta: Any) -> Volume:
        """A Volume on the same grid holding other voxels (same shape), e.g. a mask or a map."""
        array = np.asarray(array)
        if array.shape != self.shape:
            raise GeometryError(
                f"with_array needs shape {self.shape} to keep the geometry, got {array.shape}.\n"
                "Fix: resample the array onto this grid first (medwb.transforms.resample_like)."
            )
        return Volume(array, self.affine.copy(), self.modality, {**self.meta, **meta})

    def copy(self) -> Volume:
        return Volume(self.array.copy(), self.affine.copy(), self.modality, dict(self.meta))

    # -- geometry -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along (slice, row, column)."""
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]

    @property
    def origin(self) -> tuple[float, float, float]:
        """LPS position (mm) of the centre of voxel (0, 0, 0)."""
        return tuple(float(s) for s in self.affine[:3, 3])  # type: ignore[return-value]

    @property
    def direction(self) -> np.ndarray:
        """3x3; column k is the LPS unit vector of array axis k (slice, row, column)."""
        return self.affine[:3, :3] / np.asarray(self.spacing)[None, :]

    @property
    def is_oblique(self) -> bool:
        """True when an axis is not aligned with a patient axis (to 1e-4)."""
        d = np.abs(self.direction)
        return bool(np.any((d > 1e-4) & (d < 1 - 1e-4)))

    def index_to_world(self, index: Sequence[float] | np.ndarray) -> np.ndarray:
        """(…, 3) voxel indices (slice, row, column) -> (…, 3) LPS mm."""
        idx = np.asarray(index, dtype=np.float64)
        return idx @ self.affine[:3, :3].T + self.affine[:3, 3]

    def world_to_index(self, point: Sequence[float] | np.ndarray) -> np.ndarray:
        """(…, 3) LPS mm -> (…, 3) fractional voxel indices (slice, row, column)."""
        p = np.asarray(point, dtype=np.float64) - self.affine[:3, 3]
        return p @ np.linalg.inv(self.affine[:3, :3]).T

    def center_world(self) -> np.ndarray:
        """LPS position of the centre of the voxel grid."""
        return self.index_to_world((np.asarray(self.shape) - 1) / 2.0)

    def same_grid(self, other: Volume, atol: float = 1e-3) -> bool:
        """True when ``other`` has this shape and affine (to ``atol`` mm)."""
        return self.shape == other.shape and bool(np.allclose(self.affine, other.affine, atol=atol))

    # -- display --------------------------------------------------------------------------
    def window(
        self, preset: str | None = "brain", *, center: float | None = None, width: float | None = None
    ) -> np.ndarray:
        """Map intensities to display values in [0, 1] (float32) with a window.

        Args:
            preset: one of WINDOW_PRESETS ("brain", "subdural", "stroke", "bone", "soft_tissue",
                "lung"); ignored when ``center`` and ``width`` are given.
            center, width: window level and width in the volume's units (HU for CT).

        Example:
            >>> import numpy as np
            >>> v = Volume.from_geometry(np.array([[[-1000, 40, 3000]]], np.int16))
            >>> v.window("brain").tolist()
            [[[0.0, 0.5, 1.0]]]
        """
        return apply_window(self.array, preset, center=center, width=width)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        sp = ", ".join(f"{s:.3g}" for s in self.spacing)
        org = ", ".join(f"{o:.1f}" for o in self.origin)
        desc = self.meta.get("series_description") or self.meta.get("source", "")
        return (
            f"Volume({self.modality}, shape={self.shape}, spacing=({sp}) mm, origin=({org}) LPS, "
            f"dtype={self.array.dtype}{', ' + repr(desc) if desc else ''})"
        )
