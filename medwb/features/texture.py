"""GLCM texture in 3D: co-occurrence over the 13 unique 3D neighbour directions inside a mask.

The co-occurrence counts are computed in 3D here (scikit-image's graycomatrix is 2D only); the
properties come from skimage.feature.graycoprops on the (levels, levels, 1, 13) matrix, symmetric and
normalised per direction, then averaged over the 13 directions (pyradiomics' default aggregation).
Offsets are one voxel in index space, so on anisotropic grids the through-plane neighbour is further
away in mm: resample to isotropic voxels first (medwb.transforms.resample) when that matters.
"""

from __future__ import annotations

import numpy as np

from medwb.features._input import check_pair
from medwb.features.intensity import discretise
from medwb.volume import Volume

__all__ = ["DIRECTIONS_13", "glcm_3d", "texture_features"]

#: the 13 unique (slice, row, column) offsets of a 26-neighbourhood (the other 13 are their opposites)
DIRECTIONS_13: list[tuple[int, int, int]] = [
    (0, 0, 1), (0, 1, 0), (0, 1, 1), (0, 1, -1), (1, 0, 0), (1, 0, 1), (1, 0, -1),
    (1, 1, 0), (1, -1, 0), (1, 1, 1), (1, 1, -1), (1, -1, 1), (1, -1, -1),
]


def _shifted(a: np.ndarray, d: tuple[int, int, int]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    src, dst = [], []
    for k, n in zip(d, a.shape, strict=True):
        src.append(slice(0, n - k) if k >= 0 else slice(-k, n))
        dst.append(slice(k, n) if k >= 0 else slice(0, n + k))
    return tuple(src), tuple(dst)


def glcm_3d(levels: np.ndarray, mask: np.ndarray, n_levels: int,
            directions: list[tuple[int, int, int]] = DIRECTIONS_13, symmetric: bool = True) -> np.ndarray:
    """Co-occurrence counts, shape (n_levels, n_levels, 1, len(directions)), pairs inside the mask only."""
    out = np.zeros((n_levels, n_levels, 1, len(directions)), np.float64)
    for k, d in enumerate(directions):
        s, t = _shifted(levels, d)
        both = mask[s] & mask[t]
        i, j = levels[s][both], levels[t][both]
        c = np.bincount(i * n_levels + j, minlength=n_levels * n_levels).reshape(n_levels, n_levels)
        out[:, :, 0, k] = c + c.T if symmetric else c
    return out


def texture_features(volume: Volume, mask: Volume | np.ndarray, bin_count: int | None = 32,
                     bin_width: float | None = None) -> dict[str, float]:
    """GLCM contrast, homogeneity, correlation and energy, mean over the 13 3D directions.

    Grey levels: ``bin_count`` bins over the masked range, or fixed ``bin_width`` (e.g. 25 HU).
    Directions with no voxel pair inside the mask are left out of the mean.

    Example:
        >>> v = Volume.from_geometry(np.full((5, 5, 5), 40.0))
        >>> texture_features(v, np.ones((5, 5, 5), bool))["glcm_contrast"]
        0.0
    """
    from skimage.feature import graycoprops

    m = check_pair(volume, mask)
    lev = np.zeros(volume.shape, np.int64)
    lev[m] = discretise(volume.array[m], bin_count, bin_width)
    n_levels = int(lev[m].max()) + 1
    p = glcm_3d(lev, m, n_levels)
    totals = p.sum(axis=(0, 1))[0]
    ok = totals > 0
    if not ok.any():
        return {f"glcm_{k}": np.nan for k in ("contrast", "homogeneity", "correlation", "energy")}
    pn = p[:, :, :, ok] / totals[ok]
    out = {}
    for prop in ("contrast", "homogeneity", "correlation", "energy"):
        out[f"glcm_{prop}"] = float(np.mean(graycoprops(pn, prop)))
    return out
