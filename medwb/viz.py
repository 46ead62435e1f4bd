"""Static figures of Volumes: slices with a window, a mask contour and an overlay.

matplotlib only (imported when a figure is made); the interactive viewers live in medwb.widgets.
Planes are named by the array axis they cut: "axial" (fixed slice index), "coronal" (fixed row),
"sagittal" (fixed column) for the usual axial acquisition. Images are drawn with the voxel aspect ratio
from the spacing, so millimetres look like millimetres.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from medwb.demo.truth import LABEL_LESION
from medwb.volume import Volume

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PLANES", "plane_slice", "plane_pixel_mm", "show_slice", "slice_figure", "lesion_center_index", "outline",
           "display_scale", "display_signed", "display_map", "display_threshold", "display_overlay", "DISPLAY_MASS"]

#: plane name -> array axis held fixed
PLANES = {"axial": 0, "coronal": 1, "sagittal": 2}


def plane_slice(array: np.ndarray, plane: str, index: int) -> np.ndarray:
    """The 2D cut of a (slice, row, column) array, oriented for display (superior up in
    coronal and sagittal views)."""
    if plane not in PLANES:
        raise ValueError(f"plane must be one of {list(PLANES)}, got {plane!r}")
    axis = PLANES[plane]
    if not 0 <= index < array.shape[axis]:
        raise IndexError(f"{plane} index {index} is outside 0..{array.shape[axis] - 1}")
    cut = np.take(array, index, axis=axis)
    return cut if axis == 0 else cut[::-1]


def plane_pixel_mm(spacing: Sequence[float], plane: str) -> tuple[float, float]:
    """(height, width) in mm of one pixel of ``plane`` as plane_slice cuts it, from the (slice, row,
    column) spacing: what every figure and viewer stretches a plane by to show millimetres.

    Example:
        >>> plane_pixel_mm((2.5, 0.9, 0.8), "axial"), plane_pixel_mm((2.5, 0.9, 0.8), "sagittal")
        ((0.9, 0.8), (2.5, 0.9))
    """
    if plane not in PLANES:
        raise ValueError(f"plane must be one of {list(PLANES)}, got {plane!r}")
    s, r, c = (float(v) for v in spacing)
    return {"axial": (r, c), "coronal": (s, c), "sagittal": (s, r)}[plane]


def _aspect(volume: Volume, plane: str) -> float:
    height, width = plane_pixel_mm(volume.spacing, plane)
    return height / width


def lesion_center_index(mask: Volume | np.ndarray) -> tuple[int, int, int]:
    """Index of the centre of mass of the non-zero voxels (the middle of the grid when empty)."""
    arr = mask.array if isinstance(mask, Volume) else np.asarray(mask)
    idx = np.argwhere(arr > 0)
    if len(idx) == 0:
        return tuple(int(s) // 2 for s in arr.shape)  # type: ignore[return-value]
    return tuple(int(round(v)) for v in idx.mean(axis=0))  # type: ignore[return-value]


def outline(region: np.ndarray) -> np.ndarray:
    """The one-pixel outline of a 2D boolean region: its pixels with a 4-neighbour outside it.

    Outside the image counts as outside the region, so a region cut by the image border is
    outlined along the border too. The viewers' mask contours are drawn with it.

    Example:
        >>> m = np.zeros((5, 5), bool); m[1:4, 1:4] = True
        >>> int(outline(m).sum()), bool(outline(m)[2, 2])
        (8, False)
    """
    m = np.asarray(region, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"outline takes a 2D region, got shape {m.shape}.\nFix: cut a plane first (plane_slice).")
    p = np.pad(m, 1)
    inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return m & ~inner


def display_scale(values: np.ndarray, percentile: float = 99.5, max_samples: int = 2_000_000) -> float:
    """The value drawn at full colour when a map (attribution, probability) is shown: the ``percentile``
    of ``|values|`` over its non-zero finite voxels (a strided subsample of at most ``max_samples``).

    The one display scale of medwb: the CaseViewer, Viewer3D, AttributionExplorer, the static PNGs,
    Attribution.normalized, medwb.attribution.plots and the notebooks all use it, so one map looks
    the same everywhere. A high percentile rather than the maximum keeps one hot voxel from washing
    the map out; counting only non-zero voxels keeps a sparse map (Grad-CAM after ReLU, a map outside
    the model's field of view) from getting a scale of zero. 0.0 for an all-zero map.

    Example:
        >>> a = np.zeros((10, 10, 10)); a[0, 0, :4] = [1, 2, 3, 400]
        >>> display_scale(a, 50), display_scale(np.zeros(3))
        (2.5, 0.0)
    """
    flat = np.abs(np.asarray(values, dtype=np.float32).ravel())
    if flat.size > max_samples:
        flat = flat[:: int(np.ceil(flat.size / max_samples))]
    flat = flat[(flat > 0) & np.isfinite(flat)]
    if flat.size == 0:
        return 0.0
    return float(np.percentile(flat, percentile)) or float(flat.max())


def display_signed(values: np.ndarray, scale: float | None = None, tolerance: float = 0.05) -> bool:
    """Whether a map is shown signed (two colormaps): it has negative values reaching ``tolerance`` of
    its display scale. Negative specks below that (interpolation ripple) do not make a map signed.

    Example:
        >>> display_signed(np.array([-1.0, 2.0])), display_signed(np.array([-1e-4, 2.0]))
        (True, False)
    """
    arr = np.asarray(values)
    if arr.size == 0:
        return False
    lowest = float(np.nanmin(arr))
    if not lowest < 0:
        return False
    scale = display_scale(arr) if scale is None else scale
    return -lowest > tolerance * scale


def display_map(values: np.ndarray, signed: bool | None = None, percentile: float = 99.5) -> np.ndarray:
    """A map divided by its display_scale and clipped: [-1, 1] when signed, else |map| in [0, 1].

    ``signed=None`` decides with display_signed. float32; all zeros for an all-zero map.

    Example:
        >>> display_map(np.array([-4.0, 0.0, 2.0, 4.0]), percentile=100).tolist()
        [-1.0, 0.0, 0.5, 1.0]
    """
    arr = np.nan_to_num(np.asarray(values, dtype=np.float32))
    scale = display_scale(arr, percentile)
    if signed is None:
        signed = display_signed(arr, scale)
    if scale <= 0:
        return np.zeros(arr.shape, np.float32)
    a = arr if signed else np.abs(arr)
    return np.clip(a / np.float32(scale), -1.0 if signed else 0.0, 1.0).astype(np.float32)


#: the share of a map's |mass| the viewers show by default: the smallest set of voxels holding half of it
DISPLAY_MASS = 0.5


def display_threshold(values: np.ndarray, mass: float = DISPLAY_MASS, scale: float | None = None,
                      max_samples: int = 2_000_000) -> float:
    """The default overlay threshold, as a fraction of the display scale: voxels at or above it hold
    ``mass`` of the map's total |value| (the top of the map, by mass).

    One rule for every viewer and figure (CaseViewer, AttributionExplorer, static figures, notebooks).
    A fixed fraction of the maximum (the old 0.1) paints any map that is everywhere a little positive
    (a coarse Grad-CAM, a map of brightness) over the whole brain; showing the voxels that carry half
    of the mass makes a localised map look small and a diffuse one look large, i.e. a good explanation
    looks localised and a bad one looks bad. 0.0 for an all-zero map.

    Example:
        >>> m = np.zeros(1000); m[:10] = 10.0; m[10:] = 0.1          # a sharp peak on a weak plateau
        >>> round(display_threshold(m, scale=10.0), 3)                 # the peak holds 51 % of the mass
        1.0
        >>> round(display_threshold(np.ones(1000), scale=1.0), 3)     # a flat map: everything is shown
        1.0
    """
    flat = np.abs(np.asarray(values, dtype=np.float32).ravel())
    if flat.size > max_samples:
        flat = flat[:: int(np.ceil(flat.size / max_samples))]
    flat = flat[(flat > 0) & np.isfinite(flat)]
    scale = display_scale(values) if scale is None else float(scale)
    if flat.size == 0 or scale <= 0:
        return 0.0
    v = np.sort(flat)[::-1]
    k = int(np.searchsorted(np.cumsum(v, dtype=np.float64), float(mass) * float(v.sum(dtype=np.float64))))
    return float(min(v[min(k, v.size - 1)] / scale, 1.0))


def display_overlay(values: np.ndarray, mass: float = DISPLAY_MASS, percentile: float = 99.5) -> np.ndarray:
    """display_map with the voxels below display_threshold set to 0: what a figure overlays by default
    (show_slice leaves 0 uncovered), the same view as the CaseViewer's default threshold.

    Example:
        >>> m = np.zeros(1000); m[:10] = 10.0; m[10:] = 0.1
        >>> shown = display_overlay(m, percentile=100)
        >>> int((shown > 0).sum()), float(shown.max())        # only the peak holding half the mass
        (10, 1.0)
    """
    shown = display_map(values, percentile=percentile)
    cut = display_threshold(values, mass=mass, scale=display_scale(values, percentile))
    shown[np.abs(shown) < max(cut, 1e-6)] = 0.0
    return shown


def show_slice(
    ax: Axes,
    volume: Volume,
    plane: str = "axial",
    index: int | None = None,
    *,
    window: str | tuple[float, float] = "brain",
    mask: Volume | None = None,
    overlay: np.ndarray | Volume | None = None,
    overlay_cmap: str = "inferno",
    overlay_alpha: float = 0.5,
    title: str | None = None,
) -> Axes:
    """Draw one windowed plane of ``volume`` on ``ax`` with optional mask contour and overlay."""
    axis = PLANES[plane]
    if index is None:
        index = lesion_center_index(mask)[axis] if mask is not None else volume.shape[axis] // 2
    img = volume.window(window)  # type: ignore[arg-type]
    aspect = _aspect(volume, plane)
    ax.imshow(plane_slice(img, plane, index), cmap="gray", vmin=0, vmax=1, aspect=aspect,
              interpolation="nearest")
    if overlay is not None:
        ov = overlay.array if isinstance(overlay, Volume) else np.asarray(overlay)
        if ov.shape != volume.shape:
            raise ValueError(f"overlay shape {ov.shape} differs from the volume's {volume.shape}; "
                             "resample it onto the volume grid first")
        cut = plane_slice(ov, plane, index).astype(np.float32)
        ax.imshow(np.ma.masked_where(np.abs(cut) <= 0, cut), cmap=overlay_cmap, alpha=overlay_alpha,
                  aspect=aspect, interpolation="nearest")
    if mask is not None:
        if mask.shape != volume.shape:
            raise ValueError(f"mask shape {mask.shape} differs from the volume's {volume.shape}")
        cut = plane_slice(mask.array, plane, index)
        # the outer edge of everything labelled (lesion + oedema) in yellow, the lesion itself in red
        for region, color in ((cut > 0, "#ffd60a"), (cut == LABEL_LESION, "#ff3b30")):
            if np.any(region):
                ax.contour(region, levels=[0.5], colors=[color], linewidths=1.2)
    ax.set_title(title if title is not None else f"{plane} {index}", fontsize=9)
    ax.set_axis_off()
    return ax


def slice_figure(
    volume: Volume,
    planes: Sequence[str] = ("axial", "coronal", "sagittal"),
    index: Sequence[int] | None = None,
    *,
    windows: Sequence[str] = ("brain",),
    mask: Volume | None = None,
    overlay: np.ndarray | Volume | None = None,
    size: float = 3.2,
    **kwargs: Any,
) -> Figure:
    """A grid of planes (columns) by windows (rows) through one point.

    Args:
        index: (slice, row, column) of the point; default the mask's centre of mass or the grid centre.
        windows: window presets, one row each (see medwb.volume.WINDOW_PRESETS).

    Example:
        >>> import numpy as np
        >>> v = Volume.from_geometry(np.zeros((8, 16, 16), np.int16), spacing=(3, 1, 1))
        >>> len(slice_figure(v, windows=("brain", "bone")).axes)
        6
    """
    import matplotlib.pyplot as plt

    point = tuple(index) if index is not None else (
        lesion_center_index(mask) if mask is not None else tuple(s // 2 for s in volume.shape))
    fig, axes = plt.subplots(len(windows), len(planes), figsize=(size * len(planes), size * len(windows)),
                             squeeze=False)
    for r, win in enumerate(windows):
        for c, plane in enumerate(planes):
            show_slice(axes[r, c], volume, plane, int(point[PLANES[plane]]), window=win, mask=mask,
                       overlay=overlay, title=f"{plane} {point[PLANES[plane]]} · {win}", **kwargs)
    fig.tight_layout()
    plt.close(fig)  # returned for display; not left open in pyplot's state
    return fig
