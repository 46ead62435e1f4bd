"""Change a Volume's voxel grid: resample, crop, pad (and reorient, from medwb.orientation).

Every function returns a new Volume whose affine is exact for its voxels (index -> LPS mm, axes
slice, row, column; see docs/geometry.md). Interpolation is scipy.ndimage's; the out-of-image rule
matches SimpleITK's ResampleImageFilter: a point within half a voxel of the edge takes the edge value,
anything further out takes ``fill`` (by default the volume's minimum, e.g. -1024 HU air).
Downsampling an image (order >= 1 onto a coarser grid) smooths first, so detail finer than the new
voxels averages out instead of aliasing into patterns that are not in the patient (scikit-image's
rule, see resample_to_grid); masks (order 0) are never smoothed.
Conversions to other libraries live in medwb.convert; this module only moves voxels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medwb.orientation import ORIENTATIONS, orientation_of, reorient
from medwb.volume import GeometryError, Volume

__all__ = [
    "resample",
    "resample_like",
    "resample_to_grid",
    "crop",
    "crop_or_pad",
    "bounding_box",
    "reorient",
    "orientation_of",
    "ORIENTATIONS",
]

_EDGE_TOL = 1e-6
_MIN_SIGMA = 1e-3  # smoothing below a thousandth of a voxel changes nothing measurable: skipped


def _fill_value(volume: Volume, fill: float | None) -> float:
    if fill is not None:
        return float(fill)
    return float(volume.array.min()) if volume.array.size else 0.0


def _output_dtype(src: np.dtype, order: int, dtype: np.dtype | type | str | None) -> np.dtype:
    if dtype is not None:
        return np.dtype(dtype)
    if order == 0 or src.kind == "f":
        return np.dtype(src)
    return np.dtype(np.float32)


def _check_order(order: int) -> int:
    if order not in (0, 1, 2, 3, 4, 5):
        raise ValueError(
            f"interpolation order must be 0 (nearest, for masks and labels) to 5 (spline), got {order!r}.\n"
            "Fix: use order=0 for masks, 1 (linear) for images, 3 for smooth cubic splines."
        )
    return order


def resample_to_grid(
    volume: Volume,
    shape: Sequence[int],
    affine: np.ndarray,
    order: int = 1,
    *,
    fill: float | None = None,
    dtype: np.dtype | type | str | None = None,
    antialias: bool = True,
) -> Volume:
    """Sample ``volume`` on the voxel grid given by ``shape`` and ``affine`` (index -> LPS mm).

    The workhorse behind resample() and resample_like(); use it for grids that no Volume holds yet.

    Anti-aliasing: where the new grid is coarser than the source (order >= 1), the source is first
    smoothed with a Gaussian of sigma = (f - 1) / 2 source voxels along each source axis, f being the
    distance between neighbouring output samples measured in source voxels along that axis (the
    spacing ratio new / old for aligned grids; for rotated grids the norm of that axis's row of the
    output-to-source index matrix). That is scikit-image's rule (``skimage.transform.resize(...,
    anti_aliasing=True)``), and axis-aligned results equal it. Same-size and finer grids are not
    smoothed, and order 0 (masks, labels) never is.

    Args:
        order: 0 nearest (keeps dtype; masks), 1 linear, 2-5 spline.
        fill: value for points outside the source; default the source minimum.
        dtype: output dtype; default the source dtype for order 0 and floats, float32 otherwise.
            Integer dtypes are rounded and clipped to their range.
        antialias: smooth before downsampling (default). False samples the raw voxels, as
            SimpleITK's ResampleImageFilter does; only for comparisons or a grid you know is finer.

    Example:
        >>> import numpy as np
        >>> v = Volume.from_geometry(np.arange(8.0).reshape(2, 2, 2))
        >>> resample_to_grid(v, (2, 2, 2), v.affine).array.tolist() == v.array.tolist()
        True
    """
    order = _check_order(order)
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise GeometryError(f"output shape must be three positive sizes, got {shape}")
    target = Volume(np.empty((1, 1, 1)), affine).affine  # validates the affine
    m = np.linalg.inv(volume.affine) @ target  # output index -> source index
    matrix, offset = m[:3, :3], m[:3, 3]
    if np.allclose(matrix, np.diag(np.diag(matrix)), atol=1e-12):
        matrix_arg: np.ndarray = np.diag(matrix).copy()  # scipy's faster separable path
    else:
        matrix_arg = matrix
    src = volume.array
    out_dtype = _output_dtype(src.dtype, order, dtype)
    fill_v = _fill_value(volume, fill)

    from scipy import ndimage

    if order == 0:
        work_in = src.view(np.uint8) if src.dtype == bool else src
        work_dtype = work_in.dtype
    else:
        work_dtype = np.dtype(np.float64 if src.dtype == np.float64 else np.float32)
        work_in = src.astype(work_dtype, copy=False)
        sigma = _antialias_sigma(matrix) if antialias else np.zeros(3)
        if np.any(sigma > _MIN_SIGMA):  # a new array: the source (maybe a shared, read-only one) is untouched
            work_in = ndimage.gaussian_filter(work_in, np.where(sigma > _MIN_SIGMA, sigma, 0.0), mode="nearest")
    out = ndimage.affine_transform(
        work_in,
        matrix_arg,
        offset=offset,
        output_shape=shape,
        output=work_dtype,
        order=order,
        mode="nearest",
        prefilter=order > 1,
    )
    outside = _outside_mask(matrix, offset, shape, src.shape)
    if outside is not None:
        out[outside] = np.asarray(fill_v).astype(work_dtype) if work_dtype.kind != "f" else fill_v
    if src.dtype == bool and order == 0:
        out = out.view(bool)
    if out.dtype != out_dtype:
        if out_dtype.kind in "iu" and out.dtype.kind == "f":
            info = np.iinfo(out_dtype)
            out = np.clip(np.rint(out), info.min, info.max)
        out = out.astype(out_dtype)
    return Volume(out, target.copy(), volume.modality, dict(volume.meta))


def _antialias_sigma(matrix: np.ndarray) -> np.ndarray:
    """Gaussian sigma (source voxels, per source axis) that resample_to_grid smooths with.

    ``matrix`` maps an output index step to a source index step (3x3). Along source axis ``a`` the
    output samples lie ``f = |matrix[a, :]|`` source voxels apart; sigma = max(0, (f - 1) / 2).

    Example:
        >>> _antialias_sigma(np.diag([4.0, 1.0, 0.5])).tolist()  # 4x coarser, same, 2x finer
        [1.5, 0.0, 0.0]
    """
    step = np.linalg.norm(np.asarray(matrix, dtype=np.float64)[:3, :3], axis=1)
    return np.maximum(0.0, (step - 1.0) / 2.0)


def _outside_mask(
    matrix: np.ndarray, offset: np.ndarray, shape: tuple[int, ...], src_shape: tuple[int, ...]
) -> np.ndarray | None:
    """Boolean mask of output voxels whose source index lies outside [-0.5, n - 0.5]."""
    lo = -0.5 - _EDGE_TOL
    hi = np.asarray(src_shape, dtype=np.float64) - 0.5 + _EDGE_TOL
    idx = [np.arange(n, dtype=np.float64) for n in shape]
    if np.allclose(matrix, np.diag(np.diag(matrix)), atol=1e-12):
        inside = []
        for a in range(3):
            c = matrix[a, a] * idx[a] + offset[a]
            inside.append((c >= lo) & (c <= hi[a]))
        if all(i.all() for i in inside):
            return None
        return ~(inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :])
    outside = np.zeros(shape, dtype=bool)
    for k in range(shape[0]):  # by slice: memory stays at one output slice per coordinate
        for a in range(3):
            c = matrix[a, 0] * k + matrix[a, 1] * idx[1][:, None] + matrix[a, 2] * idx[2][None, :] + offset[a]
            outside[k] |= (c < lo) | (c > hi[a])
    return outside if outside.any() else None


def resample(
    volume: Volume,
    spacing: float | Sequence[float | None],
    order: int = 1,
    *,
    fill: float | None = None,
    dtype: np.dtype | type | str | None = None,
    antialias: bool = True,
) -> Volume:
    """Resample to a new voxel spacing (mm), keeping the physical extent, centre and direction.

    The new size along each axis is round(size * old / new spacing); the new grid is centred on the
    old one, so an axis whose spacing does not change keeps its voxels exactly.

    Args:
        spacing: one value for isotropic voxels or three (slice, row, column); None keeps an axis.
        order: 0 for masks (nearest, dtype kept), 1 linear (default), 3 cubic spline.
        fill: value outside the source; default the source minimum (-1024 HU air for CT).
        dtype: output dtype (see resample_to_grid).
        antialias: for order >= 1, smooth along axes that get coarser first (see resample_to_grid).

    Example:
        >>> import numpy as np
        >>> v = Volume.from_geometry(np.zeros((10, 64, 64), np.int16), spacing=(5.0, 0.8, 0.8))
        >>> r = resample(v, (2.0, None, None))
        >>> r.shape, r.spacing
        ((25, 64, 64), (2.0, 0.8, 0.8))
    """
    old = np.asarray(volume.spacing)
    if np.isscalar(spacing):
        spacing = (spacing, spacing, spacing)  # type: ignore[assignment]
    spacing = list(spacing)  # type: ignore[arg-type]
    if len(spacing) != 3:
        raise GeometryError(
            f"spacing must be one number or three (slice, row, column) in mm, got {spacing!r}"
        )
    new = np.array([old[i] if s is None else float(s) for i, s in enumerate(spacing)])
    if np.any(~np.isfinite(new)) or np.any(new <= 0):
        raise GeometryError(f"spacing must be positive millimetres, got {spacing!r}")
    n_old = np.asarray(volume.shape, dtype=np.float64)
    n_new = np.maximum(1, np.floor(n_old * old / new + 0.5 - 1e-9)).astype(int)
    scale = new / old  # source index step per output index step
    offset = (n_old - 1) / 2.0 - (n_new - 1) / 2.0 * scale
    step = np.eye(4)
    step[:3, :3] = np.diag(scale)
    step[:3, 3] = offset
    affine = volume.affine @ step
    affine[:3, :3] = volume.direction * new[None, :]  # exact spacing, no round-off in the norms
    return resample_to_grid(volume, tuple(n_new), affine, order, fill=fill, dtype=dtype, antialias=antialias)


def resample_like(
    volume: Volume,
    reference: Volume,
    order: int = 1,
    fill: float | None = None,
    *,
    dtype: np.dtype | type | str | None = None,
    antialias: bool = True,
) -> Volume:
    """Resample ``volume`` onto ``reference``'s grid (shape and affine; any rotation or flip).

    Use order=0 to carry a mask or label map (its dtype is kept). Onto a coarser grid, images
    (order >= 1) are smoothed first unless ``antialias=False`` (see resample_to_grid).

    Example:
        >>> import numpy as np
        >>> ct = Volume.from_geometry(np.zeros((20, 32, 32), np.int16), spacing=(2.0, 1.0, 1.0))
        >>> mask = Volume.from_geometry(np.ones((40, 32, 32), np.uint8), spacing=(1.0, 1.0, 1.0))
        >>> m = resample_like(mask, ct, order=0)
        >>> m.same_grid(ct), m.array.dtype
        (True, dtype('uint8'))
    """
    return resample_to_grid(volume, reference.shape, reference.affine, order, fill=fill, dtype=dtype,
                            antialias=antialias)


def _shift(volume: Volume, start: np.ndarray) -> np.ndarray:
    t = np.eye(4)
    t[:3, 3] = start
    return volume.affine @ t


def crop(volume: Volume, start: Sequence[int], stop: Sequence[int]) -> Volume:
    """Keep voxels ``start[i] <= index < stop[i]`` along (slice, row, column); the affine follows.

    Example:
        >>> import numpy as np
        >>> v = Volume.from_geometry(np.zeros((10, 10, 10)), spacing=(2.0, 1.0, 1.0))
        >>> c = crop(v, (2, 0, 0), (5, 10, 10))
        >>> c.shape, c.origin
        ((3, 10, 10), (0.0, 0.0, 4.0))
    """
    a = np.asarray(start, dtype=int)
    b = np.asarray(stop, dtype=int)
    n = np.asarray(volume.shape)
    if a.shape != (3,) or b.shape != (3,) or np.any(a < 0) or np.any(b > n) or np.any(b <= a):
        raise GeometryError(
            f"crop box start={list(start)} stop={list(stop)} does not fit shape {volume.shape}.\n"
            "Fix: use 0 <= start < stop <= shape on every axis, or crop_or_pad() to pad past the edges."
        )
    arr = volume.array[a[0] : b[0], a[1] : b[1], a[2] : b[2]].copy()
    return Volume(arr, _shift(volume, a), volume.modality, dict(volume.meta))


def crop_or_pad(
    volume: Volume,
    shape: Sequence[int],
    center: Sequence[float] | None = None,
    fill: float | None = None,
    *,
    center_world: Sequence[float] | None = None,
) -> Volume:
    """Cut or pad to ``shape`` around a centre, voxel-exact (no interpolation).

    Args:
        shape: output (slice, row, column) size.
        center: voxel index (may be fractional) to centre on; default the grid centre.
        fill: value for padded voxels; default the volume minimum.
        center_world: alternatively, an LPS point (mm) to centre on, e.g. a lesion centroid.

    Example:
        >>> import numpy as np
        >>> v = Volume.from_geometry(np.ones((10, 10, 10), np.int16))
        >>> p = crop_or_pad(v, (12, 8, 8), fill=0)
        >>> p.shape, p.origin, int(p.array[0].max())
        ((12, 8, 8), (1.0, 1.0, -1.0), 0)
    """
    out_shape = np.asarray(shape, dtype=int)
    if out_shape.shape != (3,) or np.any(out_shape < 1):
        raise GeometryError(f"crop_or_pad shape must be three positive sizes, got {shape!r}")
    if center is not None and center_world is not None:
        raise ValueError("give center (voxel index) or center_world (LPS mm), not both")
    if center_world is not None:
        c = volume.world_to_index(center_world)
    elif center is not None:
        c = np.asarray(center, dtype=np.float64)
    else:
        c = (np.asarray(volume.shape) - 1) / 2.0
    if c.shape != (3,) or not np.all(np.isfinite(c)):
        raise GeometryError(f"center must be three numbers, got {c.tolist()}")
    start = np.floor(c - (out_shape - 1) / 2.0 + 0.5 + 1e-9).astype(int)
    stop = start + out_shape
    n = np.asarray(volume.shape)
    src_a, src_b = np.maximum(start, 0), np.minimum(stop, n)
    fill_v = _fill_value(volume, fill)
    out = np.full(tuple(out_shape), fill_v, dtype=volume.array.dtype)
    if np.all(src_b > src_a):
        dst_a = src_a - start
        dst_b = dst_a + (src_b - src_a)
        out[dst_a[0] : dst_b[0], dst_a[1] : dst_b[1], dst_a[2] : dst_b[2]] = volume.array[
            src_a[0] : src_b[0], src_a[1] : src_b[1], src_a[2] : src_b[2]
        ]
    return Volume(out, _shift(volume, start), volume.modality, dict(volume.meta))


def bounding_box(
    mask: Volume | np.ndarray, margin: int | Sequence[int] = 0
) -> tuple[tuple[int, int, int], tuple[int, int, int]] | None:
    """(start, stop) voxel indices of the non-zero voxels, widened by ``margin`` and clipped.

    Returns None for an empty mask. Feed the result to crop().

    Example:
        >>> import numpy as np
        >>> m = np.zeros((5, 6, 7), np.uint8); m[1:3, 2, 4:6] = 1
        >>> bounding_box(m)
        ((1, 2, 4), (3, 3, 6))
    """
    arr = mask.array if isinstance(mask, Volume) else np.asarray(mask)
    if arr.ndim != 3:
        raise GeometryError(f"bounding_box needs a 3D mask, got shape {arr.shape}")
    nz = arr != 0
    if not nz.any():
        return None
    pad = np.broadcast_to(np.asarray(margin, dtype=int), (3,))
    start, stop = [], []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hit = np.flatnonzero(nz.any(axis=other))
        start.append(int(max(hit[0] - pad[axis], 0)))
        stop.append(int(min(hit[-1] + 1 + pad[axis], arr.shape[axis])))
    return tuple(start), tuple(stop)  # type: ignore[return-value]
