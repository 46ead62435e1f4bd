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

from medwb.volume import Volume

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PLANES", "plane_slice", "show_slice", "slice_figure", "lesion_center_index"]

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


def _aspect(volume: Volume, plane: str) -> float:
    s, r, c = volume.spacing
    return {"axial": r / c, "coronal": s / c, "sagittal": s / r}[plane]


def lesion_center_index(mask: Volume | np.ndarray) -> tuple[int, int, int]:
    """Index of the centre of mass of the non-zero voxels (the middle of the grid when empty)."""
    arr = mask.array if isinstance(mask, Volume) else np.asarray(mask)
    idx = np.argwhere(arr > 0)
    if len(idx) == 0:
        return tuple(int(s) // 2 for s in arr.shape)  # type: ignore[return-value]
    return tuple(int(round(v)) for v in idx.mean(axis=0))  # type: ignore[return-value]


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
    if isinstance(window, str):
        img = volume.window(window)
    else:
        img = volume.window(None, center=window[0], width=window[1])
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
        for region, color in ((cut > 0, "#ffd60a"), (cut == 1, "#ff3b30")):
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
