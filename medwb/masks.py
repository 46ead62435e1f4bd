"""Label masks: the one rule that puts a mask on another grid, and per-lesion facts from a mask.

``mask_on_grid(mask, reference)`` is how every part of medwb carries a mask onto another voxel grid
(a model's input grid, an attribution's grid, the image of a feature table): the attribution metrics
(localisation, pointing game), explain()'s region targets and the attribution features all call it,
so the same mask covers the same voxels in each of them.

The rule is the volume (partial-volume) fraction: a voxel of the reference grid gets a label when more
than half of its volume lies inside that label in the source mask (the most frequent label wins among
several). Of all masks on the reference grid it is the one that misplaces the least volume (the
symmetric difference with the source mask is smallest), and it depends only on what each voxel
contains. Nearest-neighbour resampling (``resample_like(order=0)``) agrees with it when the reference
voxels are as fine as the mask's or finer, but on a coarser grid (a 1 mm mask onto a 3-4 mm model grid)
it looks at one point per voxel: a coarse voxel that is 90 % lesion can come out empty and one that
is 10 % lesion can come out full, depending on where that point falls. (Nearest neighbour keeps the
volume unbiased on average; the fraction rule trims the partial-volume rim of small convex lesions:
use it to decide which voxels are lesion, not to measure volume on a coarse grid.) The fraction is
computed by sampling each reference voxel at a regular sub-grid as fine as the source voxels (any
rotation or flip between the grids is handled).

Example:
    >>> import numpy as np
    >>> from medwb.volume import Volume
    >>> fine = np.zeros((4, 4, 4), np.uint8); fine[:, :, :3] = 1   # 3 of every 4 columns
    >>> m = Volume.from_geometry(fine, spacing=1.0)
    >>> coarse = Volume.from_geometry(np.zeros((2, 2, 2)), spacing=2.0, origin=(0.5, 0.5, 0.5))
    >>> mask_on_grid(m, coarse).array[0, 0].tolist()   # columns 0-1: all in; columns 2-3: half in
    [1, 0]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from medwb.demo.truth import LABEL_LESION, LABEL_OEDEMA
from medwb.volume import Volume

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["mask_on_grid", "lesions_from_mask"]

#: the largest number of sub-samples mask_on_grid takes (memory bound: one byte each)
_MAX_SAMPLES = 256 * 2**20


def _subdivisions(mask: Volume, reference: Volume) -> tuple[int, int, int]:
    """Sub-samples per reference axis so that the sub-grid is at least as fine as the mask's voxels."""
    to_mask_index = np.linalg.inv(mask.affine[:3, :3]) @ reference.affine[:3, :3]  # ref step -> mask steps
    return tuple(max(1, int(np.ceil(np.abs(to_mask_index[:, i]).max() - 1e-6))) for i in range(3))  # type: ignore[return-value]


