"""First-order intensity features inside a mask: moments, percentiles, histogram entropy."""

from __future__ import annotations

import numpy as np

from medwb.features._input import check_pair
from medwb.volume import Volume

__all__ = ["intensity_features", "discretise"]


def discretise(values: np.ndarray, bin_count: int | None = 32, bin_width: float | None = None) -> np.ndarray:
    """Grey levels 0..Ng-1: fixed bin count over [min, max] of the values, or fixed bin width
    (edges at multiples of ``bin_width``, IBSI/pyradiomics style). Constant values give one level."""
    v = np.asarray(values, dtype=np.float64)
    if bin_width is not None:
        if bin_width <= 0:
            raise ValueError(f"bin_width must be > 0, got {bin_width}")
        q = np.floor(v / bin_width) - np.floor(v.min() / bin_width)
        return q.astype(np.int64)
    if bin_count is None or bin_count < 1:
        raise ValueError(f"bin_count must be >= 1, got {bin_count}")
    lo, hi = v.min(), v.max()
    if hi == lo:
        return np.zeros(v.shape, np.int64)
    return np.minimum(((v - lo) / (hi - lo) * bin_count).astype(np.int64), bin_count - 1)


def intensity_features(volume: Volume, mask: Volume | np.ndarray, bin_count: int | None = 32,
                       bin_width: float | None = None) -> dict[str, float]:
    """Mean, SD, min/max, percentiles, IQR, skewness, excess kurtosis and entropy (bits) in the mask.

    Example:
        >>> v = Volume.from_geometry(np.arange(27, dtype=float).reshape(3, 3, 3))
        >>> intensity_features(v, np.ones((3, 3, 3), bool))["intensity_median"]
        13.0
    """
    from scipy import stats

    m = check_pair(volume, mask)
    x = volume.array[m].astype(np.float64)
    p10, p25, p50, p75, p90 = np.percentile(x, [10, 25, 50, 75, 90])
    levels = discretise(x, bin_count, bin_width)
    pk = np.bincount(levels) / x.size
    pk = pk[pk > 0]
    const = bool(x.max() == x.min())
    return {
        "intensity_mean": float(x.mean()), "intensity_sd": float(x.std()),
        "intensity_min": float(x.min()), "intensity_max": float(x.max()),
        "intensity_p10": float(p10), "intensity_p25": float(p25), "intensity_median": float(p50),
        "intensity_p75": float(p75), "intensity_p90": float(p90), "intensity_iqr": float(p75 - p25),
        "intensity_skewness": 0.0 if const else float(stats.skew(x)),
        "intensity_kurtosis": 0.0 if const else float(stats.kurtosis(x)),
        "intensity_entropy": float(-(pk * np.log2(pk)).sum()),
    }
