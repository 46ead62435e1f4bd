"""Attribution-weighted features: where a model's evidence sits relative to the lesion, and what it sees.

Takes an attribution map on the image grid (a numpy array or anything with ``.array``, such as
medwb.explain's Attribution). Only positive attribution counts as evidence for the target.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medwb.features._input import FeatureInputError, check_pair, voxel_volume_mm3
from medwb.masks import mask_on_grid
from medwb.volume import Volume

__all__ = ["attribution_features"]


def attribution_features(
    volume: Volume,
    attribution: Any,
    mask: Volume | np.ndarray | None = None,
    top_quantile: float = 0.99,
) -> dict[str, float]:
    """Attribution mass in the mask, weighted intensity, centroid offset, spread and top-region overlap.

    Args:
        attribution: array (or object with ``.array``) with the volume's shape.
        mask: lesion mask (mask-relative features are NaN without it): an array on the volume's grid,
            or a Volume on any grid, put on the volume's grid by medwb.masks.mask_on_grid (the rule
            medwb.attribution.localisation uses too, so the two agree).
        top_quantile: the "top" region is attribution above this quantile of positive values.

    Example:
        >>> v = Volume.from_geometry(np.zeros((8, 8, 8)))
        >>> a = np.zeros((8, 8, 8)); a[2:4, 2:4, 2:4] = 1
        >>> attribution_features(v, a, mask=a > 0)["attr_mass_in_mask"]
        1.0
    """
    a = np.asarray(getattr(attribution, "array", attribution), dtype=np.float64)
    if a.shape != volume.shape:
        raise FeatureInputError(
            f"attribution shape {a.shape} differs from image shape {volume.shape}. "
            "Fix: map it back to the image grid (medwb.explain returns maps on the volume's grid)."
        )
    w = np.clip(np.nan_to_num(a), 0, None)
    total = w.sum()
    nan = float("nan")
    out = dict.fromkeys(("attr_mass_in_mask", "attr_weighted_intensity_mean", "attr_centroid_distance_mm",
                         "attr_spread_mm", "attr_top_volume_mm3", "attr_top_dice"), nan)
    if total <= 0:
        return out
    lin, org = volume.affine[:3, :3], volume.affine[:3, 3]
    idx = np.argwhere(w > 0)
    ww = w[w > 0]
    pts = idx @ lin.T + org
    c = (pts * ww[:, None]).sum(0) / ww.sum()
    out["attr_weighted_intensity_mean"] = float((volume.array[w > 0] * ww).sum() / ww.sum())
    out["attr_spread_mm"] = float(np.sqrt((((pts - c) ** 2).sum(1) * ww).sum() / ww.sum()))
    top = w > np.quantile(ww, top_quantile) if ww.size > 1 else w > 0
    if not top.any():
        top = w >= ww.max()
    out["attr_top_volume_mm3"] = float(top.sum() * voxel_volume_mm3(volume))
    if mask is not None:
        if isinstance(mask, Volume) and not mask.same_grid(volume):
            mask = mask_on_grid(mask, volume)
        m = check_pair(volume, mask)
        out["attr_mass_in_mask"] = float(w[m].sum() / total)
        mc = (np.argwhere(m) @ lin.T + org).mean(0)
        out["attr_centroid_distance_mm"] = float(np.linalg.norm(c - mc))
        out["attr_top_dice"] = float(2 * (top & m).sum() / (top.sum() + m.sum()))
    return out