def mask_on_grid(mask: Volume | np.ndarray, reference: Volume, label: int | None = None) -> Volume:
    """``mask`` (labels) on ``reference``'s grid by the volume-fraction rule; see the module docstring.

    Args:
        mask: a label Volume (any grid in the same world space), or a numpy array already on the
            reference grid (same shape; taken as it is).
        reference: the Volume whose grid (shape and affine) the result takes.
        label: keep only this label (the result is then 0/1); None keeps every non-zero label.

    Returns:
        A Volume on the reference grid with the mask's dtype (uint8 when ``label`` is given); use
        ``.array != 0`` for a boolean mask.
    """
    from medwb import transforms

    if not isinstance(mask, Volume):
        arr = np.asarray(mask)
        if arr.shape != reference.shape:
            raise ValueError(
                f"mask is an array of shape {arr.shape}, not on the reference grid {reference.shape}.\n"
                "Fix: pass the mask as a Volume (with its affine) so it can be put on the grid, or an array "
                "of the reference's shape.")
        mask = reference.with_array(arr)
    if label is not None:
        mask = mask.with_array((mask.array == label).astype(np.uint8))
    if mask.same_grid(reference):
        return Volume(mask.array.copy(), reference.affine.copy(), mask.modality, dict(mask.meta))
    k = _subdivisions(mask, reference)
    if k == (1, 1, 1):  # reference voxels no coarser than the mask's: the fraction rule is the centre's label
        return transforms.resample_to_grid(mask, reference.shape, reference.affine, order=0, fill=0)
    n_samples = int(np.prod(reference.shape)) * int(np.prod(k))
    if n_samples > _MAX_SAMPLES:
        raise ValueError(
            f"putting a mask of voxel size {mask.spacing} mm on a grid of {reference.shape} voxels of "
            f"{reference.spacing} mm takes {n_samples:,} samples (limit {_MAX_SAMPLES:,}).\n"
            "Fix: crop the reference to the region of interest first (medwb.transforms.crop).")
    # the sub-grid: voxel (i, j, l) of the reference split k0 x k1 x k2 ways, sampled at sub-voxel centres
    sub = reference.affine.copy()
    sub[:3, :3] = reference.affine[:3, :3] / np.asarray(k, dtype=np.float64)[None, :]
    sub[:3, 3] = reference.index_to_world([(1.0 / kk - 1.0) / 2.0 for kk in k])
    shape = tuple(int(n) * kk for n, kk in zip(reference.shape, k))
    samples = transforms.resample_to_grid(mask, shape, sub, order=0, fill=0).array
    blocks = samples.reshape(reference.shape[0], k[0], reference.shape[1], k[1], reference.shape[2], k[2])
    total = int(np.prod(k))
    values = [v for v in np.unique(mask.array) if v != 0]
    out = np.zeros(reference.shape, dtype=mask.array.dtype)
    best = np.zeros(reference.shape, dtype=np.int64)
    inside = np.zeros(reference.shape, dtype=np.int64)
    for v in values:
        count = (blocks == v).sum(axis=(1, 3, 5), dtype=np.int64)
        inside += count
        win = count > best
        out[win], best[win] = v, count[win]
    out[2 * inside <= total] = 0  # more than half of the voxel's volume must be labelled
    return Volume(out, reference.affine.copy(), mask.modality, dict(mask.meta))


def lesions_from_mask(mask: Volume | np.ndarray, spacing: tuple[float, float, float] | None = None, *,
                      lesion_label: int = LABEL_LESION, oedema_label: int | None = LABEL_OEDEMA
                      ) -> pd.DataFrame:
    """Per-lesion facts measured from a label mask (the demo's coding by default: 1 lesion, 2 oedema).

    One row per connected lesion component (face-connected, scipy.ndimage.label's default): its
    volume (mL), the oedema within 3 voxels of it (mL) and its centre voxel.

    Args:
        mask: a label Volume, or an array with ``spacing`` (slice, row, column mm).

    Example:
        >>> m = np.zeros((4, 4, 4), np.uint8); m[1:3, 1:3, 1:3] = 1
        >>> lesions_from_mask(m, (1.0, 1.0, 1.0))["volume_ml"].tolist()
        [0.008]
    """
    import pandas as pd
    from scipy import ndimage

    if isinstance(mask, Volume):
        spacing = mask.spacing if spacing is None else spacing
        arr = mask.array
    else:
        arr = np.asarray(mask)
    if spacing is None:
        raise ValueError("lesions_from_mask needs the voxel spacing for an array mask.\n"
                         "Fix: pass the mask as a Volume, or spacing=(slice, row, column) in mm.")
    voxel_ml = float(np.prod(spacing)) / 1000.0
    lab, _ = ndimage.label(arr == lesion_label)
    oedema = arr == oedema_label if oedema_label is not None else np.zeros(arr.shape, bool)
    rows = []
    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        box = tuple(slice(max(0, s.start - 3), s.stop + 3) for s in sl)  # the lesion plus a margin
        comp = lab[box] == i
        grown = ndimage.binary_dilation(comp, iterations=3)
        centre = [int(round(c)) + b.start for c, b in zip(ndimage.center_of_mass(comp), box)]
        rows.append({"type": "lesion", "volume_ml": float(comp.sum()) * voxel_ml,
                     "oedema_ml": float((grown & oedema[box]).sum()) * voxel_ml,
                     "centre_index": tuple(centre)})
    return pd.DataFrame(rows, columns=["type", "volume_ml", "oedema_ml", "centre_index"])
