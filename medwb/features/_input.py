"""Shared input checks for feature extraction: a Volume and a mask on the same grid."""

from __future__ import annotations

import numpy as np

from medwb.volume import Volume

__all__ = ["FeatureInputError", "check_pair", "voxel_volume_mm3"]


class FeatureInputError(ValueError):
    """An image/mask pair features cannot be computed from."""


def voxel_volume_mm3(volume: Volume) -> float:
    return float(abs(np.linalg.det(volume.affine[:3, :3])))


def check_pair(volume: Volume, mask: Volume | np.ndarray, name: str = "") -> np.ndarray:
    """Return the mask as a boolean array after checking it shares the volume's grid."""
    who = f" (case {name})" if name else ""
    if isinstance(mask, Volume):
        if not volume.same_grid(mask):
            raise FeatureInputError(
                f"image and mask are on different grids{who}: image shape {volume.shape}, affine\n"
                f"{np.round(volume.affine, 3)}\nmask shape {mask.shape}, affine\n{np.round(mask.affine, 3)}\n"
                "Fix: resample the mask onto the image with medwb.transforms.resample_like(mask, image, order=0)."
            )
        arr = mask.array
    else:
        arr = np.asarray(mask)
        if arr.shape != volume.shape:
            raise FeatureInputError(
                f"mask shape {arr.shape} differs from image shape {volume.shape}{who}. "
                "Fix: pass a mask Volume on the image grid."
            )
    m = arr > 0 if arr.dtype != bool else arr
    if not m.any():
        raise FeatureInputError(f"the mask is empty{who}: no voxel > 0. Fix: check the label value or segmentation.")
    return m
